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
    /// Stop after this many distinct states (checked after each breadth-first level).
    public var maxStates: Int?
    /// Partial-order reduction (absent: on).
    public var reduce: Bool?
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
    /// For each violated invariant, the number of places (mm, notifier, address) where a step
    /// broke it: the same with or without reduction, shards or jobs.
    public var violations: [String: Int] = [:]
    /// Distinct states in which every remaining task was blocked.
    public var deadlocks = 0
    /// True when a bound stopped the exploration before it was exhaustive.
    public var truncated = false
    /// The first schedule that broke an invariant.
    public var counterexample: Counterexample?
    /// The distinct locks_taken answers of register tasks at the ends of schedules.
    public var locksTaken: [Int] = []
    /// Whether partial-order reduction was on: fewer states and steps, the same verdict.
    public var reduced = false
    /// A shard's run: what the merge needs (nil when not sharded).
    public var findings: ShardFindings?

    /// Nothing explored yet.
    public init() {}
}

/// A schedule that breaks an invariant, and what it did.
public struct Counterexample: Codable, Hashable, Sendable {
    /// The task to step at each step (task ids as the explorer started them).
    public var schedule: [Int]
    /// The invariants broken, with their messages.
    public var violations: [Violation]
    /// The interleaved trace from the first step on.
    public var trace: [TraceEvent]

    /// A counterexample.
    public init(schedule: [Int], violations: [Violation], trace: [TraceEvent]) {
        self.schedule = schedule
        self.violations = violations
        self.trace = trace
    }
}

/// Why an exploration could not start.
public struct ExploreError: Error, Hashable, Sendable {
    /// One sentence naming the problem.
    public var message: String
}

/// Runs every interleaving of the atomic steps of 1 to 3 tasks, breadth first, cutting
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

    /// Explores breadth first (see `Search`). `shouldStop` is asked now and then (the
    /// caller's time budget: the model has no clock); `jobs` threads expand each level's states,
    /// with the same result whatever their number; `shard` explores one part of a partition of
    /// the states (`ExploreResult.merged` joins the parts).
    public func run(jobs: Int = 1, shard: Shard? = nil, reduce: Bool = true, shouldStop: () -> Bool = { false }) -> ExploreResult {
        var search = Search(explorer: self, jobs: max(1, jobs), shard: shard, reduce: reduce)
        return search.run(shouldStop: shouldStop)
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
    /// The state that matters for what can happen next: the trace and the event counter are
    /// history, not state, and are left out (and the step counts, but for whether a task has
    /// run a step at all, which queue_work reads of a worker: `sameState` compares only that).
    /// Two worlds with equal keys can do exactly the same things from here, and the search
    /// steps the keys themselves; it stores keys whole (a set of them, whose equality decides),
    /// so a hash collision can never cut a state.
    var stateKey: World {
        var copy = self
        copy.trace = .none
        copy.lastSeq = 0
        copy.tablesVisited = 0
        copy.current = 0
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
        for extra in found.subtracting(expected).sorted() { problems.append("\(extra) was violated at \(result.violations[extra]!) places") }
        if expected.isEmpty && result.truncated { problems.append("the exploration was cut short, so it does not show the absence of violations") }
        if let locksTaken, locksTaken != result.locksTaken {
            problems.append("expected locks_taken \(locksTaken), got \(result.locksTaken)")
        }
        return problems
    }
}
