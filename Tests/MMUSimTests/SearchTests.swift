import Foundation
import Testing

@testable import MMUSim

@Suite("The explorer's search: every core, shards and their merge")
struct SearchTests {
    static func explorer(_ name: String) throws -> Explorer {
        let url = ExplorerTests.folder.appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        return try Explorer(try ExplorerTests.load(name), drivers: Explorer.drivers(inText: text))
    }

    @Test("the result is the same whatever the number of threads: counts, violations, deadlocks, counterexample", arguments: ExplorerTests.files)
    func jobs(_ name: String) throws {
        let explorer = try Self.explorer(name)
        let one = explorer.run(jobs: 1)
        for jobs in [2, 3] {
            let many = explorer.run(jobs: jobs)
            #expect(
                many == one,
                "\(name) with \(jobs) jobs: \(many.violations) \(many.distinctStates) against \(one.violations) \(one.distinctStates)"
            )
        }
    }

    @Test(
        "shards 1/n to n/n merged give the whole run's verdict, violations by invariant, deadlocks, locks_taken and counterexample",
        arguments: ExplorerTests.files
    )
    func shards(_ name: String) throws {
        let explorer = try Self.explorer(name)
        let whole = explorer.run()
        for count in [2, 3] {
            let parts = (1...count).map { explorer.run(shard: Shard("\($0)/\(count)")!) }
            let merged = try explorer.merged(parts)
            #expect(merged.violations == whole.violations, "\(name) in \(count) shards")
            #expect(merged.deadlocks == whole.deadlocks && merged.locksTaken == whole.locksTaken && merged.truncated == whole.truncated)
            #expect(merged.counterexample == whole.counterexample, "\(name) in \(count) shards")
            // Shards share states: each explores at least one state, and together at least the whole's.
            #expect(merged.distinctStates >= whole.distinctStates)
        }
    }

    @Test("tasks that failed as they started (an unaligned munmap): one schedule, the empty one, and no step")
    func tasksDoneAtStart() {
        var world = World(WorldConfig(frames: 8, swapSlots: 0))
        let mm = world.createMM()
        let explorer = Explorer(spec: ExploreSpec(setup: [], tasks: []), world: world, tasks: [.munmap(mm: mm, addr: 1, length: pageSize)])
        let result = explorer.run()
        #expect(result.schedules == 1 && result.transitions == 0 && result.distinctStates == 1 && result.violations.isEmpty)
    }

    @Test("a merge takes every shard of one partition once, and only shards")
    func mergeRefusesParts() throws {
        let explorer = try Self.explorer("05-register-vs-munmap.json")
        let first = explorer.run(shard: Shard("1/2")!)
        let second = explorer.run(shard: Shard("2/2")!)
        #expect(throws: ExploreError.self) { try explorer.merged([first]) }
        #expect(throws: ExploreError.self) { try explorer.merged([first, first]) }
        #expect(throws: ExploreError.self) { try explorer.merged([first, explorer.run()]) }
        #expect(throws: ExploreError.self) { try explorer.merged([first, second, explorer.run(shard: Shard("3/3")!)]) }
        #expect(throws: ExploreError.self) { try explorer.merged([first, explorer.run(shard: Shard("2/2")!, reduce: false)]) }
        #expect(try explorer.merged([second, first]).violations == explorer.run().violations)
        #expect(Shard("0/2") == nil && Shard("3/2") == nil && Shard("1/0") == nil && Shard("1") == nil && Shard("2/2")?.index == 2)
    }

    @Test("the search's state equality names every stored field of World and of a task, and reads step counts as history")
    func sameStateCoversWorld() throws {
        var world = World(WorldConfig(frames: 8, swapSlots: 4))
        let mm = world.createMM()
        let fields = Mirror(reflecting: world).children.compactMap(\.label)
        let named = World.sameStateFields + World.notStateFields
        #expect(Set(fields) == Set(named), "World's stored fields \(fields): sameState must compare each, or name it as no state")
        #expect(fields.count == named.count && Set(World.sameStateFields).isDisjoint(with: World.notStateFields))
        var started = world
        let id = started.start(.munmap(mm: mm, addr: mmapBase, length: pageSize))
        let task = try #require(started.tasks.first { $0.id == id })
        func labels(_ value: Any) -> [String] {
            Mirror(reflecting: value).children.compactMap { $0.label.map { $0.hasPrefix("_") ? String($0.dropFirst()) : $0 } }
        }
        // A task's own fields and those of its state, the box they share.
        let taskFields = labels(task).filter { $0 != "storage" } + labels(task.state)
        let taskNamed = TaskStruct.sameStateFields + TaskStruct.notStateFields
        #expect(Set(taskFields) == Set(taskNamed) && taskFields.count == taskNamed.count, "\(taskFields)")
        #expect(Set(TaskStruct.sameStateFields).isDisjoint(with: TaskStruct.notStateFields))
        var other = world
        #expect(world.sameState(other) && world == other)
        _ = other.perform(.mmap(mm: mm, addr: nil, length: pageSize, prot: [.read, .write], flags: MmapFlags(), file: nil, offset: 0))
        #expect(!world.sameState(other) && world != other)
        // A task's step count is history, but for whether it ran a step at all (queue_work reads
        // that of a worker): == tells the counts apart, sameState only 0 from the rest.
        var once = started
        once.tasks[0].stepsRun = 1
        var thrice = started
        thrice.tasks[0].stepsRun = 3
        #expect(once.sameState(thrice) && once != thrice)
        #expect(!started.sameState(once))
        // A result equal in value, in a box of its own, is the same state.
        var reboxed = started
        reboxed.tasks[0].result = started.tasks[0].result
        reboxed.tasks[0].result.ret = started.tasks[0].result.ret
        #expect(reboxed.sameState(started))
        reboxed.tasks[0].result.ret = -1
        #expect(!reboxed.sameState(started))
    }

    @Test("a copy of a world shares each task's state until a step changes it; the copy keeps what it had")
    func taskStateCopiedOnWrite() throws {
        var world = World(WorldConfig(frames: 8, swapSlots: 4))
        let mm = world.createMM()
        _ = world.perform(.mmap(mm: mm, addr: nil, length: 2 * pageSize, prot: [.read, .write], flags: MmapFlags(), file: nil, offset: 0))
        let munmap = world.start(.munmap(mm: mm, addr: mmapBase, length: pageSize))
        let touch = world.start(.touch(mm: mm, addr: mmapBase + pageSize, length: pageSize, write: true, value: 7))
        let before = world
        let index = try #require(world.tasks.firstIndex { $0.id == munmap })
        #expect(world.tasks.indices.allSatisfy { world.tasks[$0].sharesState(with: before.tasks[$0]) })
        #expect(world.step(munmap) != .done)
        // The stepped task has a state of its own; the other still shares its box.
        #expect(!world.tasks[index].sharesState(with: before.tasks[index]))
        #expect(world.tasks[index].stepsRun == 1 && before.tasks[index].stepsRun == 0)
        #expect(world.tasks[index].program != before.tasks[index].program)
        let other = try #require(world.tasks.firstIndex { $0.id == touch })
        #expect(world.tasks[other].sharesState(with: before.tasks[other]))
        // The copy runs on from where it was, as if the step had never been taken.
        var replay = before
        #expect(replay.step(munmap) != .done && replay.sameState(world))
    }

    @Test("a deadlock is found and counted once however the shards split it")
    func deadlockShards() throws {
        // dmirror beside a subscriber that refuses non-blockable ranges: the OOM reaper's failed
        // classic start leaves the mm's seq odd, and every later read_begin sleeps for good.
        let dmirror = try String(contentsOf: PolicyTests.folder.appendingPathComponent("dmirror.json"), encoding: .utf8)
        let text = #"{"world": {"drivers": ["# + ModernCoreTests.refuser + "]}," + dmirror.drop { $0 != "{" }.dropFirst()
        let check = try PolicyCheck(try Policy.load(text: text))
        let verdict = try #require(try check.run(workloads: ["fault-vs-oom-reap"]).first)
        #expect(verdict.result.deadlocks > 0)
        let explorer = check.explorer(for: "fault-vs-oom-reap")!
        let parts = (1...2).map { explorer.run(shard: Shard("\($0)/2")!) }
        let merged = try explorer.merged(parts)
        #expect(merged.deadlocks == verdict.result.deadlocks && merged.violations == verdict.result.violations)
    }
}

