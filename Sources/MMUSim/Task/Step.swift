/// A notifier call as the VM issues it: which method, on which mm, over which range.
public struct NotifyCall: Codable, Hashable, Sendable {
    /// The five methods of `struct mmu_notifier_ops`, each with the contract the seed's
    /// include/linux/mmu_notifier.h gives it.
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        /// Called by mmu_notifier_unregister or by exit_mmap, "always before all pages are
        /// freed". It may run concurrently with the other methods and "should tear down all
        /// secondary mmu mappings and freeze the secondary mmu".
        case release
        /// Called after the VM test-and-cleared the pte's young bit, so that accesses through
        /// the secondary MMU age the page too; answers whether the secondary saw one.
        case clearFlushYoung = "clear_flush_young"
        /// Until it is invoked a secondary MMU may still read and write the page the pte
        /// pointed to, which "won't be freed until this returns"; "If required set_page_dirty
        /// has to be called internally to this method."
        case invalidatePage = "invalidate_page"
        /// Paired with invalidate_range_end and called with mmap_sem or the rmap locks held;
        /// every page of the range is still mapped and has a reference. From here to the end
        /// "the establishment of sptes is forbidden in the range", and no new references may be
        /// taken to its pages.
        case invalidateRangeStart = "invalidate_range_start"
        /// Called when "all pages in the range have been unmapped and the pages have been freed
        /// by the VM" (the mmu_gather's last batch is in fact freed just after it); a driver
        /// that kept its own references may drop them here, after flushing its TLB.
        case invalidateRangeEnd = "invalidate_range_end"
        /// Modern: test and clear the young bits without flushing (idle page tracking).
        case clearYoung = "clear_young"
        /// Modern: whether the secondary saw the page young, clearing nothing (khugepaged).
        case testYoung = "test_young"
        /// Modern (6.6): the primary TLB was flushed over the range; for IOMMUs that share the
        /// CPU page table and cache its translations. Called in atomic context.
        case archInvalidateSecondaryTLBs = "arch_invalidate_secondary_tlbs"
    }

    /// The method.
    public var kind: Kind
    /// The mm whose notifier list is walked.
    public var mm: Int
    /// The range start, or the page address for the per-page methods.
    public var start: UInt64
    /// The range end (start + page size for the per-page methods).
    public var end: UInt64
    /// Modern: the range's event (`struct mmu_notifier_range`'s), nil in a v17 world.
    public var event: RangeEvent? = nil
    /// Modern: whether the range is blockable (`MMU_NOTIFIER_RANGE_BLOCKABLE`).
    public var blockable = true
    /// Modern: the core walks its list under srcu_read_lock (sleepable), not rcu_read_lock.
    public var srcu = false
    /// Modern: the interval pass of this start or end is done (or there is none); what is left
    /// is the classic hlist's.
    var itreeDone = false
    /// Modern: the ends `mn_hlist_invalidate_range_start` calls after a failed start, on every
    /// classic subscriber that has an end.
    var afterFailure = false

    static func page(_ kind: Kind, mm: Int, address: UInt64) -> NotifyCall {
        NotifyCall(kind: kind, mm: mm, start: address, end: address + pageSize)
    }
}

/// What a modern invalidation is for (`enum mmu_notifier_event`, include/linux/mmu_notifier.h).
public enum RangeEvent: String, Codable, Hashable, Sendable, CaseIterable {
    /// The VMA is going away (munmap, exit, mremap's old range).
    case unmap = "UNMAP"
    /// The pages are cleared (madvise(DONTNEED), a COW break, reclaim, migration).
    case clear = "CLEAR"
    /// The VMA's protection changes (mprotect).
    case protectionVMA = "PROTECTION_VMA"
    /// A page's protection changes (fork write-protecting COW ptes, writeback).
    case protectionPage = "PROTECTION_PAGE"
    /// Soft-dirty tracking is reset.
    case softDirty = "SOFT_DIRTY"
    /// The mm is being torn down (exit's release of interval subscriptions).
    case release = "RELEASE"
    /// migrate_vma, with the owner that asked for it.
    case migrate = "MIGRATE"
    /// make_device_exclusive.
    case exclusive = "EXCLUSIVE"
}

