/// Mapping changes: mmap, mprotect, mremap, remap_file_pages, apply_to_page_range.
extension World {
    // MARK: mmap

    /// `do_mmap_pgoff`: choose the address, unmap what MAP_FIXED covers, insert the VMA, and
    /// fault in an mlocked mapping.
    mutating func mmapPlan(
        mm: Int,
        addr: UInt64?,
        length: UInt64,
        prot: Prot,
        flags: MmapFlags,
        file: String?,
        offset: UInt64
    ) -> Exec {
        let alignment = flags.hugetlb ? hugePageSize : pageSize
        let size = (pageAlign(length) + alignment - 1) & ~(alignment - 1)
        let start: UInt64
        if flags.fixed, let addr {
            start = addr
        } else {
            let hint = ((addr ?? mmapBase) + alignment - 1) & ~(alignment - 1)
            guard let found = mms[mm - 1].unmappedArea(length: size, hint: hint) ?? mms[mm - 1].unmappedArea(length: size, hint: alignment)
            else {
                abort(.ENOMEM)
                return .expanded
            }
            start = (found + alignment - 1) & ~(alignment - 1)
        }
        guard start <= taskSize, size <= taskSize - start else {
            abort(.ENOMEM)
            return .expanded
        }
        // A file is hugetlbfs or execute-in-place from its creation (its filesystem's); a
        // mapping that names it the other way cannot be made.
        if let file, let existing = self.file(named: file), existing.hugetlb != flags.hugetlb || existing.xip != flags.xip {
            abort(.EINVAL)
            return .expanded
        }
        let fileID: Int?
        var isShmem = false
        if let file {
            fileID = self.fileID(named: file)
        } else if flags.shared {
            fileID = self.fileID(named: "shmem:\(files.count)")
            isShmem = true
        } else {
            fileID = nil
        }
        if let fileID {
            files[fileID].hugetlb = flags.hugetlb
            files[fileID].xip = flags.xip
        }
        var vma = VMA(
            start: start,
            end: start + size,
            prot: prot,
            shared: flags.shared,
            file: fileID,
            pgoff: fileID != nil && !isShmem ? offset >> pageShift : (isShmem ? 0 : start >> pageShift),
            locked: flags.locked,
            hugetlb: flags.hugetlb,
            anonVMA: nil
        )
        vma.isShmem = isShmem
        // do_mmap_pgoff: "Too many mappings?"
        if mms[mm - 1].vmas.count >= config.maxMapCount {
            abort(.ENOMEM)
            return .expanded
        }
        updateResult { $0.addr = start }
        var steps: [Step] = []
        if flags.fixed { steps.append(.doMunmap(mm: mm, start: start, end: start + size)) }
        steps.append(.mmapRegion(mm: mm, vma: vma))
        if flags.locked {
            steps.append(.touchNext(mm: mm, address: start, end: start + size, mode: .populate(write: prot.contains(.write))))
        }
        push(steps)
        return .expanded
    }

    /// `mmap_region`: link the VMA in, merging it with its neighbours where possible.
    mutating func mmapRegion(mm: Int, vma: VMA) -> Exec {
        mms[mm - 1].insert(vma)
        emit(EventInfo(.mmapRegion, mm: mm, start: vma.start, end: vma.end))
        return .ran
    }

    // MARK: mprotect

    /// `sys_mprotect`: -ENOMEM unless the range is fully mapped; then mprotect_fixup on the
    /// part of each VMA in it.
    mutating func mprotectPlan(mm: Int, start: UInt64, end: UInt64, prot: Prot) -> Exec {
        guard mms[mm - 1].isFullyMapped(start, end) else {
            abort(.ENOMEM)
            return .expanded
        }
        let parts = mms[mm - 1].vmaIndices(overlapping: start, end).map { index -> Step in
            let vma = mms[mm - 1].vmas[index]
            return .mprotectFixup(mm: mm, start: max(vma.start, start), end: min(vma.end, end), prot: prot)
        }
        push(parts)
        return .expanded
    }

