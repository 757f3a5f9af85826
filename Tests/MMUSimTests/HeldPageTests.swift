import Testing

@testable import MMUSim

/// A page that someone else holds (get_user_pages, a pin) under reclaim and migration, as
/// shrink_page_list (mm/vmscan.c), try_to_unmap_one (mm/rmap.c) and unmap_and_move
/// (mm/migrate.c) of 2.6.26 treat it: unmapped all the same, then not freed, not moved.
@Suite("Held pages: reclaim and migration unmap them, then keep them")
struct HeldPageTests {
    /// One written page, aged by one reclaim pass, and a kvm notifier (with `bugs`). A second
    /// reclaim pass runs page_referenced and stops before add_to_swap; then a kvm fault of the
    /// page runs get_user_pages and stops before mmu_lock: it holds the page that the reclaim
    /// is about to unmap (the window of shrink_page_list between page_referenced and try_to_unmap).
    private func faultHoldingThePage(bugs: [String] = []) -> (lab: Lab, address: UInt64, pfn: Int, kvm: Int, fault: Int, reclaim: Int) {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 0x77)
        let kvm = lab.register("kvm", bugs: bugs)
        let aged = lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil))
        #expect(aged.referenced == 1)
        let pfn = lab.pte(a).pfn
        let reclaim = lab.world.perform(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil), pauseAt: "add_to_swap")
        #expect(reclaim.status == .paused)
        let fault = lab.world.perform(.fault(mm: lab.mm, notifier: kvm, address: a, write: true), pauseAt: "lock:mmu_lock")
        #expect(fault.status == .paused)
        // The pte's reference, reclaim's isolation and the fault's get_user_pages.
        #expect(lab.world.frames[pfn].refcount == 3)
        return (lab, a, pfn, kvm, fault.id, reclaim.id)
    }

    @Test("shrink_page_list unmaps a page get_user_pages holds: invalidate_page, a swap entry, and the page kept in the swap cache")
    func reclaimUnmapsAHeldPage() {
        var (lab, a, pfn, kvm, _, reclaim) = faultHoldingThePage()
        let seq = lab.world.variable("seq", of: kvm)
        let mark = lab.world.lastSeq
        lab.world.resume(reclaim)
        let result = lab.world.task(reclaim)!.result
        #expect(result.swappedOut == 0 && result.kept == 1 && result.failed == 0)
        // try_to_unmap_one: ptep_clear_flush_young_notify (not young), then ptep_clear_flush_notify.
        #expect(lab.calls(since: mark) == ["clear_flush_young n1 @0x7f0000000000", "invalidate_page n1 @0x7f0000000000"])
        #expect(lab.world.variable("seq", of: kvm) == seq.map { $0 + 1 })
        #expect(lab.pte(a).isSwap)
        let frame = lab.world.frames[pfn]
        #expect(frame.isAllocated && frame.mapcount == 0 && frame.refcount == 1 && frame.swapSlot >= 0 && !frame.dirty)
        #expect(lab.world.swap[Int(frame.swapSlot)]?.content == 0x77)
    }

    @Test("kvm's seq++ in invalidate_page makes the fault that got its page before try_to_unmap retry; the retry maps the swap-cache page")
    func kvmRetriesAfterReclaimUnmapped() {
        var (lab, a, pfn, kvm, fault, reclaim) = faultHoldingThePage()
        lab.world.resume(reclaim)
        lab.world.resume(fault)
        let done = lab.world.task(fault)
        #expect(done == nil || done?.status == .done)
        #expect(lab.world.notifier(kvm)!.counters.retries == 1)
        #expect(lab.pte(a).isPresent && lab.pte(a).pfn == pfn)
        #expect(lab.world.notifier(kvm)!.sptes.pte(at: a).pfn == pfn)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("a kvm that skips the seq check installs the held page after try_to_unmap took it out: the spte outlives the freed frame")
    func skipRetryInstallsAnUnmappedPage() {
        var (lab, a, pfn, kvm, fault, reclaim) = faultHoldingThePage(bugs: ["skip_retry_check"])
        lab.world.resume(reclaim)
        lab.world.resume(fault)
        #expect(lab.world.notifier(kvm)!.sptes.pte(at: a).pfn == pfn)
        #expect(lab.pte(a).isSwap)
        #expect(lab.world.violations.map(\.invariant).contains(.noStaleSpte))
    }

    @Test("migration unmaps a held page, migrate_page_move_mapping answers -EAGAIN, and remove_migration_ptes puts the old page back")
    func migrationPutsAHeldPageBack() {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 0x77)
        let kvm = lab.register("kvm")
        let pfn = lab.pte(a).pfn
        let fault = lab.world.perform(.fault(mm: lab.mm, notifier: kvm, address: a, write: true), pauseAt: "lock:mmu_lock")
        #expect(fault.status == .paused && lab.world.frames[pfn].refcount == 2)
        let seq = lab.world.variable("seq", of: kvm)
        let mark = lab.world.lastSeq
        let result = lab.run(.migrate(mm: lab.mm, addr: a, length: pageSize))
        #expect(result.migrated == 0 && result.failed == 1)
        #expect(lab.calls(since: mark) == ["invalidate_page n1 @0x7f0000000000"])
        #expect(lab.world.variable("seq", of: kvm) == seq.map { $0 + 1 })
        #expect(lab.events(since: mark, ["migrate_copy"]).first?.ret == -11)
        #expect(lab.pte(a).isPresent && lab.pte(a).pfn == pfn && lab.pte(a).write)
        #expect(lab.world.frames[pfn].mapcount == 1 && lab.world.frames[pfn].refcount == 2)
        #expect(lab.world.framesInUse == 2)
        // The fault then retries (seq changed) and maps the same page.
        lab.world.resume(fault.id)
        #expect(lab.world.notifier(kvm)!.sptes.pte(at: a).pfn == pfn)
        #expect(lab.world.violations.isEmpty)
    }
}

