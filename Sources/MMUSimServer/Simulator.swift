import Foundation
import MMUSim

/// The one world behind the API. Requests are serialized on this actor, so a read never sees
/// an operation half-applied unless that operation's task is paused (or blocked) on purpose.
actor Simulator {
    /// The simulated machine.
    private(set) var world: World
    /// Recently finished tasks, so that GET /tasks/{t} can still tell how they ended.
    private var finished: [TaskStruct] = []
    /// Live /trace/stream listeners.
    private var listeners: [Int: AsyncStream<TraceEvent>.Continuation] = [:]
    private var nextListener = 0
    /// Counts of notifier calls and model events over the server's life, by call name.
    private(set) var callCounts: [String: Int] = [:]

    /// The journal, when the server keeps one.
    private let journal: Journal?

    /// How many finished tasks are remembered.
    static let finishedLimit = 1000

    /// Creates a simulator with a fresh world and no journal.
    init(config: WorldConfig) {
        world = World(config)
        journal = nil
    }

    /// Creates a simulator whose world is rebuilt from the journal in `directory` (or fresh,
    /// with a new journal, when there is none) and whose accepted commands are journaled.
    /// `warnings` gets a line for each torn record dropped.
    init(config: WorldConfig, stateDirectory directory: URL, warnings: inout [String]) throws {
        let (records, generation, valid) = try Journal.read(directory, warnings: &warnings)
        world = records.isEmpty ? World(config) : Self.rebuild(records)
        journal = try Journal.open(directory, generation: generation, validBytes: valid, initial: config)
    }

    /// Rebuilds the world a state directory's journal describes, without opening it for writing.
    static func replay(_ directory: URL, warnings: inout [String]) throws -> World {
        let (records, _, _) = try Journal.read(directory, warnings: &warnings)
        guard !records.isEmpty else { throw JournalError(description: "\(directory.path) holds no journal") }
        return rebuild(records)
    }

    /// Applies journal records in order to a fresh world, as the requests that made them did.
    static func rebuild(_ records: [JournalRecord]) -> World {
        var world = World()
        for record in records { _ = world.apply(record) }
        return world
    }

    /// Makes a record durable before its command is applied. A journal that cannot be written
    /// stops the server: answering would acknowledge something a restart could lose.
    private func log(_ record: JournalRecord) {
        guard let journal else { return }
        do {
            try journal.append(record)
        } catch {
            fatalError("cannot append to the journal in \(journal.directory.path): \(error)")
        }
    }

    /// What a mutating request caused: the task as it stands and the trace events.
    struct Outcome: Sendable {
        var task: TaskStruct
        var events: [TraceEvent]
    }

    /// Runs an operation as a new task, to completion or to its pause point or a block.
    func perform(_ operation: MMUSim.Operation, pauseAt: String? = nil) -> Outcome {
        let outcome = commit(.perform(operation, pauseAt: pauseAt))
        return Outcome(task: outcome.task!, events: outcome.events)
    }

    /// Runs one step of a task.
    func step(task id: Int) -> Outcome? {
        guard world.task(id) != nil else { return nil }
        let outcome = commit(.step(task: id))
        return outcome.task.map { Outcome(task: $0, events: outcome.events) }
    }

    /// Resumes a paused (or blocked) task.
    func resume(task id: Int) -> Outcome? {
        guard world.task(id) != nil else { return nil }
        let outcome = commit(.resume(task: id))
        return outcome.task.map { Outcome(task: $0, events: outcome.events) }
    }

    /// Runs an operation a request asked for, in one visit to the actor: the mm and notifier it
    /// names must exist (else 404, and nothing changes), and it must not pass a limit on the
    /// world's size (mms, notifiers per mm); the checks and the run are one step of the actor,
    /// so concurrent requests cannot pass a limit together.
    func perform(_ operation: MMUSim.Operation, pauseAt: String?, within limits: RequestLimits) throws -> Outcome {
        if let mm = operation.mm, world.mm(mm) == nil {
            throw APIError(.notFound, code: "unknown_mm", message: "no mm with id '\(mm)'")
        }
        if let notifier = operation.notifier, let mm = operation.mm, world.notifier(notifier)?.mm != mm {
            throw APIError(.notFound, code: "unknown_notifier", message: "mm \(mm) has no notifier with id '\(notifier)'")
        }
        if world.config.kernel == .modern, !World.modelledInModern(operation) {
            throw APIError(
                .unprocessableContent,
                code: "not_modelled",
                message: "\(operation.name) is not modelled in a modern world yet (its modern hook sites are to come); reset with kernel v17 for it"
            )
        }
        if world.config.kernel == .v17, !World.modelledInV17(operation) {
            throw APIError(
                .unprocessableContent,
                code: "not_modelled",
                message:
                    "\(operation.name) is not in the v17 kernel (the OOM reaper is 4.6's, idle page tracking 4.3's, interval subscriptions 5.5's); reset with kernel modern for it"
            )
        }
        switch operation {
        case .fork:
            if world.mms.count >= limits.maxMMs { throw limitExceeded("mms", limits.maxMMs) }
        case .entry(_, let id, let name, _, _):
            let entries = world.notifier(id).map { world.policies[$0.policy].policy.entries } ?? [:]
            guard entries[name] != nil else {
                let known = entries.isEmpty ? "its driver has none" : "its entries are " + entries.keys.sorted().joined(separator: ", ")
                throw APIError(.notFound, code: "unknown_entry", message: "notifier \(id) has no entry point '\(name)': \(known)")
            }
        case .register(let mm, _, _, _, _), .registerPolicy(let mm, _, _, _):
            if world.notifiers.filter({ $0.mm == mm }).count >= limits.maxNotifiersPerMM {
                throw limitExceeded("notifiers_per_mm", limits.maxNotifiersPerMM)
            }
            // The driver must be written for the world's kernel.
            let policy: Policy? =
                switch operation {
                case .register(_, let kind, _, _, _): world.drivers[kind] ?? BuiltinDrivers.policies[kind]
                case .registerPolicy(_, let policy, _, _): policy
                default: nil
                }
            if let policy { try Self.checkKernel(policy, world.config.kernel) }
        default:
            break
        }
        return perform(operation, pauseAt: pauseAt)
    }

    /// Creates an mm unless the world holds `limit` already; returns its id and events.
    func createMM(name: String?, limit: Int) throws -> (id: Int, events: [TraceEvent]) {
        if world.mms.count >= limit { throw limitExceeded("mms", limit) }
        return createMMRecorded(name: name)
    }

    /// Creates an mm.
    @discardableResult
    func createMM(name: String?) -> Int {
        createMMRecorded(name: name).id
    }

    /// Creates an mm and returns the events it caused (published like any other change).
    func createMMRecorded(name: String?) -> (id: Int, events: [TraceEvent]) {
        let outcome = commit(.createMM(name: name))
        return (world.mms.count, outcome.events)
    }

    /// Replaces the world with a fresh one and starts a new journal generation.
    func reset(config: WorldConfig) {
        if let journal {
            do {
                try journal.startGeneration(config)
            } catch {
                fatalError("cannot start a new journal generation in \(journal.directory.path): \(error)")
            }
        }
        _ = world.apply(.reset(config))
        finished = []
        // The new generation starts with the loaded drivers, which the reset kept.
        for name in world.drivers.keys.sorted() { log(.loadDriver(world.drivers[name]!)) }
    }

    /// Loads (or replaces) a driver policy under its name, journaled like any change. It must
    /// not take a built-in kind's name.
    func loadDriver(_ policy: Policy) throws {
        if BuiltinDrivers.policies[policy.name] != nil {
            throw APIError(.conflict, code: "builtin_driver", message: "'\(policy.name)' is a built-in driver: load the policy under another name")
        }
        _ = commit(.loadDriver(policy))
    }

    /// 422 for a policy written for another kernel than `kernel` (the world's).
    static func checkKernel(_ policy: Policy, _ kernel: KernelVersion) throws {
        guard policy.kernel != kernel else { return }
        throw policyError(
            PolicyError("/kernel", "\(policy.name) is written for the \(policy.kernel.rawValue) kernel; this world runs \(kernel.rawValue)"),
            code: "kernel_mismatch"
        )
    }

    /// Registers a loaded driver policy by name, its `bugs` applied as variants, in one visit
    /// to the actor (as `perform`).
    func register(
        mm: Int,
        driver name: String,
        variants: [String],
        signalPending: Bool,
        mmapSemHeld: Bool,
        pauseAt: String?,
        within limits: RequestLimits
    ) throws -> Outcome {
        guard let base = world.drivers[name] else {
            let known = BuiltinDrivers.names + world.drivers.keys.sorted()
            throw APIError(
                .unprocessableContent,
                code: "invalid_value",
                message: "unknown kind '\(name)': use one of \(known.joined(separator: ", "))"
            )
        }
        let policy: Policy
        do {
            policy = try base.applying(variants: variants)
        } catch {
            throw policyError(error, code: "invalid_value")
        }
        let operation = MMUSim.Operation.registerPolicy(mm: mm, policy: policy, signalPending: signalPending, mmapSemHeld: mmapSemHeld)
        return try perform(operation, pauseAt: pauseAt, within: limits)
    }

    /// How the driver named `kind` (loaded, else built-in) subscribes; nil for no such driver.
    func subscription(of kind: String) -> Subscription? {
        (world.drivers[kind] ?? BuiltinDrivers.policies[kind])?.subscribe
    }

    /// A task still known: running, paused, blocked, or finished recently.
    func task(_ id: Int) -> TaskStruct? {
        world.task(id) ?? finished.last { $0.id == id }
    }

    /// Counts the events a record caused and sends them to every stream listener.
    private func publish(_ events: [TraceEvent]) {
        for event in events {
            callCounts[event.call.rawValue, default: 0] += 1
            for listener in listeners.values { listener.yield(event) }
        }
    }

    /// Ends every open stream (graceful shutdown).
    func endStreams() {
        for listener in listeners.values { listener.finish() }
    }

    /// A stream of every trace event from now on, unless `limit` listeners are there already.
    func subscribe(limit: Int) throws -> AsyncStream<TraceEvent> {
        if listeners.count >= limit { throw limitExceeded("stream_clients", limit) }
        return subscribe()
    }

    /// A stream of every trace event from now on, until the consumer stops.
    func subscribe() -> AsyncStream<TraceEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: TraceEvent.self, bufferingPolicy: .bufferingNewest(10_000))
        let id = nextListener
        nextListener += 1
        listeners[id] = continuation
        continuation.onTermination = { _ in
            Task { await self.unsubscribe(id) }
        }
        return stream
    }

    private func unsubscribe(_ id: Int) {
        listeners[id] = nil
    }

    /// Journals a record (durably, before the change), applies it, publishes the events it
    /// caused, and files away the tasks that finished.
    private func commit(_ record: JournalRecord) -> (task: TaskStruct?, events: [TraceEvent]) {
        log(record)
        let applied = world.apply(record)
        finished += applied.finished
        if finished.count > Self.finishedLimit { finished.removeFirst(finished.count - Self.finishedLimit) }
        publish(applied.events)
        return (applied.task, applied.events)
    }
}

/// A route and an answer status, the key of the request counter.
struct RouteStatus: Hashable, Sendable {
    var route: String
    var status: Int
}

/// The 4xx for a request that would pass one of the server's limits, naming it.
func limitExceeded(_ name: String, _ value: Int) -> APIError {
    APIError(.tooManyRequests, code: "limit_exceeded", message: "the limit max_\(name) (\(value)) is reached")
}
