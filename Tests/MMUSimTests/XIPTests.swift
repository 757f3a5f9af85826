import Testing

@testable import MMUSim

/// Execute-in-place files as mm/filemap_xip.c of 2.6.26 (with the seed's hunk) treats them: a
/// hole maps the sparse page into private mappings; a shared mapping's fault fills the hole and
/// `__xip_unmap` takes the sparse page out of every mapping with ptep_clear_flush_notify.
@Suite("xip: __xip_unmap, the seed's 14th hook site (mm/filemap_xip.c)")
struct XIPTests {
    private static let xipPrivate = MmapFlags(shared: false, anonymous: false, xip: true)
    private static let xipShared = MmapFlags(shared: true, anonymous: false, xip: true)

    /// An xip file `rom` mapped privately in the lab's mm (read once, so the sparse page is
    /// mapped) and shared in a second mm; a `kind` driver on the first maps the hole.
    private func sparseMapped(_ kind: String, bugs: [String] = []) -> (lab: Lab, a: UInt64, other: Int, b: UInt64, driver: Int) {
        var lab = Lab()
        let a = lab.run(.mmap(mm: lab.mm, addr: nil, length: pageSize, prot: [.read], flags: Self.xipPrivate, file: "rom", offset: 0)).addr!
        #expect(lab.read(a) == [0])
        #expect(lab.pte(a).pfn == lab.world.xipSparsePfn && !lab.pte(a).write)
        let driver = lab.register(kind, bugs: bugs)
        lab.fault(driver, a)
        let other = lab.world.createMM(name: "writer")
        let b = lab.run(.mmap(mm: other, addr: nil, length: pageSize, prot: [.read, .write], flags: Self.xipShared, file: "rom", offset: 0)).addr!
        return (lab, a, other, b, driver)
    }

    @Test(
        "a shared mapping's write fault fills the hole: __xip_unmap clears the sparse pte of every mapping with invalidate_page under i_mmap_lock and the page-table lock"
    )
    func xipUnmapNotifies() {
        var (lab, a, other, b, kvm) = sparseMapped("kvm")
        let sparse = lab.world.xipSparsePfn
        let mark = lab.world.lastSeq
        lab.write(b, value: 5, mm: other)
        #expect(lab.calls(since: mark) == ["invalidate_page n1 @0x7f0000000000"])
        let call = lab.events(since: mark, ["invalidate_page"]).first
        // The writer's fault holds its mmap_sem for read; __xip_unmap adds the file's i_mmap_lock
        // and the reader's page-table lock (page_check_address); the notifier walk is under RCU.
        #expect(call?.locks == ["mmap_sem:r", "i_mmap_lock:0", "page_table_lock", "rcu_read_lock"] && call?.atomic == true)
        #expect(lab.pte(a).isNone && lab.world.notifier(kvm)!.sptes.count == 0)
        #expect(lab.world.frames[sparse].mapcount == 0 && lab.world.frames[sparse].refcount == 1)
        // The private mapping now reads the block.
        #expect(lab.read(a) == [5] && lab.pte(a).pfn == lab.pte(b, mm: other).pfn)
        lab.fault(kvm, a)
        #expect(lab.run(.access(mm: lab.mm, notifier: kvm, address: a, write: false, value: nil)).value == 5)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("a kvm whose invalidate_page does nothing keeps reading the sparse page after the hole is filled (no-stale-spte)")
    func staleSparsePage() {
        var (lab, a, other, b, kvm) = sparseMapped("kvm", bugs: ["ignore_invalidate_page"])
        lab.write(b, value: 5, mm: other)
        #expect(lab.run(.access(mm: lab.mm, notifier: kvm, address: a, write: false, value: nil)).value == 0)
        #expect(lab.invariantsBroken == [.noStaleSpte])
    }

    @Test("xpmem sleeps in invalidate_page under __xip_unmap's spinlocks (no-sleep-in-atomic)")
    func xpmemSleepsUnderXIPUnmap() {
        var (lab, _, other, b, _) = sparseMapped("xpmem")
        lab.write(b, value: 5, mm: other)
        #expect(lab.invariantsBroken.contains(.noSleepInAtomic))
    }

    @Test("xip_file_fault: a private write copies the sparse page to an anonymous page; a shared read fills the hole (VM_MAYWRITE)")
    func holes() {
        var lab = Lab()
        let a = lab.run(.mmap(mm: lab.mm, addr: nil, length: 2 * pageSize, prot: [.read, .write], flags: Self.xipPrivate, file: "rom", offset: 0))
            .addr!
        lab.write(a, value: 3)
        #expect(lab.frame(at: a).kind == .anon && lab.world.xipSparsePfn == -1)
        let file = lab.world.file(named: "rom")!
        #expect(file.pageCache.isEmpty)
        let b = lab.run(.mmap(mm: lab.mm, addr: nil, length: 2 * pageSize, prot: [.read], flags: Self.xipShared, file: "rom", offset: 0)).addr!
        #expect(lab.read(b + pageSize) == [0])
        #expect(lab.world.file(named: "rom")!.pageCache.keys.sorted() == [1])
        // The private copy is the process's own.
        #expect(lab.read(b) == [0] && lab.read(a) == [3])
    }

    @Test("a file is execute-in-place from its creation: a mapping that names it the other way, or an anonymous xip mapping, is EINVAL")
    func xipIsTheFilesOwn() {
        var lab = Lab()
        #expect(lab.run(.mmap(mm: lab.mm, addr: nil, length: pageSize, prot: [.read], flags: Self.xipShared, file: "rom", offset: 0)).ret == 0)
        let plain = MmapFlags(shared: true, anonymous: false)
        #expect(lab.run(.mmap(mm: lab.mm, addr: nil, length: pageSize, prot: [.read], flags: plain, file: "rom", offset: 0)).errno == .EINVAL)
        #expect(
            lab.run(.mmap(mm: lab.mm, addr: nil, length: pageSize, prot: [.read], flags: MmapFlags(xip: true), file: nil, offset: 0)).errno == .EINVAL
        )
        #expect(lab.world.mm(lab.mm)!.vmas.count == 1)
    }

