import Dispatch
import Synchronization

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

/// Where an invariant broke: the same place however the search got there, which is what the
/// explorer counts (schedules and states depend on the search's order, its shards and its
/// reduction; the places do not).
public struct ViolationPlace: Codable, Hashable, Sendable, Comparable {
    /// The invariant.
    public var invariant: String
    /// The mm the violation names.
    public var mm: Int?
    /// The notifier it names.
    public var notifier: Int?
    /// The address it names.
    public var address: UInt64?

    init(_ violation: Violation) {
        invariant = violation.invariant.rawValue
        mm = violation.mm
        notifier = violation.notifier
        address = violation.address
    }

    /// By invariant, then mm, notifier and address.
    public static func < (a: ViolationPlace, b: ViolationPlace) -> Bool {
        (a.invariant, a.mm ?? 0, a.notifier ?? 0, a.address ?? 0) < (b.invariant, b.mm ?? 0, b.notifier ?? 0, b.address ?? 0)
    }
}

/// What a shard found, kept so that the merge counts each place and each deadlock once
/// however many shards met it: shards share states (a state reachable from the roots of two
/// shards is explored by both), so their counts do not add up.
public struct ShardFindings: Codable, Hashable, Sendable {
    /// Which shard.
    public var shard: Shard
    /// Where invariants broke.
    public var places: [ViolationPlace]
    /// The schedule to each state in which no task could move.
    public var deadlocks: [[Int]]
}

/// A state kept by the search, with its hash computed once (on the thread that made it).
final class StateKey: Hashable, @unchecked Sendable {
    let world: World
    let hash: Int
    /// Its sleep set (Reduction.swift), one bit per task id: written only while one thread
    /// records a level, read while the next level expands.
    var sleep: UInt64 = 0

    init(_ world: World) {
        let key = world.stateKey
        self.world = key
        var hasher = Hasher()
        key.fingerprint(into: &hasher)
        hash = hasher.finalize()
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    static func == (lhs: StateKey, rhs: StateKey) -> Bool { lhs === rhs || lhs.hash == rhs.hash && lhs.world.sameState(rhs.world) }
}

/// A state key as the set of seen states holds it: the hash beside the reference, so that
/// probing the set compares hashes without reading each key's object (a cache miss apiece
/// among a million states).
struct SeenState: Hashable, @unchecked Sendable {
    let hash: Int
    let key: StateKey

    init(_ key: StateKey) {
        hash = key.hash
        self.key = key
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    static func == (lhs: SeenState, rhs: SeenState) -> Bool { lhs.hash == rhs.hash && lhs.key == rhs.key }
}

/// The explorer's search: breadth first, level by level, each level's states in the order of
/// the smallest schedule that reaches them and each state's tasks by increasing id. So the
/// first violating step met ends the shortest schedule that violates, and among those the
/// smallest sequence of task ids, and every count is a property of the states reached, not of
/// the order they were met in: the same whatever the number of threads.
///
/// What a state is worth is computed apart from the others (a step of each task that can move,
/// the successors' hashes, whether they were seen at a smaller depth), by `jobs` threads at
/// once; then the new states go into the set, split by hash, each part on a thread of its own
/// and in the level's order; then one thread walks the results in order and counts. The bound
/// on distinct states is checked after each level.
///
/// A shard runs the same levels until one has 8 states per shard or more (or the search ends),
/// takes every `count`-th state of that level as its roots and explores what they reach. What
/// the levels before found is reported by shard 1 alone.
struct Search {
    let explorer: Explorer
    let jobs: Int
    let shard: Shard?
    /// Partial-order reduction (Reduction.swift).
    let reduce: Bool
    /// What the tasks and policies allow the reduction (Reduction.swift).
    let facts: Facts
    /// With reduction, whether a step that commutes with everything is taken alone (false:
    /// sleep sets alone, which reach every state; SearchTests holds them to that).
    var takesStepsAlone = true

    /// The world stepped by the search: no trace (the counterexample's is replayed).
    private let start: World
    private let baseViolations: Int
    private let maxSchedules: Int
    private let maxDepth: Int
    private let maxStates: Int

    /// Stop at the first violation (the shortest counterexample's pass).
    private var firstViolationOnly = false
    /// The first violating schedule met: the shortest of the graph searched.
    private var shortest: [Int]?

