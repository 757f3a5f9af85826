import Foundation
import Testing

@testable import MMUSim

/// The modern core beyond ranges and SRCU (../shared/MODERN.md, mm/mmu_notifier.c and
/// mm/oom_kill.c read in a 6.17 tree): the OOM reaper's non-blocking ranges, a failed start's
/// ends (c2655835fd8c), interval subscriptions and their seq protocol, mmu_notifier_get/put.
@Suite("Modern core: the OOM reaper, failed starts, interval subscriptions, get/put")
struct ModernCoreTests {
    /// A classic subscriber that cannot block: -EAGAIN to a non-blockable range, no end.
    static let refuser = """
        {"name": "refuser", "kernel": "modern", "subscribe": "classic", "locks": {"lock": "mutex"},
         "callbacks": {"invalidate_range_start": [{"if": {"not": "blockable"}, "then": [{"return": "-EAGAIN"}]},
                                                  {"lock": "lock"}, {"zap": "range"}, {"unlock": "lock"}, {"return": 0}]}}
        """

    /// A modern world with `pages` written anonymous pages and the built-in `driver`
    /// registered as notifier 1, its first page mapped.
    static func lab(_ driver: String, pages: UInt64 = 2, coreBugs: [String] = []) throws -> (lab: Lab, a: UInt64) {
        var lab = try ModernTests.modernLab()
        var config = lab.world.config
        try config.apply(releaseOrder: nil, coreBugs: coreBugs)
        lab.world = World(config)
        lab.mm = lab.world.createMM(name: "test")
        let a = lab.mmap(pages)
        lab.write(a, pages: pages, value: 1)
        #expect(lab.register(driver) == 1)
        lab.fault(1, a, write: true)
        return (lab, a)
    }

    /// "call notifier event blockable" for the range calls since `seq`.
    static func ranges(_ lab: Lab, since seq: Int) -> [String] {
        lab.events(since: seq, ["invalidate_range_start", "invalidate_range_end", "invalidate"]).map {
            "\($0.call.rawValue) n\($0.notifier ?? 0) \($0.event?.rawValue ?? "-") \($0.blockable.map(String.init) ?? "-")"
        }
    }

    // MARK: The OOM reaper (mm/oom_kill.c __oom_reap_task_mm)

    @Test("oom_reap: one non-blockable UNMAP range per private VMA, the pages freed, MMF_UNSTABLE then MMF_OOM_SKIP; a v17 world has no reaper")
    func reap() throws {
        var (lab, a) = try Self.lab("kvm-modern")
        let framesBefore = lab.world.framesInUse
        let seq = lab.world.lastSeq
        let result = lab.run(.oomReap(mm: lab.mm))
        #expect(result.ret == 0 && result.attempts == 1)
        #expect(Self.ranges(lab, since: seq) == ["invalidate_range_start n1 UNMAP false", "invalidate_range_end n1 UNMAP false"])
        #expect(lab.pte(a).isNone && lab.world.framesInUse == framesBefore - 2)
        #expect(lab.world.notifier(1)!.sptes.count == 0 && lab.world.violations.isEmpty)
        let mm = try #require(lab.world.mm(lab.mm))
        #expect(mm.unstable && mm.oomSkip)
        // check_stable_address_space: a fault that needs a page now gets SIGBUS (-EFAULT).
        #expect(lab.world.perform(.touch(mm: lab.mm, addr: a, length: pageSize, write: true, value: 2)).result.errno == .EFAULT)
        var v17 = Lab()
        #expect(v17.world.perform(.oomReap(mm: v17.mm)).result.errno == .ENOSYS)
    }

