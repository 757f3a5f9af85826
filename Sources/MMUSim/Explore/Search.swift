import Dispatch

/// One part of a partition of an exploration: `index` of `count`, from 1.
public struct Shard: Codable, Hashable, Sendable, CustomStringConvertible {
    /// Which part, from 1.
    public var index: Int
    /// How many parts.
    public var count: Int

    /// `i/n`, with 1 <= i <= n.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (1...count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// `i/n`.
    public var description: String { "\(index)/\(count)" }
}

/// What a shard found, kept so that the merge counts each violating step and each deadlock
/// once however many shards met it: shards share states (a state reachable from the roots of
/// two shards is explored by both), so their counts do not add up.
public struct ShardFindings: Codable, Hashable, Sendable {
    /// Which shard.
    public var shard: Shard
    /// Each step that broke an invariant: the schedule that ends with it and what it broke.
    public var violating: [Finding]
    /// The schedule to each state in which no task could move.
    public var deadlocks: [[Int]]

    /// A schedule and the invariants its last step broke.
    public struct Finding: Codable, Hashable, Sendable {
        /// The task of each step; the last one broke the invariants.
        public var schedule: [Int]
        /// The invariants broken.
        public var invariants: [String]
    }
}

/// A state kept by the search, with its hash computed once (on the thread that made it).
struct StateKey: Hashable, @unchecked Sendable {
    let world: World
    let hash: Int

    init(_ world: World) {
        let key = world.stateKey
        self.world = key
        hash = key.hashValue
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    static func == (lhs: StateKey, rhs: StateKey) -> Bool { lhs.hash == rhs.hash && lhs.world == rhs.world }
}

/// The explorer's search: breadth first, level by level, each level's states in the order of
/// the smallest schedule that reaches them and each state's tasks by increasing id. So the
/// first violating step met ends the shortest schedule that violates, and among those the
/// smallest sequence of task ids, and every count is a property of the states reached, not of
/// the order they were met in: the same whatever the number of threads.
///
/// What a state is worth is computed apart from the others (a step of each task that can move,
/// the successors' hashes, whether they were seen at a smaller depth), by `jobs` threads at
/// once; then one thread walks the results in order, counts and keeps the new states.
///
/// A shard runs the same levels until one has 8 states per shard or more (or the search ends),
/// takes every `count`-th state of that level as its roots and explores what they reach. What
/// the levels before found is reported by shard 1 alone.
struct Search {
    let explorer: Explorer
    let jobs: Int
    let shard: Shard?

    /// The world stepped by the search: no trace (the counterexample's is replayed).
    private let start: World
    private let baseViolations: Int
    private let maxSchedules: Int
    private let maxDepth: Int
    private let maxStates: Int

    private var result = ExploreResult()
    private var seen = Set<StateKey>()
    private var locks = Set<Int>()
    private var findings: ShardFindings?
    /// While false (a shard before it split), nothing found is reported.
    private var reporting: Bool

    init(explorer: Explorer, jobs: Int, shard: Shard?) {
        self.explorer = explorer
        self.jobs = jobs
        self.shard = shard
        var world = explorer.initial
        world.trace = TraceLog(capacity: 1)
        start = world
        baseViolations = explorer.initial.violations.count
        maxSchedules = explorer.spec.maxSchedules ?? Int.max
        maxDepth = explorer.spec.maxDepth ?? 10_000
        maxStates = explorer.spec.maxStates ?? 1_000_000
        findings = shard.map { ShardFindings(shard: $0, violating: [], deadlocks: []) }
        reporting = shard.map { $0.index == 1 } ?? true
    }

    /// A state of the current level and the smallest schedule that reached it.
    struct Node {
        var world: World
        var path: [Int]
    }

    /// A step from a node.
    enum Edge {
        /// The step broke invariants (the schedule ends).
        case violated(task: Int, invariants: [String])
        /// Every task is done (the schedule ends): the locks_taken answers of register tasks.
        case finished(task: Int, locks: [Int])
        /// The step led to a state seen at a smaller depth.
        case known(task: Int)
        /// The step led to a state not seen before this level (the world stepped, and its key:
        /// a key drops history, which `stepsRun` is, yet a queue_work reads it).
        case next(task: Int, world: World, key: StateKey)
    }

