import Foundation
import Testing

@testable import MMUSim

/// The built-in drivers run as policies by the interpreter (drivers/*.json): the races of
/// the explorer examples keep the verdicts the Swift kinds they replaced gave. Until commit
/// 7d61523 this suite ran each race with the Swift kind and with its policy file side by side
/// and required the same invariants broken; the table below is what both gave.
@Suite("The policy interpreter: the built-in drivers keep the verdicts of the Swift kinds they replaced")
struct InterpreterTests {
    /// A world with one written page (as examples/explore/02 and 06 set it up), the driver
    /// registered by name with its bug switches.
    static func world(_ driver: Driver, reclaimFirst: Bool = false, faultFirst: Bool = false) throws -> World {
        var lab = Lab(frames: 64, swapSlots: 64)
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        lab.run(.register(mm: lab.mm, kind: driver.name, bugs: driver.bugs, signalPending: false, mmapSemHeld: false))
        if reclaimFirst { lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil)) }
        if faultFirst { lab.fault(1, a, write: true) }
        return lab.world
    }

    /// A built-in driver with bug switches.
    struct Driver: Sendable {
        var name: String
        var bugs: [String] = []
    }

    static let a: UInt64 = 0x7f00_0000_0000

    /// The races of the explorer examples, as (name, tasks, reclaim first).
    static func race(_ name: String) -> (tasks: [MMUSim.Operation], reclaimFirst: Bool, faultFirst: Bool) {
        let fault = MMUSim.Operation.fault(mm: 1, notifier: 1, address: a, write: true)
        let reclaim = MMUSim.Operation.reclaim(mm: 1, addr: nil, length: nil, pages: nil)
        switch name {
        case "fault-vs-munmap": return ([fault, .munmap(mm: 1, addr: a, length: pageSize)], false, false)
        case "fault-vs-mprotect": return ([fault, .mprotect(mm: 1, addr: a, length: pageSize, prot: [.read])], false, false)
        case "fault-vs-reclaim": return ([fault, reclaim], true, false)
        case "exit-vs-reclaim": return ([.exit(mm: 1), reclaim], false, true)
        case "unregister-vs-munmap": return ([.unregister(mm: 1, notifier: 1), .munmap(mm: 1, addr: a, length: pageSize)], false, true)
        default: return ([fault, .exit(mm: 1)], false, false)
        }
    }

    static func explore(_ driver: Driver, _ race: String) throws -> ExploreResult {
        let (tasks, reclaimFirst, faultFirst) = Self.race(race)
        let spec = ExploreSpec(setup: [], tasks: [])
        return Explorer(spec: spec, world: try world(driver, reclaimFirst: reclaimFirst, faultFirst: faultFirst), tasks: tasks).run()
    }

    struct Case: Sendable, CustomStringConvertible {
        var kind: String
        var bugs: [String]
        var race: String
        /// The invariants the race breaks (the Swift kind's verdict).
        var broken: Set<String>
        var description: String { "\(kind)\(bugs.map { "+" + $0 }.joined()) \(race)" }
    }

    static let window = "no-spte-in-invalidate-window"

    static let cases: [Case] = [
        Case(kind: "kvm", bugs: [], race: "fault-vs-munmap", broken: []),
        Case(kind: "kvm", bugs: ["skip_retry_check"], race: "fault-vs-munmap", broken: [window, "no-stale-spte"]),
        Case(kind: "kvm", bugs: [], race: "fault-vs-reclaim", broken: []),
        Case(kind: "kvm", bugs: ["skip_retry_check"], race: "fault-vs-reclaim", broken: ["no-stale-spte"]),
        Case(kind: "kvm", bugs: [], race: "fault-vs-mprotect", broken: []),
        Case(kind: "kvm", bugs: ["no_set_page_dirty"], race: "fault-vs-munmap", broken: []),
        Case(kind: "kvm", bugs: ["sleeps"], race: "fault-vs-munmap", broken: ["no-sleep-in-atomic"]),
        Case(kind: "kvm", bugs: [], race: "fault-vs-exit", broken: []),
        Case(kind: "gru", bugs: [], race: "fault-vs-munmap", broken: []),
        Case(kind: "gru", bugs: ["skip_retry_check"], race: "fault-vs-munmap", broken: [window, "no-stale-spte"]),
        Case(kind: "gru", bugs: [], race: "fault-vs-mprotect", broken: []),
        // XPMEM's invalidations sleep, and v17 calls them under rcu_read_lock.
        Case(kind: "xpmem", bugs: [], race: "fault-vs-munmap", broken: ["no-sleep-in-atomic"]),
        Case(kind: "pinning", bugs: [], race: "fault-vs-munmap", broken: []),
        Case(kind: "unsafe", bugs: [], race: "fault-vs-munmap", broken: ["no-stale-spte"]),
        Case(kind: "kvm", bugs: [], race: "exit-vs-reclaim", broken: []),
        Case(kind: "gru", bugs: [], race: "exit-vs-reclaim", broken: []),
        Case(kind: "kvm", bugs: ["no_release"], race: "exit-vs-reclaim", broken: ["no-stale-spte"]),
        // v17's unregister unlinks before ->release: munmap's invalidate misses the notifier.
        Case(kind: "kvm", bugs: [], race: "unregister-vs-munmap", broken: ["no-stale-spte"]),
        Case(kind: "kvm", bugs: ["free_in_release"], race: "unregister-vs-munmap", broken: ["no-stale-spte", "notifier-use-after-free"]),
        Case(kind: "kvm", bugs: ["ignore_invalidate_page"], race: "fault-vs-reclaim", broken: ["no-stale-spte"]),
        Case(kind: "gru", bugs: ["skip_retry_check"], race: "fault-vs-mprotect", broken: [window, "no-stale-write"]),
        Case(kind: "kvm", bugs: ["skip_retry_check"], race: "fault-vs-mprotect", broken: [window, "no-stale-write"]),
        Case(kind: "unsafe", bugs: [], race: "exit-vs-reclaim", broken: ["no-stale-spte"]),
        Case(kind: "pinning", bugs: [], race: "fault-vs-reclaim", broken: []),
    ]

    @Test("a race explored with a built-in driver: the invariants the Swift kind broke, and no deadlock", arguments: cases)
    func sameVerdict(_ test: Case) throws {
        let result = try Self.explore(Driver(name: test.kind, bugs: test.bugs), test.race)
        #expect(!result.truncated && result.deadlocks == 0)
        #expect(Set(result.violations.keys) == test.broken, "\(result.violations)")
    }

    @Test("kvm.json's fault: each statement a step named driver:kvm:<pointer>, the spte and the trace as the Swift kvm's")
    func kvmFault() throws {
        var world = try Self.world(Driver(name: "kvm"))
        let seq = world.lastSeq
        let task = world.start(.fault(mm: 1, notifier: 1, address: Self.a, write: true), pauseAt: "driver:kvm:/fault/3")
        #expect(world.run(task) == .paused)
        #expect(world.task(task)?.nextStep == "driver:kvm:/fault/3")
        #expect(world.resume(task) == .done)
        let result = try #require(world.task(task)?.result)
        #expect(result.ret == 0 && result.spte?.writable == true && result.spte?.pfn == world.pte(mm: 1, address: Self.a).pfn)
        // Each statement an event of its own, in order, then what it did (the gup's fault found
        // the page present: no event of its own).
        let events = world.trace.events(after: seq)
        #expect(
            events.map { $0.statement ?? $0.call.rawValue }
                == ["/fault/0", "/fault/1", "/fault/2", "/fault/3", "/fault/4", "/fault/5", "spte_set", "/fault/6", "/fault/7"]
        )
        // The sample read seq 0; the retry check was false.
        #expect(events[1].ret == 0 && events[4].ret == 0 && events[3].locks == [] && events[4].locks == ["mmu_lock:1"])
        let set = try #require(events.first { $0.call == .spteSet })
        #expect(set.locks == ["mmu_lock:1"] && set.atomic)
        // The gup reference is dropped: the page is mapped once, by its pte.
        #expect(world.frames[result.spte!.pfn].refcount == 1)
    }

    @Test(
        "kvm.json's callbacks under munmap: the calls, the count up and down, the seq bumped, the spte zapped; the invariants' cache forgets at each change"
    )
    func kvmCallbacks() throws {
        var world = try Self.world(Driver(name: "kvm"))
        _ = world.perform(.fault(mm: 1, notifier: 1, address: Self.a, write: true))
        // The fault's end found count-balanced holding, with the mm quiet: the checker skips it
        // until kvm's variables change.
        #expect(world.notifiers[0].invariantsHeld.held)
        let seq = world.lastSeq
        let task = world.start(.munmap(mm: 1, addr: Self.a, length: pageSize), pauseAt: "driver:kvm:/callbacks/invalidate_range_start/3")
        #expect(world.run(task) == .paused)
        // Paused inside the callback, before its unlock: the count is up, mmu_lock held, the spte gone.
        let names = world.policies[0].varNames
        #expect(world.notifiers[0].vars[names.firstIndex(of: "count")!] == 1 && !world.notifiers[0].invariantsHeld.held)
        #expect(world.task(task)?.locks.map(\.label).contains("mmu_lock:1") == true)
        #expect(world.notifiers[0].sptes.count == 0)
        #expect(world.resume(task) == .done)
        #expect(world.notifiers[0].vars[names.firstIndex(of: "count")!] == 0 && world.notifiers[0].vars[names.firstIndex(of: "seq")!] == 1)
        #expect(world.notifiers[0].invariantsHeld.held)
        let calls = world.trace.events(after: seq).map { $0.statement ?? $0.call.rawValue }
        #expect(
            calls == [
                "vma_detach", "invalidate_range_start", "/callbacks/invalidate_range_start/0", "/callbacks/invalidate_range_start/1",
                "/callbacks/invalidate_range_start/2", "spte_zap", "/callbacks/invalidate_range_start/3", "pte_clear", "invalidate_range_end",
                "/callbacks/invalidate_range_end/0", "/callbacks/invalidate_range_end/1", "/callbacks/invalidate_range_end/2",
                "/callbacks/invalidate_range_end/3", "frame_free",
            ]
        )
        #expect(world.violations.isEmpty)
    }

    @Test("a policy's invariant and assert: violations named policy:<name>")
    func policyInvariants() throws {
        let text = """
            {"name": "leaky", "vars": {"count": 0},
             "callbacks": {"invalidate_range_start": [{"inc": "count"}, {"zap": "range"}],
                           "invalidate_range_end": [{"assert": {"gt": [{"var": "count"}, 5]}, "name": "big"}]},
             "fault": [{"gup": {"write": false}}, {"install": {"writable": false}}, {"put_page": true}],
             "invariants": [{"name": "count-balanced", "when": "quiescent", "holds": {"eq": [{"var": "count"}, 0]}}]}
            """
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: text), signalPending: false, mmapSemHeld: false))
        #expect(lab.invariantsBroken.isEmpty)
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        #expect(Set(lab.invariantsBroken.map(\.rawValue)) == ["policy:count-balanced", "policy:big"])
    }

    @Test(
        "names resolve as DRIVERS.md reads them (a var, else a shared var, else a local of the frame), and an always invariant breaks at the statement that broke it, another driver's shared one too"
    )
    func namesAndAlwaysInvariants() throws {
        // The writer's invalidate_range_start takes the shared budget to 0 for one statement and
        // gives it back; the watcher, another driver, promises it stays positive. Locals: t and u
        // live in the frame (u from t), `seen` is the writer's own variable.
        let writer = """
            {"name": "writer", "vars": {"seen": 0}, "shared_vars": {"budget": 1},
             "callbacks": {"invalidate_range_start": [
                {"set": "t", "to": 5}, {"set": "u", "to": {"add": [{"local": "t"}, 2]}}, {"set": "seen", "to": {"local": "u"}},
                {"dec": "budget"}, {"zap": "range"}, {"inc": "budget"}]}}
            """
        let watcher = """
            {"name": "watcher", "shared_vars": {"budget": 1},
             "callbacks": {"invalidate_range_end": [{"zap": "range"}]},
             "invariants": [{"name": "budget-positive", "when": "always", "holds": {"gt": [{"shared": "budget"}, 0]}}]}
            """
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        for text in [writer, watcher] {
            lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: text), signalPending: false, mmapSemHeld: false))
        }
        #expect(lab.world.violations.isEmpty)
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        #expect(lab.world.variable("seen", of: 1) == 7)
        #expect(lab.world.variable("budget", of: 2) == 1)
        // The statements show what they set: 5, then 7, then 7, then the budget's 0.
        let statements = lab.world.trace.events.filter { $0.call == .driver && $0.driver == "writer" }
        #expect(statements.map(\.ret) == [5, 7, 7, 0, nil, 1])
        // Broken once (violations are kept once each), stamped with the dec's event, the
        // watcher's: the shared variable is checked for every driver that reads it.
        let broken = lab.world.violations.filter { $0.invariant.rawValue == "policy:budget-positive" }
        #expect(broken.count == 1)
        #expect(broken.first?.notifier == 2)
        #expect(broken.first?.seq == statements[3].seq)
    }

    @Test("a gup's answer in a variable the policy declares (ret) is checked in the step that wrote it, not at the task's end")
    func retVariableChecked() throws {
        // The gup of an unmapped page fails into its else: ret is -EFAULT, which the always
        // invariant forbids; the else's two statements write a local only.
        let text = """
            {"name": "retvar", "vars": {"ret": 0},
             "fault": [{"gup": {"write": false}, "else": [{"set": "t", "to": 1}, {"set": "t", "to": 2}]}],
             "invariants": [{"name": "ret-zero", "when": "always", "holds": {"eq": [{"var": "ret"}, 0]}}]}
            """
        var lab = Lab()
        _ = lab.mmap(1)
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: text), signalPending: false, mmapSemHeld: false))
        lab.run(.fault(mm: lab.mm, notifier: 1, address: 0x1000, write: false))
        #expect(lab.world.variable("ret", of: 1) == -Errno.EFAULT.number)
        let elses = lab.world.trace.events.filter { $0.call == .driver && $0.statement?.hasPrefix("/fault/0/else") == true }
        #expect(elses.count == 2)
        let broken = lab.world.violations.filter { $0.invariant.rawValue == "policy:ret-zero" }
        #expect(broken.count == 1)
        // Stamped in the step that failed the gup, with the last event then (the gup statement's;
        // the failure shows none), not at the task's end after the else.
        let gup = lab.world.trace.events.first { $0.call == .driver && $0.statement == "/fault/0" }
        #expect(gup != nil && broken.first?.seq == gup?.seq)
        #expect(broken.first.map { $0.seq < elses[1].seq } == true)
    }

    @Test("a spinlock held across a sleep is no-sleep-in-atomic; a lock taken twice by one task blocks it (a deadlock)")
    func locks() throws {
        let text = """
            {"name": "sleepy", "locks": {"l": "spinlock"},
             "callbacks": {"invalidate_range_start": [{"lock": "l"}, {"sleep": true}, {"unlock": "l"}]},
             "fault": [{"gup": {"write": false}}, {"install": {"writable": false}}, {"put_page": true}]}
            """
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: text), signalPending: false, mmapSemHeld: false))
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        #expect(lab.invariantsBroken == [.noSleepInAtomic])
        #expect(lab.world.violations.first?.message.contains("/callbacks/invalidate_range_start/1") == true)
    }

    @Test("a pinned gup's reference moves into the mapping and a zap with put drops it; without put the page leaks")
    func pins() throws {
        for put in [true, false] {
            let text = """
                {"name": "pinner", "callbacks": {"invalidate_range_start": [{"zap": "range", "put": \(put)}]},
                 "fault": [{"gup": {"write": true, "pin": true}}, {"install": {"writable": true}}]}
                """
            var lab = Lab()
            let a = lab.mmap(1)
            lab.write(a, value: 1)
            lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: text), signalPending: false, mmapSemHeld: false))
            lab.fault(1, a, write: true)
            let pfn = lab.pte(a).pfn
            #expect(lab.world.frames[pfn].refcount == 2)
            lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
            #expect(lab.world.frames[pfn].isAllocated == !put, "put \(put)")
        }
    }
}

