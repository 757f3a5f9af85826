/// What to explore: a world, the commands that set it up, and the 2 or 3 operations whose
/// atomic steps are interleaved in every possible order.
public struct ExploreSpec: Codable, Hashable, Sendable {
    /// What the file says it shows.
    public var description: String?
    /// Frames of the world (small worlds explore fast).
    public var frames: Int?
    /// Swap slots of the world.
    public var swapSlots: Int?
    /// The exit_mmap release ordering.
    public var releaseOrder: ReleaseOrder?
    /// The core bugs on (absent: the kernel's: the v17 seed's, or none in a modern world).
    public var coreBugs: [String]?
    /// The kernel the world runs: v17 (absent) or modern.
    public var kernel: KernelVersion?
    /// Commands run to completion, one after the other, before the exploration, on a new
    /// world. Absent: over HTTP (POST /explore), a copy of the live world, as it is; in a
    /// file, a new world with nothing set up.
    public var setup: [Command]?
    /// The concurrent operations.
    public var tasks: [Command]
    /// Stop after this many complete schedules.
    public var maxSchedules: Int?
    /// Do not explore schedules longer than this many steps.
    public var maxDepth: Int?
    /// Stop after this many distinct states.
    public var maxStates: Int?
    /// The verdict the file expects: the invariants that must be violated (empty: clean).
    public var expect: Expectation?

    /// The verdict an explorer file expects.
    public struct Expectation: Codable, Hashable, Sendable {
        /// The invariants some schedule must violate; no other may be violated.
        public var violations: [String]
        /// For register tasks: the locks_taken values the schedules must produce.
        public var locksTaken: [Int]?
    }

    /// Creates a spec.
    public init(setup: [Command], tasks: [Command], frames: Int? = nil, releaseOrder: ReleaseOrder? = nil) {
        self.setup = setup
        self.tasks = tasks
        self.frames = frames
        self.releaseOrder = releaseOrder
    }
}

/// What an exploration found.
public struct ExploreResult: Codable, Hashable, Sendable {
    /// Schedules run to their end (every task finished, a violation, or a deadlock).
    public var schedules = 0
    /// Distinct world states reached.
    public var distinctStates = 0
    /// Steps run in all.
    public var transitions = 0
    /// For each violated invariant, the number of schedules that ended in it.
    public var violations: [String: Int] = [:]
    /// Schedules in which every remaining task was blocked.
    public var deadlocks = 0
    /// True when a bound stopped the exploration before it was exhaustive.
    public var truncated = false
    /// The first schedule that broke an invariant.
    public var counterexample: Counterexample?
    /// The distinct locks_taken answers of register tasks at the ends of schedules.
    public var locksTaken: [Int] = []
}

/// A schedule that breaks an invariant, and what it did.
public struct Counterexample: Codable, Hashable, Sendable {
    /// The task to step at each step (task ids as the explorer started them).
    public var schedule: [Int]
    /// The invariants broken, with their messages.
    public var violations: [Violation]
    /// The interleaved trace from the first step on.
    public var trace: [TraceEvent]
}

/// Why an exploration could not start.
public struct ExploreError: Error, Hashable, Sendable {
    /// One sentence naming the problem.
    public var message: String
}

/// Runs every interleaving of the atomic steps of 2 or 3 tasks, depth first, cutting
/// schedules that reach a state already explored, and checks every invariant after each
/// step (the world's checker runs inside each step).
public struct Explorer: Sendable {
    /// The spec explored.
    public let spec: ExploreSpec
    /// The world after setup, with the tasks started but not stepped.
    public let initial: World
    /// The ids of the started tasks, in the spec's order.
    public let taskIDs: [Int]

    /// The `drivers` of an explorer or scenario file's text (name → driver policy), read with
    /// the model's own JSON reader so that each policy's variants keep their order.
    public static func drivers(inText text: String) throws(ExploreError) -> [String: Policy] {
        guard let document = try? JSON.parse(text), let value = document["drivers"], value != .null else { return [:] }
        guard let members = value.members else {
            throw ExploreError(message: "'drivers' is an object of driver policies by name, not \(value.typeName)")
        }
        var drivers: [String: Policy] = [:]
        for (name, value) in members {
            do throws(PolicyError) {
                drivers[name] = try Policy.load(value)
            } catch {
                throw ExploreError(message: "/drivers/\(name)\(error.pointer): \(error.message)")
            }
        }
        return drivers
    }

