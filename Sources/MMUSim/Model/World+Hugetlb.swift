/// hugetlb faults (mm/hugetlb.c, 2.6.26): hugetlb_fault, hugetlb_no_page and hugetlb_cow. A
/// huge page is one pte in the slot of its first 4 KiB page, mapping a compound page of 512
/// frames; these pages are not on the LRU, not in rss, never swapped or migrated.
extension World {
    /// `hugetlb_fault` under the page-table lock: no huge pte, hugetlb_no_page; a write to a
    /// read-only one, hugetlb_cow; otherwise the access through the huge pte.
    mutating func hugetlbFault(mm: Int, address: UInt64, vma: VMA, mode: AccessMode) -> Exec {
        let pte = mms[mm - 1].pageTable.pte(at: hugePageStart(address))
        if pte.isPresent && (!mode.isWrite || pte.write) {
            withLock(.pageTable(mm: mm)) { $0.accessPresent(mm: mm, address: address, mode: mode) }
            return .ran
        }
        countFault(mode)
        if pte.isPresent { return hugetlbCOW(mm: mm, address: address, vma: vma, pte: pte, mode: mode) }
        return withLock(.pageTable(mm: mm)) { $0.hugetlbNoPage(mm: mm, address: address, vma: vma, mode: mode) }
    }

    /// `hugetlb_no_page`: a shared mapping takes the huge page from its file's page cache (a
    /// new one is added to it), a private one gets a new zeroed page; `make_huge_pte` makes the
    /// pte writable (and dirty) only in a shared writable VMA. A private write then breaks COW
    /// at once ("do the COW without a second fault"): nothing else holds the new page, so
    /// hugetlb_cow makes the pte writable in place.
    private mutating func hugetlbNoPage(mm: Int, address: UInt64, vma: VMA, mode: AccessMode) -> Exec {
        let base = hugePageStart(address)
        let head: Int
        if vma.shared, let file = vma.file, let cached = files[file].pageCache[vma.filePgoff(at: base)] {
            head = cached
            getPage(head)
        } else {
            let index = vma.file != nil ? vma.filePgoff(at: base) : vma.linearIndex(at: base)
            guard let page = allocHugePage(kind: vma.shared ? .file : .anon, owner: Int32(vma.shared ? vma.file! : -1), index: index) else {
                abort(.ENOMEM)
                return .ran
            }
            head = page
            if vma.shared {
                files[vma.file!].pageCache[index] = head
                getPage(head)
            }
            emit(EventInfo(.frameAlloc, mm: mm, address: base, pfn: head, pages: Self.hugePageFrames))
        }
        let write = vma.shared && vma.prot.contains(.write) || mode.isWrite
        frames[head].mapcount += 1
        setPTE(mm: mm, address: base, .present(pfn: head, write: write, young: true, dirty: write, huge: true))
        emit(EventInfo(.pteSet, mm: mm, address: base, pfn: head))
        accessPresent(mm: mm, address: address, mode: mode)
        return .ran
    }

    /// `hugetlb_cow`: when only this pte holds the page (`page_count(old_page) == 1`) it is made
    /// writable in place (`set_huge_ptep_writable`, no notifier: write access is only gained);
    /// otherwise the copy is made with the page-table lock dropped.
    private mutating func hugetlbCOW(mm: Int, address: UInt64, vma: VMA, pte: PTE, mode: AccessMode) -> Exec {
        let base = hugePageStart(address)
        let old = pte.pfn
        guard vma.shared || frames[old].refcount == 1 else {
            push([.hugetlbCOWCopy(mm: mm, address: address, oldPfn: old, mode: mode)])
            return .expanded
        }
        withLock(.pageTable(mm: mm)) { world in
            var pte = pte
            pte.write = true
            pte.dirty = true
            world.mms[mm - 1].pageTable.setPTE(pte, at: base)
            world.emit(EventInfo(.pteSet, mm: mm, address: base, pfn: old))
            world.accessPresent(mm: mm, address: address, mode: mode)
        }
        return .ran
    }