    private var result = ExploreResult()
    /// The states seen, split by hash so that `jobs` threads insert a level's at once.
    private var seen: [Set<SeenState>]
    private var locks = Set<Int>()
    private var places = Set<ViolationPlace>()
    private var findings: ShardFindings?
    /// While false (a shard before it split), nothing found is reported.
    private var reporting: Bool

    init(explorer: Explorer, jobs: Int, shard: Shard?, reduce: Bool) {
        self.explorer = explorer
        self.jobs = jobs
        self.shard = shard
        self.reduce = reduce
        facts = Facts(explorer.initial)
        var world = explorer.initial
        world.trace = .none
        start = world
        baseViolations = explorer.initial.violations.count
        maxSchedules = explorer.spec.maxSchedules ?? Int.max
        maxDepth = explorer.spec.maxDepth ?? 10_000
        maxStates = explorer.spec.maxStates ?? 1_000_000
        findings = shard.map { ShardFindings(shard: $0, places: [], deadlocks: []) }
        seen = Array(repeating: [], count: jobs)
        reporting = shard.map { $0.index == 1 } ?? true
        result.reduced = reduce
    }

    /// A state of the current level and the smallest schedule that reached it.
    struct Node {
        /// The state (its key: one reference to copy, where a world has a score).
        var key: StateKey
        var path: Path?
        /// A state expanded before, met again with a smaller sleep set: the tasks to step from
        /// it now (the ones asleep then and awake now). Nil for a state met first.
        var allowed: UInt64? = nil
        /// The schedule's length.
        var depth: Int { path?.count ?? 0 }
    }

    /// A schedule as its last task and the schedule before it: a node's is one allocation,
    /// not a copy of its parent's, and the whole is spelled out only for what is reported.
    final class Path: Sendable {
        let task: Int
        let parent: Path?
        let count: Int

        init(_ task: Int, after parent: Path?) {
            self.task = task
            self.parent = parent
            count = (parent?.count ?? 0) + 1
        }

        /// The task ids from the first step.
        static func tasks(_ path: Path?, then last: Int? = nil) -> [Int] {
            var tasks: [Int] = last.map { [$0] } ?? []
            var step = path
            while let current = step {
                tasks.append(current.task)
                step = current.parent
            }
            return tasks.reversed()
        }
    }

    /// A step from a node.
    enum Edge {
        /// The step broke invariants (the schedule ends).
        case violated(task: Int, places: [ViolationPlace])
        /// Every task is done (the schedule ends): the locks_taken answers of register tasks.
        case finished(locks: [Int])
        /// The step led to a state seen before this level (`key`), with sleep set `sleep`.
        case known(task: Int, sleep: UInt64, key: StateKey)
        /// The step led to a state not seen before this level (its key is the expansion's next),
        /// with sleep set `sleep`.
        case next(task: Int, sleep: UInt64)
    }

    /// What expanding a node found.
    struct Expansion {
        var edges: [Edge] = []
        /// The keys of the `.next` edges, in order.
        var keys: [StateKey] = []
        /// No task could move, though some are not done.
        var deadlock = false
        /// The node is at the depth bound with tasks left (its schedule ends there).
        var cut = false
        /// Every task is done already (only the first state can be so: the tasks failed as they
        /// started): the empty schedule, and the locks_taken answers.
        var finished: [Int]?
    }

    /// The locks_taken answers of the register tasks.
    private func locksTaken(_ world: World) -> [Int] {
        explorer.taskIDs.compactMap { world.task($0)?.result.locksTaken }
    }

    /// The tasks that may move: the spec's, and the workers their drivers queued, by id.
    private func runnable(_ world: World) -> [Int] {
        // (The world keeps its tasks by increasing id: `start` appends each with the next id.)
        var ids: [Int] = []
        for index in world.tasks.indices where mayMove(world, index) { ids.append(world.tasks[index].id) }
        return ids
    }

    /// Whether some task may move: `runnable` is not empty.
    private func anyRunnable(_ world: World) -> Bool {
        world.tasks.indices.contains { mayMove(world, $0) }
    }