    /// The operation of a command, a `register` of one of `drivers` (by its `kind`, its
    /// `bugs` the variants) among them.
    public static func operation(_ command: Command, drivers: [String: Policy]) throws(CommandError) -> Operation? {
        guard command.op == "register", let kind = command.kind, let base = drivers[kind] else { return try command.operation() }
        let policy: Policy
        do throws(PolicyError) {
            policy = try base.applying(variants: command.bugs ?? [])
        } catch {
            throw CommandError("driver \(kind): \(error.pointer) \(error.message)", code: "invalid_value")
        }
        guard let mm = command.mm else { throw CommandError("register needs 'mm'") }
        return .registerPolicy(mm: mm, policy: policy, signalPending: command.signalPending ?? false, mmapSemHeld: command.mmapSemHeld ?? false)
    }

    /// Builds the initial world: runs the setup commands and starts the tasks; a `register`
    /// may name one of `drivers` (the file's own driver policies) as its kind.
    public init(_ spec: ExploreSpec, drivers: [String: Policy] = [:]) throws(ExploreError) {
        guard (1...3).contains(spec.tasks.count) else { throw ExploreError(message: "an exploration takes 1 to 3 tasks, not \(spec.tasks.count)") }
        var config = WorldConfig(frames: spec.frames ?? 64, swapSlots: spec.swapSlots ?? 64, traceCapacity: 100_000)
        do {
            try config.apply(kernel: spec.kernel, releaseOrder: spec.releaseOrder, coreBugs: spec.coreBugs)
        } catch {
            throw ExploreError(message: error.message)
        }
        var world = World(config)
        for (index, command) in (spec.setup ?? []).enumerated() {
            do {
                let task: TaskStruct?
                if let operation = try Self.operation(command, drivers: drivers) {
                    task = world.apply(.perform(operation, pauseAt: nil)).task
                } else {
                    task = try world.apply(command).task
                }
                if let task, task.status != .done {
                    throw ExploreError(message: "setup step \(index + 1) (\(command.op)) did not finish: it is \(task.status.rawValue)")
                }
            } catch let error as CommandError {
                throw ExploreError(message: "setup step \(index + 1): \(error.message)")
            } catch let error as ExploreError {
                throw error
            } catch {
                throw ExploreError(message: "setup step \(index + 1): \(error)")
            }
        }
        try self.init(spec, from: world, drivers: drivers)
    }

    /// The exploration of `spec`'s tasks started on a copy of `world` as it is (its setup is
    /// not used): "explore from here".
    public init(_ spec: ExploreSpec, from world: World, drivers: [String: Policy] = [:]) throws(ExploreError) {
        guard (1...3).contains(spec.tasks.count) else { throw ExploreError(message: "an exploration takes 1 to 3 tasks, not \(spec.tasks.count)") }
        var operations: [Operation] = []
        for (index, command) in spec.tasks.enumerated() {
            let operation: Operation?
            do {
                operation = try Self.operation(command, drivers: drivers)
            } catch {
                throw ExploreError(message: "task \(index + 1): \(error.message)")
            }
            guard let operation else { throw ExploreError(message: "task \(index + 1): create_mm is not an operation to interleave") }
            operations.append(operation)
        }
        self.init(spec: spec, world: world, tasks: operations)
    }

    /// Explores `tasks` started on a copy of `world` (set up already), with the bounds and
    /// expectation of `spec` (its setup and tasks are not used).
    public init(spec: ExploreSpec, world: World, tasks: [Operation]) {
        var world = world
        self.spec = spec
        taskIDs = tasks.map { world.start($0) }
        initial = world
    }

