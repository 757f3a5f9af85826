/// The primary MMU's fault path: handle_mm_fault, do_anonymous_page, __do_fault,
/// do_swap_page and do_wp_page, used by CPU touches, get_user_pages and mlock.
extension World {
    /// One page of a touch (or of make_pages_present), then the next.
    mutating func touchPlan(mm: Int, address: UInt64, end: UInt64, mode: AccessMode) -> Exec {
        guard address < end else { return .expanded }
        if case .cpuRead = mode, me.result.values == nil { updateResult { $0.values = [] } }
        if me.result.faults == nil, mode.isCPU { updateResult { $0.faults = 0 } }
        push([.handleFault(mm: mm, address: address, mode: mode), .touchNext(mm: mm, address: address + pageSize, end: end, mode: mode)])
        return .expanded
    }

    /// `handle_mm_fault` and the access that follows it, under the page-table lock:
    /// - no VMA: -EFAULT; a read the VMA forbids: -EFAULT; a write it forbids: -EPERM;
    /// - pte none: do_anonymous_page (the zero page for a read) or __do_fault;
    /// - swap entry: do_swap_page; migration entry: wait for the migration;
    /// - a write to a read-only pte: do_wp_page.
    /// A present pte with the needed permission just takes the access (young, dirty).
    mutating func handleFault(mm: Int, address: UInt64, mode: AccessMode) -> Exec {
        guard let at = mms[mm - 1].vmaIndex(containing: address) else {
            abort(.EFAULT)
            return .ran
        }
        // The VMA's fields read in place; it is copied only past the present pte's path.
        let prot = mms[mm - 1].vmas[at].prot
        if mode.isWrite ? !prot.contains(.write) : prot.isEmpty {
            abort(mode.isWrite ? .EPERM : .EFAULT)
            return .ran
        }
        if let reason = waitReason(for: .pageTable(mm: mm)) { return .blocked(reason) }
        if mms[mm - 1].vmas[at].hugetlb { return hugetlbFault(mm: mm, address: address, vma: mms[mm - 1].vmas[at], mode: mode) }
        let pte = mms[mm - 1].pageTable.pte(at: address)
        if pte.isMigration { return .blocked("migration entry at \(hex(address))") }
        if pte.isPresent && (!mode.isWrite || pte.write) {
            // The pte just read is the one the access finds (its own slot: no hugetlb here).
            withLock(.pageTable(mm: mm)) { $0.accessPresent(mm: mm, address: address, mode: mode, entry: (address, pte)) }
            return .ran
        }
        let vma = mms[mm - 1].vmas[at]
        countFault(mode)
        // hmm_range_fault: after handle_mm_fault the walk answers -EBUSY and hmm_range_fault
        // loops: mmu_interval_check_retry again, then the walk finds the pte.
        if case .hmm = mode, let node = me.scratch.driverFrames.last?.notifier {
            push([.hmmCheckRetry(notifier: node), .handleFault(mm: mm, address: address, mode: mode)])
        }
        if pte.isPresent { return doWPPage(mm: mm, address: address, vma: vma, pte: pte, mode: mode) }
        // Modern: once the OOM reaper has started, a fault that needs a page gets SIGBUS
        // (check_stable_address_space), -EFAULT to get_user_pages.
        if mms[mm - 1].unstable {
            abort(.EFAULT)
            return .ran
        }
        if pte.isNone, let file = vma.file, files[file].xip {
            guard let block = files[file].pageCache[vma.filePgoff(at: address)] else {
                return xipHole(mm: mm, address: address, vma: vma, file: file, mode: mode)
            }
            if !vma.shared && mode.isWrite { return xipPrivateWrite(mm: mm, address: address, block: block, mode: mode) }
        }
        return withLock(.pageTable(mm: mm)) { world in
            if pte.isSwap { return world.doSwapPage(mm: mm, address: address, vma: vma, slot: pte.slot, mode: mode) }
            if vma.file == nil { return world.doAnonymousPage(mm: mm, address: address, vma: vma, mode: mode) }
            return world.doFileFault(mm: mm, address: address, vma: vma, mode: mode)
        }
    }

    mutating func countFault(_ mode: AccessMode) {
        if mode.isCPU { updateResult { $0.faults = ($0.faults ?? 0) + 1 } }
    }

