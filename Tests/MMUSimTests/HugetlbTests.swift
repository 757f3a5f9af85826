import Testing

@testable import MMUSim

/// hugetlb as mm/hugetlb.c of 2.6.26 has it: one huge pte per 2 MiB page, in the slot of its
/// first 4 KiB page, mapping a compound page of 512 frames whose head holds the counts.
@Suite("hugetlb: 2 MiB pages as one huge pte (mm/hugetlb.c, 2.6.26)")
struct HugetlbTests {
    @Test("hugetlb_no_page maps one huge pte with the head pfn for the whole 2 MiB; each 4 KiB page has its own frame; no rss")
    func oneHugePTE() {
        var lab = Lab(frames: 1024)
        let a = lab.mmap(512, hugetlb: true)
        lab.write(a, value: 1)
        lab.write(a + pageSize, value: 2)
        let ptes = lab.world.ptes(mm: lab.mm, from: a, to: a + hugePageSize)
        #expect(ptes.count == 1)
        let huge = ptes[0].pte
        #expect(ptes[0].address == a && huge.isHuge && huge.write && huge.dirty)
        #expect(huge.pfn == 512 && huge.pfn % 512 == 0)
        // follow_hugetlb_page's `pte_page(*pte) + pfn_offset`.
        #expect(lab.world.translation(mm: lab.mm, address: a + pageSize).pfn == huge.pfn + 1)
        #expect(lab.read(a, pages: 3) == [1, 2, 0])
        #expect(lab.world.frames[huge.pfn].refcount == 1 && lab.world.frames[huge.pfn + 1].isHuge && lab.world.compoundHead(huge.pfn + 1) == huge.pfn)
        #expect(lab.world.framesInUse == 1 + 512)
        // A listing from inside the huge page shows the huge pte that covers it.
        #expect(lab.world.ptes(mm: lab.mm, from: a + 8 * pageSize, to: a + 9 * pageSize).map(\.address) == [a])
        #expect(lab.world.mm(lab.mm)!.rss == 0)
        lab.run(.munmap(mm: lab.mm, addr: a, length: hugePageSize))
        #expect(lab.world.framesInUse == 1 && lab.world.ptes(mm: lab.mm, from: a, to: a + hugePageSize).isEmpty)
    }