@Suite("Partial-order reduction: the same verdict as every interleaving")
struct ReductionTests {
    /// What must not change: the places each invariant broke at, the deadlocked states, the
    /// locks_taken answers and the (shortest) counterexample.
    static func verdict(_ result: ExploreResult) -> String {
        let counterexample = result.counterexample.map { "\($0.schedule) \($0.violations.map(\.message))" } ?? "none"
        return "\(result.violations.sorted { $0.key < $1.key }) deadlocks \(result.deadlocks) locks \(result.locksTaken) \(counterexample)"
    }

    @Test("each explorer example: the same verdict, and no more states or steps", arguments: ExplorerTests.files)
    func examples(_ name: String) throws {
        let explorer = try SearchTests.explorer(name)
        let full = explorer.run(reduce: false)
        let reduced = explorer.run()
        #expect(reduced.reduced && !full.reduced && !full.truncated && !reduced.truncated)
        #expect(Self.verdict(reduced) == Self.verdict(full), "\(name)")
        #expect(reduced.distinctStates <= full.distinctStates && reduced.transitions <= full.transitions)
    }

    @Test(
        "sleep sets alone (no step taken alone) reach every state of every interleaving, with fewer steps on some example, and the same verdict",
        arguments: ExplorerTests.files
    )
    func sleepSetsKeepStates(_ name: String) throws {
        let explorer = try SearchTests.explorer(name)
        let full = explorer.run(reduce: false)
        var search = Search(explorer: explorer, jobs: 2, shard: nil, reduce: true)
        search.takesStepsAlone = false
        let sleeping = search.run(shouldStop: { false })
        #expect(sleeping.distinctStates == full.distinctStates, "\(name)")
        #expect(sleeping.transitions <= full.transitions)
        #expect(Self.verdict(sleeping) == Self.verdict(full), "\(name)")
    }