    @Test(
        "a subscriber's -EAGAIN: the VMA is skipped, every classic subscriber with an end gets it (c2655835fd8c), 10 attempts; with unpaired_end_on_eagain kvm's count stays raised"
    )
    func failedStart() throws {
        for bug in [false, true] {
            var (lab, a) = try Self.lab("kvm-modern", coreBugs: bug ? ["unpaired_end_on_eagain"] : [])
            lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: Self.refuser), signalPending: false, mmapSemHeld: false))
            let seq = lab.world.lastSeq
            let result = lab.run(.oomReap(mm: lab.mm))
            #expect(result.attempts == 10)
            // The refuser is first on the list (hlist_add_head): it fails, kvm's start still runs.
            let one = ["invalidate_range_start n2 UNMAP false", "invalidate_range_start n1 UNMAP false"]
            let ranges = Self.ranges(lab, since: seq)
            #expect(ranges.count == (bug ? 20 : 30))
            #expect(Array(ranges.prefix(bug ? 2 : 3)) == (bug ? one : one + ["invalidate_range_end n1 UNMAP false"]))
            #expect(lab.pte(a).isPresent, "the skipped VMA keeps its pages")
            #expect(lab.world.variable("in_progress", of: 1) == (bug ? 10 : 0))
            #expect(lab.invariantsBroken.contains(.balancedRanges) == bug)
            #expect(lab.invariantsBroken.contains(.policy("in-progress-balanced")) == bug)
        }
    }

    @Test("notifier-contract: -EAGAIN to a blockable range, or from a start whose driver has an end, is what the core WARNs about")
    func contract() throws {
        var (lab, a) = try Self.lab("kvm-modern")
        let blocking = Self.refuser.replacingOccurrences(
            of: #"{"if": {"not": "blockable"}, "then": [{"return": "-EAGAIN"}]}"#,
            with: #"{"return": "-EAGAIN"}"#
        )
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: blocking), signalPending: false, mmapSemHeld: false))
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        // The WARN first; then kvm gets its end twice (the failed start's, then munmap's own).
        #expect(lab.invariantsBroken.first == .notifierContract && lab.invariantsBroken.contains(.balancedRanges))
    }

    // MARK: Interval subscriptions (mm/mmu_notifier.c mn_itree_*)

    @Test("dmirror: inserted with its seq just below the mm's (2); munmap's round makes the mm's seq odd, set_seq copies it, the end makes it even")
    func intervalRound() throws {
        var (lab, a) = try Self.lab("dmirror")
        var mm = try #require(lab.world.mm(lab.mm))
        #expect(mm.hasItree && mm.itree == [1] && mm.invalidateSeq == 2 && lab.world.notifier(1)!.invalidateSeq == 1)
        #expect(lab.world.notifier(1)!.sptes.count == 1)
        let seq = lab.world.lastSeq
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        #expect(Self.ranges(lab, since: seq) == ["invalidate n1 UNMAP true"])
        #expect(lab.events(since: seq, ["invalidate_seq"]).map { $0.ret ?? 0 } == [3, 4])
        #expect(lab.events(since: seq, ["invalidate"]).first?.ret == 3)
        mm = try #require(lab.world.mm(lab.mm))
        #expect(mm.invalidateSeq == 4 && mm.activeInvalidateRanges == 0 && lab.world.notifier(1)!.invalidateSeq == 3)
        #expect(lab.world.notifier(1)!.sptes.count == 0 && lab.world.violations.isEmpty)
        // A subscription over another interval is not called.
        let b = lab.mmap(1, at: a + 64 * pageSize)
        lab.run(.registerInterval(mm: lab.mm, kind: "dmirror", bugs: [], start: b, length: pageSize))
        #expect(lab.world.notifier(2)!.intervalStart == b && lab.world.notifier(2)!.intervalEnd == b + pageSize)
        let before = lab.world.lastSeq
        lab.run(.munmap(mm: lab.mm, addr: a + pageSize, length: pageSize))
        #expect(lab.events(since: before, ["invalidate"]).map { $0.notifier } == [1], "notifier 2's interval is elsewhere")
    }

    @Test("read_begin sleeps while the round that hit the subscription is on; the fault then retries through read_retry or maps after it")
    func readBeginWaits() throws {
        var (lab, a) = try Self.lab("dmirror", pages: 3)
        let munmap = lab.world.start(.munmap(mm: lab.mm, addr: a + 2 * pageSize, length: pageSize), pauseAt: "mn_itree_inv_end")
        #expect(lab.world.resume(munmap) == .paused && lab.world.mm(lab.mm)!.invalidateSeq == 3)
        let fault = lab.world.start(.fault(mm: lab.mm, notifier: 1, address: a + pageSize, write: false))
        #expect(lab.world.resume(fault) == .blocked)
        #expect(lab.world.task(fault)?.nextStep == "mmu_interval_read_begin")
        #expect(lab.world.resume(munmap) == .done)
        #expect(lab.world.resume(fault) == .done)
        #expect(lab.world.notifier(1)!.sptes.count == 2 && lab.world.violations.isEmpty)
    }

    @Test("an insert during a round waits on the deferred list and goes in at the round's end; a remove during one waits for its end")
    func deferred() throws {
        var (lab, a) = try Self.lab("dmirror")
        let munmap = lab.world.start(.munmap(mm: lab.mm, addr: a, length: pageSize), pauseAt: "mn_itree_inv_end")
        #expect(lab.world.resume(munmap) == .paused)
        let insert = lab.world.start(.register(mm: lab.mm, kind: "dmirror", bugs: [], signalPending: false, mmapSemHeld: false))
        #expect(lab.world.resume(insert) == .done)
        #expect(lab.world.mm(lab.mm)!.deferredItree == [2] && lab.world.mm(lab.mm)!.itree == [1])
        #expect(lab.world.notifier(2)!.invalidateSeq == 3, "a deferred subscription takes the round's odd seq")
        let remove = lab.world.start(.unregister(mm: lab.mm, notifier: 1))
        #expect(lab.world.resume(remove) == .blocked)
        #expect(lab.world.resume(munmap) == .done)
        #expect(lab.world.resume(remove) == .done)
        #expect(lab.world.mm(lab.mm)!.itree == [2] && lab.world.mm(lab.mm)!.deferredItree.isEmpty)
        #expect(lab.world.notifier(1)!.freed && lab.world.notifier(1)!.state == .unregistered && lab.world.violations.isEmpty)
    }

    @Test("dmirror's invalidate answers false in a non-blockable range while its mutex is held: the round ends there and no classic start runs")
    func intervalRefuses() throws {
        var (lab, a) = try Self.lab("dmirror", pages: 2)
        #expect(lab.register("kvm-modern") == 2)
        // A fault paused holding dmirror's mutex (after read_retry).
        let fault = lab.world.start(.fault(mm: lab.mm, notifier: 1, address: a + pageSize, write: false), pauseAt: "driver:dmirror:/fault/6")
        #expect(lab.world.resume(fault) == .paused)
        let seq = lab.world.lastSeq
        let reap = lab.world.start(.oomReap(mm: lab.mm))
        #expect(lab.world.resume(reap) == .done)
        #expect(lab.world.task(reap)?.result.attempts == 10)
        let ranges = Self.ranges(lab, since: seq)
        #expect(ranges.count == 10 && ranges.allSatisfy { $0 == "invalidate n1 UNMAP false" })
        #expect(lab.world.mm(lab.mm)!.invalidateSeq % 2 == 0 && lab.world.mm(lab.mm)!.activeInvalidateRanges == 0)
        #expect(lab.world.resume(fault) == .done)
        #expect(lab.world.violations.isEmpty)
    }

    @Test(
        "the interval pass succeeds, then a classic start fails: as 6.17's code is, nothing ends the round; the seq stays odd and read_begin sleeps for good (the explorer: a deadlock)"
    )
    func roundNeverEnds() throws {
        var (lab, a) = try Self.lab("dmirror", pages: 2)
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: Self.refuser), signalPending: false, mmapSemHeld: false))
        #expect(lab.run(.oomReap(mm: lab.mm)).attempts == 10)
        let mm = try #require(lab.world.mm(lab.mm))
        #expect(mm.invalidateSeq % 2 == 1 && mm.activeInvalidateRanges == 10)
        let fault = lab.world.start(.fault(mm: lab.mm, notifier: 1, address: a + pageSize, write: false))
        #expect(lab.world.resume(fault) == .blocked && lab.world.task(fault)?.nextStep == "mmu_interval_read_begin")
        // mmusim check finds it on its own: dmirror with the refuser beside it.
        let dmirror = try String(contentsOf: PolicyTests.folder.appendingPathComponent("dmirror.json"), encoding: .utf8)
        let text = #"{"world": {"drivers": ["# + Self.refuser + "]}," + dmirror.drop { $0 != "{" }.dropFirst()
        let verdicts = try PolicyCheck(try Policy.load(text: text)).run(workloads: ["fault-vs-oom-reap"])
        #expect(verdicts.first?.result.deadlocks ?? 0 > 0 && verdicts.first?.result.violations.isEmpty == true)
    }

    // MARK: mmu_notifier_get and _put

    @Test(
        "get: a second get of the same driver adds a user; put at 0 unlinks, and free_notifier runs after an SRCU grace period on a task of its own"
    )
    func getPut() throws {
        let getter = try Policy.load(
            text: #"""
                {"name": "getter", "kernel": "modern", "subscribe": "get", "vars": {"allocs": 0},
                 "callbacks": {"alloc_notifier": [{"inc": "allocs"}], "free_notifier": [{"free_notifier": true}],
                               "release": [{"zap": "all"}]}}
                """#
        )
        var lab = try ModernTests.modernLab()
        _ = lab.mmap(1)
        let count = lab.world.mm(lab.mm)!.count
        for _ in 0..<2 { #expect(lab.run(.registerPolicy(mm: lab.mm, policy: getter, signalPending: false, mmapSemHeld: false)).notifier == 1) }
        let users = lab.world.notifier(1)!.users
        let allocs = lab.world.variable("allocs", of: 1)
        #expect(users == 2 && allocs == 1 && lab.world.mm(lab.mm)!.count == count + 1, "users \(users), allocs \(String(describing: allocs))")
        lab.run(.unregister(mm: lab.mm, notifier: 1))
        #expect(lab.world.notifier(1)!.users == 1 && lab.world.notifier(1)!.state == .listed)
        let seq = lab.world.lastSeq
        lab.run(.unregister(mm: lab.mm, notifier: 1))
        // The SRCU callback runs on a task of its own once the put's request is done.
        let after = lab.world.trace.events(after: seq).map { $0.statement ?? $0.call.rawValue }
        #expect(after == ["notifier_put", "unlink", "grace_period", "unregister", "/callbacks/free_notifier/0", "notifier_free"], "\(after)")
        #expect(lab.world.notifier(1)!.freed && lab.world.notifier(1)!.state == .unregistered && lab.world.mm(lab.mm)!.count == count)
        #expect(lab.world.perform(.unregister(mm: lab.mm, notifier: 1)).result.errno == .EINVAL)
    }

    // MARK: Aging without a flush

    @Test(
        "page_idle: a write clears the pte's and kvm's young bits (clear_young, no TLB flush) and marks the page idle; a read reports it until an access"
    )
    func pageIdle() throws {
        var (lab, a) = try Self.lab("kvm-modern", pages: 1)
        let tlb = lab.world.notifier(1)!.tlb.count
        var seq = lab.world.lastSeq
        lab.run(.pageIdle(mm: lab.mm, addr: a, length: pageSize, mark: true))
        #expect(lab.events(since: seq, ["clear_young"]).map { $0.ret } == [1])
        #expect(!lab.pte(a).young && !PTE(raw: lab.world.notifier(1)!.sptes.get(a >> pageShift)).young)
        #expect(lab.world.notifier(1)!.tlb.count == tlb, "clear_young flushes nothing")
        #expect(lab.run(.pageIdle(mm: lab.mm, addr: a, length: pageSize, mark: false)).values == [1])
        // The device writes through kvm's mapping: the spte is young, so the page is not idle.
        lab.run(.access(mm: lab.mm, notifier: 1, address: a, write: true, value: 5))
        seq = lab.world.lastSeq
        #expect(lab.run(.pageIdle(mm: lab.mm, addr: a, length: pageSize, mark: false)).values == [0])
        #expect(lab.events(since: seq, ["clear_young"]).map { $0.ret } == [1])
        var v17 = Lab()
        #expect(v17.world.perform(.pageIdle(mm: v17.mm, addr: 0, length: pageSize, mark: true)).result.errno == .ENOSYS)
    }

    @Test("khugepaged's scan asks test_young only for a page its pte and flags call old; kvm's young spte makes it referenced")
    func khugepagedScan() throws {
        var (lab, a) = try Self.lab("kvm-modern", pages: 2)
        // Reclaim's first pass ages both pages (pte, page flag and kvm's sptes), keeping them.
        lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil))
        var seq = lab.world.lastSeq
        var result = lab.run(.khugepagedScan(mm: lab.mm, addr: a))
        #expect(result.scanned == 2 && result.referenced == 0)
        #expect(lab.events(since: seq, ["test_young"]).map { $0.ret } == [0, 0])
        // A device access makes kvm's spte of the first page young again.
        lab.run(.access(mm: lab.mm, notifier: 1, address: a, write: false, value: nil))
        seq = lab.world.lastSeq
        result = lab.run(.khugepagedScan(mm: lab.mm, addr: a))
        #expect(result.referenced == 1 && lab.events(since: seq, ["test_young"]).map { $0.ret } == [1, 0])
        #expect(PTE(raw: lab.world.notifier(1)!.sptes.get(a >> pageShift)).young, "test_young clears nothing")
    }

    // MARK: arch_invalidate_secondary_tlbs (6.6)

    /// An IOMMU that shares the CPU page table: a TLB only, flushed by the architecture's hook.
    static let sva = """
        {"name": "sva", "kernel": "modern", "subscribe": "classic", "tlb": "only", "vars": {"flushes": 0},
         "callbacks": {"release": [{"flush_tlb": "all"}],
                       "arch_invalidate_secondary_tlbs": [{"inc": "flushes"}, {"flush_tlb": "range"}]},
         "fault": [{"gup": {"write": {"arg": "write"}}}, {"install": {"writable": {"arg": "write"}}}, {"put_page": true}]}
        """

    @Test(
        "arch_invalidate_secondary_tlbs follows each primary TLB flush, before the page is freed: munmap's tlb_finish_mmu, mprotect, a COW break, reclaim; nothing without a subscriber of it"
    )
    func archInvalidate() throws {
        var lab = try ModernTests.modernLab()
        let a = lab.mmap(4)
        lab.write(a, pages: 4, value: 1)
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: Self.sva), signalPending: false, mmapSemHeld: false))
        for page in 0..<4 { lab.fault(1, a + UInt64(page) * pageSize, write: true) }
        #expect(lab.world.notifier(1)!.tlb.count == 4)
        func calls(_ operation: MMUSim.Operation) -> [String] {
            let seq = lab.world.lastSeq
            lab.run(operation)
            return lab.world.trace.events(after: seq).map(\.call.rawValue).filter {
                ["arch_invalidate_secondary_tlbs", "tlb_flush", "frame_free", "pte_clear", "pte_protect"].contains($0)
            }
        }
        #expect(
            calls(.mprotect(mm: lab.mm, addr: a, length: pageSize, prot: [.read])) == ["pte_protect", "arch_invalidate_secondary_tlbs", "tlb_flush"]
        )
        #expect(
            calls(.munmap(mm: lab.mm, addr: a + pageSize, length: pageSize)) == [
                "pte_clear", "arch_invalidate_secondary_tlbs", "tlb_flush", "frame_free",
            ]
        )
        #expect(lab.world.variable("flushes", of: 1) == 2 && lab.world.notifier(1)!.tlb.count == 2)
        #expect(lab.world.violations.isEmpty)
        // No subscriber of it, no call and no step.
        var plain = try ModernTests.modernLab()
        let b = plain.mmap(1)
        plain.write(b, value: 1)
        #expect(plain.register("kvm-modern") == 1)
        let seq = plain.world.lastSeq
        plain.run(.munmap(mm: plain.mm, addr: b, length: pageSize))
        #expect(plain.events(since: seq, ["arch_invalidate_secondary_tlbs"]).isEmpty)
    }

    // MARK: munmap since 4.20

    @Test("modern munmap downgrades mmap_lock to read once the VMAs are detached: its invalidation runs under mmap_sem:r")
    func munmapDowngrades() throws {
        var (lab, a) = try Self.lab("kvm-modern")
        let seq = lab.world.lastSeq
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        let detach = try #require(lab.events(since: seq, ["vma_detach"]).first)
        let start = try #require(lab.events(since: seq, ["invalidate_range_start"]).first)
        #expect(detach.locks.contains("mmap_sem:w") && start.locks.contains("mmap_sem:r") && !start.locks.contains("mmap_sem:w"))
    }
}