    /// What expanding a node found.
    struct Expansion {
        var edges: [Edge] = []
        /// No task could move, though some are not done.
        var deadlock = false
        /// The node is at the depth bound with tasks left.
        var cut = false
    }

    /// The tasks that may move: the spec's, and the workers their drivers queued, by id.
    private func runnable(_ world: World) -> [Int] {
        (explorer.taskIDs.filter { world.task($0)?.status != .done } + world.tasks.filter { $0.isWorker && $0.status != .done }.map(\.id)).sorted()
    }

    /// Steps each task that can move from `node`.
    private func expand(_ node: Node) -> Expansion {
        var expansion = Expansion()
        let tasks = runnable(node.world)
        if node.path.count >= maxDepth {
            expansion.cut = !tasks.isEmpty
            return expansion
        }
        for task in tasks {
            var next = node.world
            if case .blocked = next.step(task) { continue }
            if next.violations.count > baseViolations {
                var invariants: [String] = []
                for violation in next.violations[baseViolations...] where !invariants.contains(violation.invariant.rawValue) {
                    invariants.append(violation.invariant.rawValue)
                }
                expansion.edges.append(.violated(task: task, invariants: invariants))
            } else if runnable(next).isEmpty {
                expansion.edges.append(.finished(task: task, locks: explorer.taskIDs.compactMap { next.task($0)?.result.locksTaken }))
            } else {
                let key = StateKey(next)
                expansion.edges.append(seen.contains(key) ? .known(task: task) : .next(task: task, world: next, key: key))
            }
        }
        expansion.deadlock = expansion.edges.isEmpty && !tasks.isEmpty
        return expansion
    }

    /// Expands `nodes`, on `jobs` threads when there are enough of them; the results in order.
    private func expandAll(_ nodes: [Node]) -> [Expansion] {
        let chunk = 16
        guard jobs > 1, nodes.count > chunk else { return nodes.map(expand) }
        let chunks = (nodes.count + chunk - 1) / chunk
        let results = UnsafeMutableBufferPointer<Expansion>.allocate(capacity: nodes.count)
        results.initialize(repeating: Expansion())
        defer { results.deallocate() }
        nonisolated(unsafe) let output = results
        let search = self
        // Thread t takes chunks t, t + jobs, ...; each writes only its own nodes' slots.
        DispatchQueue.concurrentPerform(iterations: min(jobs, chunks)) { thread in
            for index in stride(from: thread, to: chunks, by: jobs) {
                for slot in index * chunk..<min(nodes.count, (index + 1) * chunk) { output[slot] = search.expand(nodes[slot]) }
            }
        }
        return Array(results)
    }

    mutating func run(shouldStop: () -> Bool) -> ExploreResult {
        let root = StateKey(start)
        seen.insert(root)
        var level = [Node(world: start, path: [])]
        var split = shard == nil
        while !level.isEmpty {
            if shouldStop() {
                result.truncated = true
                break
            }
            if !split, let shard, level.count >= 8 * shard.count {
                split = true
                reporting = true
                level = stride(from: shard.index - 1, to: level.count, by: shard.count).map { level[$0] }
            }
            let expansions = expandAll(level)
            var next: [Node] = []
            for (node, expansion) in zip(level, expansions) {
                if result.schedules >= maxSchedules || seen.count >= maxStates {
                    result.truncated = true
                    break
                }
                record(node, expansion, into: &next)
            }
            if result.truncated { break }
            level = next
        }
        result.distinctStates = seen.count
        result.locksTaken = locks.sorted()
        if let schedule = result.counterexample?.schedule { result.counterexample = explorer.counterexample(schedule) }
        result.findings = findings
        return result
    }

