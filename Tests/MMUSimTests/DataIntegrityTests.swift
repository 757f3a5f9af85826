import Testing

@testable import MMUSim

/// data-integrity wherever content can be lost, not only when reclaim drops a clean page: a
/// copy that replaces a page (migrate_page_copy, do_wp_page's and hugetlb_cow's copies), a
/// writeback that finds a clean page the disk does not hold, and a clean swap-cache page freed
/// while swap ptes still name its slot. The writer in each is the unsafe driver: no notifier,
/// so its writable spte outlives every change of the pte.
@Suite("data-integrity at copies, writeback and frees")
struct DataIntegrityTests {
    @Test("unmap_and_move: a write to the old page between migrate_page_copy and remove_migration_ptes is lost")
    func migrationCopy() {
        var lab = Lab()
        let (a, unsafe) = lab.pageMapped(by: "unsafe")
        let migrate = lab.world.perform(.migrate(mm: lab.mm, addr: a, length: pageSize), pauseAt: "remove_migration_ptes")
        #expect(migrate.status == .paused)
        lab.run(.access(mm: lab.mm, notifier: unsafe, address: a, write: true, value: 2))
        lab.world.resume(migrate.id)
        #expect(lab.read(a) == [1])
        #expect(lab.invariantsBroken.first == .dataIntegrity)
        #expect(lab.world.violations.first?.message.contains("migrate_page_copy") == true)
    }

    @Test("the same migration without the write keeps its data: silent")
    func migrationCopySilent() {
        var lab = Lab()
        let (a, _) = lab.pageMapped(by: "kvm")
        #expect(lab.run(.migrate(mm: lab.mm, addr: a, length: pageSize)).migrated == 1)
        #expect(lab.read(a) == [1] && lab.world.violations.isEmpty)
    }

    @Test("do_wp_page: a write to the old anonymous page after its copy is lost to the process that broke COW")
    func cowCopy() {
        var lab = Lab()
        let (a, unsafe) = lab.pageMapped(by: "unsafe")
        lab.run(.fork(mm: lab.mm))
        let write = lab.world.perform(.touch(mm: lab.mm, addr: a, length: pageSize, write: true, value: nil), pauseAt: "ptep_clear_flush")
        #expect(write.status == .paused)
        lab.run(.access(mm: lab.mm, notifier: unsafe, address: a, write: true, value: 2))
        lab.world.resume(write.id)
        #expect(lab.read(a) == [1])
        #expect(lab.world.violations.contains { $0.invariant == .dataIntegrity && $0.message.contains("do_wp_page") })
    }

    @Test("writeback finds a page clean that the disk does not hold: a write after page_mkclean never reached set_page_dirty")
    func writeback() {
        var lab = Lab()
        let (a, unsafe) = lab.pageMapped(by: "unsafe", shared: true, file: "data")
        #expect(lab.run(.writeback(file: "data")).cleaned == 1)
        #expect(lab.world.violations.isEmpty)
        lab.run(.access(mm: lab.mm, notifier: unsafe, address: a, write: true, value: 2))
        #expect(lab.run(.writeback(file: "data")).cleaned == 0)
        #expect(lab.invariantsBroken == [.dataIntegrity])
        #expect(lab.world.file(named: "data")!.disk[0] == 1)
    }

    @Test("a clean swap-cache page freed while swap ptes name its slot must hold what the slot holds")
    func swapCacheFree() {
        var lab = Lab()
        let (a, pinning) = lab.pageMapped(by: "pinning", bugs: ["no_set_page_dirty"])
        _ = lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil))
        #expect(lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil)).kept == 1)
        #expect(lab.pte(a).isSwap)
        lab.run(.access(mm: lab.mm, notifier: pinning, address: a, write: true, value: 2))
        #expect(lab.world.violations.isEmpty)
        lab.run(.unregister(mm: lab.mm, notifier: pinning))
        #expect(lab.invariantsBroken == [.dataIntegrity])
        #expect(lab.read(a) == [1])
    }

    @Test("the same with a driver that calls set_page_dirty: the dirty page's content reaches the slot (silent)")
    func swapCacheFreeSilent() {
        var lab = Lab()
        let (a, pinning) = lab.pageMapped(by: "pinning")
        _ = lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil))
        #expect(lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil)).kept == 1)
        lab.run(.access(mm: lab.mm, notifier: pinning, address: a, write: true, value: 2))
        lab.run(.unregister(mm: lab.mm, notifier: pinning))
        #expect(lab.read(a) == [2])
        #expect(lab.world.violations.isEmpty)
    }
}