    /// Whether the task at `index` is one of the spec's or a worker, and not done.
    private func mayMove(_ world: World, _ index: Int) -> Bool {
        guard world.tasks[index].status != .done else { return false }
        if world.tasks[index].isWorker { return true }
        return explorer.taskIDs.contains(world.tasks[index].id)
    }

    /// Steps each task that can move from `node` (with reduction: one alone, or each that is
    /// not asleep; a state met again, each of `node.allowed`).
    private func expand(_ node: Node) -> Expansion {
        var expansion = Expansion()
        let world = node.key.world
        let tasks = runnable(world)
        let revisit = node.allowed != nil
        if tasks.isEmpty {
            if !revisit { expansion.finished = locksTaken(world) }
            return expansion
        }
        if node.depth >= maxDepth {
            expansion.cut = true
            return expansion
        }
        var sleep = reduce ? node.key.sleep : 0
        // One step alone when it commutes with everything the others can do (Reduction.swift),
        // unless it closes a cycle (its state was seen at this depth or less) or is asleep.
        if reduce, takesStepsAlone, !revisit {
            for task in tasks where isReducible(world, task: task) {
                // (A last step that ends the schedule is an edge of its own: expanded whole.)
                let (outcome, step) = Taken.take(task, from: world)
                guard case .ran = outcome, Self.changedOwnStateOnly(world, step.world, task: task), anyRunnable(step.world) else { continue }
                let key = StateKey(step.world)
                guard seenKey(key) == nil else { continue }
                if sleep & Self.bit(task) != 0 { break }
                var sleepers: [Taken] = []
                let nextSleep = sleepAfter(world, step, asleep: sleep, taken: [], sleepers: &sleepers)
                return Expansion(edges: [.next(task: task, sleep: nextSleep)], keys: [key])
            }
        }
        var taken: [Taken] = []
        var sleepers: [Taken] = []
        var enabled = false
        for task in tasks {
            if let allowed = node.allowed, allowed & Self.bit(task) == 0 { continue }
            // An asleep step is enabled (independent steps do not disable each other).
            if !revisit, sleep & Self.bit(task) != 0 {
                enabled = true
                continue
            }
            let (outcome, taking) = Taken.take(task, from: world)
            if case .blocked = outcome { continue }
            enabled = true
            let next = taking.world
            // (A step taken is kept for the sleep sets of its siblings: with reduction only.)
            let step = reduce ? taking : nil
            if next.violations.count > baseViolations {
                expansion.edges.append(.violated(task: task, places: next.violations[baseViolations...].map(ViolationPlace.init)))
            } else if !anyRunnable(next) {
                expansion.edges.append(.finished(locks: locksTaken(next)))
            } else {
                let nextSleep = step.map { sleepAfter(world, $0, asleep: sleep, taken: taken, sleepers: &sleepers) } ?? 0
                let key = StateKey(next)
                if let seen = seenKey(key) {
                    expansion.edges.append(.known(task: task, sleep: nextSleep, key: seen))
                } else {
                    expansion.edges.append(.next(task: task, sleep: nextSleep))
                    expansion.keys.append(key)
                }
            }
            // Each step taken sleeps in the states its successors reach.
            if let step {
                taken.append(step)
                sleep |= Self.bit(task)
            }
        }
        expansion.deadlock = !revisit && !enabled
        return expansion
    }

    /// A task's bit in a sleep set (none for an id of 64 or more: it never sleeps).
    static func bit(_ task: Int) -> UInt64 { task >= 0 && task < 64 ? 1 << UInt64(task) : 0 }

    private func part(_ key: StateKey) -> Int { Int(UInt(bitPattern: key.hash) % UInt(seen.count)) }

    /// The key kept for a state seen at this depth or less (nil when it was not).
    private func seenKey(_ key: StateKey) -> StateKey? {
        // (In place: a copy of the set would retain its storage, which every thread reads.)
        let part = part(key)
        return seen[part].firstIndex(of: SeenState(key)).map { seen[part][$0].key }
    }

    private var distinct: Int { seen.reduce(0) { $0 + $1.count } }

    /// The keys of a level's `.next` edges, in order, once inserted: for each, the key the set
    /// keeps for its state, and whether this edge's key is that one (the first to reach it).
    struct Inserted {
        let keys: UnsafeMutableBufferPointer<StateKey?>
        let first: UnsafeMutableBufferPointer<Bool>