@Suite("mmusim check: the built-in policies against the workload catalogue")
struct PolicyCheckTests {
    static func verdicts(_ name: String, variants: [String] = []) throws -> [String: PolicyCheck.Verdict] {
        let policy = try PolicyTests.builtin(name).applying(variants: variants)
        let verdicts = try PolicyCheck(policy).run()
        return Dictionary(uniqueKeysWithValues: verdicts.map { ($0.workload, $0) })
    }

    @Test(
        "kvm, gru, pinning and kvm-modern (on a modern core) are clean on every workload, explored to the end",
        arguments: ["kvm", "gru", "pinning", "kvm-modern"]
    )
    func clean(name: String) throws {
        let verdicts = try Self.verdicts(name)
        #expect(verdicts.count >= 12)
        for (workload, verdict) in verdicts {
            #expect(verdict.clean && !verdict.result.truncated, "\(name) \(workload): \(verdict.result.violations)")
            #expect(verdict.result.distinctStates > 5)
        }
    }

    @Test("kvm without its retry check breaks against munmap, with a ladder of the counterexample")
    func kvmSkipRetry() throws {
        let verdict = try #require(try Self.verdicts("kvm", variants: ["skip_retry_check"])["fault-vs-munmap"])
        #expect(!verdict.clean && verdict.result.violations["no-stale-spte"] != nil)
        let ladder = try #require(verdict.ladder)
        // The counterexample's spte, set up inside the munmap's window, and the violation it gave.
        #expect(ladder.contains("spte_set n1 kvm") && verdict.result.violations.keys.contains { ladder.contains("^-- \($0)") })
        #expect(ladder.split(separator: "\n").allSatisfy { $0.count <= 100 })
    }