    @Test("xip blocks are not on the LRU and have no writeback: reclaim, migration and writeback pass them by")
    func blocksStay() {
        var lab = Lab()
        let a = lab.run(.mmap(mm: lab.mm, addr: nil, length: pageSize, prot: [.read, .write], flags: Self.xipShared, file: "rom", offset: 0)).addr!
        lab.write(a, value: 8)
        #expect(lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil)).scanned == 0)
        #expect(lab.run(.migrate(mm: lab.mm, addr: a, length: pageSize)).migrated == 0)
        #expect(lab.run(.writeback(file: "rom")).cleaned == 0)
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        let b = lab.run(.mmap(mm: lab.mm, addr: nil, length: pageSize, prot: [.read], flags: Self.xipShared, file: "rom", offset: 0)).addr!
        #expect(lab.read(b) == [8])
        #expect(lab.world.violations.isEmpty)
    }

    @Test("a private write to a block: vm_insert_mixed maps it read-only, the write faults again, and do_wp_page copies it with invalidate_page")
    func privateWriteToABlock() {
        var lab = Lab()
        let b = lab.run(.mmap(mm: lab.mm, addr: nil, length: pageSize, prot: [.read, .write], flags: Self.xipShared, file: "rom", offset: 0)).addr!
        lab.write(b, value: 4)
        let block = lab.pte(b).pfn
        let a = lab.run(.mmap(mm: lab.mm, addr: nil, length: pageSize, prot: [.read, .write], flags: Self.xipPrivate, file: "rom", offset: 0)).addr!
        _ = lab.register("kvm")
        let mark = lab.world.lastSeq
        let result = lab.write(a, value: 9)
        #expect(result.faults == 2)
        #expect(lab.calls(since: mark) == ["invalidate_page n1 @\(hex(a))"])
        #expect(lab.frame(at: a).kind == .anon && lab.read(a) == [9])
        #expect(lab.world.frames[block].content == 4 && lab.read(b) == [4])
        #expect(lab.world.violations.isEmpty)
    }
}
