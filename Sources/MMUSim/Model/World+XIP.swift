/// Execute-in-place files (mm/filemap_xip.c, 2.6.26 with the seed's hunk): the file's blocks
/// are memory that the ptes map directly, with no page cache in between and no writeback. A
/// hole has no block: a private mapping reads it as the shared sparse page, and a fault of a
/// shared mapping fills it, first unmapping the sparse page from every mapping of the file
/// (`__xip_unmap`, the seed's 14th hook site, whose `ptep_clear_flush_notify` calls
/// invalidate_page).
extension World {
    /// `xip_file_fault` on a hole (`get_xip_mem` answers -ENODATA), before any page-table lock
    /// is taken. A shared mapping (VM_SHARED with VM_MAYWRITE, as every shared mapping here
    /// has: files are opened read-write on a writable mount), even for a read, allocates the
    /// block (`get_xip_mem` with create) and runs `__xip_unmap`; then `vm_insert_mixed` maps the
    /// block. A private mapping maps the sparse page, read-only; a private write copies it to a
    /// new anonymous page instead (`__do_fault`'s COW).
    mutating func xipHole(mm: Int, address: UInt64, vma: VMA, file: Int, mode: AccessMode) -> Exec {
        let pgoff = vma.filePgoff(at: address)
        if vma.shared {
            guard let block = allocFrame(kind: .file, content: 0, owner: Int32(file), index: pgoff) else {
                abort(.ENOMEM)
                return .ran
            }
            files[file].pageCache[pgoff] = block
            emit(EventInfo(.frameAlloc, mm: mm, address: address, pfn: block))
            push([.xipUnmap(mm: mm, address: address, file: file, pgoff: pgoff, mode: mode)])
            return .ran
        }
        return withLock(.pageTable(mm: mm)) { world in
            if mode.isWrite { return world.doAnonymousPage(mm: mm, address: address, vma: vma, mode: mode) }
            guard let sparse = world.xipSparsePage() else {
                world.abort(.ENOMEM)
                return .ran
            }
            world.mapPage(mm: mm, address: address, pfn: sparse, write: false, dirty: false)
            world.emit(EventInfo(.pteSet, mm: mm, address: address, pfn: sparse))
            world.accessPresent(mm: mm, address: address, mode: mode)
            return .ran
        }
    }

    /// A private write to a block: `vm_insert_mixed` maps the block with the VMA's protection,
    /// read-only in a private mapping, and answers VM_FAULT_NOPAGE; the write faults again and
    /// `do_wp_page` copies the block, with ptep_clear_flush_notify (invalidate_page).
    mutating func xipPrivateWrite(mm: Int, address: UInt64, block: Int, mode: AccessMode) -> Exec {
        withLock(.pageTable(mm: mm)) { world in
            world.mapPage(mm: mm, address: address, pfn: block, write: false, dirty: false)
            world.emit(EventInfo(.pteSet, mm: mm, address: address, pfn: block))
            world.markChanged(mm: mm, start: address, end: address + pageSize)
        }
        push([.handleFault(mm: mm, address: address, mode: mode)])
        return .ran
    }

    /// `xip_sparse_page`: the sparse page, allocated zeroed at its first use; its own
    /// reference keeps it forever.
    private mutating func xipSparsePage() -> Int? {
        if xipSparsePfn >= 0 { return xipSparsePfn }
        guard let pfn = allocFrame(kind: .zero, content: 0, owner: -1, index: 0) else { return nil }
        xipSparsePfn = pfn
        return pfn
    }

    /// `__xip_unmap(mapping, pgoff)`: nothing if the sparse page was never made; otherwise,
    /// under the file's i_mmap_lock, each VMA of the file's prio tree that maps `pgoff` (shared
    /// or private, in any mm; a nonlinear VMA is not in the tree) is checked under its
    /// page-table lock (`page_check_address`). Then the fault goes on to `vm_insert_mixed`.
    mutating func xipUnmapPlan(mm: Int, address: UInt64, file: Int, pgoff: UInt64, mode: AccessMode) -> Exec {
        var steps: [Step] = []
        if xipSparsePfn >= 0 {
            steps.append(.acquire(.iMmap(file: file)))
            for other in mms where !other.exited && other.count > 0 {
                for vma in other.vmas where vma.file == file && vma.nonlinear.isEmpty {
                    guard let at = vma.address(ofIndex: pgoff) else { continue }
                    steps += [.acquire(.pageTable(mm: other.id)), .xipUnmapOne(mm: other.id, address: at)]
                }
            }
            steps.append(.release(.iMmap(file: file)))
        }
        push(steps + [.xipInsert(mm: mm, address: address, mode: mode)])
        return .expanded
    }

    /// One mapping in `__xip_unmap`: if its pte maps the sparse page, "Nuke the page table
    /// entry" with `ptep_clear_flush_notify` (invalidate_page, under the i_mmap_lock and the
    /// page-table lock), `page_remove_rmap`, `dec_mm_counter(file_rss)`, unlock, and
    /// `page_cache_release`.
    mutating func xipUnmapOne(mm: Int, address: UInt64) -> Exec {
        let pte = mms[mm - 1].pageTable.pte(at: address)
        guard pte.isPresent, pte.pfn == xipSparsePfn else {
            push([.release(.pageTable(mm: mm))])
            return .ran
        }
        setPTE(mm: mm, address: address, .none)
        frames[xipSparsePfn].mapcount -= 1
        emit(EventInfo(.pteClear, mm: mm, address: address, pfn: xipSparsePfn))
        markChanged(mm: mm, start: address, end: address + pageSize)
        push([.notify(.page(.invalidatePage, mm: mm, address: address)), .release(.pageTable(mm: mm)), .putPage(pfn: xipSparsePfn)])
        return .ran
    }

    /// `vm_insert_mixed` after a hole was filled: under the page-table lock the new block is
    /// mapped as a file page is (the fault goes on as `__do_fault` would); if the pte was set
    /// meanwhile, the fault starts over.
    mutating func xipInsert(mm: Int, address: UInt64, mode: AccessMode) -> Exec {
        if let reason = waitReason(for: .pageTable(mm: mm)) { return .blocked(reason) }
        guard let vma = mms[mm - 1].vma(containing: address), mms[mm - 1].pageTable.pte(at: address).isNone else {
            push([.handleFault(mm: mm, address: address, mode: mode)])
            return .ran
        }
        return withLock(.pageTable(mm: mm)) { $0.doFileFault(mm: mm, address: address, vma: vma, mode: mode) }
    }
}