    @Test("the unsafe driver maps freed pages; xpmem sleeps under v17's rcu_read_lock")
    func brokenBuiltins() throws {
        #expect(try Self.verdicts("unsafe")["fault-vs-munmap"]?.result.violations["no-stale-spte"] != nil)
        #expect(try Self.verdicts("xpmem")["fault-vs-munmap"]?.result.violations["no-sleep-in-atomic"] != nil)
    }

    @Test("the policy's world picks the core: the v17 release order breaks kvm in exit-vs-reclaim, the fixed one does not")
    func worldOptions() throws {
        let policy = try PolicyTests.builtin("kvm")
        let fixed = try PolicyCheck(policy).run(workloads: ["exit-vs-reclaim"])
        let v17 = try PolicyCheck(policy, releaseOrder: .v17).run(workloads: ["exit-vs-reclaim"])
        #expect(fixed.first?.clean == true)
        #expect(v17.first?.result.violations["no-stale-spte"] != nil)
        #expect(throws: CommandError.self) { try PolicyCheck(policy).run(workloads: ["no-such-workload"]) }
    }
}

@Suite("examples/drivers: each before breaks, each after is clean")
struct DriverExampleTests {
    static let folder = PolicyTests.folder.deletingLastPathComponent().appendingPathComponent("examples/drivers")