/// How a page is being accessed by a fault.
enum AccessMode: Codable, Hashable, Sendable {
    /// A CPU load: the value is reported.
    case cpuRead
    /// A CPU store of a value (nil keeps the content and only dirties the page).
    case cpuWrite(UInt64?)
    /// get_user_pages on behalf of a secondary MMU; write breaks COW.
    case gup(write: Bool)
    /// make_pages_present for an mlocked mapping: faults the page in, takes no reference.
    case populate(write: Bool)
    /// Modern hmm_range_fault: faults the page in, takes no reference, reports the pfn.
    case hmm(write: Bool)

    var isWrite: Bool {
        switch self {
        case .cpuRead: false
        case .cpuWrite: true
        case .gup(let write), .populate(let write), .hmm(let write): write
        }
    }
}

/// One address at which an rmap walk found a frame mapped.
struct Mapping: Codable, Hashable, Sendable {
    var mm: Int
    var address: UInt64
    var write: Bool
}

/// One atomic step of a task, or a macro that expands into steps when it is reached.
///
/// Steps are data so that a task can stop between any two of them (pause, the explorer) and
/// a world can be copied, compared and encoded in the middle of an operation. A step that
/// takes a lock blocks, without changing anything, while another task holds it.
enum Step: Codable, Hashable, Sendable {
    // Locks and RCU.
    case acquire(Lock)
    case release(Lock)
    case rcuReadLock
    case rcuReadUnlock
    case synchronizeRCU
    indirect case waitReaders([ReaderMark])
    /// Modern: the core's srcu_read_unlock, synchronize_srcu and its wait.
    case srcuReadUnlock
    case synchronizeSRCU
    indirect case waitSRCUReaders([ReaderMark])

    // The notifier list walk (`hlist_for_each_entry_rcu`): one step per callback.
    case notify(NotifyCall)
    case callback(NotifyCall, node: Int)

    // Unmapping: do_munmap, unmap_vmas, zap_page_range, tlb_finish_mmu.
    case doMunmap(mm: Int, start: UInt64, end: UInt64)
    case splitVMAs(mm: Int, start: UInt64, end: UInt64)
    case detachVMAs(mm: Int, start: UInt64, end: UInt64)
    indirect case unmapVMAs(mm: Int, start: UInt64, end: UInt64, ranges: [ZapRange])
    case zapPTEs(mm: Int, start: UInt64, end: UInt64)
    case tlbFinishMMU
    case zapHugePTEs(mm: Int, start: UInt64, end: UInt64)
    case putHugePages

    // mmap.
    indirect case mmapBody(mm: Int, addr: UInt64?, length: UInt64, prot: Prot, flags: MmapFlags, file: String?, offset: UInt64)
    indirect case mmapRegion(mm: Int, vma: VMA)

    // mprotect.
    case mprotectBody(mm: Int, start: UInt64, end: UInt64, prot: Prot)
    case mprotectFixup(mm: Int, start: UInt64, end: UInt64, prot: Prot)
    case changeProtection(mm: Int, start: UInt64, end: UInt64)

    // mremap.
    indirect case mremapBody(mm: Int, oldAddr: UInt64, oldLength: UInt64, newLength: UInt64, mayMove: Bool, newAddr: UInt64?)
    case madviseBody(mm: Int, start: UInt64, end: UInt64)
    case vmaAdjust(mm: Int, start: UInt64, newEnd: UInt64)
    case copyVMA(mm: Int, oldStart: UInt64, newStart: UInt64, newLength: UInt64)
    case movePTEs(mm: Int, oldStart: UInt64, oldEnd: UInt64, newStart: UInt64)

