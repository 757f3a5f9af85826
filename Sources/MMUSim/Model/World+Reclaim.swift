/// Reclaim (mm/vmscan.c shrink_page_list, mm/rmap.c page_referenced and try_to_unmap):
/// aging, unmapping and pageout.
extension World {
    /// Chooses the pages a reclaim pass looks at: those mapped in a range of an mm, or every
    /// anonymous and page-cache page in pfn order, at most `pages` of them.
    mutating func reclaimScan(mm: Int?, start: UInt64, end: UInt64, pages: Int?) -> Exec {
        var candidates: [Int] = []
        if let mm {
            var seen = Set<Int>()
            for (_, pte) in mms[mm - 1].pageTable.ptes(from: start, to: end) where pte.isPresent && onLRU(pte.pfn) {
                if seen.insert(pte.pfn).inserted { candidates.append(pte.pfn) }
            }
        } else {
            candidates = frames.indices.filter(onLRU)
        }
        if let pages { candidates = Array(candidates.prefix(pages)) }
        scratch.candidates = candidates
        updateResult {
            $0.scanned = 0
            $0.referenced = 0
            $0.swappedOut = 0
            $0.kept = 0
            $0.failed = 0
        }
        return .expanded
    }

    /// The next page of the pass.
    mutating func reclaimNext(index: Int) -> Exec {
        guard index < scratch.candidates.count else { return .expanded }
        push([.reclaimPage(pfn: scratch.candidates[index]), .reclaimNext(index: index + 1)])
        return .expanded
    }

    /// `shrink_page_list` for one page: a page mapped in a VM_LOCKED VMA fails; otherwise
    /// isolate it (a reference) and run `page_referenced` over its mappings: clear each pte's
    /// young bit and call clear_flush_young on the notifiers, under the rmap lock and the
    /// page-table lock. A page that someone else holds (get_user_pages, a pinning driver) is
    /// not skipped: `shrink_page_list` unmaps it all the same, and only `__remove_mapping`'s
    /// refcount check, after pageout, keeps it from being freed.
    mutating func reclaimPagePlan(pfn: Int) -> Exec {
        guard onLRU(pfn) else { return .expanded }
        updateResult { $0.scanned! += 1 }
        let mappings = rmap(pfn) { $0.isPresent && $0.pfn == pfn }
        let locked = mappings.contains { mms[$0.mm - 1].vma(containing: $0.address)?.locked ?? false }
        if locked {
            updateResult { $0.failed! += 1 }
            return .expanded
        }
        frames[pfn].refcount += 1
        // page_referenced: TestClearPageReferenced first (get_user_pages' mark_page_accessed).
        scratch.young = frames[pfn].referenced
        frames[pfn].referenced = false
        let lock = rmapLock(pfn)
        var steps: [Step] = [.acquire(lock)]
        for mapping in mappings {
            steps += [
                .acquire(.pageTable(mm: mapping.mm)), .referencedOne(mm: mapping.mm, address: mapping.address, pfn: pfn, fresh: false),
                .notify(youngCall(mm: mapping.mm, address: mapping.address)), .release(.pageTable(mm: mapping.mm)),
            ]
        }
        steps += [.release(lock), .reclaimDecide(pfn: pfn)]
        push(steps)
        return .expanded
    }

    /// The pte half of `ptep_clear_flush_young_notify`: test and clear the young bit.
    mutating func referencedOne(mm: Int, address: UInt64, pfn: Int, fresh: Bool) -> Exec {
        if fresh { scratch.young = false }
        var pte = mms[mm - 1].pageTable.pte(at: address)
        guard pte.isPresent, pte.pfn == pfn else { return .ran }
        let young = pte.young
        if young {
            pte.young = false
            mms[mm - 1].pageTable.setPTE(pte, at: address)
            scratch.young = true
        }
        emit(EventInfo(.pteClearYoung, mm: mm, address: address, pfn: pfn, ret: young ? 1 : 0))
        return .ran
    }

    /// After page_referenced: a young page is kept (activated). Otherwise `add_to_swap` gives
    /// an anonymous page a slot (and marks it dirty), and `try_to_unmap` runs over its
    /// mappings, then `pageout`.
    mutating func reclaimDecide(pfn: Int) -> Exec {
        if scratch.young {
            updateResult { $0.referenced! += 1 }
            putPage(pfn)
            return .ran
        }
        if frames[pfn].kind == .anon && frames[pfn].swapSlot < 0 {
            guard let slot = allocSlot(content: frames[pfn].content) else {
                updateResult { $0.failed! += 1 }
                putPage(pfn)
                return .ran
            }
            swap[slot]!.cachedPfn = Int32(pfn)
            frames[pfn].swapSlot = Int32(slot)
            frames[pfn].dirty = true
            emit(EventInfo(.addToSwap, pfn: pfn, ret: slot))
        }
        let lock = rmapLock(pfn)
        var steps: [Step] = [.acquire(lock)]
        for mapping in rmap(pfn, matching: { $0.isPresent && $0.pfn == pfn }) {
            let (mm, address) = (mapping.mm, mapping.address)
            if config.kernel == .modern {
                // try_to_unmap_one (6.x): a CLEAR range over the folio (one page here) opens before
                // page_vma_mapped_walk takes the pte lock and ends after it is dropped; the pte
                // goes with ptep_clear_flush, and there is no young test any more (aging was
                // folio_referenced's).
                steps += [
                    .notify(rangeCall(.invalidateRangeStart, mm: mm, start: address, end: address + pageSize, .clear)),
                    .acquire(.pageTable(mm: mm)), .unmapOne(mm: mm, address: address, pfn: pfn, migration: false),
                    .release(.pageTable(mm: mm)), .notify(rangeCall(.invalidateRangeEnd, mm: mm, start: address, end: address + pageSize, .clear)),
                ]
                continue
            }
            steps += [
                .acquire(.pageTable(mm: mm)), .referencedOne(mm: mm, address: address, pfn: pfn, fresh: true),
                .notify(youngCall(mm: mm, address: address)),
                .unmapOne(mm: mm, address: address, pfn: pfn, migration: false), .release(.pageTable(mm: mm)),
            ]
        }
        steps += [.release(lock), .pageout(pfn: pfn)]
        push(steps)
        return .ran
    }

