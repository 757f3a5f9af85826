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
        // split_vma: "if (is_vm_hugetlb_page(vma) && (addr & ~HPAGE_MASK)) return -EINVAL;"
        if splits.contains(where: { mms[mm - 1].vma(containing: $0)!.hugetlb && $0 % hugePageSize != 0 }) {
            abort(.EINVAL)
            return .ran
        }
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
        emit(EventInfo(.vmaDetach, mm: mm, start: start, end: end))
        let ranges = detached.map { ZapRange(start: max($0.start, start), end: min($0.end, end), hugetlb: $0.hugetlb) }
        // Modern munmap: mmap_write_downgrade once the VMAs are detached (vms_complete_munmap_vmas).
        let downgrade: [Step] = config.kernel == .modern && me.operation.name == "munmap" ? [.mmapDowngrade(mm: mm)] : []
        push(downgrade + [.unmapVMAs(mm: mm, start: start, end: end, ranges: ranges)])
        return .ran
    }

    /// `FREE_PTE_NR` on SMP (include/asm-generic/tlb.h, 2.6.26): an mmu_gather holds this many
    /// pages; `tlb_remove_page` frees them (`tlb_flush_mmu`) when it fills.
    static let freePteNr = 506
    /// `ZAP_BLOCK_SIZE` without CONFIG_PREEMPT (mm/memory.c, 2.6.26), in bytes of `zap_work`: every
    /// 1,024 populated ptes `unmap_vmas` ends the block with `tlb_finish_mmu`.
    static let zapBlockSize = 1024 * Int(pageSize)

    /// `unmap_vmas`: one invalidate_range_start/end pair over the whole range, even across
    /// VMAs, with `zap_work` starting at ZAP_BLOCK_SIZE. The pages the zaps gather are freed
    /// inside the pair only when the gather fills or a block ends; the rest are freed by the
    /// caller's `tlb_finish_mmu` (unmap_region, zap_page_range, exit_mmap) after the end. A
    /// hugetlb VMA goes through `__unmap_hugepage_range`, which brackets its own range with a
    /// nested pair and puts its pages after its end.
    mutating func unmapVMAsPlan(mm: Int, start: UInt64, end: UInt64, ranges: [ZapRange]) -> Exec {
        scratch.zapWork = Self.zapBlockSize
        // Modern: madvise(DONTNEED) clears (zap_page_range_single, MMU_NOTIFY_CLEAR); munmap and
        // exit unmap (unmap_vmas, MMU_NOTIFY_UNMAP).
        let event: RangeEvent = me.operation.name == "madvise" ? .clear : .unmap
        var steps: [Step] = [.notify(rangeCall(.invalidateRangeStart, mm: mm, start: start, end: end, event))]
        for range in ranges {
            if range.hugetlb {
                steps += [
                    .notify(rangeCall(.invalidateRangeStart, mm: mm, start: range.start, end: range.end, event)),
                    .zapHugePTEs(mm: mm, start: range.start, end: range.end),
                    .notify(rangeCall(.invalidateRangeEnd, mm: mm, start: range.start, end: range.end, event)), .putHugePages,
                ]
            } else {
                steps.append(.zapPTEs(mm: mm, start: range.start, end: range.end))
            }
        }
        steps += [.notify(rangeCall(.invalidateRangeEnd, mm: mm, start: start, end: end, event)), .tlbFinishMMU]
        push(steps)
        return .expanded
    }

    /// `zap_pte_range` under the page-table lock: clear the ptes of the range in order, moving
    /// the dirty bit to the page and gathering the pages (`tlb_remove_page`); a full gather is
    /// freed on the spot; swap entries give their slot back. Each populated pte takes a page
    /// of `zap_work`: when the block is used up, `unmap_vmas` calls `tlb_finish_mmu` and goes
    /// on with a new block from the next pte.
    mutating func zapPTEs(mm: Int, start: UInt64, end: UInt64) -> Exec {
        if let reason = waitReason(for: .pageTable(mm: mm)) { return .blocked(reason) }
        let budget = (scratch.zapWork + Int(pageSize) - 1) / Int(pageSize)
        var rest: UInt64? = nil
        // Modern, with a subscriber of arch_invalidate_secondary_tlbs: the gather is freed at
        // tlb_finish_mmu, after the flush that calls it (docs/fidelity.md).
        let holdBatches = config.kernel == .modern && hasArchSubscriber(mm)
        withLock(.pageTable(mm: mm)) { world in
            var gathered = world.scratch.pendingFree
            var batches: [[Int]] = []
            var cleared = 0
            rest = world.removePTEs(mm: mm, from: start, to: end, limit: budget) { world, _, pte in
                cleared += 1
                guard let pfn = world.zapped(pte) else { return }
                gathered.append(pfn)
                if gathered.count >= Self.freePteNr, !holdBatches {
                    batches.append(gathered)
                    gathered = []
                }
            }
            world.scratch.pendingFree = gathered
            world.scratch.zapWork -= cleared * Int(pageSize)
            if cleared > 0 { world.noteFlush(mm: mm, start: start, end: rest ?? end) }
            if cleared > 0 { world.emit(EventInfo(.pteClear, mm: mm, start: start, end: rest ?? end, pages: cleared)) }
            for batch in batches { world.putGathered(batch) }
            world.markChanged(mm: mm, start: start, end: end)
        }
        endZapBlockIfUsedUp(then: rest.map { [.zapPTEs(mm: mm, start: $0, end: end)] } ?? [])
        return .ran
    }

    /// A zapped pte's page loses the mapping and takes its dirty bit; a swap entry gives its
    /// slot back. Returns the page to gather, if the pte mapped one.
    mutating func zapped(_ pte: PTE) -> Int? {
        if pte.isSwap { swapFree(pte.slot) }
        guard pte.isPresent else { return nil }
        frames[pte.pfn].mapcount -= 1
        if pte.dirty { frames[pte.pfn].dirty = true }
        return pte.pfn
    }

    /// `unmap_vmas` once `zap_work` is used up: `tlb_finish_mmu`, a new block, then `rest`.
    private mutating func endZapBlockIfUsedUp(then rest: [Step]) {
        guard scratch.zapWork <= 0 else { return }
        scratch.zapWork = Self.zapBlockSize
        push([.tlbFinishMMU] + rest)
    }

    /// `__unmap_hugepage_range` under the page-table lock: clear the ptes of a hugetlb range,
    /// moving each page to the range's own `page_list`; they are put after its nested end. The
    /// range takes `(end - start) / (HPAGE_SIZE / PAGE_SIZE)` bytes of `unmap_vmas`' `zap_work`.
    mutating func zapHugePTEs(mm: Int, start: UInt64, end: UInt64) -> Exec {
        if let reason = waitReason(for: .pageTable(mm: mm)) { return .blocked(reason) }
        withLock(.pageTable(mm: mm)) { world in
            var pages = world.scratch.hugePages
            var cleared = 0
            world.removePTEs(mm: mm, from: start, to: end) { world, _, pte in
                cleared += 1
                if let pfn = world.zapped(pte) { pages.append(pfn) }
            }
            world.scratch.hugePages = pages
            if cleared > 0 { world.emit(EventInfo(.pteClear, mm: mm, start: start, end: end, pages: cleared)) }
            world.markChanged(mm: mm, start: start, end: end)
        }
        scratch.zapWork -= Int((end - start) / 512)
        // Modern: the huge range's TLB flush (tlb_flush_mmu_tlbonly) before its pages are put.
        push(secondaryTLBs(mm: mm, start: start, end: end))
        return .ran
    }

    /// The `put_page` loop over `__unmap_hugepage_range`'s `page_list`, after its end; then, as
    /// `unmap_vmas` does after the call, `tlb_finish_mmu` if the block is used up.
    mutating func putHugePages() -> Exec {
        let pages = scratch.hugePages
        scratch.hugePages = []
        putGathered(pages)
        endZapBlockIfUsedUp(then: [])
        return .ran
    }

    /// Removes the ptes of `[start, end)` in place, in address order, handing each (with
    /// its address) to `body`, and keeps rss in step; at most `limit` of them. The page table
    /// is taken out of the mm meanwhile, so `body` may change the rest of the world.
    /// - Returns: The address of the first pte left in the range, nil when none is left.
    @discardableResult
    mutating func removePTEs(
        mm: Int,
        from start: UInt64,
        to end: UInt64,
        limit: Int = Int.max,
        _ body: (inout World, UInt64, PTE) -> Void
    ) -> UInt64? {
        guard start < end else { return nil }
        var table = mms[mm - 1].pageTable
        mms[mm - 1].pageTable = RadixTable()
        var removedPresent = 0
        let (visited, rest) = table.removeFirst(limit, from: start >> pageShift, to: (end - 1) >> pageShift + 1) { vpn, raw in
            let pte = PTE(raw: raw)
            removedPresent += pte.countsInRSS
            body(&self, vpn << pageShift, pte)
        }
        tablesVisited += visited
        mms[mm - 1].pageTable = table
        mms[mm - 1].rss -= removedPresent
        return rest.map { $0 << pageShift }
    }

    /// Clears the ptes in a range and returns what they were, keeping rss in step.
    mutating func clearPTEs(mm: Int, from start: UInt64, to end: UInt64) -> [(address: UInt64, pte: PTE)] {
        var found: [(address: UInt64, pte: PTE)] = []
        removePTEs(mm: mm, from: start, to: end) { _, address, pte in found.append((address, pte)) }
        return found
    }

    /// `tlb_finish_mmu`: put every gathered page; those whose last reference goes are freed.
    mutating func tlbFinishMMU() -> Exec {
        // Modern: the TLB flush first, with arch_invalidate_secondary_tlbs over what was cleared.
        if scratch.flushMM > 0 {
            let flush = secondaryTLBs(mm: scratch.flushMM, start: scratch.flushStart, end: scratch.flushEnd)
            scratch.flushMM = 0
            if !flush.isEmpty {
                push(flush + [.tlbFinishMMU])
                return .expanded
            }
        }
        let gathered = scratch.pendingFree
        scratch.pendingFree = []
        putGathered(gathered)
        return .ran
    }

    /// Modern: widens the range the next TLB flush covers.
    mutating func noteFlush(mm: Int, start: UInt64, end: UInt64) {
        guard config.kernel == .modern else { return }
        if scratch.flushMM == mm {
            scratch.flushStart = min(scratch.flushStart, start)
            scratch.flushEnd = max(scratch.flushEnd, end)
        } else {
            (scratch.flushMM, scratch.flushStart, scratch.flushEnd) = (mm, start, end)
        }
    }

    /// Puts each page of a gather (`free_pages_and_swap_cache`) and traces those freed, in
    /// frames (512 for a huge page).
    mutating func putGathered(_ gathered: [Int]) {
        var freed: [Int] = []
        var pages = 0
        for pfn in gathered {
            let size = pageFrames(pfn)
            if putPage(pfn) {
                freed.append(pfn)
                pages += size
            }
        }
        if !freed.isEmpty {
            emit(EventInfo(.frameFree, pfn: freed.count == 1 ? freed[0] : nil, pages: pages))
        }
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
