/// The rmap users: reclaim (page_referenced, try_to_unmap, pageout), writeback
/// (page_mkclean) and migration.
extension World {
    // MARK: rmap

    /// Where a frame is mapped: for an anonymous page, the VMAs of its anon_vma in every mm;
    /// for a file page, the VMAs of its file; each at the address its index gives there.
    func rmap(_ pfn: Int, matching test: (PTE) -> Bool) -> [Mapping] {
        let frame = frames[pfn]
        guard frame.kind == .anon || frame.kind == .file else { return [] }
        var result: [Mapping] = []
        for mm in mms where !mm.exited && mm.count > 0 {
            for vma in mm.vmas {
                var addresses: [UInt64] = []
                if frame.kind == .anon {
                    guard vma.anonVMA == Int(frame.owner), frame.index >= vma.pgoff else { continue }
                    let address = vma.start + (frame.index - vma.pgoff) << pageShift
                    if address < vma.end { addresses.append(address) }
                } else {
                    guard vma.file == Int(frame.owner) else { continue }
                    if vma.nonlinear.isEmpty {
                        guard frame.index >= vma.pgoff else { continue }
                        let address = vma.start + (frame.index - vma.pgoff) << pageShift
                        if address < vma.end { addresses.append(address) }
                    } else {
                        addresses = vma.nonlinear.filter { $0.value == frame.index }.map { $0.key << pageShift }.sorted()
                    }
                }
                for address in addresses {
                    let pte = mm.pageTable.pte(at: address)
                    if test(pte) { result.append(Mapping(mm: mm.id, address: address, write: pte.write)) }
                }
            }
        }
        return result
    }

    /// True for a page on the LRU lists, which reclaim and migration take pages from:
    /// anonymous and page-cache pages, not hugetlb pages nor the blocks of execute-in-place
    /// files (which are never put there).
    func onLRU(_ pfn: Int) -> Bool {
        let frame = frames[pfn]
        switch frame.kind {
        case .anon: return !frame.isHuge
        case .file: return !frame.isHuge && !files[Int(frame.owner)].xip
        case .zero, .free: return false
        }
    }

    /// The lock that guards a page's rmap: its anon_vma's or its file's i_mmap_lock.
    func rmapLock(_ pfn: Int) -> Lock {
        frames[pfn].kind == .anon ? .anonVMA(Int(frames[pfn].owner)) : .iMmap(file: Int(frames[pfn].owner))
    }

    /// The references a page has beyond its mappings and its page-cache entry: get_user_pages
    /// pins, a pinning driver's references, another pass's isolation.
    func extraReferences(_ pfn: Int) -> Int32 {
        frames[pfn].refcount - frames[pfn].mapcount - (frames[pfn].kind == .file ? 1 : 0)
    }

