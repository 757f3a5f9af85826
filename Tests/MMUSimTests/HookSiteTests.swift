import Testing

@testable import MMUSim

/// The notifier calls at the seed's hook sites that other suites do not pin: each test asserts
/// the ordered calls, their ranges and the locks held, as the 2.6.26 code path with the seed's
/// hunk makes them.
@Suite("Hook sites: remap_file_pages, hugetlb unmap, apply_to_page_range, migration, page_mkclean")
struct HookSiteTests {
    @Test("sys_remap_file_pages (mm/fremap.c): one start/end pair over the remapped range around populate_range")
    func remapFilePages() {
        var lab = Lab()
        let a = lab.mmap(2, shared: true, file: "f")
        lab.write(a, pages: 2, value: 1)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a)
        let mark = lab.world.lastSeq
        #expect(lab.run(.remapFilePages(mm: lab.mm, addr: a, length: pageSize, pgoff: 1)).ret == 0)
        #expect(
            lab.calls(since: mark) == [
                "invalidate_range_start n1 0x7f0000000000-0x7f0000001000", "invalidate_range_end n1 0x7f0000000000-0x7f0000001000",
            ]
        )
        let start = lab.events(since: mark, ["invalidate_range_start"]).first
        #expect(start?.locks == ["mmap_sem:w", "rcu_read_lock"])
        #expect(lab.world.notifier(kvm)!.sptes.count == 0)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("__unmap_hugepage_range (mm/hugetlb.c): a pair nested in unmap_vmas' own; its pages are put after the nested end")
    func hugetlbUnmap() {
        var lab = Lab(frames: 1024)
        let a = lab.mmap(512, hugetlb: true)
        lab.write(a, pages: 2, value: 1)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a)
        let mark = lab.world.lastSeq
        lab.run(.munmap(mm: lab.mm, addr: a, length: 512 * pageSize))
        let range = "0x7f0000000000-0x7f0000200000"
        let events = lab.events(since: mark, ["invalidate_range_start", "invalidate_range_end", "frame_free"]).map(describe)
        #expect(
            events == [
                "invalidate_range_start n1 \(range)", "invalidate_range_start n1 \(range)", "invalidate_range_end n1 \(range)", "frame_free n-",
                "invalidate_range_end n1 \(range)",
            ]
        )
        #expect(lab.world.notifier(kvm)!.sptes.count == 0 && lab.world.framesInUse == 1)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("apply_to_page_range (mm/memory.c): one start/end pair over [addr, addr + size)")
    func applyToPageRange() {
        var lab = Lab()
        let a = lab.mmap(4)
        lab.write(a, pages: 4, value: 1)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a + pageSize, write: true)
        let mark = lab.world.lastSeq
        lab.run(.applyToPageRange(mm: lab.mm, addr: a, length: 2 * pageSize))
        #expect(
            lab.calls(since: mark) == [
                "invalidate_range_start n1 0x7f0000000000-0x7f0000002000", "invalidate_range_end n1 0x7f0000000000-0x7f0000002000",
            ]
        )
        #expect(lab.world.notifier(kvm)!.sptes.count == 0)
        #expect(lab.world.violations.isEmpty)
    }

    @Test(
        "migration (try_to_unmap_one with migration=1): invalidate_page under the anon_vma and page-table locks, no clear_flush_young; the spte goes, the page moves"
    )
    func migration() {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 0x42)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a)
        let old = lab.pte(a).pfn
        let mark = lab.world.lastSeq
        #expect(lab.run(.migrate(mm: lab.mm, addr: a, length: pageSize)).migrated == 1)
        #expect(lab.calls(since: mark) == ["invalidate_page n1 @0x7f0000000000"])
        let call = lab.events(since: mark, ["invalidate_page"]).first
        #expect(call?.locks.contains("page_table_lock") == true && call?.locks.contains("rcu_read_lock") == true && call?.atomic == true)
        #expect(lab.pte(a).pfn != old && lab.world.frames[lab.pte(a).pfn].content == 0x42)
        #expect(lab.world.notifier(kvm)!.sptes.count == 0 && !lab.world.frames[old].isAllocated)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("page_mkclean_one (mm/rmap.c): invalidate_page under i_mmap_lock and the page-table lock; the pte comes back read-only and clean")
    func pageMkclean() {
        var lab = Lab()
        let a = lab.mmap(1, shared: true, file: "f")
        lab.write(a, value: 7)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a, write: true)
        let mark = lab.world.lastSeq
        #expect(lab.run(.writeback(file: "f")).cleaned == 1)
        #expect(lab.calls(since: mark) == ["invalidate_page n1 @0x7f0000000000"])
        let call = lab.events(since: mark, ["invalidate_page"]).first
        #expect(call?.locks.first?.hasPrefix("i_mmap_lock") == true && call?.locks.contains("page_table_lock") == true)
        #expect(lab.pte(a).isPresent && !lab.pte(a).write && !lab.pte(a).dirty && !lab.frame(at: a).dirty)
        #expect(lab.world.notifier(kvm)!.sptes.count == 0)
        #expect(lab.world.violations.isEmpty)
    }
}
