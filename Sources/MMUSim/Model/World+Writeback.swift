/// Writeback (clear_page_dirty_for_io, mm/rmap.c page_mkclean, writepage).
extension World {
    /// The dirty page-cache pages of one file, or of every file.
    ///
    /// hugetlbfs and execute-in-place files have no writeback. A clean page whose content is
    /// not what the disk holds took a write that never reached set_page_dirty: writeback will
    /// not save it (data-integrity; shmem, which has no disk here, is not held to it).
    mutating func writebackScan(file: Int?) -> Exec {
        var candidates: [Int] = []
        for index in files.indices where (file == nil || file == index) && !files[index].hugetlb && !files[index].xip {
            for pgoff in files[index].pageCache.keys.sorted() {
                let pfn = files[index].pageCache[pgoff]!
                if frames[pfn].dirty {
                    candidates.append(pfn)
                } else {
                    checkCleanPageOnDisk(file: index, pgoff: pgoff)
                }
            }
        }
        scratch.candidates = candidates
        updateResult { $0.cleaned = 0 }
        return .expanded
    }

    /// `clear_page_dirty_for_io` on the next page: page_mkclean over its mappings under the
    /// i_mmap_lock, then writepage.
    mutating func writebackNext(index: Int) -> Exec {
        guard index < scratch.candidates.count else { return .expanded }
        let pfn = scratch.candidates[index]
        guard frames[pfn].kind == .file else {
            push([.writebackNext(index: index + 1)])
            return .expanded
        }
        let lock = rmapLock(pfn)
        var steps: [Step] = [.acquire(lock)]
        for mapping in rmap(pfn, matching: { $0.isPresent && $0.pfn == pfn }) {
            let (mm, address) = (mapping.mm, mapping.address)
            let walk: [Step] = [.acquire(.pageTable(mm: mm)), .mkcleanOne(mm: mm, address: address, pfn: pfn), .release(.pageTable(mm: mm))]
            // page_vma_mkclean_one (6.x): a PROTECTION_PAGE range over the folio (one page here)
            // brackets the walk, whether or not the pte needs cleaning.
            steps +=
                config.kernel == .modern
                ? [.notify(rangeCall(.invalidateRangeStart, mm: mm, start: address, end: address + pageSize, .protectionPage))] + walk
                    + [.notify(rangeCall(.invalidateRangeEnd, mm: mm, start: address, end: address + pageSize, .protectionPage))]
                : walk
        }
        steps += [.release(lock), .writepage(pfn: pfn), .writebackNext(index: index + 1)]
        push(steps)
        return .expanded
    }

    /// `page_mkclean_one`: a writable or dirty pte is cleared with ptep_clear_flush_notify
    /// (invalidate_page), then set again write-protected and clean.
    mutating func mkcleanOne(mm: Int, address: UInt64, pfn: Int) -> Exec {
        let pte = mms[mm - 1].pageTable.pte(at: address)
        guard pte.isPresent, pte.pfn == pfn, pte.write || pte.dirty else { return .ran }
        setPTE(mm: mm, address: address, .none)
        if pte.dirty { frames[pfn].dirty = true }
        emit(EventInfo(.pteClear, mm: mm, address: address, pfn: pfn))
        // Modern: ptep_clear_flush inside the caller's range: no invalidate_page.
        let notify: [Step] =
            config.kernel == .modern
            ? secondaryTLBs(mm: mm, start: address, end: address + pageSize) : [.notify(.page(.invalidatePage, mm: mm, address: address))]
        push(notify + [.mkcleanSet(mm: mm, address: address, pfn: pfn)])
        return .ran
    }

    /// The end of page_mkclean_one: `set_pte_at` with the pte write-protected and clean.
    mutating func mkcleanSet(mm: Int, address: UInt64, pfn: Int) -> Exec {
        setPTE(mm: mm, address: address, .present(pfn: pfn, write: false, young: true, dirty: false))
        emit(EventInfo(.pteSet, mm: mm, address: address, pfn: pfn))
        markChanged(mm: mm, start: address, end: address + pageSize)
        return .ran
    }

    /// `writepage`: the content goes to the file and the page is clean.
    mutating func writepage(pfn: Int) -> Exec {
        guard frames[pfn].kind == .file, frames[pfn].dirty else { return .ran }
        files[Int(frames[pfn].owner)].disk[frames[pfn].index] = frames[pfn].content
        frames[pfn].dirty = false
        updateResult { $0.cleaned! += 1 }
        emit(EventInfo(.writepage, pfn: pfn))
        return .ran
    }
}