    /// Counts what a node's expansion found and keeps its new states for the next level.
    private mutating func record(_ node: Node, _ expansion: Expansion, into next: inout [Node]) {
        if expansion.cut { result.truncated = true }
        if expansion.deadlock, reporting {
            result.deadlocks += 1
            result.schedules += 1
            findings?.deadlocks.append(node.path)
        }
        for edge in expansion.edges {
            result.transitions += 1
            switch edge {
            case .violated(let task, let invariants):
                guard reporting else { continue }
                result.schedules += 1
                for invariant in invariants { result.violations[invariant, default: 0] += 1 }
                if result.counterexample == nil {
                    result.counterexample = Counterexample(schedule: node.path + [task], violations: [], trace: [])
                }
                findings?.violating.append(.init(schedule: node.path + [task], invariants: invariants))
            case .finished(_, let taken):
                guard reporting else { continue }
                result.schedules += 1
                locks.formUnion(taken)
            case .known:
                continue
            case .next(let task, let world, let key):
                if seen.insert(key).inserted { next.append(Node(world: world, path: node.path + [task])) }
            }
        }
    }
}

extension Explorer {
    /// The counterexample of a schedule that ends in a violation: its violations and trace,
    /// replayed on the initial world (the search keeps no trace).
    func counterexample(_ schedule: [Int]) -> Counterexample {
        let world = replay(schedule)
        return Counterexample(
            schedule: schedule,
            violations: Array(world.violations[initial.violations.count...]),
            trace: world.trace.events(after: initial.lastSeq)
        )
    }
}

extension Explorer {
    /// The result of the whole exploration from the results of its shards (each `run(shard:)`
    /// of this explorer, one for each part): each violating step and each deadlock counted
    /// once (their schedules are replayed to find the states that shards share), the
    /// counterexample the smallest of the shards', which is the whole run's. Distinct states,
    /// steps and schedules are the shards' sums: a state two shards reached counts twice.
    public func merged(_ parts: [ExploreResult]) throws(ExploreError) -> ExploreResult {
        let shards = parts.compactMap(\.findings?.shard)
        guard shards.count == parts.count, let count = shards.first?.count else {
            throw ExploreError(message: "every result to merge comes from a sharded run (explore --shard i/n --json)")
        }
        guard shards.allSatisfy({ $0.count == count }), Set(shards.map(\.index)) == Set(1...count), shards.count == count else {
            let given = shards.map(\.description).joined(separator: ", ")
            throw ExploreError(message: "the results to merge are the shards 1/\(count) to \(count)/\(count), each once; given: \(given)")
        }
        var result = ExploreResult()
        struct Step: Hashable {
            let state: StateKey
            let task: Int
        }
        var violating = Set<Step>()
        var deadlocks = Set<StateKey>()
        var locks = Set<Int>()
        var smallest: [Int]?
        for part in parts {
            result.schedules += part.schedules
            result.distinctStates += part.distinctStates
            result.transitions += part.transitions
            result.truncated = result.truncated || part.truncated
            locks.formUnion(part.locksTaken)
            for finding in part.findings?.violating ?? [] {
                guard let task = finding.schedule.last else { continue }
                guard violating.insert(Step(state: StateKey(replay(Array(finding.schedule.dropLast()))), task: task)).inserted else { continue }
                for invariant in finding.invariants { result.violations[invariant, default: 0] += 1 }
            }
            for schedule in part.findings?.deadlocks ?? [] where deadlocks.insert(StateKey(replay(schedule))).inserted { result.deadlocks += 1 }
            if let schedule = part.counterexample?.schedule, smallest.map({ Self.precedes(schedule, $0) }) ?? true { smallest = schedule }
        }
        result.locksTaken = locks.sorted()
        result.counterexample = smallest.map(counterexample)
        return result
    }

    /// Fewer steps first, then the smaller sequence of task ids.
    static func precedes(_ a: [Int], _ b: [Int]) -> Bool {
        a.count != b.count ? a.count < b.count : a.lexicographicallyPrecedes(b)
    }
}
