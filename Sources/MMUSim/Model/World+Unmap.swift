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
        // do_munmap: "If we need to split any vma, do it now to save pain later", unless the
        // mm is at sysctl_max_map_count.
        let splits = [start, end].filter { address in mms[mm - 1].vma(containing: address).map { $0.start < address } ?? false }
        if !splits.isEmpty && mms[mm - 1].vmas.count >= config.maxMapCount {
            abort(.ENOMEM)
            return .ran
        }
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
            var gathered = world.scratch.pendingFree
            var cleared = 0
            world.removePTEs(mm: mm, from: start, to: end) { world, _, pte in
                cleared += 1
                if pte.isPresent {
                    world.frames[pte.pfn].mapcount -= 1
                    if pte.dirty { world.frames[pte.pfn].dirty = true }
                    gathered.append(pte.pfn)
                } else if pte.isSwap {
                    world.swapFree(pte.slot)
                }
            }
            world.scratch.pendingFree = gathered
            if cleared > 0 { world.emit(EventInfo("pte_clear", mm: mm, start: start, end: end, pages: cleared)) }
            world.markChanged(mm: mm, start: start, end: end)
        }
        return .ran
    }

    /// Removes the ptes of `[start, end)` in place, in address order, handing each (with
    /// its address) to `body`, and keeps rss in step. The page table is taken out of the mm
    /// meanwhile, so `body` may change the rest of the world.
    mutating func removePTEs(mm: Int, from start: UInt64, to end: UInt64, _ body: (inout World, UInt64, PTE) -> Void) {
        guard start < end else { return }
        var table = mms[mm - 1].pageTable
        mms[mm - 1].pageTable = RadixTable()
        var removedPresent = 0
        tablesVisited += table.removeAll(from: start >> pageShift, to: (end - 1) >> pageShift + 1) { vpn, raw in
            let pte = PTE(raw: raw)
            if pte.isPresent { removedPresent += 1 }
            body(&self, vpn << pageShift, pte)
        }
        mms[mm - 1].pageTable = table
        mms[mm - 1].rss -= removedPresent
    }

    /// Clears the ptes in a range and returns what they were, keeping rss in step.
    mutating func clearPTEs(mm: Int, from start: UInt64, to end: UInt64) -> [(address: UInt64, pte: PTE)] {
        var found: [(address: UInt64, pte: PTE)] = []
        removePTEs(mm: mm, from: start, to: end) { _, address, pte in found.append((address, pte)) }
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