    /// The pairs of examples/drivers and of examples/drivers/modern (`modern/NAME`).
    static var pairs: [String] {
        ["", "modern/"].flatMap { sub in
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(sub).path)) ?? []
            return files.filter { $0.hasSuffix("-before.json") }.map { sub + String($0.dropLast("-before.json".count)) }
        }.sorted()
    }

    static func verdicts(_ file: String) throws -> [PolicyCheck.Verdict] {
        let policy = try Policy.load(text: String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8))
        return try PolicyCheck(policy).run()
    }

    @Test("the pairs are there: end-only, the gfn-to-pfn cache refresh, the release race and the hugetlb fork gap")
    func pairsExist() {
        #expect(Set(Self.pairs).isSuperset(of: ["end-only", "release-race", "hugetlb-fork", "gpc-refresh"]))
    }

    @Test("before: a violation or deadlock on some workload; after: clean on all", arguments: pairs)
    func pair(_ name: String) throws {
        let before = try Self.verdicts("\(name)-before.json")
        let after = try Self.verdicts("\(name)-after.json")
        #expect(before.contains { !$0.clean }, "\(name)-before is clean")
        #expect(after.allSatisfy { $0.clean }, "\(name)-after: \(after.filter { !$0.clean }.map(\.workload))")
    }

    @Test(
        "modern: each bug of the kernel's history is found where it was: the workload and the invariant (c2655835fd8c, 319561669a59, 6d7c3cde93c1, a sleep in a non-blockable range, a deadlock against mprotect)"
    )
    func modernVerdicts() throws {
        let expected: [(pair: String, workload: String, found: String)] = [
            ("c2655835-unpaired-end", "fault-vs-oom-reap", "policy:in-progress-balanced"),
            ("319561669a59-remove-race", "interval-remove-vs-munmap", "notifier-use-after-free"),
            ("6d7c3cde93c1-free-without-grace", "entry-close-vs-munmap", "notifier-use-after-free"),
            ("dmirror-nonblocking", "fault-vs-oom-reap", "no-sleep-in-atomic"),
            ("mutex-across-mmap-lock", "fault-vs-mprotect", "deadlock"),
        ]
        for (pair, workload, found) in expected {
            let verdicts = try Self.verdicts("modern/\(pair)-before.json")
            let verdict = try #require(verdicts.first { $0.workload == workload }, "\(pair): no workload \(workload)")
            let names = Set(verdict.result.violations.keys).union(verdict.result.deadlocks > 0 ? ["deadlock"] : [])
            #expect(names.contains(found), "\(pair) \(workload): \(names.sorted())")
        }
        // munmap downgrades mmap_lock to read before it unmaps (4.20): no deadlock there.
        let gpu = try Self.verdicts("modern/mutex-across-mmap-lock-before.json")
        #expect(gpu.first { $0.workload == "fault-vs-munmap" }?.clean == true)
    }

    @Test("the modern core-bug pairs run the built-in kvm-modern and dmirror themselves: only the description and the world differ")
    func sameModern() throws {
        func body(_ json: JSON) -> JSON { .object(json.members!.filter { !["description", "world", "variants"].contains($0.key) }) }
        for (name, driver) in [("c2655835-unpaired-end", "kvm-modern"), ("319561669a59-remove-race", "dmirror")] {
            let builtin = try JSON.parse(String(contentsOf: PolicyTests.folder.appendingPathComponent("\(driver).json"), encoding: .utf8))
            for side in ["before", "after"] {
                let text = try String(contentsOf: Self.folder.appendingPathComponent("modern/\(name)-\(side).json"), encoding: .utf8)
                #expect(body(try JSON.parse(text)) == body(builtin), "\(name)-\(side)")
            }
        }
    }

    @Test("the core-bug pairs run the built-in kvm policy itself: only the description and the world differ")
    func sameKVM() throws {
        let kvm = try JSON.parse(String(contentsOf: PolicyTests.folder.appendingPathComponent("kvm.json"), encoding: .utf8))
        func body(_ json: JSON) -> JSON { .object(json.members!.filter { $0.key != "description" && $0.key != "world" }) }
        for name in ["release-race", "hugetlb-fork"] {
            for side in ["before", "after"] {
                let text = try String(contentsOf: Self.folder.appendingPathComponent("\(name)-\(side).json"), encoding: .utf8)
                #expect(body(try JSON.parse(text)) == body(kvm), "\(name)-\(side)")
            }
        }
    }
}