    /// The access once the pte allows it. A CPU access makes the pte young (the MMU sets its
    /// accessed bit); a write dirties the pte and stores the value; a read reports the content.
    /// get_user_pages walks the table in software (`follow_page` with FOLL_TOUCH): it takes a
    /// reference and marks the page referenced (`mark_page_accessed`), not the pte young.
    /// In a hugetlb VMA the access goes through the huge pte: its bits change, and the data and
    /// the reference are those of the 4 KiB page's frame in the huge page (the reference counts
    /// on the head). get_user_pages takes `follow_hugetlb_page` there, which only takes the
    /// reference: no mark_page_accessed, no set_page_dirty.
    /// `entry`: the slot that translates `address` and its pte, when the caller has just read
    /// them.
    mutating func accessPresent(mm: Int, address: UInt64, mode: AccessMode, entry: (slot: UInt64, pte: PTE)? = nil) {
        let (slot, old) = entry ?? mms[mm - 1].pageTable.translationEntry(at: address)
        var pte = old
        let pfn = pte.subpage(at: address).pfn
        let followPage = !pte.isHuge
        if mode.isCPU {
            pte.young = true
        } else if followPage {
            frames[pfn].referenced = true
        }
        if case .cpuWrite = mode { pte.dirty = true }
        // follow_page writes no pte (2.6.26 mm/memory.c: set_page_dirty and mark_page_accessed
        // on the page); a CPU access whose bits were already set changes nothing either. An
        // unchanged pte is neither written back nor given to the quiescent checks.
        let changed = pte != old
        if changed { mms[mm - 1].pageTable.setPTE(pte, at: slot) }
        switch mode {
        case .cpuRead:
            let content = frames[pfn].content
            updateResult { $0.values?.append(content) }
        case .cpuWrite(let value):
            if let value { frames[pfn].content = value }
        case .gup(let write):
            // follow_page (2.6.26) with FOLL_GET | FOLL_TOUCH: get_page, and for FOLL_WRITE
            // set_page_dirty on a page neither the pte nor the page says is dirty.
            getPage(pfn)
            scratch.pfn = pfn
            scratch.writable = pte.write
            if followPage { followPageDirty(pfn: pfn, pte: pte, write: write) }
        case .populate(let write):
            if followPage { followPageDirty(pfn: pfn, pte: pte, write: write) }
        case .hmm:
            // hmm_range_fault reports the pfn (and whether the pte is writable); no reference.
            scratch.lookedUp = pfn
            scratch.writable = pte.write
            scratch.fromHMM = true
        }
        if changed { markChanged(mm: mm, start: address, end: address + pageSize) }
    }

    /// follow_page's `set_page_dirty` for FOLL_WRITE (unless the core bug leaves it out).
    private mutating func followPageDirty(pfn: Int, pte: PTE, write: Bool) {
        guard write, !pte.dirty, !frames[pfn].dirty, !config.has(.followPageNoSetPageDirty) else { return }
        frames[pfn].dirty = true
    }

    /// Ensures the VMA has an anon_vma (`anon_vma_prepare`) and returns it.
    private mutating func anonVMAPrepare(mm: Int, address: UInt64) -> Int {
        let index = mms[mm - 1].vmaIndex(containing: address)!
        if let anon = mms[mm - 1].vmas[index].anonVMA { return anon }
        let anon = newAnonVMA()
        mms[mm - 1].vmas[index].anonVMA = anon
        return anon
    }

    /// `do_anonymous_page`: a read maps the zero page read-only; a write gets a new zeroed
    /// page, mapped writable and dirty.
    mutating func doAnonymousPage(mm: Int, address: UInt64, vma: VMA, mode: AccessMode) -> Exec {
        if !mode.isWrite {
            mapPage(mm: mm, address: address, pfn: Self.zeroPfn, write: false, dirty: false)
            emit(EventInfo(.pteSet, mm: mm, address: address, pfn: Self.zeroPfn))
            accessPresent(mm: mm, address: address, mode: mode)
            return .ran
        }
        let anon = anonVMAPrepare(mm: mm, address: address)
        guard let pfn = allocFrame(kind: .anon, content: 0, owner: Int32(anon), index: vma.linearIndex(at: address)) else {
            abort(.ENOMEM)
            return .ran
        }
        emit(EventInfo(.frameAlloc, mm: mm, address: address, pfn: pfn))
        mapPage(mm: mm, address: address, pfn: pfn, write: true, dirty: true, newPage: true)
        emit(EventInfo(.pteSet, mm: mm, address: address, pfn: pfn))
        accessPresent(mm: mm, address: address, mode: mode)
        return .ran
    }

