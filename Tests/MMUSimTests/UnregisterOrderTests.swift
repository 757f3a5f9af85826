import Testing

@testable import MMUSim

/// `mmu_notifier_unregister` in both orderings. The seed (v17) unlinks the notifier
/// (hlist_del_rcu under the list lock) and then calls ->release inside rcu_read_lock; upstream
/// 3ad3d901bbcf ("mm: mmu_notifier: fix freed page still mapped in secondary MMU", v3.6; the
/// ordering restored by d34883d4e35c in v3.10 after 751efd8610d3 undid it) calls ->release
/// inside the read-side section first and unlinks after (hlist_del_init_rcu), as the fixed
/// __mmu_notifier_release does. `release_order: fixed` gives both fixes.
@Suite("mmu_notifier_unregister: unlink then ->release (v17), ->release then unlink (fixed)")
struct UnregisterOrderTests {
    /// The release and unlink events of one unregister of a kvm notifier, in order.
    private func unregisterEvents(_ order: ReleaseOrder) -> [String] {
        var lab = Lab(releaseOrder: order)
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a)
        let mark = lab.world.lastSeq
        lab.run(.unregister(mm: lab.mm, notifier: kvm))
        #expect(lab.world.notifier(kvm)!.state == .unregistered && lab.world.notifier(kvm)!.sptes.count == 0)
        #expect(lab.world.violations.isEmpty)
        return lab.world.trace.events(after: mark).map(\.call.rawValue).filter { ["release", "unlink", "grace_period", "unregister"].contains($0) }
    }

    @Test("v17: unregister unlinks the notifier, then calls ->release inside rcu_read_lock, then waits a grace period")
    func v17UnlinksFirst() {
        #expect(unregisterEvents(.v17) == ["unlink", "release", "grace_period", "unregister"])
    }

    @Test("fixed: unregister calls ->release inside the read-side section first, then unlinks (3ad3d901bbcf, d34883d4e35c)")
    func fixedReleasesFirst() {
        #expect(unregisterEvents(.fixed) == ["release", "unlink", "grace_period", "unregister"])
    }

    @Test("fixed: a reclaim between ->release and the unlink still reaches the notifier with invalidate_page")
    func fixedNotifierStaysListedDuringRelease() {
        var lab = Lab(releaseOrder: .fixed)
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        let kvm = lab.register("kvm")
        let unregister = lab.world.perform(.unregister(mm: lab.mm, notifier: kvm), pauseAt: "hlist_del_init_rcu")
        #expect(unregister.status == .paused)
        #expect(lab.world.notifier(kvm)!.counters.release == 1 && lab.world.notifier(kvm)!.state == .listed)
        lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil))
        let mark = lab.world.lastSeq
        lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil))
        #expect(lab.calls(since: mark).contains("invalidate_page n1 @0x7f0000000000"))
        lab.world.resume(unregister.id)
        #expect(lab.world.notifier(kvm)!.state == .unregistered)
        #expect(lab.world.violations.isEmpty)
    }
}
