import Testing

@testable import MMUSim

/// A modern world (`kernel: modern`, ../shared/MODERN.md, read against a 6.17 tree): ranges
/// with their event, the core's SRCU, the fixed release, and drivers written for it.
@Suite("Modern mode: ranges with events, SRCU, the fixed release, policies for the world's kernel")
struct ModernTests {
    /// A classic subscriber written for the modern kernel: KVM's zap and count under a spinlock,
    /// a sleep at the top of its start (allowed in a blockable range under SRCU), and a count
    /// of the UNMAP ranges it saw.
    static let policy = """
        {"name": "mkvm", "kernel": "modern", "subscribe": "classic", "tlb": true,
         "locks": {"mmu_lock": "spinlock"}, "vars": {"seq": 0, "count": 0, "unmaps": 0},
         "callbacks": {
           "release": [{"lock": "mmu_lock"}, {"zap": "all"}, {"unlock": "mmu_lock"}],
           "clear_flush_young": [{"lock": "mmu_lock"}, {"age": "range", "clear": true}, {"unlock": "mmu_lock"}],
           "invalidate_range_start": [{"sleep": true}, {"if": {"eq": ["event", {"str": "UNMAP"}]}, "then": [{"inc": "unmaps"}]},
                                      {"lock": "mmu_lock"}, {"inc": "count"}, {"zap": "range"}, {"unlock": "mmu_lock"}],
           "invalidate_range_end": [{"lock": "mmu_lock"}, {"inc": "seq"}, {"dec": "count"}, {"unlock": "mmu_lock"}]
         },
         "fault": [{"sample": "s", "from": "seq"}, {"gup": {"write": {"arg": "write"}}}, {"lock": "mmu_lock"},
                   {"if": {"or": [{"ne": [{"var": "count"}, 0]}, {"ne": [{"var": "seq"}, {"local": "s"}]}]},
                    "then": [{"unlock": "mmu_lock"}, {"put_page": true}, {"retry": true}]},
                   {"install": {"writable": {"arg": "write"}}}, {"unlock": "mmu_lock"}, {"put_page": true}]}
        """

    /// An empty modern world with one mm.
    static func modernLab() throws -> Lab {
        var lab = Lab()
        var config = lab.world.config
        try config.apply(kernel: .modern, releaseOrder: nil, coreBugs: nil)
        lab.world = World(config)
        lab.mm = lab.world.createMM(name: "test")
        return lab
    }