    /// hugetlb_cow with the page-table lock dropped: a reference on the old page
    /// (`page_cache_get`), a new huge page, and `copy_huge_page`.
    mutating func hugetlbCOWCopy(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode) -> Exec {
        getPage(oldPfn)
        let index = mms[mm - 1].vma(containing: address).map { $0.linearIndex(at: hugePageStart(address)) } ?? 0
        guard let copy = allocHugePage(kind: .anon, owner: -1, index: index) else {
            putPage(oldPfn)
            abort(.ENOMEM)
            return .ran
        }
        for offset in 0..<Self.hugePageFrames { frames[copy + offset].content = frames[oldPfn + offset].content }
        scratch.pfn = copy
        emit(EventInfo(.frameAlloc, mm: mm, address: hugePageStart(address), pfn: copy, pages: Self.hugePageFrames))
        push([.acquire(.pageTable(mm: mm)), .hugetlbCOWBreak(mm: mm, address: address, oldPfn: oldPfn, mode: mode)])
        return .ran
    }

    /// hugetlb_cow with the lock taken again: if the pte is still the one that faulted ("Break
    /// COW"), `huge_ptep_clear_flush` and `set_huge_pte_at` the copy; both references on the
    /// old page are put (the pte's and ours) before the lock is dropped. v17 calls no notifier
    /// here; 3edd4fc9537d (v2.6.36) brackets the two with start/end over the huge page, still
    /// under the page-table lock. If the pte changed meanwhile, the copy is freed and the
    /// access tried again.
    mutating func hugetlbCOWBreak(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode) -> Exec {
        let base = hugePageStart(address)
        let pte = mms[mm - 1].pageTable.pte(at: base)
        guard pte.isPresent, pte.pfn == oldPfn else {
            _ = putPageStep(scratch.pfn)
            scratch.pfn = -1
            putPage(oldPfn)
            push([.release(.pageTable(mm: mm)), .handleFault(mm: mm, address: address, mode: mode)])
            return .ran
        }
        let swap: [Step] =
            [.hugeClearFlush(mm: mm, address: base, oldPfn: oldPfn)] + secondaryTLBs(mm: mm, start: base, end: base + hugePageSize) + [
                .hugeSetPTE(mm: mm, address: address, oldPfn: oldPfn, mode: mode)
            ]
        let range = (start: base, end: base + hugePageSize)
        let steps =
            config.has(.hugetlbCowNoNotifier)
            ? swap
            : [.notify(rangeCall(.invalidateRangeStart, mm: mm, start: range.start, end: range.end, .clear))] + swap + [
                .notify(rangeCall(.invalidateRangeEnd, mm: mm, start: range.start, end: range.end, .clear))
            ]
        push(steps + [.putPage(pfn: oldPfn), .putPage(pfn: oldPfn), .release(.pageTable(mm: mm))])
        return .ran
    }

    /// `set_huge_pte_at` with `make_huge_pte(vma, new_page, 1)`: the copy, writable, dirty and
    /// young; the old page loses this mapping.
    mutating func hugeSetPTE(mm: Int, address: UInt64, oldPfn: Int, mode: AccessMode) -> Exec {
        let base = hugePageStart(address)
        let copy = scratch.pfn
        scratch.pfn = -1
        checkCOWCopy(from: oldPfn, to: copy, what: "hugetlb_cow's copy", mm: mm, address: base)
        frames[copy].mapcount += 1
        frames[oldPfn].mapcount -= 1
        setPTE(mm: mm, address: base, .present(pfn: copy, write: true, young: true, dirty: true, huge: true))
        emit(EventInfo(.pteSet, mm: mm, address: base, pfn: copy))
        accessPresent(mm: mm, address: address, mode: mode)
        return .ran
    }
}