        func deallocate() {
            keys.deinitialize()
            keys.deallocate()
            first.deallocate()
        }
    }

    /// Keeps the level's new states. The keys of the `.next` edges move out of the expansions,
    /// in order, into the buffers returned; each thread inserts the keys of one part of the set,
    /// in that order, and replaces those of states already in by the key kept (their memory is
    /// freed on the threads). The caller deallocates the buffers.
    private mutating func insertAll(_ expansions: inout [Expansion]) -> Inserted {
        let count = expansions.reduce(0) { $0 + $1.keys.count }
        let keys = UnsafeMutableBufferPointer<StateKey?>.allocate(capacity: count)
        var filled = 0
        for index in expansions.indices {
            for key in expansions[index].keys {
                (keys.baseAddress! + filled).initialize(to: key)
                filled += 1
            }
            expansions[index].keys = []
        }
        let first = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        first.initialize(repeating: true)
        let owner = (0..<count).map { part(keys[$0]!) }
        let parts = seen.count
        seen.withUnsafeMutableBufferPointer { seenBuffer in
            nonisolated(unsafe) let output = keys
            nonisolated(unsafe) let isFirst = first
            nonisolated(unsafe) let sets = seenBuffer
            let insert: @Sendable (Int) -> Void = { part in
                for index in 0..<count where owner[index] == part {
                    let (inserted, kept) = sets[part].insert(SeenState(output[index]!))
                    if !inserted {
                        output[index] = kept.key
                        isFirst[index] = false
                    }
                }
            }
            if parts == 1 || count < 64 {
                for part in 0..<parts { insert(part) }
            } else {
                DispatchQueue.concurrentPerform(iterations: parts, execute: insert)
            }
        }
        return Inserted(keys: keys, first: first)
    }

    /// Expands `nodes`, on `jobs` threads when there are enough of them; the results in order.
    private func expandAll(_ nodes: [Node]) -> [Expansion] {
        let chunk = 16
        guard jobs > 1, nodes.count > chunk else { return nodes.map(expand) }
        let chunks = (nodes.count + chunk - 1) / chunk
        let search = self
        // Each thread takes the next chunk not taken yet (expansions differ in cost: one step
        // taken alone, or every task's), and initializes only its nodes' slots of the array.
        return Array(unsafeUninitializedCapacity: nodes.count) { buffer, initialized in
            nonisolated(unsafe) let output = buffer.baseAddress!
            let taken = Atomic(0)
            DispatchQueue.concurrentPerform(iterations: min(jobs, chunks)) { _ in
                while true {
                    let index = taken.add(1, ordering: .relaxed).oldValue
                    guard index < chunks else { return }
                    for slot in index * chunk..<min(nodes.count, (index + 1) * chunk) {
                        (output + slot).initialize(to: search.expand(nodes[slot]))
                    }
                }
            }
            initialized = nodes.count
        }
    }

    /// Searches, then counts what was found and replays the counterexample.
    mutating func run(shouldStop: () -> Bool) -> ExploreResult {
        search(shouldStop: shouldStop)
        result.distinctStates = distinct
        // Freeing the states (a tenth of the search's time) is left to another thread: the
        // answer need not wait for it.
        let states = seen
        seen = []
        DispatchQueue.global(qos: .utility).async { withExtendedLifetime(states) {} }
        result.locksTaken = locks.sorted()
        for place in places { result.violations[place.invariant, default: 0] += 1 }
        findings?.places = places.sorted()
        result.findings = findings
        if var schedule = shortest {
            // The reduced graph's shortest violating schedule may be longer than the shortest
            // there is, and a shard sees part of the graph: the whole graph's levels find that,
            // up to the first violation.
            if reduce || shard != nil {
                var first = Search(explorer: explorer, jobs: jobs, shard: nil, reduce: false)
                first.firstViolationOnly = true
                first.search(shouldStop: shouldStop)
                schedule = first.shortest ?? schedule
            }
            result.counterexample = explorer.counterexample(schedule)
        }
        return result
    }