    @Test("sleep sets alone take fewer steps than every interleaving on the release race and the clean unregister examples")
    func sleepSetsCutSteps() throws {
        for name in ["04-unregister-clean.json", "01-release-v17.json"] {
            let explorer = try SearchTests.explorer(name)
            var search = Search(explorer: explorer, jobs: 1, shard: nil, reduce: true)
            search.takesStepsAlone = false
            #expect(search.run(shouldStop: { false }).transitions < explorer.run(reduce: false).transitions, "\(name)")
        }
    }

    /// Two tasks, each on an mm of its own with one written page: `op` on each.
    static func twoMMs(_ op: String) throws -> Explorer {
        let setup = (1...2).map { mm in
            #"{"op": "create_mm"}, {"op": "mmap", "mm": \#(mm), "addr": "0x7f0000000000", "length": 4096, "prot": "rw", "flags": ["private", "anonymous"]}, "#
                + #"{"op": "touch", "mm": \#(mm), "addr": "0x7f0000000000", "write": true, "value": 1}"#
        }
        let tasks = (1...2).map { #"{"op": "\#(op)", "mm": \#($0), "addr": "0x7f0000000000", "length": 4096, "prot": "r"}"# }
        let text = #"{"setup": [\#(setup.joined(separator: ", "))], "tasks": [\#(tasks.joined(separator: ", "))]}"#
        return try Explorer(try snakeCaseDecoder().decode(ExploreSpec.self, from: Data(text.utf8)))
    }

    @Test(
        "core steps commute when running them in both orders says so: two mprotects of two mms reach each state by one step; two munmaps do not, their frees order the free list"
    )
    func coreStepsCommuteByRunning() throws {
        // mprotect (mm/mprotect.c change_protection) takes its own mm's mmap_sem and page table
        // lock and writes its own pte: nothing of the other mm's. Sleep sets with every pair of
        // its steps independent explore a grid of states by a spanning tree: one step a state.
        let mprotect = try Self.twoMMs("mprotect")
        var search = Search(explorer: mprotect, jobs: 1, shard: nil, reduce: true)
        search.takesStepsAlone = false
        let sleeping = search.run(shouldStop: { false })
        let full = mprotect.run(reduce: false)
        #expect(sleeping.distinctStates == full.distinctStates && full.transitions > full.distinctStates)
        #expect(sleeping.transitions == sleeping.distinctStates)
        // munmap's pages go back to the free list at tlb_finish_mmu (free_pages_and_swap_cache,
        // mm/swap_state.c, from the mmu_gather): two frees in either order leave it in another
        // order, another state, so those steps stay dependent.
        let munmap = try Self.twoMMs("munmap")
        var both = Search(explorer: munmap, jobs: 1, shard: nil, reduce: true)
        both.takesStepsAlone = false
        let sleepingMunmap = both.run(shouldStop: { false })
        #expect(sleepingMunmap.distinctStates == munmap.run(reduce: false).distinctStates)
        #expect(sleepingMunmap.transitions > sleepingMunmap.distinctStates)
    }

    /// Every workload of every built-in driver and of every policy of examples/drivers.
    static var policies: [String] {
        BuiltinDrivers.names.map { "drivers/\($0).json" }
            + DriverExampleTests.pairs.flatMap { ["examples/drivers/\($0)-before.json", "examples/drivers/\($0)-after.json"] }
    }

    @Test(
        "each workload of each driver policy and example pair: the same verdict; sleep sets alone reach every state",
        arguments: policies
    )
    func policy(_ file: String) throws {
        let root = PolicyTests.folder.deletingLastPathComponent()
        let check = try PolicyCheck(try Policy.load(text: String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)))
        for workload in PolicyCheck.catalogue(for: check.policy).map(\.name) {
            let explorer = try #require(check.explorer(for: workload))
            let full = explorer.run(reduce: false)
            let reduced = explorer.run()
            #expect(Self.verdict(reduced) == Self.verdict(full), "\(file) \(workload)")
            #expect(reduced.distinctStates <= full.distinctStates && reduced.transitions <= full.transitions)
            // The independence the sleep sets use (Reduction.swift) loses no state on any workload.
            var search = Search(explorer: explorer, jobs: 1, shard: nil, reduce: true)
            search.takesStepsAlone = false
            let sleeping = search.run(shouldStop: { false })
            #expect(sleeping.distinctStates == full.distinctStates, "\(file) \(workload)")
            #expect(Self.verdict(sleeping) == Self.verdict(full), "\(file) \(workload)")
        }
    }
}