    /// Explores. `shouldStop` is asked now and then (the caller's time budget: the model has
    /// no clock).
    public func run(shouldStop: () -> Bool = { false }) -> ExploreResult {
        var result = ExploreResult()
        // The states themselves, not their hashes: equality decides, so no collision can cut a state.
        var seen = Set<World>()
        var path: [Int] = []
        let maxSchedules = spec.maxSchedules ?? Int.max
        let maxDepth = spec.maxDepth ?? 10_000
        let maxStates = spec.maxStates ?? 1_000_000
        var locks = Set<Int>()

        // Depth-first with an explicit stack of (world, the tasks still to try from it).
        struct Frame {
            var world: World
            var choices: [Int]
        }
        seen.insert(initial.stateKey)
        var stack = [Frame(world: initial, choices: taskIDs.reversed())]
        while var frame = stack.popLast() {
            if result.schedules >= maxSchedules || seen.count >= maxStates || (result.transitions % 256 == 0 && shouldStop()) {
                result.truncated = true
                break
            }
            guard let task = frame.choices.popLast() else {
                if !path.isEmpty { path.removeLast() }
                continue
            }
            stack.append(frame)
            var next = frame.world
            // A step that only finishes the task (its last macros expand to nothing) counts too.
            if case .blocked = next.step(task) { continue }
            result.transitions += 1
            path.append(task)
            let broken = next.violations.count > initial.violations.count
            // The tasks of the spec, and the workers their drivers queued meanwhile.
            let runnable = taskIDs.filter { next.task($0)?.status != .done } + next.tasks.filter { $0.isWorker && $0.status != .done }.map(\.id)
            if broken || runnable.isEmpty || path.count >= maxDepth {
                result.schedules += 1
                if path.count >= maxDepth && !broken && !runnable.isEmpty { result.truncated = true }
                if broken {
                    for invariant in Set(next.violations.map(\.invariant.rawValue)) { result.violations[invariant, default: 0] += 1 }
                    if result.counterexample == nil {
                        result.counterexample = Counterexample(
                            schedule: path,
                            violations: Array(next.violations[initial.violations.count...]),
                            trace: next.trace.events(after: initial.lastSeq)
                        )
                    }
                } else if runnable.isEmpty {
                    for id in taskIDs { if let taken = next.task(id)?.result.locksTaken { locks.insert(taken) } }
                }
                path.removeLast()
                continue
            }
            guard seen.insert(next.stateKey).inserted else {
                path.removeLast()
                continue
            }
            // A state where no task can move is a deadlock.
            if !runnable.contains(where: { id in
                var probe = next
                if case .blocked = probe.step(id) { return false }
                return true
            }) {
                result.deadlocks += 1
                result.schedules += 1
                path.removeLast()
                continue
            }
            stack.append(Frame(world: next, choices: runnable.reversed()))
        }
        result.distinctStates = seen.count
        result.locksTaken = locks.sorted()
        // The counterexample a reviewer reads: a shortest one, the smallest schedule of task ids
        // among those (the same whatever order the search met them in).
        if result.counterexample != nil, let shortest = shortestCounterexample(maxStates: maxStates, shouldStop: shouldStop) {
            result.counterexample = shortest
        }
        return result
    }

    /// Breadth first, the tasks of each state tried in increasing id: the first violating
    /// schedule met has the fewest steps and, among those, the smallest sequence of task ids (a
    /// state is kept with the first, smallest path that reached it, so no smaller schedule is
    /// cut). Nil when the bounds stop it first.
    func shortestCounterexample(maxStates: Int, shouldStop: () -> Bool) -> Counterexample? {
        var seen: Set<World> = [initial.stateKey]
        var level: [(world: World, path: [Int])] = [(initial, [])]
        var visited = 0
        while !level.isEmpty {
            var next: [(world: World, path: [Int])] = []
            for (world, path) in level {
                visited += 1
                if seen.count >= maxStates || (visited % 256 == 0 && shouldStop()) { return nil }
                let runnable =
                    (taskIDs.filter { world.task($0)?.status != .done } + world.tasks.filter { $0.isWorker && $0.status != .done }.map(\.id))
                    .sorted()
                for task in runnable {
                    var after = world
                    if case .blocked = after.step(task) { continue }
                    if after.violations.count > initial.violations.count {
                        return Counterexample(
                            schedule: path + [task],
                            violations: Array(after.violations[initial.violations.count...]),
                            trace: after.trace.events(after: initial.lastSeq)
                        )
                    }
                    guard seen.insert(after.stateKey).inserted else { continue }
                    next.append((after, path + [task]))
                }
            }
            level = next
        }
        return nil
    }

    /// Replays a schedule from the initial world and returns the world it ends in; the
    /// trace from the first step on is `world.trace.events(after: initial.lastSeq)`.
    public func replay(_ schedule: [Int]) -> World {
        var world = initial
        for task in schedule { _ = world.step(task) }
        return world
    }
}

extension World {
    /// The state that matters for what can happen next: the trace, the event counter and the
    /// step counts are history, not state, and are left out. Two worlds with equal keys can do
    /// exactly the same things from here; the explorer stores keys whole (a `Set<World>`,
    /// whose equality decides), so a hash collision can never cut a state.
    var stateKey: World {
        var copy = self
        copy.trace = TraceLog(capacity: 1)
        copy.lastSeq = 0
        copy.tablesVisited = 0
        copy.current = 0
        for index in copy.tasks.indices { copy.tasks[index].stepsRun = 0 }
        return copy
    }
}

extension ExploreSpec.Expectation {
    /// What in `result` differs from this expectation, one sentence each; empty when it holds.
    public func mismatches(_ result: ExploreResult) -> [String] {
        var problems: [String] = []
        let found = Set(result.violations.keys)
        let expected = Set(violations)
        for missing in expected.subtracting(found).sorted() { problems.append("expected a violation of \(missing); no schedule broke it") }
        for extra in found.subtracting(expected).sorted() { problems.append("\(extra) was violated in \(result.violations[extra]!) schedules") }
        if expected.isEmpty && result.truncated { problems.append("the exploration was cut short, so it does not show the absence of violations") }
        if let locksTaken, locksTaken != result.locksTaken {
            problems.append("expected locks_taken \(locksTaken), got \(result.locksTaken)")
        }
        return problems
    }
}