    /// The levels, until none is left, a bound or `shouldStop` stops them, or (the shortest
    /// counterexample's pass) a violation is found.
    private mutating func search(shouldStop: () -> Bool) {
        let root = StateKey(start)
        seen[part(root)].insert(SeenState(root))
        var level = [Node(key: root, path: nil)]
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
            var expansions = expandAll(level)
            let fresh = insertAll(&expansions)
            var next: [Node] = []
            var cursor = 0
            for (node, expansion) in zip(level, expansions) {
                if result.schedules >= maxSchedules {
                    result.truncated = true
                    break
                }
                record(node, expansion, fresh: fresh, cursor: &cursor, into: &next)
            }
            fresh.deallocate()
            // The bound on states is checked once a level is in.
            if distinct >= maxStates, !next.isEmpty { result.truncated = true }
            if result.truncated || (firstViolationOnly && shortest != nil) { break }
            level = next
        }
    }

    /// Counts what a node's expansion found and keeps its new states for the next level.
    private mutating func record(
        _ node: Node,
        _ expansion: Expansion,
        fresh: Inserted,
        cursor: inout Int,
        into next: inout [Node]
    ) {
        if expansion.cut {
            result.truncated = true
            if reporting { result.schedules += 1 }
        }
        if let taken = expansion.finished, reporting {
            result.schedules += 1
            locks.formUnion(taken)
        }
        if expansion.deadlock, reporting {
            result.deadlocks += 1
            result.schedules += 1
            findings?.deadlocks.append(Path.tasks(node.path))
        }
        for edge in expansion.edges {
            result.transitions += 1
            switch edge {
            case .violated(let task, let found):
                guard reporting else { continue }
                result.schedules += 1
                places.formUnion(found)
                if shortest == nil { shortest = Path.tasks(node.path, then: task) }
            case .finished(let taken):
                guard reporting else { continue }
                result.schedules += 1
                locks.formUnion(taken)
            case .known(let task, let sleep, let key):
                // Met again with fewer steps asleep: the ones that slept then and are awake now
                // are stepped from it at the next level (Godefroid's sleep sets with states kept).
                let awake = key.sleep & ~sleep
                guard awake != 0 else { continue }
                key.sleep &= sleep
                next.append(Node(key: key, path: Path(task, after: node.path), allowed: awake))
            case .next(let task, let sleep):
                let key = fresh.keys[cursor]!
                if fresh.first[cursor] {
                    key.sleep = sleep
                    next.append(Node(key: key, path: Path(task, after: node.path)))
                } else {
                    // Reached again in this level: it sleeps what every way to it lets sleep.
                    key.sleep &= sleep
                }
                cursor += 1
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
    /// The shards must have run alike (all reduced, or none).
    public func merged(_ parts: [ExploreResult]) throws(ExploreError) -> ExploreResult {
        let shards = parts.compactMap(\.findings?.shard)
        guard shards.count == parts.count, let count = shards.first?.count else {
            throw ExploreError(message: "every result to merge comes from a sharded run (explore --shard i/n --json)")
        }
        guard shards.allSatisfy({ $0.count == count }), Set(shards.map(\.index)) == Set(1...count), shards.count == count else {
            let given = shards.map(\.description).joined(separator: ", ")
            throw ExploreError(message: "the results to merge are the shards 1/\(count) to \(count)/\(count), each once; given: \(given)")
        }
        guard Set(parts.map(\.reduced)).count == 1 else {
            throw ExploreError(message: "the shards to merge ran alike: all with partial-order reduction, or all without")
        }
        var result = ExploreResult()
        var places = Set<ViolationPlace>()
        var deadlocks = Set<StateKey>()
        var locks = Set<Int>()
        var smallest: [Int]?
        for part in parts {
            result.schedules += part.schedules
            result.distinctStates += part.distinctStates
            result.transitions += part.transitions
            result.truncated = result.truncated || part.truncated
            result.reduced = part.reduced
            locks.formUnion(part.locksTaken)
            places.formUnion(part.findings?.places ?? [])
            for schedule in part.findings?.deadlocks ?? [] where deadlocks.insert(StateKey(replay(schedule))).inserted { result.deadlocks += 1 }
            if let schedule = part.counterexample?.schedule, smallest.map({ Self.precedes(schedule, $0) }) ?? true { smallest = schedule }
        }
        for place in places { result.violations[place.invariant, default: 0] += 1 }
        result.locksTaken = locks.sorted()
        result.counterexample = smallest.map(counterexample)
        return result
    }

    /// Fewer steps first, then the smaller sequence of task ids.
    static func precedes(_ a: [Int], _ b: [Int]) -> Bool {
        a.count != b.count ? a.count < b.count : a.lexicographicallyPrecedes(b)
    }
}

extension World {
    /// A hash of a state key for the search's set: what tells states apart (the frames in use
    /// and the swap slots, the mms and notifiers, each task's place in its program and its
    /// locks), leaving out what costs more than it tells (free frames, names, the rest of the
    /// programs, the scratch, the policies). Equality still compares the whole state
    /// (`sameState`). Fields are read in place: a copy of a task or a notifier costs a retain
    /// of each of its arrays.
    func fingerprint(into hasher: inout Hasher) {
        for pfn in frames.indices where frames[pfn].kind != .free {
            hasher.combine(pfn)
            hasher.combine(frames[pfn])
        }
        hasher.combine(freeFrames.count)
        for slot in swap.indices where swap[slot] != nil {
            hasher.combine(slot)
            hasher.combine(swap[slot])
        }
        // An mm's and a notifier's fields but their names.
        for index in mms.indices {
            hasher.combine(mms[index].users)
            hasher.combine(mms[index].count)
            hasher.combine(mms[index].vmas)
            hasher.combine(mms[index].pageTable)
            hasher.combine(mms[index].notifierList)
            hasher.combine(mms[index].exited)
            hasher.combine(mms[index].rss)
            hasher.combine(mms[index].invalidateSeq)
            hasher.combine(mms[index].activeInvalidateRanges)
            hasher.combine(mms[index].itree)
            hasher.combine(mms[index].deferredItree)
        }
        for index in notifiers.indices {
            hasher.combine(notifiers[index].vars)
            hasher.combine(notifiers[index].state)
            hasher.combine(notifiers[index].counters)
            hasher.combine(notifiers[index].sptes)
            hasher.combine(notifiers[index].tlb)
            hasher.combine(notifiers[index].activeRanges)
            hasher.combine(notifiers[index].frozen)
            hasher.combine(notifiers[index].freed)
            hasher.combine(notifiers[index].invalidateSeq)
            hasher.combine(notifiers[index].users)
        }
        hasher.combine(sharedVars.count)
        hasher.combine(violations.count)
        hasher.combine(nextTaskID)
        for index in tasks.indices {
            hasher.combine(tasks[index].id)
            hasher.combine(tasks[index].status)
            hasher.combine(tasks[index].program.count)
            switch tasks[index].program.last {
            case .driverStatement(let notifier, let statement, _)?:
                hasher.combine(notifier)
                hasher.combine(statement)
            case let step?: hasher.combine(step)
            case nil: break
            }
            hasher.combine(tasks[index].locks.count)
            for lock in tasks[index].locks { hasher.combine(lock) }
            hasher.combine(tasks[index].rcuDepth)
            hasher.combine(tasks[index].srcuDepth)
            hasher.combine(tasks[index].openRanges.count)
            hasher.combine(tasks[index].scratch.driverFrames.count)
        }
    }

    /// Whether two state keys are the same state: every stored field equal, the fields most
    /// likely to differ first, tasks by their own `sameState` (which reads a task's step count
    /// as history). SearchTests checks that it names every stored field of World.
    func sameState(_ other: World) -> Bool {
        current == other.current && lastSeq == other.lastSeq && tablesVisited == other.tablesVisited && trace == other.trace
            && sameFuture(other)
    }

    /// `sameState` but for what `stateKey` leaves out (the trace, the event counter, the tables
    /// visited, the running task): whether two worlds can do exactly the same things from here.
    func sameFuture(_ other: World) -> Bool {
        nextTaskID == other.nextTaskID && nextAnonVMA == other.nextAnonVMA && xipSparsePfn == other.xipSparsePfn
            && sameTasks(other.tasks)
            && notifiers.sameElements(other.notifiers) && mms.sameElements(other.mms)
            && frames.sameElements(other.frames) && freeFrames.sameElements(other.freeFrames) && swap.sameElements(other.swap)
            && freeSlots.sameElements(other.freeSlots) && files.sameElements(other.files) && sharedVars == other.sharedVars
            && checker == other.checker && policies == other.policies && drivers == other.drivers
            && config == other.config
    }

    /// Whether the tasks are the same, each by its own `sameState`: read in place (a closure
    /// over the elements would copy each task, a retain of every one of its arrays).
    private func sameTasks(_ other: [TaskStruct]) -> Bool {
        guard tasks.count == other.count else { return false }
        return tasks.withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                for index in a.indices where !a[index].sameState(b[index]) { return false }
                return true
            }
        }
    }

    /// The stored fields `sameState` compares, by name (SearchTests holds it to World's own).
    static let sameStateFields = [
        "config", "frames", "freeFrames", "swap", "freeSlots", "files", "mms", "notifiers", "tasks", "nextTaskID", "nextAnonVMA",
        "trace", "lastSeq", "drivers", "policies", "sharedVars", "checker", "current", "tablesVisited", "xipSparsePfn",
    ]

    /// The stored fields that are no part of a world's state, which `sameState` leaves out: the
    /// task kept for reuse (`SpareTask`, equal in every world), and the running task's writer
    /// (`RunningTask`, empty between steps, where worlds are compared).
    static let notStateFields = ["spareTask", "running"]
}

extension TaskStruct {
    /// Whether two tasks are in the same state: every stored field equal, but for the step
    /// count, of which only whether it is 0 matters (queue_work reads it of a worker; the rest
    /// is history). SearchTests checks that it names every stored field of TaskStruct and TaskState.
    func sameState(_ other: TaskStruct) -> Bool {
        guard id == other.id && mm == other.mm && isWorker == other.isWorker else { return false }
        // One state box: the same state (a task no step of the two worlds ran).
        return sharesState(with: other) || withStates(other, TaskState.same)
    }
}

extension TaskState {
    /// `TaskStruct.sameState` for the fields behind the boxes, both read where their boxes keep
    /// them. (Static, of two pointers: a method called on `a.pointee` gets a copy of the state.)
    static func same(_ a: UnsafePointer<TaskState>, _ b: UnsafePointer<TaskState>) -> Bool {
        a.pointee.status == b.pointee.status && a.pointee.program == b.pointee.program
            && a.pointee.locks.sameElements(b.pointee.locks) && a.pointee.rcuDepth == b.pointee.rcuDepth
            && a.pointee.rcuEpoch == b.pointee.rcuEpoch && a.pointee.srcuDepth == b.pointee.srcuDepth
            && a.pointee.srcuEpoch == b.pointee.srcuEpoch && (a.pointee.stepsRun == 0) == (b.pointee.stepsRun == 0)
            && a.pointee.blockedOn == b.pointee.blockedOn && a.pointee.pauseAt == b.pointee.pauseAt && sameOperationAndResult(a, b)
            && a.pointee.openRanges.sameElements(b.pointee.openRanges) && a.pointee.scratch == b.pointee.scratch
    }
}

extension TaskStruct {
    /// The stored fields `sameState` compares, by name: the task's and its state's.
    static let sameStateFields = [
        "id", "operation", "program", "locks", "rcuDepth", "rcuEpoch", "srcuDepth", "srcuEpoch", "status", "blockedOn", "pauseAt",
        "result", "stepsRun", "openRanges", "scratch", "mm", "isWorker",
    ]

    /// The stored fields that are no part of a task's state, which `sameState` leaves out: the
    /// codes its events take from the trace's tables (`EventCodes`, a cache).
    static let notStateFields = ["eventCodes"]
}

extension Array {
    /// Whether both hold the same elements by `same`: storage shared, or each pair alike, read
    /// through buffer pointers (Array's own `==` compares the same way, through its bounds-
    /// checked subscript; in the search's profile this specialized loop costs less).
    func sameElements(_ other: [Element], by same: (Element, Element) -> Bool) -> Bool {
        guard count == other.count else { return false }
        return withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                if a.baseAddress == b.baseAddress { return true }
                for index in a.indices where !same(a[index], b[index]) { return false }
                return true
            }
        }
    }
}

extension Array where Element: Equatable {
    /// `==` over buffer pointers (`sameElements(_:by:)`).
    func sameElements(_ other: [Element]) -> Bool { sameElements(other, by: ==) }
}