/// The world's core bugs: the seed's by default, named, and each one's absence is upstream's fix.
@Suite("Core bugs: the v17 world's and a world with every upstream fix")
struct CoreBugTests {
    @Test("a v17 world has the seed's core bugs; release_order sets or clears v17_release_order after core_bugs")
    func defaultsAndReleaseOrder() throws {
        #expect(WorldConfig().coreBugs == [.v17ReleaseOrder, .hugetlbForkNoNotifier, .hugetlbCowNoNotifier])
        var config = WorldConfig()
        try config.apply(releaseOrder: .fixed, coreBugs: nil)
        #expect(config.releaseOrder == .fixed && config.coreBugs == [.hugetlbForkNoNotifier, .hugetlbCowNoNotifier])
        try config.apply(releaseOrder: nil, coreBugs: [])
        #expect(config.coreBugs.isEmpty && config.releaseOrder == .fixed)
        try config.apply(releaseOrder: nil, coreBugs: ["v17_release_order"])
        #expect(config.releaseOrder == .v17)
        try config.apply(releaseOrder: .fixed, coreBugs: ["v17_release_order", "hugetlb_cow_no_notifier"])
        #expect(config.coreBugs == [.hugetlbCowNoNotifier])
        #expect(throws: CommandError.self) { try config.apply(releaseOrder: nil, coreBugs: ["nope"]) }
    }

    /// A private hugetlb page that kvm maps writable, then a COW write after fork; the calls of each.
    private func hugetlbForkThenCOW(_ bugs: Set<CoreBug>) -> (fork: [String], cow: [String], violations: [Invariant]) {
        var lab = Lab(frames: 2048, coreBugs: bugs)
        let a = lab.mmap(512, hugetlb: true)
        lab.write(a, value: 1)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a, write: true)
        var mark = lab.world.lastSeq
        lab.run(.fork(mm: lab.mm))
        let fork = lab.calls(since: mark)
        let violations = lab.invariantsBroken
        mark = lab.world.lastSeq
        lab.write(a, value: 2)
        return (fork, lab.calls(since: mark), violations)
    }

    @Test("v17's copy_hugetlb_page_range calls no notifier: kvm keeps a writable spte on a write-protected huge page (no-stale-write)")
    func hugetlbForkGap() {
        let v17 = hugetlbForkThenCOW(CoreBug.v17)
        #expect(v17.fork.isEmpty && v17.violations == [.noStaleWrite])
        // e8569dd299db (v3.14): start/end over the VMA around the copy.
        let fixed = hugetlbForkThenCOW([])
        #expect(fixed.fork == ["invalidate_range_start n1 0x7f0000000000-0x7f0000200000", "invalidate_range_end n1 0x7f0000000000-0x7f0000200000"])
        #expect(fixed.violations.isEmpty)
    }

    @Test("v17's hugetlb_cow calls no notifier; 3edd4fc9537d (v2.6.36) brackets it with start/end over the huge page")
    func hugetlbCOW() {
        #expect(hugetlbForkThenCOW(CoreBug.v17).cow.isEmpty)
        #expect(
            hugetlbForkThenCOW([]).cow == [
                "invalidate_range_start n1 0x7f0000000000-0x7f0000200000", "invalidate_range_end n1 0x7f0000000000-0x7f0000200000",
            ]
        )
    }
}