@Suite("unregister and synchronize in a policy")
struct PolicyUnregisterTests {
    /// A driver whose entry `close` unregisters its notifier and frees it, in one order or the other.
    static func policy(freeFirst: Bool) throws -> Policy {
        let close = freeFirst ? #"[{"free_notifier": true}, {"unregister": "release"}]"# : #"[{"unregister": "release"}, {"free_notifier": true}]"#
        return try Policy.load(
            text: """
                {"name": "closer", "vars": {"count": 0},
                 "callbacks": {"release": [{"zap": "all"}],
                               "invalidate_range_start": [{"inc": "count"}, {"zap": "range"}],
                               "invalidate_range_end": [{"dec": "count"}]},
                 "entries": {"close": \(close)}}
                """
        )
    }

    @Test("close: unregister (its grace period waits for the walk) then free is clean; free then unregister is a use-after-free")
    func closeOrder() throws {
        let safe = try PolicyCheck(try Self.policy(freeFirst: false)).run(workloads: ["entry-close-vs-munmap"])
        #expect(safe.first?.clean == true, "\(String(describing: safe.first?.result.violations))")
        let unsafe = try PolicyCheck(try Self.policy(freeFirst: true)).run(workloads: ["entry-close-vs-munmap"])
        #expect(unsafe.first?.result.violations["notifier-use-after-free"] != nil, "\(String(describing: unsafe.first?.result.violations))")
    }

    @Test("the entry's unregister runs the core's steps: the release callback, the grace period, the notifier unregistered")
    func unregisterSteps() throws {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        lab.run(.registerPolicy(mm: lab.mm, policy: try Self.policy(freeFirst: false), signalPending: false, mmapSemHeld: false))
        let seq = lab.world.lastSeq
        lab.run(.entry(mm: lab.mm, notifier: 1, name: "close", address: a, write: false))
        let calls = lab.world.trace.events(after: seq).map { $0.statement ?? $0.call.rawValue }
        #expect(
            calls.contains("release") && calls.contains("grace_period") && calls.contains("unregister") && calls.last == "notifier_free",
            "\(calls)"
        )
        #expect(lab.world.notifier(1)?.state == .unregistered && lab.world.notifier(1)?.freed == true)
        #expect(lab.invariantsBroken.isEmpty)
    }
}