/// Which steps the reduction takes alone, on issue 18's benchmark of three tasks under
/// kvm-modern (bench/explore/three-tasks-kvm-modern.json: a secondary fault, munmap, reclaim).
@Suite("Partial-order reduction: the steps taken alone")
struct ReducibleStepTests {
    static func threeTasks() throws -> Explorer {
        let url = ExplorerTests.folder.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("bench/explore/three-tasks-kvm-modern.json")
        return try Explorer(try snakeCaseDecoder().decode(ExploreSpec.self, from: Data(contentsOf: url)))
    }

    /// The action of the driver statement task `id` runs next, if that is one.
    static func nextAction(_ world: World, _ id: Int) -> Statement.Action? {
        guard case .driverStatement(let node, let statement, _)? = world.task(id)?.program.last else { return nil }
        return world.policies[world.notifiers[node - 1].policy].code[statement].statement.action
    }

    @Test(
        "a secondary fault's gup (get_user_pages_unlocked: mmap_read_lock first, mm/gup.c) is taken alone once no other task can take mmap_sem for write, and changes the task's own state alone"
    )
    func gupAlone() throws {
        let explorer = try Self.threeTasks()
        let search = Search(explorer: explorer, jobs: 1, shard: nil, reduce: true)
        let (fault, munmap) = (explorer.taskIDs[0], explorer.taskIDs[1])
        var world = explorer.initial
        func atGup(_ world: World) -> Bool {
            if case .gup? = Self.nextAction(world, fault) { return true }
            return false
        }
        while !atGup(world) { _ = world.step(fault) }
        // munmap's mmap_write_lock is still ahead of it: the gup's read lock conflicts with it.
        #expect(!search.isReducible(world, task: fault))
        while world.task(munmap)?.status != .done { _ = world.step(munmap) }
        #expect(search.isReducible(world, task: fault))
        var next = world
        // The statement expands into its first step, which runs.
        #expect(next.step(fault) == .ran("lock:mmap_sem"))
        #expect(next.task(fault)?.locks == [.mmapSem(mm: 1, write: false)])
        #expect(Search.changedOwnStateOnly(world, next, task: fault))
    }

    /// Runs task `id` alone to its end from `world`, noting for each step (by name; a driver
    /// statement by its callback and action, the core's call of a callback by its kind) whether
    /// the search takes it alone.
    static func walk(_ id: Int, from world: World, _ search: Search) throws -> [String: Bool] {
        var world = world
        var alone: [String: Bool] = [:]
        while world.task(id)?.status != .done {
            let task = try #require(world.task(id))
            let callback = task.scratch.driverFrames.last?.callback?.rawValue ?? "-"
            var name = task.program.last?.name ?? "-"
            if let action = Self.nextAction(world, id) { name = "\(callback) \(action)" }
            if case .callback(let call, _)? = task.program.last { name = "call \(call.kind.rawValue)" }
            alone[name] = search.isReducible(world, task: id)
            _ = world.step(id)
        }
        return alone
    }