    // Faults: touch, handle_mm_fault, do_wp_page, get_user_pages.
    case touchNext(mm: Int, address: UInt64, end: UInt64, mode: AccessMode)
    case handleFault(mm: Int, address: UInt64, mode: AccessMode)
    case wpCopy(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode)
    case wpClearFlush(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode)
    case wpSetPTE(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode)
    case hugeClearFlush(mm: Int, address: UInt64, oldPfn: Int)
    case hugetlbCOWCopy(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode)
    case hugetlbCOWBreak(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode)
    case hugeSetPTE(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode)
    case xipUnmap(mm: Int, address: UInt64, file: Int, pgoff: UInt64, mode: AccessMode)
    case xipUnmapOne(mm: Int, address: UInt64)
    case xipInsert(mm: Int, address: UInt64, mode: AccessMode)
    case putPage(pfn: Int)
    case callRelease(node: Int)
    case dupVMA(parent: Int, index: Int)

    // fork and exit.
    case dupMM(mm: Int)
    case forkVMA(parent: Int, index: Int)
    case copyPTEs(parent: Int, start: UInt64, end: UInt64)
    case exitMM(mm: Int)
    case dropUser(mm: Int)
    case exitMmap(mm: Int)
    case releaseV17Next(mm: Int)
    case unlinkAll(mm: Int)
    case removeAllVMAs(mm: Int)
    case mmdrop(mm: Int)

    // Reclaim, writeback, migration.
    case reclaimScan(mm: Int?, start: UInt64, end: UInt64, pages: Int?)
    case reclaimNext(index: Int)
    case reclaimPage(pfn: Int)
    case referencedOne(mm: Int, address: UInt64, pfn: Int, fresh: Bool)
    case reclaimDecide(pfn: Int)
    case unmapOne(mm: Int, address: UInt64, pfn: Int, migration: Bool)
    case setSwapPTE(mm: Int, address: UInt64, pfn: Int, migration: Bool)
    case pageout(pfn: Int)
    case writebackScan(file: Int?)
    case writebackNext(index: Int)
    case mkcleanOne(mm: Int, address: UInt64, pfn: Int)
    case mkcleanSet(mm: Int, address: UInt64, pfn: Int)
    case writepage(pfn: Int)
    case migrateScan(mm: Int, start: UInt64, end: UInt64)
    case migrateNext(index: Int)
    case migrateAlloc(pfn: Int)
    case migrateCopy(oldPfn: Int)
    case removeMigrationPTEs(oldPfn: Int)

    // remap_file_pages and apply_to_page_range.
    case remapFileBody(mm: Int, start: UInt64, end: UInt64, pgoff: UInt64)
    case populateRange(mm: Int, start: UInt64, end: UInt64, pgoff: UInt64)
    case applyPTEs(mm: Int, start: UInt64, end: UInt64)

    // Notifier registration.
    case takeAllLocks(mm: Int, signalPending: Bool)
    case checkSignal(mm: Int, pending: Bool)
    case registerLink(mm: Int, policy: Int)
    case dropAllLocks
    case attachSecondary(mm: Int, policy: Int)
    case unregisterUnlink(notifier: Int)
    case unregisterReleaseFirst(notifier: Int)
    case unregisterDelInit(notifier: Int)
    case unregisterFinish(notifier: Int)

    // Secondary MMU faults and accesses.
    case secondaryFault(notifier: Int, address: UInt64, write: Bool)
    indirect case secondaryAccess(notifier: Int, address: UInt64, write: Bool, value: UInt64?)