    /// `try_to_unmap_one`: unless the page turned young again (SWAP_FAIL), nuke the pte with
    /// `ptep_clear_flush_notify` (the pte goes, then invalidate_page on the notifiers), move
    /// its dirty bit to the page, then set the swap (or migration) entry.
    mutating func unmapOne(mm: Int, address: UInt64, pfn: Int, migration: Bool) -> Exec {
        let pte = mms[mm - 1].pageTable.pte(at: address)
        guard pte.isPresent, pte.pfn == pfn else { return .ran }
        let modern = config.kernel == .modern
        if !modern && !migration && scratch.young { return .ran }
        setPTE(mm: mm, address: address, .none)
        if pte.dirty { frames[pfn].dirty = true }
        scratch.writable = pte.write
        emit(EventInfo(.pteClear, mm: mm, address: address, pfn: pfn))
        // Modern: ptep_clear_flush, inside the caller's range: no invalidate_page.
        let notify: [Step] =
            modern ? secondaryTLBs(mm: mm, start: address, end: address + pageSize) : [.notify(.page(.invalidatePage, mm: mm, address: address))]
        push(notify + [.setSwapPTE(mm: mm, address: address, pfn: pfn, migration: migration)])
        markChanged(mm: mm, start: address, end: address + pageSize)
        return .ran
    }

    /// The end of try_to_unmap_one: the swap entry for an anonymous page, a migration entry
    /// while migrating, nothing for a file page; the mapping and its reference go.
    mutating func setSwapPTE(mm: Int, address: UInt64, pfn: Int, migration: Bool) -> Exec {
        let frame = frames[pfn]
        if migration {
            setPTE(mm: mm, address: address, .migration(pfn: pfn, write: scratch.writable))
            scratch.mappings.append(Mapping(mm: mm, address: address, write: scratch.writable))
        } else if frame.kind == .anon {
            let slot = Int(frame.swapSlot)
            swap[slot]!.count += 1
            setPTE(mm: mm, address: address, .swap(slot: slot))
        }
        frames[pfn].mapcount -= 1
        frames[pfn].refcount -= 1
        emit(EventInfo(.pteSet, mm: mm, address: address, pfn: pfn))
        return .ran
    }

    /// `pageout` and `__remove_mapping`: a page still mapped somewhere fails; a dirty page is
    /// written to its slot or file; then a page that someone else still holds (its count is
    /// more than our isolation and its cache's) cannot be freed and stays in the swap cache or
    /// page cache, clean; otherwise it is dropped, and if its content differs from the backing
    /// copy a write was lost (a secondary MMU that did not call set_page_dirty).
    mutating func pageout(pfn: Int) -> Exec {
        let frame = frames[pfn]
        if frame.mapcount > 0 {
            updateResult { $0.failed! += 1 }
            putPage(pfn)
            return .ran
        }
        var backing: UInt64
        if frame.kind == .anon {
            backing = swap[Int(frame.swapSlot)]!.content
            if frame.dirty { swap[Int(frame.swapSlot)]!.content = frame.content }
        } else {
            backing = files[Int(frame.owner)].disk[frame.index] ?? 0
            if frame.dirty { files[Int(frame.owner)].disk[frame.index] = frame.content }
        }
        if frame.dirty {
            backing = frame.content
            emit(EventInfo(.writepage, pfn: pfn))
        }
        // __remove_mapping: `page_count(page) != 2` (our isolation and the cache's) cannot free.
        if extraReferences(pfn) > 1 {
            frames[pfn].dirty = false
            updateResult { $0.kept! += 1 }
            putPage(pfn)
            return .ran
        }
        if frame.kind == .file {
            files[Int(frame.owner)].pageCache[frame.index] = nil
            frames[pfn].refcount -= 1
        }
        checkDroppedClean(pfn, backing: backing)
        putPage(pfn)
        emit(EventInfo(.frameFree, pfn: pfn, pages: 1))
        updateResult { $0.swappedOut! += 1 }
        return .ran
    }
}