    @Test("follow_hugetlb_page: kvm's get_user_pages of a 4 KiB page counts on the head and its spte maps that page's frame")
    func gupOfASubpage() {
        var lab = Lab(frames: 1024)
        let a = lab.mmap(512, hugetlb: true)
        lab.write(a + 2 * pageSize, value: 0x42)
        let kvm = lab.register("kvm")
        let pause = lab.world.perform(.fault(mm: lab.mm, notifier: kvm, address: a + 2 * pageSize, write: true), pauseAt: "lock:mmu_lock")
        #expect(lab.world.frames[512].refcount == 2 && lab.world.frames[514].refcount == 0)
        lab.world.resume(pause.id)
        let spte = lab.world.notifier(kvm)!.sptes.pte(at: a + 2 * pageSize)
        #expect(spte.pfn == 514 && spte.write)
        #expect(lab.world.frames[512].refcount == 1)
        // follow_hugetlb_page takes the reference only: no mark_page_accessed, no set_page_dirty.
        #expect(!lab.world.frames[512].referenced && !lab.world.frames[512].dirty)
        #expect(lab.run(.access(mm: lab.mm, notifier: kvm, address: a + 2 * pageSize, write: false, value: nil)).value == 0x42)
        lab.run(.munmap(mm: lab.mm, addr: a, length: hugePageSize))
        #expect(lab.world.notifier(kvm)!.sptes.count == 0 && lab.world.framesInUse == 1)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("hugetlb_cow avoids the copy when only this pte holds the page (page_count == 1): the pte turns writable in place, no notifier call")
    func cowAvoidsCopy() {
        var lab = Lab(frames: 1024)
        let a = lab.mmap(512, hugetlb: true)
        #expect(lab.read(a) == [0])
        let before = lab.pte(a)
        #expect(before.isHuge && !before.write)
        let mark = lab.world.lastSeq
        lab.write(a, value: 3)
        #expect(lab.pte(a).pfn == before.pfn && lab.pte(a).write)
        #expect(lab.calls(since: mark).isEmpty && lab.events(since: mark, ["frame_alloc"]).isEmpty)
    }

    @Test("hugetlb_cow after fork copies all 512 frames; the parent's pte gets the copy, the child keeps the old page")
    func cowCopies() {
        var lab = Lab(frames: 2048, coreBugs: [])
        let a = lab.mmap(512, hugetlb: true)
        lab.write(a, value: 1)
        lab.write(a + 511 * pageSize, value: 7)
        let child = lab.run(.fork(mm: lab.mm)).child!
        let old = lab.pte(a).pfn
        #expect(lab.world.frames[old].refcount == 2 && !lab.pte(a).write && !lab.pte(a, mm: child).write)
        let mark = lab.world.lastSeq
        lab.write(a, value: 9)
        let new = lab.pte(a).pfn
        #expect(new != old && new % 512 == 0 && lab.pte(a).isHuge && lab.pte(a).write)
        #expect(lab.read(a + 511 * pageSize) == [7] && lab.read(a) == [9])
        #expect(lab.read(a, mm: child) == [1] && lab.pte(a, mm: child).pfn == old)
        #expect(lab.world.frames[old].refcount == 1)
        let steps = lab.events(since: mark, ["frame_alloc", "pte_clear", "pte_set"]).map(\.call.rawValue)
        #expect(steps == ["frame_alloc", "pte_clear", "pte_set"])
        #expect(lab.world.violations.isEmpty)
    }

    @Test("split_vma refuses to split a hugetlb VMA inside a huge page (EINVAL); do_mremap cannot grow or move one")
    func noSplitInsideAHugePage() {
        var lab = Lab(frames: 1024)
        let a = lab.mmap(1024, hugetlb: true)
        #expect(lab.run(.munmap(mm: lab.mm, addr: a + pageSize, length: pageSize)).errno == .EINVAL)
        #expect(lab.run(.mprotect(mm: lab.mm, addr: a, length: pageSize, prot: [.read])).errno == .EINVAL)
        let grow = Operation.mremap(
            mm: lab.mm,
            oldAddr: a,
            oldLength: 2 * hugePageSize,
            newLength: 3 * hugePageSize,
            mayMove: true,
            fixed: false,
            newAddr: nil
        )
        #expect(lab.run(grow).errno == .EINVAL)
        #expect(lab.run(.madviseDontneed(mm: lab.mm, addr: a, length: hugePageSize)).errno == .EINVAL)
        #expect(lab.world.mm(lab.mm)!.vmas.count == 1)
        // On huge-page boundaries both work.
        #expect(lab.run(.mprotect(mm: lab.mm, addr: a, length: hugePageSize, prot: [.read])).ret == 0)
        #expect(lab.run(.munmap(mm: lab.mm, addr: a + hugePageSize, length: hugePageSize)).ret == 0)
        #expect(lab.world.mm(lab.mm)!.vmas.map(\.length) == [hugePageSize])
    }

    @Test("hugetlb pages are not on the LRU: reclaim and migration pass them by")
    func notOnTheLRU() {
        var lab = Lab(frames: 1024)
        let a = lab.mmap(512, hugetlb: true)
        lab.write(a, value: 5)
        #expect(lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil)).scanned == 0)
        #expect(lab.run(.reclaim(mm: lab.mm, addr: a, length: hugePageSize, pages: nil)).scanned == 0)
        #expect(lab.run(.migrate(mm: lab.mm, addr: a, length: hugePageSize)).migrated == 0)
        #expect(lab.pte(a).isHuge && lab.read(a) == [5])
    }

    @Test("a shared hugetlb file: its huge pages stay in the hugetlbfs page cache, and every mapping maps the same one")
    func sharedHugetlbFile() {
        var lab = Lab(frames: 1024)
        let a = lab.mmap(512, shared: true, file: "hugepages", hugetlb: true)
        lab.write(a + pageSize, value: 0x11)
        let other = lab.world.createMM(name: "other")
        let b = lab.mmap(512, shared: true, file: "hugepages", hugetlb: true, mm: other)
        #expect(lab.read(b + pageSize, mm: other) == [0x11])
        #expect(lab.pte(b, mm: other).pfn == lab.pte(a).pfn && lab.pte(b, mm: other).write)
        // hugetlbfs VMAs lack VM_CAN_NONLINEAR.
        #expect(lab.run(.remapFilePages(mm: lab.mm, addr: a, length: pageSize, pgoff: 1)).errno == .EINVAL)
        lab.run(.munmap(mm: lab.mm, addr: a, length: hugePageSize))
        lab.run(.munmap(mm: other, addr: b, length: hugePageSize))
        #expect(lab.world.framesInUse == 1 + 512)
        // hugetlbfs_file_mmap: a hugetlbfs file has no 4 KiB mappings.
        let flags = MmapFlags(shared: true, anonymous: false)
        #expect(lab.run(.mmap(mm: lab.mm, addr: nil, length: pageSize, prot: [.read], flags: flags, file: "hugepages", offset: 0)).errno == .EINVAL)
    }

    @Test("hugetlb_change_protection inside mprotect's start/end: each huge pte takes the new protection")
    func changeProtection() {
        var lab = Lab(frames: 1024)
        let a = lab.mmap(512, shared: true, file: "hugepages", hugetlb: true)
        lab.write(a, value: 1)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a, write: true)
        let mark = lab.world.lastSeq
        #expect(lab.run(.mprotect(mm: lab.mm, addr: a, length: hugePageSize, prot: [.read])).ret == 0)
        #expect(
            lab.calls(since: mark) == [
                "invalidate_range_start n1 0x7f0000000000-0x7f0000200000", "invalidate_range_end n1 0x7f0000000000-0x7f0000200000",
            ]
        )
        #expect(!lab.pte(a).write && lab.pte(a).isHuge && lab.world.notifier(kvm)!.sptes.count == 0)
        #expect(lab.run(.mprotect(mm: lab.mm, addr: a, length: hugePageSize, prot: [.read, .write])).ret == 0)
        #expect(lab.pte(a).write)
        #expect(lab.world.violations.isEmpty)
    }

    /// huge_pte_offset then the 4 KiB page's own entry, found by one walk when the page has its
    /// own entry: `translationEntry` gives the slot and entry that `translationSlot` and
    /// `translation` give, for a page with its own pte, a page under a huge pte (its frame the
    /// huge page's frame plus the offset), an empty page whose head holds a 4 KiB pte, and an
    /// empty head.
    @Test("a page's translation: its own pte, or its huge page's head, the slot and entry read together")
    func translationEntry() {
        var table = RadixTable()
        let head: UInt64 = 0x7f00_0000_0000
        let huge = PTE.present(pfn: 512, write: true, huge: true)
        table.setPTE(huge, at: head)
        let small = PTE.present(pfn: 7, write: false)
        table.setPTE(small, at: head + hugePageSize + 3 * pageSize)
        table.setPTE(PTE.present(pfn: 9, write: true), at: head + 2 * hugePageSize)
        let cases: [(UInt64, UInt64, PTE)] = [
            (head, head, huge),
            (head + 5 * pageSize, head, PTE.present(pfn: 517, write: true, huge: true)),
            (head + hugePageSize + 3 * pageSize, head + hugePageSize + 3 * pageSize, small),
            // No pte and a head with no huge pte: its own empty slot.
            (head + hugePageSize + pageSize, head + hugePageSize + pageSize, .none),
            (head + 2 * hugePageSize + pageSize, head + 2 * hugePageSize + pageSize, .none),
            (head + 3 * hugePageSize, head + 3 * hugePageSize, .none),
        ]
        for (address, slot, translation) in cases {
            let entry = table.translationEntry(at: address)
            #expect(entry.slot == slot && table.translationSlot(at: address) == slot, "\(hex(address))")
            #expect(entry.pte == table.pte(at: slot) && table.translation(at: address) == translation, "\(hex(address))")
        }
    }
}