    // Driver policies (Driver/World+Interpreter.swift).
    /// One statement of a notifier's policy, by id; `name` is `driver:<driver>:<pointer>`.
    case driverStatement(notifier: Int, statement: Int, name: InternedName)
    /// The end of a policy's callback or fault path.
    case driverReturn(notifier: Int)
    /// A policy's entry point: its program as steps.
    indirect case driverEntry(notifier: Int, name: String, address: UInt64, write: Bool)
    /// A policy's work item, on its worker task: its program as steps.
    indirect case driverWork(notifier: Int, name: String)
    /// The end of a `gup` statement's steps: from here a failure no longer runs its `else`.
    case driverGupDone(notifier: Int)
    /// hmm_range_fault's `mmu_interval_check_retry` before it walks (-EBUSY).
    case hmmCheckRetry(notifier: Int)
    /// The wait of `mmu_interval_read_begin`: until the mm's invalidate_seq moves past `seq`.
    case readBeginWait(mm: Int, seq: Int)

    // Modern: the interval tree (mm/mmu_notifier.c, World+Interval.swift).
    /// After a start's classic walk: the ends a failed start owes (c2655835fd8c).
    indirect case rangeStartDone(NotifyCall)
    /// `mn_itree_inv_start_range`: count the range, make the seq odd if it hits a subscription.
    indirect case itreeStart(NotifyCall)
    /// The interval pass: the next subscriptions' ->invalidate, then the classic walk.
    indirect case itreeInvalidate(NotifyCall, nodes: [Int], curSeq: Int)
    indirect case itreeCallback(NotifyCall, node: Int, curSeq: Int)
    indirect case itreeResult(NotifyCall, rest: [Int], curSeq: Int)
    /// `mn_itree_inv_end`: the count down, the seq even when it reaches 0 (lock held) ...
    case itreeInvEnd(mm: Int)
    /// ... then the deferred inserts and removes, the unlock and the wake-up.
    case itreeApplyDeferred(mm: Int)
    /// `mmu_notifier_register(NULL, mm)` for the first interval subscription: `has_itree`.
    case itreeRegister(mm: Int)
    case setHasItree(mm: Int)
    /// `__mmu_interval_notifier_insert`.
    indirect case intervalInsert(mm: Int, policy: Int, start: UInt64, end: UInt64)
    /// `mmu_interval_notifier_remove`: off the tree, or deferred; the wait; the mmdrop and free.
    case intervalRemove(notifier: Int)
    case intervalRemoveWait(notifier: Int, seq: Int)
    case intervalRemoveFinish(notifier: Int)

    // Modern: mmu_notifier_get/put.
    /// `mmu_notifier_get_locked`: the mm's subscription with the same ops gets a user, else
    /// `alloc_notifier` and `__mmu_notifier_register`.
    indirect case notifierGet(mm: Int, policy: Int)
    /// `mmu_notifier_put`: a user less; at 0 unlink and `call_srcu`.
    case notifierPut(notifier: Int)
    /// `mmu_notifier_free_rcu`, after the grace period: `free_notifier`, then `mmdrop`.
    case freeNotifierCall(notifier: Int)
    /// A callback the core calls outside the list walk (`alloc_notifier`, `free_notifier`).
    case callbackProgram(notifier: Int, callback: Callback)

    // Modern: the OOM reaper (mm/oom_kill.c).
    /// `oom_reap_task_mm`: mmap_read_trylock, then each anonymous or private VMA.
    case oomReapAttempt(mm: Int, attempt: Int)
    /// `__oom_reap_task_mm` for one VMA: the non-blockable start, then the unmap.
    case oomReapVMA(mm: Int, start: UInt64, end: UInt64)
    case oomReapUnmap(mm: Int, start: UInt64, end: UInt64)
    /// `oom_reap_task`: mmap_read_unlock; another attempt after a failure, up to 10, then
    /// `MMF_OOM_SKIP`.
    case oomReapFinish(mm: Int, attempt: Int)
    /// `mmap_write_downgrade` (modern munmap since 4.20).
    case mmapDowngrade(mm: Int)

