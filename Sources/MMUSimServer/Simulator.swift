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
        for record in records {
            switch record {
            case .reset(let config): world = World(config)
            case .createMM(let name): _ = world.createMM(name: name)
            case .perform(let operation, let pauseAt): _ = world.perform(operation, pauseAt: pauseAt)
            case .step(let task):
                _ = world.step(task)
                world.wakeBlocked()
            case .resume(let task): world.resume(task)
            }
            for done in world.tasks where done.status == .done { world.collect(done.id) }
        }
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
        log(.perform(operation, pauseAt: pauseAt))
        return capture { world in world.perform(operation, pauseAt: pauseAt) }
    }

    /// Runs one step of a task.
    func step(task id: Int) -> Outcome? {
        guard world.task(id) != nil else { return nil }
        log(.step(task: id))
        return stepWorld(id)
    }

    private func stepWorld(_ id: Int) -> Outcome? {
        guard world.task(id) != nil else { return nil }
        return capture { world in
            _ = world.step(id)
            world.wakeBlocked()
            return world.task(id)!
        }
    }

    /// Resumes a paused (or blocked) task.
    func resume(task id: Int) -> Outcome? {
        guard world.task(id) != nil else { return nil }
        log(.resume(task: id))
        return resumeWorld(id)
    }

    private func resumeWorld(_ id: Int) -> Outcome? {
        guard world.task(id) != nil else { return nil }
        return capture { world in
            world.resume(id)
            return world.task(id)!
        }
    }

    /// Runs an operation unless it would pass a limit on the world's size (mms, notifiers per
    /// mm); the check and the run are one step of the actor, so concurrent requests cannot
    /// pass a limit together.
    func perform(_ operation: MMUSim.Operation, pauseAt: String?, within limits: RequestLimits) throws -> Outcome {
        switch operation {
        case .fork:
            if world.mms.count >= limits.maxMMs { throw limitExceeded("mms", limits.maxMMs) }
        case .register(let mm, _, _, _, _):
            if world.notifiers.filter({ $0.mm == mm }).count >= limits.maxNotifiersPerMM {
                throw limitExceeded("notifiers_per_mm", limits.maxNotifiersPerMM)
            }
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
        log(.createMM(name: name))
        let before = world.lastSeq
        let id = world.createMM(name: name)
        return (id, publish(after: before))
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
        resetWorld(config)
    }

    private func resetWorld(_ config: WorldConfig) {
        world = World(config)
        finished = []
    }

    /// A task still known: running, paused, blocked, or finished recently.
    func task(_ id: Int) -> TaskStruct? {
        world.task(id) ?? finished.last { $0.id == id }
    }

    /// The events after `seq`, counted and sent to every stream listener.
    private func publish(after seq: Int) -> [TraceEvent] {
        let events = world.trace.events(after: seq)
        for event in events {
            callCounts[event.call, default: 0] += 1
            for listener in listeners.values { listener.yield(event) }
        }
        return events
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

    /// The number of live stream listeners.
    var listenerCount: Int { listeners.count }

    private func unsubscribe(_ id: Int) {
        listeners[id] = nil
    }

    /// Applies a change, collects the events it caused, publishes them, and files away the
    /// tasks that finished.
    private func capture(_ change: (inout World) -> TaskStruct) -> Outcome {
        let before = world.lastSeq
        let task = change(&world)
        let events = publish(after: before)
        for done in world.tasks where done.status == .done {
            world.collect(done.id)
            finished.append(done)
        }
        // World.perform collects a task that finished at once itself, so it is not among
        // world.tasks above; file it away too, or GET /tasks/{t} would not know it.
        if task.status == .done, !finished.contains(where: { $0.id == task.id }) { finished.append(task) }
        if finished.count > Self.finishedLimit { finished.removeFirst(finished.count - Self.finishedLimit) }
        return Outcome(task: task, events: events)
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
