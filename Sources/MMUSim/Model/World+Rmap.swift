/// The reverse map (mm/rmap.c): where a page is mapped, the lock that guards that, and which
/// pages are on the LRU lists that reclaim and migration take pages from.
extension World {
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
                    guard vma.anonVMA == Int(frame.owner), let address = vma.address(ofIndex: frame.index) else { continue }
                    addresses.append(address)
                } else {
                    guard vma.file == Int(frame.owner) else { continue }
                    if vma.nonlinear.isEmpty {
                        guard let address = vma.address(ofIndex: frame.index) else { continue }
                        addresses.append(address)
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
        // 6.x: anon_vma->rwsem and i_mmap_rwsem, which sleep.
        let sleeps = config.kernel == .modern
        return frames[pfn].kind == .anon ? .anonVMA(Int(frames[pfn].owner), sleeps: sleeps) : .iMmap(file: Int(frames[pfn].owner), sleeps: sleeps)
    }

    /// The references a page has beyond its mappings and its page-cache entry: get_user_pages
    /// pins, a pinning driver's references, another pass's isolation.
    func extraReferences(_ pfn: Int) -> Int32 {
        frames[pfn].refcount - frames[pfn].mapcount - (frames[pfn].kind == .file ? 1 : 0)
    }
}
