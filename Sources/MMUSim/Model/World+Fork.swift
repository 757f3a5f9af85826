/// fork: dup_mm, dup_mmap, copy_page_range.
extension World {
    /// `dup_mm`: a new mm for the child, with one user and no notifiers (they are not
    /// inherited).
    mutating func dupMM(mm: Int) -> Exec {
        let child = newMM(name: mms[mm - 1].name.map { $0 + "-child" })
        scratch.child = child
        updateResult { $0.child = child }
        emit(EventInfo(.dupMm, mm: mm, ret: child))
        return .ran
    }

    /// `dup_mmap`, one VMA at a time: link a copy into the child, then copy_page_range.
    mutating func forkVMAPlan(parent: Int, index: Int) -> Exec {
        guard index < mms[parent - 1].vmas.count else { return .expanded }
        let vma = mms[parent - 1].vmas[index]
        var steps: [Step] = [.dupVMA(parent: parent, index: index)]
        // copy_page_range: "Don't copy ptes where a page fault will fill them correctly."
        // copy_hugetlb_page_range: v17 write-protects the parent's huge ptes with no notifier
        // call; e8569dd299db (v3.14) brackets a COW mapping's copy with start/end.
        let copies = vma.hugetlb || vma.anonVMA != nil || !vma.nonlinear.isEmpty
        // "We need to invalidate the secondary MMU mappings only when there could be a
        // permission downgrade on the ptes of the parent mm."
        let notifies = vma.isCOW && !(vma.hugetlb && config.has(.hugetlbForkNoNotifier))
        if copies {
            let copy = Step.copyPTEs(parent: parent, start: vma.start, end: vma.end)
            // Modern: copy_page_range's range is PROTECTION_PAGE, copy_hugetlb_page_range's CLEAR.
            let event: RangeEvent = vma.hugetlb ? .clear : .protectionPage
            steps +=
                notifies
                ? [
                    .notify(rangeCall(.invalidateRangeStart, mm: parent, start: vma.start, end: vma.end, event)), copy,
                    .notify(rangeCall(.invalidateRangeEnd, mm: parent, start: vma.start, end: vma.end, event)),
                ] : [copy]
        }
        steps.append(.forkVMA(parent: parent, index: index + 1))
        push(steps)
        return .expanded
    }

    /// Links a copy of the parent's VMA into the child; it shares the anon_vma
    /// (`anon_vma_link`), so the rmap finds pages in both.
    mutating func dupVMA(parent: Int, index: Int) -> Exec {
        let vma = mms[parent - 1].vmas[index]
        mms[scratch.child - 1].vmas.append(vma)
        return .ran
    }

    /// `copy_pte_range` under both page-table locks: each page gains a mapping and a
    /// reference; a COW mapping write-protects the parent's pte and the child's copy; a swap
    /// entry gains a reference on its slot. The child's ptes start old.
    mutating func copyPTEs(parent: Int, start: UInt64, end: UInt64) -> Exec {
        let child = scratch.child
        if let reason = waitReason(for: .pageTable(mm: parent)) { return .blocked(reason) }
        guard let vma = mms[parent - 1].vma(containing: start) else { return .ran }
        if freeFrames.isEmpty, !mms[parent - 1].pageTable.entries(from: start >> pageShift, to: (end - 1) >> pageShift + 1).isEmpty {
            return copyFailed(parent: parent)
        }
        withLocks([.pageTable(mm: parent), .pageTable(mm: child)]) { world in
            var childTable = world.mms[child - 1].pageTable
            world.mms[child - 1].pageTable = RadixTable()
            var pages: [Int] = []
            var slots: [Int] = []
            var copied = 0
            var copiedRSS = 0
            world.tablesVisited += world.mms[parent - 1].pageTable.update(from: start >> pageShift, to: (end - 1) >> pageShift + 1) { vpn, raw in
                var pte = PTE(raw: raw)
                var copy = pte
                copied += 1
                if pte.isSwap {
                    slots.append(pte.slot)
                } else if pte.isPresent {
                    pages.append(pte.pfn)
                    copiedRSS += pte.countsInRSS
                    if vma.isCOW && pte.write {
                        pte.write = false
                        copy.write = false
                    }
                    if vma.shared { copy.dirty = false }
                    copy.young = false
                }
                childTable.set(vpn, copy.raw)
                return pte.raw
            }
            world.mms[child - 1].pageTable = childTable
            world.mms[child - 1].rss += copiedRSS
            for pfn in pages {
                world.frames[pfn].refcount += 1
                world.frames[pfn].mapcount += 1
            }
            for slot in slots { world.swap[slot]!.count += 1 }
            if copied > 0 { world.emit(EventInfo(.pteCopy, mm: parent, start: start, end: end, pages: copied)) }
            world.markChanged(mm: parent, start: start, end: end)
        }
        // The parent's write-protected ptes: the flush after the copy (flush_tlb_mm).
        push(secondaryTLBs(mm: parent, start: start, end: end))
        return .ran
    }

    /// `copy_pte_range` could not allocate the child's page table (no free frame): -ENOMEM.
    /// The seed's copy_page_range breaks out of its loop and still calls invalidate_range_end
    /// (`ret = -ENOMEM; break;`); with `copy_page_range_enomem_skips_end` it returns at once, and
    /// the start it made has no end. dup_mmap stops, and the child is torn down (its mmput).
    mutating func copyFailed(parent: Int) -> Exec {
        emit(EventInfo(.copyPageRange, mm: parent, ret: -Errno.ENOMEM.number))
        updateResult {
            $0.fail(.ENOMEM)
            $0.child = nil
        }
        var program = me.program
        if config.has(.copyPageRangeEnomemSkipsEnd), case .notify(let call) = program.last, call.kind == .invalidateRangeEnd {
            program.removeLast()
        }
        // What dup_mmap would still do: the end (if any), no further VMA, then mmput(child).
        let end = program.last.flatMap { step -> Step? in
            if case .notify(let call) = step, call.kind == .invalidateRangeEnd { return step }
            return nil
        }
        program.removeAll { if case .forkVMA = $0 { return true } else { return false } }
        if end != nil { program.removeLast() }
        program.append(.exitMM(mm: scratch.child))
        if let end { program.append(end) }
        me.program = program
        return .ran
    }
}