    // MARK: Reclaim

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
                .notify(.page(.clearFlushYoung, mm: mapping.mm, address: mapping.address)), .release(.pageTable(mm: mapping.mm)),
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
        emit(EventInfo("pte_clear_young", mm: mm, address: address, pfn: pfn, ret: young ? 1 : 0))
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
            emit(EventInfo("add_to_swap", pfn: pfn, ret: slot))
        }
        let lock = rmapLock(pfn)
        var steps: [Step] = [.acquire(lock)]
        for mapping in rmap(pfn, matching: { $0.isPresent && $0.pfn == pfn }) {
            steps += [
                .acquire(.pageTable(mm: mapping.mm)), .referencedOne(mm: mapping.mm, address: mapping.address, pfn: pfn, fresh: true),
                .notify(.page(.clearFlushYoung, mm: mapping.mm, address: mapping.address)),
                .unmapOne(mm: mapping.mm, address: mapping.address, pfn: pfn, migration: false), .release(.pageTable(mm: mapping.mm)),
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
        if !migration && scratch.young { return .ran }
        setPTE(mm: mm, address: address, .none)
        if pte.dirty { frames[pfn].dirty = true }
        scratch.writable = pte.write
        emit(EventInfo("pte_clear", mm: mm, address: address, pfn: pfn))
        push([.notify(.page(.invalidatePage, mm: mm, address: address)), .setSwapPTE(mm: mm, address: address, pfn: pfn, migration: migration)])
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
        emit(EventInfo("pte_set", mm: mm, address: address, pfn: pfn))
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
            emit(EventInfo("writepage", pfn: pfn))
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
        if frame.content != backing {
            report(
                .dataIntegrity,
                mm: nil,
                notifier: nil,
                address: nil,
                "pfn \(pfn) was dropped clean but holds \(hex(frame.content)) while its backing copy holds \(hex(backing)): a write through a secondary MMU never reached set_page_dirty"
            )
        }
        putPage(pfn)
        emit(EventInfo("frame_free", pfn: pfn, pages: 1))
        updateResult { $0.swappedOut! += 1 }
        return .ran
    }

    // MARK: Writeback

    /// The dirty page-cache pages of one file, or of every file.
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
                } else if !files[index].name.hasPrefix("shmem:"), frames[pfn].content != files[index].disk[pgoff] ?? 0 {
                    report(
                        .dataIntegrity,
                        mm: nil,
                        notifier: nil,
                        address: nil,
                        "writeback of \(files[index].name) finds pfn \(pfn) clean holding \(hex(frames[pfn].content)) while the disk holds "
                            + "\(hex(files[index].disk[pgoff] ?? 0)): a write never reached set_page_dirty, and writeback will not save it"
                    )
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
            steps += [
                .acquire(.pageTable(mm: mapping.mm)), .mkcleanOne(mm: mapping.mm, address: mapping.address, pfn: pfn),
                .release(.pageTable(mm: mapping.mm)),
            ]
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
        emit(EventInfo("pte_clear", mm: mm, address: address, pfn: pfn))
        push([.notify(.page(.invalidatePage, mm: mm, address: address)), .mkcleanSet(mm: mm, address: address, pfn: pfn)])
        return .ran
    }

    /// The end of page_mkclean_one: `set_pte_at` with the pte write-protected and clean.
    mutating func mkcleanSet(mm: Int, address: UInt64, pfn: Int) -> Exec {
        setPTE(mm: mm, address: address, .present(pfn: pfn, write: false, young: true, dirty: false))
        emit(EventInfo("pte_set", mm: mm, address: address, pfn: pfn))
        markChanged(mm: mm, start: address, end: address + pageSize)
        return .ran
    }

    /// `writepage`: the content goes to the file and the page is clean.
    mutating func writepage(pfn: Int) -> Exec {
        guard frames[pfn].kind == .file, frames[pfn].dirty else { return .ran }
        files[Int(frames[pfn].owner)].disk[frames[pfn].index] = frames[pfn].content
        frames[pfn].dirty = false
        updateResult { $0.cleaned! += 1 }
        emit(EventInfo("writepage", pfn: pfn))
        return .ran
    }

    // MARK: Migration

    /// The pages mapped in a range, in address order.
    mutating func migrateScan(mm: Int, start: UInt64, end: UInt64) -> Exec {
        var seen = Set<Int>()
        var candidates: [Int] = []
        for (_, pte) in mms[mm - 1].pageTable.ptes(from: start, to: end) where pte.isPresent && onLRU(pte.pfn) {
            if seen.insert(pte.pfn).inserted { candidates.append(pte.pfn) }
        }
        scratch.candidates = candidates
        updateResult {
            $0.migrated = 0
            $0.failed = 0
        }
        return .expanded
    }

    /// `unmap_and_move` for the next page: allocate the target, try_to_unmap (migration
    /// entries, invalidate_page), copy, and remove the migration entries. A page that someone
    /// else holds is unmapped all the same; the copy then fails (-EAGAIN) and the migration
    /// entries go back to the old page.
    mutating func migrateNext(index: Int) -> Exec {
        guard index < scratch.candidates.count else { return .expanded }
        let pfn = scratch.candidates[index]
        guard onLRU(pfn) else {
            push([.migrateNext(index: index + 1)])
            return .expanded
        }
        let lock = rmapLock(pfn)
        scratch.mappings = []
        var steps: [Step] = [.migrateAlloc(pfn: pfn), .acquire(lock)]
        for mapping in rmap(pfn, matching: { $0.isPresent && $0.pfn == pfn }) {
            steps += [
                .acquire(.pageTable(mm: mapping.mm)), .unmapOne(mm: mapping.mm, address: mapping.address, pfn: pfn, migration: true),
                .release(.pageTable(mm: mapping.mm)),
            ]
        }
        steps += [.release(lock), .migrateCopy(oldPfn: pfn), .removeMigrationPTEs(oldPfn: pfn), .migrateNext(index: index + 1)]
        push(steps)
        return .expanded
    }

    /// Isolates the old page (a reference) and allocates the new one.
    mutating func migrateAlloc(pfn: Int) -> Exec {
        let old = frames[pfn]
        guard let new = allocFrame(kind: old.kind, content: 0, owner: old.owner, index: old.index) else {
            abort(.ENOMEM)
            return .ran
        }
        frames[pfn].refcount += 1
        scratch.pfn = new
        emit(EventInfo("frame_alloc", pfn: new))
        return .ran
    }

    /// `migrate_page_move_mapping`, then `migrate_page_copy`: a page that is still mapped, or
    /// whose count is more than our isolation's and its cache's, answers -EAGAIN and is left as
    /// it is; otherwise content, dirty bit, page-cache and swap-cache entries move over.
    mutating func migrateCopy(oldPfn: Int) -> Exec {
        let new = scratch.pfn
        let old = frames[oldPfn]
        if old.mapcount > 0 || extraReferences(oldPfn) > 1 {
            scratch.migrationFailed = true
            emit(EventInfo("migrate_copy", pfn: new, ret: -Errno.EAGAIN.number))
            return .ran
        }
        frames[new].content = old.content
        frames[new].dirty = old.dirty
        frames[oldPfn].dirty = false
        if old.kind == .file {
            // The page-cache reference moves: the new page's allocation reference is it.
            files[Int(old.owner)].pageCache[old.index] = new
            frames[oldPfn].refcount -= 1
        } else {
            frames[new].refcount -= 1
        }
        if old.swapSlot >= 0 {
            frames[new].swapSlot = old.swapSlot
            swap[Int(old.swapSlot)]!.cachedPfn = Int32(new)
            frames[oldPfn].swapSlot = -1
        }
        emit(EventInfo("migrate_copy", pfn: new, ret: oldPfn))
        return .ran
    }

    /// `remove_migration_ptes`: each migration entry becomes a pte for the new page; the old
    /// page's isolation reference is put, freeing it. After -EAGAIN the entries go back to the
    /// old page (`remove_migration_ptes(page, page)`) and the new page is freed.
    mutating func removeMigrationPTEs(oldPfn: Int) -> Exec {
        let failed = scratch.migrationFailed
        let new = failed ? oldPfn : scratch.pfn
        if failed, putPage(scratch.pfn) { emit(EventInfo("frame_free", pfn: scratch.pfn, pages: 1)) }
        scratch.pfn = -1
        scratch.migrationFailed = false
        for mapping in scratch.mappings {
            let pte = mms[mapping.mm - 1].pageTable.pte(at: mapping.address)
            guard pte.isMigration, pte.pfn == oldPfn else { continue }
            frames[new].mapcount += 1
            frames[new].refcount += 1
            setPTE(mm: mapping.mm, address: mapping.address, .present(pfn: new, write: pte.write, young: true, dirty: false))
            emit(EventInfo("pte_set", mm: mapping.mm, address: mapping.address, pfn: new))
            markChanged(mm: mapping.mm, start: mapping.address, end: mapping.address + pageSize)
        }
        scratch.mappings = []
        if !failed { checkCopy(from: oldPfn, to: new, what: "migrate_page_copy", mm: nil, address: nil) }
        if putPage(oldPfn) { emit(EventInfo("frame_free", pfn: oldPfn, pages: 1)) }
        updateResult {
            if failed {
                $0.failed! += 1
            } else {
                $0.migrated! += 1
            }
        }
        return .ran
    }
}
