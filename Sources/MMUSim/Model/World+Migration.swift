/// Migration (mm/migrate.c unmap_and_move): migration entries, the copy, and
/// remove_migration_ptes.
extension World {
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
            let (mm, address) = (mapping.mm, mapping.address)
            let walk: [Step] = [
                .acquire(.pageTable(mm: mm)), .unmapOne(mm: mm, address: address, pfn: pfn, migration: true), .release(.pageTable(mm: mm)),
            ]
            // try_to_migrate_one (6.x): a CLEAR range over the folio (one page here) brackets the
            // walk; remove_migration_ptes calls no notifier.
            steps +=
                config.kernel == .modern
                ? [.notify(rangeCall(.invalidateRangeStart, mm: mm, start: address, end: address + pageSize, .clear))] + walk
                    + [.notify(rangeCall(.invalidateRangeEnd, mm: mm, start: address, end: address + pageSize, .clear))]
                : walk
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
        emit(EventInfo(.frameAlloc, pfn: new))
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
            emit(EventInfo(.migrateCopy, pfn: new, ret: -Errno.EAGAIN.number))
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
        emit(EventInfo(.migrateCopy, pfn: new, ret: oldPfn))
        return .ran
    }

    /// `remove_migration_ptes`: each migration entry becomes a pte for the new page; the old
    /// page's isolation reference is put, freeing it. After -EAGAIN the entries go back to the
    /// old page (`remove_migration_ptes(page, page)`) and the new page is freed.
    mutating func removeMigrationPTEs(oldPfn: Int) -> Exec {
        let failed = scratch.migrationFailed
        let new = failed ? oldPfn : scratch.pfn
        if failed, putPage(scratch.pfn) { emit(EventInfo(.frameFree, pfn: scratch.pfn, pages: 1)) }
        scratch.pfn = -1
        scratch.migrationFailed = false
        for mapping in scratch.mappings {
            let pte = mms[mapping.mm - 1].pageTable.pte(at: mapping.address)
            guard pte.isMigration, pte.pfn == oldPfn else { continue }
            frames[new].mapcount += 1
            frames[new].refcount += 1
            setPTE(mm: mapping.mm, address: mapping.address, .present(pfn: new, write: pte.write, young: true, dirty: false))
            emit(EventInfo(.pteSet, mm: mapping.mm, address: mapping.address, pfn: new))
            markChanged(mm: mapping.mm, start: mapping.address, end: mapping.address + pageSize)
        }
        scratch.mappings = []
        if !failed { checkCopy(from: oldPfn, to: new, what: "migrate_page_copy", mm: nil, address: nil) }
        if putPage(oldPfn) { emit(EventInfo(.frameFree, pfn: oldPfn, pages: 1)) }
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
