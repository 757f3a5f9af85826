/// Unmapping: do_munmap, unmap_vmas, zap_pte_range, tlb_finish_mmu, madvise(DONTNEED).
extension World {
    /// `do_munmap`: split the VMAs at the range's edges, detach those inside, then
    /// unmap_region. A range with no VMA in it does nothing.
    mutating func doMunmapPlan(mm: Int, start: UInt64, end: UInt64) -> Exec {
        guard !mms[mm - 1].vmaIndices(overlapping: start, end).isEmpty else { return .expanded }
        push([.splitVMAs(mm: mm, start: start, end: end), .detachVMAs(mm: mm, start: start, end: end)])
        return .expanded
    }

    /// `split_vma` at both edges of a range.
    mutating func splitVMAs(mm: Int, start: UInt64, end: UInt64) -> Exec {
        mms[mm - 1].split(at: start)
        mms[mm - 1].split(at: end)
        return .ran
    }

    /// `detach_vmas_to_be_unmapped`, then `unmap_region` over what was detached.
    mutating func detachVMAs(mm: Int, start: UInt64, end: UInt64) -> Exec {
        let indices = mms[mm - 1].vmaIndices(overlapping: start, end)
        let detached = Array(mms[mm - 1].vmas[indices])
        mms[mm - 1].vmas.removeSubrange(indices)
        emit(EventInfo("vma_detach", mm: mm, start: start, end: end))
        let ranges = detached.map { ZapRange(start: max($0.start, start), end: min($0.end, end), hugetlb: $0.hugetlb) }
        push([.unmapVMAs(mm: mm, start: start, end: end, ranges: ranges)])
        return .ran
    }

    /// `unmap_vmas`: one invalidate_range_start/end pair over the whole range, even across
    /// VMAs; the ptes of each VMA are zapped and the gathered pages freed in between. A
    /// hugetlb VMA goes through `__unmap_hugepage_range`, which brackets its own range with
    /// a nested pair and frees its pages after its end.
    mutating func unmapVMAsPlan(mm: Int, start: UInt64, end: UInt64, ranges: [ZapRange]) -> Exec {
        var steps: [Step] = [.notify(NotifyCall(kind: .invalidateRangeStart, mm: mm, start: start, end: end))]
        for range in ranges {
            if range.hugetlb {
                steps += [
                    .notify(NotifyCall(kind: .invalidateRangeStart, mm: mm, start: range.start, end: range.end)),
                    .zapPTEs(mm: mm, start: range.start, end: range.end),
                    .notify(NotifyCall(kind: .invalidateRangeEnd, mm: mm, start: range.start, end: range.end)), .freePages,
                ]
            } else {
                steps.append(.zapPTEs(mm: mm, start: range.start, end: range.end))
            }
        }
        steps += [.freePages, .notify(NotifyCall(kind: .invalidateRangeEnd, mm: mm, start: start, end: end))]
        push(steps)
        return .expanded
    }

    /// `zap_pte_range` under the page-table lock: clear every pte in the range, moving the
    /// dirty bit to the page and gathering the pages for tlb_finish_mmu; swap entries give
    /// their slot back.
    mutating func zapPTEs(mm: Int, start: UInt64, end: UInt64) -> Exec {
        if let reason = waitReason(for: [.pageTable(mm: mm)]) { return .blocked(reason) }
        withLocks([.pageTable(mm: mm)]) { world in
            let cleared = world.clearPTEs(mm: mm, from: start, to: end)
            var gathered = world.scratch.pendingFree
            for (_, pte) in cleared {
                if pte.isPresent {
                    world.frames[pte.pfn].mapcount -= 1
                    if pte.dirty { world.frames[pte.pfn].dirty = true }
                    gathered.append(pte.pfn)
                } else if pte.isSwap {
                    world.swapFree(pte.slot)
                }
            }
            world.scratch.pendingFree = gathered
            if !cleared.isEmpty { world.emit(EventInfo("pte_clear", mm: mm, start: start, end: end, pages: cleared.count)) }
            world.markChanged(mm: mm, start: start, end: end)
        }
        return .ran
    }

    /// Clears the ptes in a range and returns what they were, keeping rss in step.
    mutating func clearPTEs(mm: Int, from start: UInt64, to end: UInt64) -> [(address: UInt64, pte: PTE)] {
        var found: [(address: UInt64, pte: PTE)] = []
        tablesVisited += mms[mm - 1].pageTable.forEach(from: start >> pageShift, to: (end - 1) >> pageShift + 1) {
            found.append(($0 << pageShift, PTE(raw: $1)))
        }
        for (address, pte) in found {
            if pte.isPresent { mms[mm - 1].rss -= 1 }
            mms[mm - 1].pageTable.setPTE(.none, at: address)
        }
        return found
    }

    /// `tlb_finish_mmu`: put every gathered page; those whose last reference goes are freed.
    mutating func freePages() -> Exec {
        let gathered = scratch.pendingFree
        scratch.pendingFree = []
        var freed: [Int] = []
        for pfn in gathered where putPage(pfn) { freed.append(pfn) }
        if !freed.isEmpty {
            emit(EventInfo("frame_free", pfn: freed.count == 1 ? freed[0] : nil, pages: freed.count))
        }
        return .ran
    }

    /// `madvise(MADV_DONTNEED)`: zap_page_range on each VMA in the range, each with its own
    /// start/end pair; -EINVAL for locked or hugetlb VMAs, -ENOMEM for a hole.
    mutating func madvisePlan(mm: Int, start: UInt64, end: UInt64) -> Exec {
        let indices = mms[mm - 1].vmaIndices(overlapping: start, end)
        let vmas = Array(mms[mm - 1].vmas[indices])
        if vmas.contains(where: { $0.locked || $0.hugetlb }) {
            abort(.EINVAL)
            return .expanded
        }
        var steps: [Step] = []
        for vma in vmas {
            let range = ZapRange(start: max(vma.start, start), end: min(vma.end, end), hugetlb: false)
            steps.append(.unmapVMAs(mm: mm, start: range.start, end: range.end, ranges: [range]))
        }
        if !mms[mm - 1].isFullyMapped(start, end) { updateResult { $0.fail(.ENOMEM) } }
        push(steps)
        return .expanded
    }
}