    /// `mprotect_fixup` for one VMA part: nothing when the protection is unchanged; else split
    /// or merge the VMA, then change_protection inside an invalidate_range_start/end pair.
    mutating func mprotectFixup(mm: Int, start: UInt64, end: UInt64, prot: Prot) -> Exec {
        guard let index = mms[mm - 1].vmaIndex(containing: start), mms[mm - 1].vmas[index].prot != prot else { return .ran }
        let splits = (mms[mm - 1].vmas[index].start < start ? 1 : 0) + (mms[mm - 1].vmas[index].end > end ? 1 : 0)
        // split_vma refuses to split a hugetlb VMA inside a huge page.
        if mms[mm - 1].vmas[index].hugetlb && (start % hugePageSize != 0 || end % hugePageSize != 0 && end < mms[mm - 1].vmas[index].end) {
            abort(.EINVAL)
            return .ran
        }
        if splits > 0 && mms[mm - 1].vmas.count + splits > config.maxMapCount {
            abort(.ENOMEM)
            return .ran
        }
        mms[mm - 1].split(at: start)
        mms[mm - 1].split(at: end)
        let first = mms[mm - 1].vmaIndex(containing: start)!
        mms[mm - 1].vmas[first].prot = prot
        mms[mm - 1].merge(around: first..<first + 1)
        emit(EventInfo(.mprotectFixup, mm: mm, start: start, end: end))
        push([
            .notify(rangeCall(.invalidateRangeStart, mm: mm, start: start, end: end, .protectionVMA)),
            .changeProtection(mm: mm, start: start, end: end),
            .notify(rangeCall(.invalidateRangeEnd, mm: mm, start: start, end: end, .protectionVMA)),
        ])
        return .ran
    }

    /// `change_protection`: give every pte the VMA's new protection. A private mapping's
    /// ptes are never writable here (the next write faults and reuses or copies); a shared
    /// one keeps write only where dirty (write-notify), shmem always. A hugetlb VMA goes
    /// through `hugetlb_change_protection`, which gives each huge pte `pte_modify(pte, newprot)`:
    /// writable exactly when the VMA is shared and writable (hugetlbfs has no write-notify).
    mutating func changeProtection(mm: Int, start: UInt64, end: UInt64) -> Exec {
        if let reason = waitReason(for: .pageTable(mm: mm)) { return .blocked(reason) }
        guard let vma = mms[mm - 1].vma(containing: start) else { return .ran }
        withLock(.pageTable(mm: mm)) { world in
            var changed = 0
            let shared = vma.shared && vma.prot.contains(.write)
            world.tablesVisited += world.mms[mm - 1].pageTable.update(from: start >> pageShift, to: (end - 1) >> pageShift + 1) { _, raw in
                var pte = PTE(raw: raw)
                guard pte.isPresent else { return raw }
                pte.write = shared && (vma.isShmem || vma.hugetlb || pte.dirty)
                if pte.raw != raw { changed += 1 }
                return pte.raw
            }
            if changed > 0 { world.emit(EventInfo(.pteProtect, mm: mm, start: start, end: end, pages: changed)) }
            world.markChanged(mm: mm, start: start, end: end)
        }
        // flush_tlb_range.
        push(secondaryTLBs(mm: mm, start: start, end: end))
        return .ran
    }

    // MARK: mremap

    /// `do_mremap`: shrink by unmapping the tail; grow in place when the space after the VMA
    /// is free; otherwise move (MREMAP_MAYMOVE) or fail with -ENOMEM.
    mutating func mremapPlan(mm: Int, oldAddr: UInt64, oldLength: UInt64, newLength: UInt64, mayMove: Bool, newAddr: UInt64?) -> Exec {
        guard let vma = mms[mm - 1].vma(containing: oldAddr), oldLength <= vma.end - oldAddr else {
            abort(.EFAULT)
            return .expanded
        }
        // do_mremap: a hugetlb VMA can only shrink (through do_munmap); "if
        // (is_vm_hugetlb_page(vma)) { ret = -EINVAL; goto out; }" before any growth or move.
        if vma.hugetlb && (newAddr != nil || newLength > oldLength) {
            abort(.EINVAL)
            return .expanded
        }
        if let newAddr {
            var steps: [Step] = [.doMunmap(mm: mm, start: newAddr, end: newAddr + newLength)]
            var moved = oldLength
            if newLength < oldLength {
                steps.append(.doMunmap(mm: mm, start: oldAddr + newLength, end: oldAddr + oldLength))
                moved = newLength
            }
            updateResult { $0.addr = newAddr }
            push(steps + moveVMASteps(mm: mm, oldStart: oldAddr, oldLength: moved, newStart: newAddr, newLength: newLength))
            return .expanded
        }
        if newLength <= oldLength {
            updateResult { $0.addr = oldAddr }
            if newLength < oldLength { push([.doMunmap(mm: mm, start: oldAddr + newLength, end: oldAddr + oldLength)]) }
            return .expanded
        }
        let oldEnd = oldAddr + oldLength
        let newEnd = oldAddr + newLength
        if oldEnd == vma.end, newEnd <= taskSize, mms[mm - 1].vmaIndices(overlapping: oldEnd, newEnd).isEmpty {
            updateResult { $0.addr = oldAddr }
            push([.vmaAdjust(mm: mm, start: vma.start, newEnd: newEnd)])
            return .expanded
        }
        guard mayMove, let target = mms[mm - 1].unmappedArea(length: newLength, hint: mmapBase) else {
            abort(.ENOMEM)
            return .expanded
        }
        updateResult { $0.addr = target }
        push(moveVMASteps(mm: mm, oldStart: oldAddr, oldLength: oldLength, newStart: target, newLength: newLength))
        return .expanded
    }