    /// A modern world with `pages` written pages and mkvm registered as notifier 1, its first
    /// page mapped.
    static func lab(pages: UInt64 = 2) throws -> (lab: Lab, a: UInt64) {
        var lab = try Self.modernLab()
        let a = lab.mmap(pages)
        lab.write(a, pages: pages, value: 1)
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: policy), signalPending: false, mmapSemHeld: false))
        lab.fault(1, a, write: true)
        return (lab, a)
    }

    /// The start/end events since `seq` on notifier 1, as "call event blockable".
    static func ranges(_ lab: Lab, since seq: Int) -> [String] {
        lab.events(since: seq, ["invalidate_range_start", "invalidate_range_end", "invalidate_page"]).filter { $0.notifier == 1 }.map {
            "\($0.call.rawValue) \($0.event?.rawValue ?? "-") \($0.blockable.map(String.init) ?? "-")"
        }
    }

    @Test("a modern world: every seed core bug and v17's release order are refused; the kernel survives encoding")
    func config() throws {
        var config = WorldConfig()
        #expect(config.kernel == .v17 && config.releaseOrder == .v17)
        try config.apply(kernel: .modern, releaseOrder: nil, coreBugs: nil)
        #expect(config.kernel == .modern && config.releaseOrder == .fixed && config.coreBugs.isEmpty)
        var bad = config
        #expect(throws: CommandError.self) { try bad.apply(releaseOrder: .v17, coreBugs: nil) }
        #expect(throws: CommandError.self) { try bad.apply(releaseOrder: nil, coreBugs: ["hugetlb_fork_no_notifier"]) }
        // Back to v17: the seed's core again.
        try config.apply(kernel: .v17, releaseOrder: nil, coreBugs: nil)
        #expect(config.coreBugs == CoreBug.v17)
    }

    @Test("munmap: UNMAP ranges, blockable, under srcu_read_lock: the driver's sleep in its start is allowed (v17: no-sleep-in-atomic)")
    func munmap() throws {
        var (lab, a) = try Self.lab()
        let seq = lab.world.lastSeq
        lab.run(.munmap(mm: lab.mm, addr: a, length: 2 * pageSize))
        #expect(Self.ranges(lab, since: seq) == ["invalidate_range_start UNMAP true", "invalidate_range_end UNMAP true"])
        let start = try #require(lab.events(since: seq, ["invalidate_range_start"]).first)
        #expect(start.locks.contains("srcu_read_lock") && !start.locks.contains("rcu_read_lock") && !start.atomic)
        #expect(lab.world.violations.isEmpty && lab.world.variable("unmaps", of: 1) == 1)
        #expect(lab.world.notifier(1)!.sptes.count == 0 && lab.world.variable("count", of: 1) == 0)
    }

    @Test("madvise(DONTNEED) is CLEAR, mprotect PROTECTION_VMA, fork of a COW mapping PROTECTION_PAGE on the parent")
    func events() throws {
        var (lab, a) = try Self.lab()
        var seq = lab.world.lastSeq
        lab.run(.madviseDontneed(mm: lab.mm, addr: a, length: pageSize))
        #expect(Self.ranges(lab, since: seq) == ["invalidate_range_start CLEAR true", "invalidate_range_end CLEAR true"])
        seq = lab.world.lastSeq
        lab.run(.mprotect(mm: lab.mm, addr: a, length: 2 * pageSize, prot: [.read]))
        #expect(Self.ranges(lab, since: seq) == ["invalidate_range_start PROTECTION_VMA true", "invalidate_range_end PROTECTION_VMA true"])
        lab.run(.mprotect(mm: lab.mm, addr: a, length: 2 * pageSize, prot: [.read, .write]))
        seq = lab.world.lastSeq
        lab.run(.fork(mm: lab.mm))
        #expect(Self.ranges(lab, since: seq) == ["invalidate_range_start PROTECTION_PAGE true", "invalidate_range_end PROTECTION_PAGE true"])
        #expect(lab.world.violations.isEmpty)
    }

    @Test("a COW break is wp_page_copy's CLEAR range over the page around the pte swap, no invalidate_page; the old page put after the end")
    func cow() throws {
        var (lab, a) = try Self.lab()
        lab.run(.fork(mm: lab.mm))
        lab.fault(1, a, write: false)
        let seq = lab.world.lastSeq
        lab.write(a, value: 9)
        let calls = lab.world.trace.events(after: seq).filter { $0.notifier == 1 || ["pte_clear", "pte_set"].contains($0.call.rawValue) }
            .filter { $0.call != .driver && $0.call != .spteZap && $0.call != .tlbFlush }.map(\.call.rawValue)
        #expect(calls == ["invalidate_range_start", "pte_clear", "pte_set", "invalidate_range_end"])
        let start = try #require(lab.events(since: seq, ["invalidate_range_start"]).first)
        #expect(start.event == .clear && start.start == a && start.end == a + pageSize)
        #expect(lab.world.notifier(1)!.sptes.pte(at: a).isPresent == false && lab.world.violations.isEmpty)
    }

    @Test(
        "reclaim: aging by clear_flush_young under the pte lock, then try_to_unmap_one's CLEAR range over the page around the pte swap, no invalidate_page"
    )
    func reclaim() throws {
        var (lab, a) = try Self.lab(pages: 1)
        // The first pass finds the page young (the write, the fault): it is kept, the young bits cleared.
        #expect(lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil)).referenced == 1)
        let seq = lab.world.lastSeq
        let pass = lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil))
        #expect(pass.swappedOut == 1)
        let calls = lab.world.trace.events(after: seq).filter {
            ["clear_flush_young", "invalidate_range_start", "invalidate_range_end", "invalidate_page", "pte_clear", "frame_free"].contains(
                $0.call.rawValue
            )
                && ($0.notifier == nil || $0.notifier == 1)
        }.map(\.call.rawValue)
        #expect(calls == ["clear_flush_young", "invalidate_range_start", "pte_clear", "invalidate_range_end", "frame_free"])
        let start = try #require(lab.events(since: seq, ["invalidate_range_start"]).first)
        #expect(start.event == .clear && start.start == a && start.end == a + pageSize && !start.atomic)
        let young = try #require(lab.events(since: seq, ["clear_flush_young"]).first)
        #expect(young.atomic && young.locks.contains("page_table_lock"))
        #expect(lab.pte(a).isSwap && lab.world.notifier(1)!.sptes.count == 0 && lab.world.violations.isEmpty)
    }

    @Test("writeback: page_vma_mkclean_one's PROTECTION_PAGE range over the page around the pte's write-protect, no invalidate_page")
    func writeback() throws {
        var lab = try Self.modernLab()
        let a = lab.mmap(1, shared: true, file: "data")
        lab.write(a, value: 5)
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: Self.policy), signalPending: false, mmapSemHeld: false))
        lab.fault(1, a, write: true)
        let seq = lab.world.lastSeq
        #expect(lab.run(.writeback(file: "data")).cleaned == 1)
        let calls = lab.world.trace.events(after: seq).filter {
            ["invalidate_range_start", "invalidate_range_end", "invalidate_page", "pte_clear", "pte_set", "writepage"].contains($0.call.rawValue)
                && ($0.notifier == nil || $0.notifier == 1)
        }.map(\.call.rawValue)
        #expect(calls == ["invalidate_range_start", "pte_clear", "pte_set", "invalidate_range_end", "writepage"])
        let start = try #require(lab.events(since: seq, ["invalidate_range_start"]).first)
        #expect(start.event == .protectionPage && start.start == a && start.end == a + pageSize && !start.atomic)
        #expect(!lab.pte(a).write && lab.world.notifier(1)!.sptes.count == 0 && lab.world.violations.isEmpty)
        #expect(lab.world.file(named: "data")!.disk[0] == 5)
    }

    @Test("mremap: one UNMAP range over the whole old range around move_page_tables, then do_munmap's own")
    func mremap() throws {
        var (lab, a) = try Self.lab(pages: 2)
        let seq = lab.world.lastSeq
        let target = a + 64 * pageSize
        let moved = lab.run(
            .mremap(mm: lab.mm, oldAddr: a, oldLength: 2 * pageSize, newLength: 2 * pageSize, mayMove: true, fixed: true, newAddr: target)
        )
        #expect(moved.ret == 0 && moved.addr == target)
        let ranges = lab.events(since: seq, ["invalidate_range_start", "invalidate_range_end"]).filter { $0.notifier == 1 }
        #expect(
            ranges.map { "\($0.call.rawValue) \($0.event?.rawValue ?? "-") \($0.start ?? 0 == a) \($0.end ?? 0 == a + 2 * pageSize)" }
                == [
                    "invalidate_range_start UNMAP true true", "invalidate_range_end UNMAP true true",
                    "invalidate_range_start UNMAP true true", "invalidate_range_end UNMAP true true",
                ]
        )
        #expect(lab.read(target, pages: 2) == [1, 1] && lab.world.notifier(1)!.sptes.count == 0 && lab.world.violations.isEmpty)
    }

    @Test("migration: try_to_migrate_one's CLEAR range over the page around the migration entry; the new page's pte comes after, with no call")
    func migrate() throws {
        var (lab, a) = try Self.lab(pages: 1)
        let old = lab.pte(a).pfn
        let seq = lab.world.lastSeq
        lab.run(.migrate(mm: lab.mm, addr: a, length: pageSize))
        let calls = lab.world.trace.events(after: seq).filter {
            ["invalidate_range_start", "invalidate_range_end", "invalidate_page", "pte_clear"].contains($0.call.rawValue)
                && ($0.notifier == nil || $0.notifier == 1)
        }.map(\.call.rawValue)
        #expect(calls == ["invalidate_range_start", "pte_clear", "invalidate_range_end"])
        let start = try #require(lab.events(since: seq, ["invalidate_range_start"]).first)
        #expect(start.event == .clear && start.start == a && start.end == a + pageSize)
        #expect(lab.pte(a).isPresent && lab.pte(a).pfn != old && lab.read(a) == [1])
        #expect(lab.world.notifier(1)!.sptes.count == 0 && lab.world.violations.isEmpty)
    }

    @Test("kvm-modern, built in: registers by kind in a modern world; a fault in an invalidation's range retries and maps after its end")
    func kvmModern() throws {
        var lab = try Self.modernLab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2, value: 1)
        let kvm = lab.register("kvm-modern")
        // madvise paused inside its range: mmu_invalidate_in_progress is 1 over [a, a + 4096).
        let madvise = lab.world.start(.madviseDontneed(mm: lab.mm, addr: a, length: pageSize), pauseAt: "zap_pte_range")
        #expect(lab.world.run(madvise) == .paused)
        #expect(lab.world.variable("in_progress", of: kvm) == 1 && lab.world.variable("range_start", of: kvm) == Int(a))
        // A fault outside the range maps at once; one inside retries and waits for the end.
        #expect(lab.fault(kvm, a + pageSize).ret == 0)
        let inside = lab.world.start(.fault(mm: lab.mm, notifier: kvm, address: a, write: false))
        #expect(lab.world.run(inside) == .blocked && lab.world.task(inside)?.result.retries == 1)
        #expect(lab.world.resume(madvise) == .done)
        lab.world.wakeBlocked()
        #expect(lab.world.task(inside)?.status == .done && lab.world.notifier(kvm)!.sptes.pte(at: a).isPresent)
        #expect(lab.world.variable("seq", of: kvm) == 1 && lab.world.violations.isEmpty)
    }

    @Test("kvm-modern without its retry check breaks against munmap (no-spte-in-invalidate-window), found by mmusim check")
    func kvmModernSkipRetry() throws {
        let policy = try PolicyTests.builtin("kvm-modern").applying(variants: ["skip_retry_check"])
        let verdict = try #require(try PolicyCheck(policy).run(workloads: ["fault-vs-munmap"]).first)
        #expect(!verdict.clean && verdict.result.violations["no-spte-in-invalidate-window"] != nil)
    }

    @Test("exit: every ->release under SRCU first, then the unlink and synchronize_srcu; the UNMAP of everything reaches no classic subscriber")
    func exit() throws {
        var (lab, _) = try Self.lab()
        let seq = lab.world.lastSeq
        lab.run(.exit(mm: lab.mm))
        let calls = lab.events(since: seq, ["release", "invalidate_range_start", "unlink", "grace_period"]).map(\.call.rawValue)
        #expect(calls == ["release", "unlink", "grace_period"])
        #expect(lab.events(since: seq, ["frame_free"]).count >= 1 && lab.world.notifier(1)!.sptes.count == 0)
        let release = try #require(lab.events(since: seq, ["release"]).first)
        #expect(release.locks == ["srcu_read_lock"] && !release.atomic)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("unregister: ->release under SRCU while still listed, then unlink and synchronize_srcu")
    func unregister() throws {
        var (lab, _) = try Self.lab()
        let seq = lab.world.lastSeq
        lab.run(.unregister(mm: lab.mm, notifier: 1))
        #expect(
            lab.events(since: seq, ["release", "unlink", "grace_period", "unregister"]).map(\.call.rawValue) == [
                "release", "unlink", "grace_period", "unregister",
            ]
        )
        #expect(lab.world.notifier(1)!.state == .unregistered && lab.world.notifier(1)!.sptes.count == 0)
    }

    @Test("a driver registers only in a world of its kernel: v17's kvm in a modern world and mkvm in a v17 one are -EINVAL")
    func kernelMismatch() throws {
        var (lab, _) = try Self.lab()
        #expect(lab.world.perform(.register(mm: lab.mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false)).result.errno == .EINVAL)
        var old = Lab()
        let task = old.world.perform(
            .registerPolicy(mm: old.mm, policy: try Policy.load(text: Self.policy), signalPending: false, mmapSemHeld: false)
        )
        #expect(task.result.errno == .EINVAL && old.world.notifiers.isEmpty)
    }

    @Test("the operations whose modern hook sites are not modelled yet answer -ENOSYS and change nothing; v17 runs them")
    func notModelled() throws {
        var (lab, a) = try Self.lab()
        let before = lab.world.lastSeq
        for operation: MMUSim.Operation in [
            .remapFilePages(mm: lab.mm, addr: a, length: pageSize, pgoff: 0),
            .applyToPageRange(mm: lab.mm, addr: a, length: pageSize),
        ] {
            #expect(lab.world.perform(operation).result.errno == .ENOSYS, "\(operation.name)")
        }
        #expect(lab.world.lastSeq == before)
    }

    @Test("a v17 world's ranges carry no event and walk under rcu_read_lock, as before")
    func v17Unchanged() throws {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        let kvm = lab.register("kvm")
        let seq = lab.world.lastSeq
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        let start = try #require(lab.events(since: seq, ["invalidate_range_start"]).first { $0.notifier == kvm })
        #expect(start.event == nil && start.blockable == nil && start.locks.contains("rcu_read_lock") && start.atomic)
    }
}