    @Test(
        "munmap's walk under kvm-modern: the core's call of invalidate_range_start, the end of the start's walk (mn_hlist_invalidate_range_start) and the range_end's last unlock with its return are taken alone; the start's return (it opens the window) is not, nor the range_end call (it closes it) while the fault may still install"
    )
    func walkSteps() throws {
        let explorer = try Self.threeTasks()
        let search = Search(explorer: explorer, jobs: 1, shard: nil, reduce: true)
        let (fault, munmap) = (explorer.taskIDs[0], explorer.taskIDs[1])
        let alone = try Self.walk(munmap, from: explorer.initial, search)
        #expect(alone["call invalidate_range_start"] == true)
        #expect(alone["call invalidate_range_end"] == false)
        #expect(alone["mn_hlist_invalidate_range_start"] == true)
        #expect(alone["invalidate_range_start ret(MMUSim.Expr.int(0))"] == false)
        #expect(alone["invalidate_range_end unlock(\"mmu_lock\")"] == true)
        // The start's unlock is no last statement (its return follows): alone as before.
        #expect(alone["invalidate_range_start unlock(\"mmu_lock\")"] == true)
        // Once the fault has installed its spte and ended, nobody reads the window the end closes.
        var faulted = explorer.initial
        while faulted.task(fault)?.status != .done { _ = faulted.step(fault) }
        #expect(try Self.walk(munmap, from: faulted, search)["call invalidate_range_end"] == true)
    }

    @Test("reclaim's anon_vma lock (page_referenced, try_to_unmap: the rmap walk) is taken alone when no other task walks the rmap")
    func anonVMAAlone() throws {
        let explorer = try Self.threeTasks()
        let search = Search(explorer: explorer, jobs: 1, shard: nil, reduce: true)
        let alone = try Self.walk(explorer.taskIDs[2], from: explorer.initial, search)
        #expect(alone["lock:anon_vma"] == true)
        // A second reclaim walks the same anon_vma.
        var spec = try snakeCaseDecoder().decode(
            ExploreSpec.self,
            from: Data(
                contentsOf: ExplorerTests.folder.deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("bench/explore/three-tasks-kvm-modern.json")
            )
        )
        spec.tasks[0] = spec.tasks[2]
        let two = try Explorer(spec)
        let twoSearch = Search(explorer: two, jobs: 1, shard: nil, reduce: true)
        #expect(try Self.walk(two.taskIDs[2], from: two.initial, twoSearch)["lock:anon_vma"] == false)
    }
}

@Suite("Radix tables compare by their entries")
struct RadixTableIdentityTests {
    @Test("two tables with the same entries are equal and hash alike, however their tables were allocated and freed")
    func layoutIsNotState() throws {
        var a = RadixTable()
        var b = RadixTable()
        // b allocates a leaf for a block it then empties, so its leaf for 0x200 sits elsewhere.
        b.set(0x10_0000, 9)
        a.set(0x200, 1)
        b.set(0x200, 1)
        b.set(0x10_0000, 0)
        a.set(0x201, 2)
        b.set(0x201, 2)
        #expect(a == b && a.hashValue == b.hashValue)
        b.update(from: 0x201, to: 0x202) { _, entry in entry + 1 }
        #expect(a != b)
        a.set(0x201, 3)
        #expect(a == b && a.hashValue == b.hashValue)
        a.removeAll(from: 0, to: RadixTable.pages) { _, _ in }
        #expect(a == RadixTable() && a.hashValue == RadixTable().hashValue)
        // Decoding sums the entries' hash again.
        let decoded = try JSONDecoder().decode(RadixTable.self, from: JSONEncoder().encode(b))
        #expect(decoded == b && decoded.hashValue == b.hashValue)
        #expect(b.hasLeaf(for: 0x200) && !b.hasLeaf(for: 0x10_0000))
    }

    @Test("a table encodes its upper tables as a list of 512-entry tables (kept in one array), and a table of another size does not decode")
    func encodedTables() throws {
        var table = RadixTable()
        table.set(0x200, 7)
        table.set(1 << 27, 8)
        let object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(table)) as? [String: Any])
        let uppers = try #require(object["uppers"] as? [[Int]])
        // The root, and for 0x200 and 1 << 27 a PUD and a PMD each: five tables.
        #expect(uppers.count == 5 && uppers.allSatisfy { $0.count == 512 })
        #expect(uppers[0].filter { $0 != 0 }.count == 2)
        let leaves = try #require(object["leaves"] as? [[Int]])
        #expect(leaves.count == 2 && leaves.allSatisfy { $0.count == 512 })
        let decoded = try JSONDecoder().decode(RadixTable.self, from: JSONEncoder().encode(table))
        #expect(decoded == table && decoded.get(0x200) == 7 && decoded.get(1 << 27) == 8 && decoded.get(0x201) == 0)
        var short = object
        short["uppers"] = [Array(uppers[0].prefix(511))] + uppers.dropFirst()
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(RadixTable.self, from: JSONSerialization.data(withJSONObject: short))
        }
    }
}