    // Modern: aging without a flush (World+Young.swift).
    /// The page_idle bitmap over the next page of a range: its references cleared.
    case pageIdleNext(mm: Int, address: UInt64, end: UInt64, mark: Bool)
    /// `folio_set_idle`, or the bit a read reports.
    case pageIdleSet(pfn: Int, mark: Bool)
    /// `hpage_collapse_scan_pmd` at one pte; then what test_young answered.
    case khugepagedScanPTE(mm: Int, address: UInt64)
    case khugepagedCount

    /// The name `pause_at` and GET /tasks use for this step.
    var name: String {
        switch self {
        case .acquire(let lock): "lock:" + lock.name
        case .release(let lock): "unlock:" + lock.name
        case .notify(let call) where call.srcu: "srcu_read_lock"
        case .rcuReadLock, .notify: "rcu_read_lock"
        case .srcuReadUnlock: "srcu_read_unlock"
        case .synchronizeSRCU, .waitSRCUReaders: "synchronize_srcu"
        case .rcuReadUnlock: "rcu_read_unlock"
        case .synchronizeRCU, .waitReaders: "synchronize_rcu"
        case .callback(let call, _): call.kind.rawValue
        case .doMunmap: "do_munmap"
        case .splitVMAs: "split_vma"
        case .detachVMAs: "detach_vmas_to_be_unmapped"
        case .unmapVMAs: "unmap_vmas"
        case .zapPTEs: "zap_pte_range"
        case .tlbFinishMMU: "tlb_finish_mmu"
        case .zapHugePTEs: "__unmap_hugepage_range"
        case .putHugePages: "__unmap_hugepage_range:put_page"
        case .mmapBody: "do_mmap_pgoff"
        case .mmapRegion: "mmap_region"
        case .mprotectFixup: "mprotect_fixup"
        case .changeProtection: "change_protection"
        case .mremapBody: "do_mremap"
        case .vmaAdjust: "vma_adjust"
        case .copyVMA: "copy_vma"
        case .movePTEs: "move_ptes"
        case .touchNext: "touch"
        case .handleFault: "handle_mm_fault"
        case .wpCopy: "do_wp_page"
        case .wpClearFlush: "ptep_clear_flush"
        case .wpSetPTE: "set_pte_at"
        case .hugeClearFlush: "huge_ptep_clear_flush"
        case .hugetlbCOWCopy: "copy_huge_page"
        case .hugetlbCOWBreak: "hugetlb_cow"
        case .hugeSetPTE: "set_huge_pte_at"
        case .xipUnmap: "__xip_unmap"
        case .xipUnmapOne: "__xip_unmap:ptep_clear_flush"
        case .xipInsert: "vm_insert_mixed"
        case .putPage: "put_page"
        case .callRelease: "release"
        case .dupVMA: "dup_vma"
        case .mprotectBody: "sys_mprotect"
        case .madviseBody: "madvise_dontneed"
        case .reclaimScan: "shrink_list"
        case .writebackScan: "write_cache_pages"
        case .migrateScan: "migrate_pages"
        case .dupMM: "dup_mm"
        case .forkVMA: "dup_mmap"
        case .copyPTEs: "copy_page_range"
        case .exitMM: "exit_mm"
        case .exitMmap: "exit_mmap"
        case .releaseV17Next: "mmu_notifier_release"
        case .unlinkAll: "hlist_del_init_rcu"
        case .removeAllVMAs: "remove_vma"
        case .mmdrop: "mmdrop"
        case .reclaimNext: "shrink_page_list"
        case .reclaimPage: "page_referenced"
        case .referencedOne: "ptep_clear_flush_young"
        case .reclaimDecide: "add_to_swap"
        case .unmapOne: "try_to_unmap_one"
        case .setSwapPTE: "try_to_unmap_one:set_pte_at"
        case .pageout: "pageout"
        case .writebackNext: "clear_page_dirty_for_io"
        case .mkcleanOne: "page_mkclean_one"
        case .mkcleanSet: "page_mkclean_one:set_pte_at"
        case .writepage: "writepage"
        case .migrateNext: "unmap_and_move"
        case .migrateAlloc: "alloc_new_page"
        case .migrateCopy: "migrate_page_copy"
        case .removeMigrationPTEs: "remove_migration_ptes"
        case .remapFileBody: "sys_remap_file_pages"
        case .populateRange: "populate_range"
        case .applyPTEs: "apply_to_pte_range"
        case .takeAllLocks: "mm_take_all_locks"
        case .checkSignal: "signal_pending"
        case .dropUser: "mmput"
        case .registerLink: "hlist_add_head"
        case .dropAllLocks: "mm_drop_all_locks"
        case .attachSecondary: "attach"
        case .unregisterUnlink: "hlist_del_rcu"
        case .unregisterReleaseFirst: "mmu_notifier_unregister:rcu_read_lock"
        case .unregisterDelInit: "mmu_notifier_unregister:hlist_del_init_rcu"
        case .unregisterFinish: "mmu_notifier_unregister"
        case .secondaryFault: "secondary_fault"
        case .secondaryAccess: "secondary_access"
        case .driverStatement(_, _, let name): name.text
        case .driverReturn: "driver_return"
        case .driverEntry: "driver_entry"
        case .driverWork: "driver_work"
        case .driverGupDone: "driver_gup_done"
        case .hmmCheckRetry: "mmu_interval_check_retry"
        case .readBeginWait: "mmu_interval_read_begin"
        case .rangeStartDone: "mn_hlist_invalidate_range_start"
        case .itreeStart: "mn_itree_inv_start_range"
        case .itreeInvalidate, .itreeResult: "mn_itree_invalidate"
        case .itreeCallback: "invalidate"
        case .itreeInvEnd: "mn_itree_inv_end"
        case .itreeApplyDeferred: "mn_itree_inv_end:deferred_list"
        case .itreeRegister: "mmu_notifier_register"
        case .setHasItree: "has_itree"
        case .intervalInsert: "mmu_interval_notifier_insert"
        case .intervalRemove: "mmu_interval_notifier_remove"
        case .intervalRemoveWait: "mmu_interval_notifier_remove:wait_event"
        case .intervalRemoveFinish: "mmu_interval_notifier_remove:mmdrop"
        case .notifierGet: "mmu_notifier_get"
        case .notifierPut: "mmu_notifier_put"
        case .freeNotifierCall: "mmu_notifier_free_rcu"
        case .callbackProgram(_, let callback): callback.rawValue
        case .oomReapAttempt: "oom_reap_task_mm"
        case .oomReapVMA: "__oom_reap_task_mm"
        case .oomReapUnmap: "unmap_page_range"
        case .oomReapFinish: "oom_reap_task"
        case .mmapDowngrade: "mmap_write_downgrade"
        case .pageIdleNext: "page_idle_clear_pte_refs"
        case .pageIdleSet: "folio_set_idle"
        case .khugepagedScanPTE, .khugepagedCount: "hpage_collapse_scan_pmd"
        }
    }

    /// True for a step that only expands into other steps; it is not counted, traced or
    /// paused at.
    var isMacro: Bool {
        switch self {
        case .doMunmap, .unmapVMAs, .mmapBody, .mremapBody, .touchNext, .forkVMA, .exitMmap, .reclaimNext,
            .reclaimPage, .writebackNext, .migrateNext, .remapFileBody, .takeAllLocks, .secondaryFault, .mprotectBody,
            .madviseBody, .reclaimScan, .writebackScan, .migrateScan, .synchronizeRCU, .synchronizeSRCU, .driverReturn, .driverEntry, .driverWork,
            .driverGupDone, .rangeStartDone, .itreeInvalidate, .itreeResult, .itreeRegister, .oomReapVMA, .pageIdleNext, .khugepagedCount:
            true
        default:
            false
        }
    }
}

/// A part of an unmap: a range inside one VMA, and whether it is hugetlb.
struct ZapRange: Codable, Hashable, Sendable {
    var start: UInt64
    var end: UInt64
    var hugetlb: Bool
}