    /// `__do_fault` for a file mapping: find or read the page-cache page; a private write
    /// copies it to an anonymous page; a shared write maps it writable and dirties it; a read
    /// maps it read-only (writable clean for shmem, which has no write-notify).
    mutating func doFileFault(mm: Int, address: UInt64, vma: VMA, mode: AccessMode) -> Exec {
        let file = vma.file!
        let pgoff = vma.filePgoff(at: address)
        let cached: Int
        if let pfn = files[file].pageCache[pgoff] {
            cached = pfn
        } else {
            guard let pfn = allocFrame(kind: .file, content: files[file].disk[pgoff] ?? 0, owner: Int32(file), index: pgoff) else {
                abort(.ENOMEM)
                return .ran
            }
            files[file].pageCache[pgoff] = pfn
            cached = pfn
            emit(EventInfo(.frameAlloc, mm: mm, address: address, pfn: pfn))
        }
        if mode.isWrite && !vma.shared {
            let anon = anonVMAPrepare(mm: mm, address: address)
            guard
                let copy = allocFrame(kind: .anon, content: frames[cached].content, owner: Int32(anon), index: vma.linearIndex(at: address))
            else {
                abort(.ENOMEM)
                return .ran
            }
            emit(EventInfo(.frameAlloc, mm: mm, address: address, pfn: copy))
            mapPage(mm: mm, address: address, pfn: copy, write: true, dirty: true, newPage: true)
        } else if mode.isWrite {
            mapPage(mm: mm, address: address, pfn: cached, write: true, dirty: true)
            frames[cached].dirty = true
        } else {
            mapPage(mm: mm, address: address, pfn: cached, write: vma.shared && vma.isShmem && vma.prot.contains(.write), dirty: false)
        }
        emit(EventInfo(.pteSet, mm: mm, address: address, pfn: mms[mm - 1].pageTable.pte(at: address).pfn))
        accessPresent(mm: mm, address: address, mode: mode)
        return .ran
    }

    /// `do_swap_page`: take the page from the swap cache or read it from its slot, map it
    /// (writable only for a write when nothing else shares it, `can_share_swap_page`), and
    /// give the swap entry's reference back. A shared write then goes through do_wp_page.
    private mutating func doSwapPage(mm: Int, address: UInt64, vma: VMA, slot: Int, mode: AccessMode) -> Exec {
        guard let entry = swap[slot] else {
            abort(.EFAULT)
            return .ran
        }
        let pfn: Int
        if entry.cachedPfn >= 0 {
            pfn = Int(entry.cachedPfn)
            frames[pfn].refcount += 1
        } else {
            let anon = vma.anonVMA ?? anonVMAPrepare(mm: mm, address: address)
            guard let fresh = allocFrame(kind: .anon, content: entry.content, owner: Int32(anon), index: vma.linearIndex(at: address)) else {
                abort(.ENOMEM)
                return .ran
            }
            pfn = fresh
            frames[pfn].swapSlot = Int32(slot)
            swap[slot]!.cachedPfn = Int32(pfn)
            emit(EventInfo(.swapIn, mm: mm, address: address, pfn: pfn))
        }
        let exclusive = frames[pfn].mapcount == 0 && entry.count == 1
        let write = mode.isWrite && exclusive
        frames[pfn].mapcount += 1
        setPTE(mm: mm, address: address, .present(pfn: pfn, write: write, young: true, dirty: write))
        swapFree(slot)
        emit(EventInfo(.pteSet, mm: mm, address: address, pfn: pfn))
        if mode.isWrite && !write {
            push([.handleFault(mm: mm, address: address, mode: mode)])
            return .ran
        }
        accessPresent(mm: mm, address: address, mode: mode)
        return .ran
    }

    /// `do_wp_page`: a write to a read-only present pte. A shared mapping (and an anonymous
    /// page only this pte maps, `can_share_swap_page`) is made writable in place; anything
    /// else is copied: allocate, then under the lock ptep_clear_flush_notify (invalidate_page)
    /// and set the new pte.
    private mutating func doWPPage(mm: Int, address: UInt64, vma: VMA, pte: PTE, mode: AccessMode) -> Exec {
        let old = pte.pfn
        let frame = frames[old]
        let swapCount = frame.swapSlot >= 0 ? Int(swap[Int(frame.swapSlot)]?.count ?? 0) : 0
        let reuse = vma.shared || (frame.kind == .anon && Int(frame.mapcount) + swapCount == 1)
        if reuse {
            withLock(.pageTable(mm: mm)) { world in
                var pte = pte
                pte.write = true
                pte.dirty = true
                pte.young = true
                world.mms[mm - 1].pageTable.setPTE(pte, at: address)
                if vma.shared { world.frames[old].dirty = true }
                world.emit(EventInfo(.pteSet, mm: mm, address: address, pfn: old))
                world.accessPresent(mm: mm, address: address, mode: mode)
            }
            return .ran
        }
        push([.wpCopy(mm: mm, address: address, oldPfn: old, mode: mode)])
        return .expanded
    }