    /// `move_vma`: copy the VMA to the new place, move the page tables chunk by chunk
    /// (`move_page_tables`: up to LATENCY_LIMIT, 64 pages, within one pmd; a chunk with no
    /// page table is skipped), each move_ptes inside a start/end pair on the old chunk (in a
    /// modern world one UNMAP pair over the whole old range); then do_munmap the old range.
    func moveVMASteps(mm: Int, oldStart: UInt64, oldLength: UInt64, newStart: UInt64, newLength: UInt64) -> [Step] {
        var steps: [Step] = [.copyVMA(mm: mm, oldStart: oldStart, newStart: newStart, newLength: newLength)]
        let pmdSize: UInt64 = 512 * pageSize
        let latencyLimit: UInt64 = 64 * pageSize
        let oldEnd = oldStart + oldLength
        var old = oldStart
        var new = newStart
        // move_page_tables (6.x): one UNMAP range over the whole old range around the loop.
        let modern = config.kernel == .modern
        if modern { steps.append(.notify(rangeCall(.invalidateRangeStart, mm: mm, start: oldStart, end: oldEnd, .unmap))) }
        while old < oldEnd {
            var extent = ((old + pmdSize) & ~(pmdSize - 1)) - old
            extent = min(extent, ((new + pmdSize) & ~(pmdSize - 1)) - new, latencyLimit, oldEnd - old)
            if mms[mm - 1].pageTable.hasLeaf(for: old >> pageShift) {
                let move = Step.movePTEs(mm: mm, oldStart: old, oldEnd: old + extent, newStart: new)
                steps +=
                    modern
                    ? [move]
                    : [
                        .notify(NotifyCall(kind: .invalidateRangeStart, mm: mm, start: old, end: old + extent)), move,
                        .notify(NotifyCall(kind: .invalidateRangeEnd, mm: mm, start: old, end: old + extent)),
                    ]
            }
            old += extent
            new += extent
        }
        if modern { steps.append(.notify(rangeCall(.invalidateRangeEnd, mm: mm, start: oldStart, end: oldEnd, .unmap))) }
        steps.append(.doMunmap(mm: mm, start: oldStart, end: oldEnd))
        return steps
    }

    /// `vma_adjust`: grow a VMA in place.
    mutating func vmaAdjust(mm: Int, start: UInt64, newEnd: UInt64) -> Exec {
        guard let index = mms[mm - 1].vmaIndex(containing: start) else { return .ran }
        mms[mm - 1].vmas[index].end = newEnd
        mms[mm - 1].merge(around: index..<index + 1)
        emit(EventInfo(.vmaAdjust, mm: mm, start: start, end: newEnd))
        return .ran
    }

    /// `copy_vma`: the new VMA keeps the old one's backing and page offset.
    mutating func copyVMA(mm: Int, oldStart: UInt64, newStart: UInt64, newLength: UInt64) -> Exec {
        guard let old = mms[mm - 1].vma(containing: oldStart) else { return .ran }
        var vma = old
        vma.start = newStart
        vma.end = newStart + newLength
        vma.pgoff = old.pgoff + (oldStart - old.start) >> pageShift
        vma.nonlinear = [:]
        mms[mm - 1].insert(vma)
        emit(EventInfo(.copyVma, mm: mm, start: newStart, end: newStart + newLength))
        return .ran
    }

