/// What a trace event records: a notifier method, or a model event (a pte or spte change, a
/// frame allocated or freed, a task's milestone). Its raw value is the event's `call` on the
/// wire; openapi.yaml's TraceCall lists the same names (OpenAPITests).
public enum TraceCall: String, Codable, Hashable, Sendable, CaseIterable {
    case addToSwap = "add_to_swap"
    /// Modern: a subscriber's arch_invalidate_secondary_tlbs (the primary TLB flushed).
    case archInvalidateSecondaryTLBs = "arch_invalidate_secondary_tlbs"
    case clearFlushYoung = "clear_flush_young"
    /// Modern: a subscriber's clear_young (`ret` whether it saw the page young).
    case clearYoung = "clear_young"
    /// Modern: a subscriber's test_young (`ret` whether it saw the page young).
    case testYoung = "test_young"
    case copyPageRange = "copy_page_range"
    case copyVma = "copy_vma"
    /// A statement of a driver policy ran (`statement` is its JSON pointer).
    case driver
    case dupMm = "dup_mm"
    case exitMmap = "exit_mmap"
    case faultRetry = "fault_retry"
    case frameAlloc = "frame_alloc"
    case frameFree = "frame_free"
    case gracePeriod = "grace_period"
    case invalidatePage = "invalidate_page"
    /// Modern: an interval subscription's ->invalidate (`ret` is the `cur_seq` it was given).
    case invalidate
    /// Modern: the mm's interval `invalidate_seq` changed (`ret` is its new value: odd while a
    /// round is on).
    case invalidateSeq = "invalidate_seq"
    /// Modern: an interval subscription went into the tree (`ret` its seq), or was deferred.
    case intervalInsert = "interval_insert"
    /// Modern: an interval subscription left the tree, or was deferred.
    case intervalRemove = "interval_remove"
    case invalidateRangeEnd = "invalidate_range_end"
    case invalidateRangeStart = "invalidate_range_start"
    case migrateCopy = "migrate_copy"
    case mmCreate = "mm_create"
    case mmFree = "mm_free"
    case mmapRegion = "mmap_region"
    case mmput
    case mprotectFixup = "mprotect_fixup"
    case notifierFree = "notifier_free"
    /// Modern: `mmu_notifier_put` (`ret` is the users left).
    case notifierPut = "notifier_put"
    /// Modern: an OOM reaper attempt or a VMA it skipped (`ret` 0, -EAGAIN, or -EBUSY when
    /// the mmap_lock trylock failed).
    case oomReap = "oom_reap"
    case populateRange = "populate_range"
    case pteClear = "pte_clear"
    case pteClearYoung = "pte_clear_young"
    case pteCopy = "pte_copy"
    case pteMove = "pte_move"
    case pteProtect = "pte_protect"
    case pteSet = "pte_set"
    case register
    case release
    case secondaryRead = "secondary_read"
    case secondaryWrite = "secondary_write"
    case signalPending = "signal_pending"
    case spteSet = "spte_set"
    case spteZap = "spte_zap"
    case swapIn = "swap_in"
    case tlbDropin = "tlb_dropin"
    case tlbFlush = "tlb_flush"
    case unlink
    case unregister
    case vmaAdjust = "vma_adjust"
    case vmaDetach = "vma_detach"
    case writepage

    /// The event of a notifier method's call.
    init(_ method: NotifyCall.Kind) {
        self = TraceCall(rawValue: method.rawValue)!
    }

    /// True for the five notifier methods.
    public var isNotifierMethod: Bool { NotifyCall.Kind(rawValue: rawValue) != nil || self == .invalidate }
}