    /// do_wp_page, before taking the lock: allocate the new page and copy the old content.
    mutating func wpCopy(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode) -> Exec {
        let anon = anonVMAPrepare(mm: mm, address: address)
        let index = mms[mm - 1].vma(containing: address)!.linearIndex(at: address)
        let content = oldPfn == Self.zeroPfn ? 0 : frames[oldPfn].content
        guard let copy = allocFrame(kind: .anon, content: content, owner: Int32(anon), index: index) else {
            abort(.ENOMEM)
            return .ran
        }
        scratch.pfn = copy
        emit(EventInfo(.frameAlloc, mm: mm, address: address, pfn: copy))
        // Modern wp_page_copy: a CLEAR range over the page opens before the pte is re-checked
        // under the lock, and ends after the lock is dropped (the old page is put after it).
        let page = address & ~(pageSize - 1)
        let start: [Step] =
            config.kernel == .modern ? [.notify(rangeCall(.invalidateRangeStart, mm: mm, start: page, end: page + pageSize, .clear))] : []
        push(start + [.acquire(.pageTable(mm: mm)), .wpClearFlush(mm: mm, address: address, oldPfn: oldPfn, mode: mode)])
        return .ran
    }

    /// do_wp_page under the lock: if the pte still maps the old page, `ptep_clear_flush_notify`
    /// (the pte goes, then invalidate_page on every notifier); otherwise free the copy and
    /// fault again.
    mutating func wpClearFlush(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode) -> Exec {
        let pte = mms[mm - 1].pageTable.pte(at: address)
        let page = address & ~(pageSize - 1)
        let end: [Step] = config.kernel == .modern ? [.notify(rangeCall(.invalidateRangeEnd, mm: mm, start: page, end: page + pageSize, .clear))] : []
        guard pte.isPresent, pte.pfn == oldPfn else {
            let copy = scratch.pfn
            scratch.pfn = -1
            putPage(copy)
            push([.release(.pageTable(mm: mm))] + end + [.handleFault(mm: mm, address: address, mode: mode)])
            return .ran
        }
        clearFlushPTE(mm: mm, address: address, oldPfn: oldPfn)
        if config.kernel == .modern {
            // ptep_clear_flush, no notifier call of its own: the range brackets it.
            push(
                secondaryTLBs(mm: mm, start: page, end: page + pageSize) + [
                    .wpSetPTE(mm: mm, address: address, oldPfn: oldPfn, mode: mode), .release(.pageTable(mm: mm)),
                ] + end + [.putPage(pfn: oldPfn)]
            )
            return .ran
        }
        push([
            .notify(.page(.invalidatePage, mm: mm, address: address)),
            .wpSetPTE(mm: mm, address: address, oldPfn: oldPfn, mode: mode), .release(.pageTable(mm: mm)),
            .putPage(pfn: oldPfn),
        ])
        return .ran
    }

    /// The pte half of `ptep_clear_flush` (and hugetlb_cow's `huge_ptep_clear_flush`): the old
    /// pte goes; the notifier call, if any, is the caller's.
    @discardableResult
    mutating func clearFlushPTE(mm: Int, address: UInt64, oldPfn: Int) -> Exec {
        setPTE(mm: mm, address: address, .none)
        emit(EventInfo(.pteClear, mm: mm, address: address, pfn: oldPfn))
        return .ran
    }

    /// do_wp_page: `set_pte_at` the copy, writable and dirty; the old page loses this mapping
    /// (page_remove_rmap); its reference is put after the lock is dropped.
    mutating func wpSetPTE(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode) -> Exec {
        let copy = scratch.pfn
        scratch.pfn = -1
        checkCOWCopy(from: oldPfn, to: copy, what: "do_wp_page's copy", mm: mm, address: address)
        frames[copy].mapcount += 1
        setPTE(mm: mm, address: address, .present(pfn: copy, write: true, young: true, dirty: true))
        frames[oldPfn].mapcount -= 1
        emit(EventInfo(.pteSet, mm: mm, address: address, pfn: copy))
        accessPresent(mm: mm, address: address, mode: mode)
        return .ran
    }

    /// `put_page` as a step of its own.
    mutating func putPageStep(_ pfn: Int) -> Exec {
        let pages = pageFrames(pfn)
        if putPage(pfn) { emit(EventInfo(.frameFree, pfn: pfn, pages: pages)) }
        return .ran
    }
}

extension AccessMode {
    /// True for a CPU access (which counts faults and reports values).
    var isCPU: Bool {
        switch self {
        case .cpuRead, .cpuWrite: true
        case .gup, .populate, .hmm: false
        }
    }
}