    /// `move_ptes` under the page-table lock: each pte moves to the new address, frames and
    /// counts unchanged.
    mutating func movePTEs(mm: Int, oldStart: UInt64, oldEnd: UInt64, newStart: UInt64) -> Exec {
        if let reason = waitReason(for: .pageTable(mm: mm)) { return .blocked(reason) }
        withLock(.pageTable(mm: mm)) { world in
            let moved = world.clearPTEs(mm: mm, from: oldStart, to: oldEnd)
            for (address, pte) in moved {
                world.setPTE(mm: mm, address: newStart + (address - oldStart), pte)
            }
            if !moved.isEmpty { world.emit(EventInfo(.pteMove, mm: mm, start: oldStart, end: oldEnd, pages: moved.count)) }
            world.markChanged(mm: mm, start: oldStart, end: oldEnd)
            world.markChanged(mm: mm, start: newStart, end: newStart + (oldEnd - oldStart))
        }
        // flush_tlb_range over the old range.
        push(secondaryTLBs(mm: mm, start: oldStart, end: oldEnd))
        return .ran
    }

    // MARK: remap_file_pages and apply_to_page_range

    /// `sys_remap_file_pages`: only for a shared file mapping; populate_range inside a
    /// start/end pair over the range.
    mutating func remapFilePlan(mm: Int, start: UInt64, end: UInt64, pgoff: UInt64) -> Exec {
        // hugetlbfs VMAs lack VM_CAN_NONLINEAR.
        guard let vma = mms[mm - 1].vma(containing: start), vma.shared, vma.file != nil, !vma.isShmem, !vma.hugetlb, end <= vma.end else {
            abort(.EINVAL)
            return .expanded
        }
        push([
            .notify(NotifyCall(kind: .invalidateRangeStart, mm: mm, start: start, end: end)),
            .populateRange(mm: mm, start: start, end: end, pgoff: pgoff),
            .notify(NotifyCall(kind: .invalidateRangeEnd, mm: mm, start: start, end: end)),
        ])
        return .expanded
    }

    /// `populate_range` with `install_file_pte`: each pte in the range is zapped and the page
    /// offsets of the range are rebound; the next fault maps the new page.
    mutating func populateRange(mm: Int, start: UInt64, end: UInt64, pgoff: UInt64) -> Exec {
        if let reason = waitReason(for: .pageTable(mm: mm)) { return .blocked(reason) }
        guard let index = mms[mm - 1].vmaIndex(containing: start) else { return .ran }
        withLock(.pageTable(mm: mm)) { world in
            let cleared = world.clearPTEs(mm: mm, from: start, to: end)
            for (_, pte) in cleared where pte.isPresent {
                world.frames[pte.pfn].mapcount -= 1
                if pte.dirty { world.frames[pte.pfn].dirty = true }
                world.putPage(pte.pfn)
            }
            var page: UInt64 = 0
            var address = start
            while address < end {
                world.mms[mm - 1].vmas[index].nonlinear[address >> pageShift] = pgoff + page
                address += pageSize
                page += 1
            }
            world.emit(EventInfo(.populateRange, mm: mm, start: start, end: end, pages: cleared.count))
            world.markChanged(mm: mm, start: start, end: end)
        }
        return .ran
    }

    /// `apply_to_page_range` with a function that write-protects each present pte, as a
    /// driver revoking write access would.
    mutating func applyPTEs(mm: Int, start: UInt64, end: UInt64) -> Exec {
        if let reason = waitReason(for: .pageTable(mm: mm)) { return .blocked(reason) }
        withLock(.pageTable(mm: mm)) { world in
            var changed = 0
            for (address, old) in world.mms[mm - 1].pageTable.ptes(from: start, to: end) where old.isPresent && old.write && !old.isHuge {
                var pte = old
                pte.write = false
                world.mms[mm - 1].pageTable.setPTE(pte, at: address)
                changed += 1
            }
            world.emit(EventInfo(.pteProtect, mm: mm, start: start, end: end, pages: changed))
            world.markChanged(mm: mm, start: start, end: end)
        }
        return .ran
    }
}
