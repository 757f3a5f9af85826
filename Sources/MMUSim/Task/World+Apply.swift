/// One accepted request to change the world, as the journal keeps it: the canonical command,
/// not the HTTP. Replaying the records in order on a fresh world gives the same world, because
/// the model is deterministic.
public enum JournalRecord: Codable, Hashable, Sendable {
    case reset(WorldConfig)
    case createMM(name: String?)
    case perform(Operation, pauseAt: String?)
    case step(task: Int)
    case resume(task: Int)
    /// POST /drivers: a driver policy loaded (or replaced) under its name.
    case loadDriver(Policy)
}

/// What applying a record did: the task it ran (nil for create_mm and reset), every task that
/// finished meanwhile (no longer listed), and the trace events it caused, in order.
public struct Applied: Sendable {
    /// The task the record ran, as it stands after the record.
    public var task: TaskStruct?
    /// The tasks that finished, now collected.
    public var finished: [TaskStruct]
    /// The events the record caused.
    public var events: [TraceEvent]
}

extension World {
    /// Applies a record as the request that made it did, then lets blocked tasks move on and
    /// collects every task that finished (`settle`, which `perform` shares). The live server, a
    /// replay, a scenario and an exploration's setup all go through here.
    public mutating func apply(_ record: JournalRecord) -> Applied {
        let before = lastSeq
        // The id of the task the record ran, if there is one.
        var ran: Int?
        switch record {
        case .reset(let config):
            // The loaded drivers are definitions, not state: they survive the reset.
            let drivers = self.drivers
            self = World(config)
            self.drivers = drivers
        case .loadDriver(let policy):
            drivers[policy.name] = policy
        case .createMM(let name):
            _ = createMM(name: name)
        case .perform(let operation, let pauseAt):
            let id = start(operation, pauseAt: pauseAt)
            run(id)
            ran = id
        case .step(let id):
            _ = step(id)
            ran = id
        case .resume(let id):
            resume(id)
            ran = id
        }
        let (task, finished) = settle(ran, report: true)
        let events = if case .reset = record { [TraceEvent]() } else { trace.events(after: before) }
        return Applied(task: task, finished: finished, events: events)
    }

    /// After a record or an operation: lets blocked tasks move on and collects every task that
    /// finished, the one place where both happen. Gives the task `ran` as it stands (nil if it
    /// was not known) and, with `report`, the finished tasks (copying them out costs a caller
    /// that reads the task alone more than a short operation's steps).
    mutating func settle(_ ran: Int?, report: Bool) -> (task: TaskStruct?, finished: [TaskStruct]) {
        let known = ran.flatMap(taskIndex) != nil
        wakeBlocked()
        var task: TaskStruct?
        if known, let id = ran, let index = taskIndex(id) {
            if !report && tasks[index].status == .done {
                // A finished task nobody else is to see leaves the list as it is collected,
                // uncopied, and is kept for the next task to run in once the caller lets it go.
                let done = tasks.remove(at: index)
                spareTask.keep(done)
                task = done
            } else {
                task = tasks[index]
            }
        }
        let finished = report ? tasks.filter { $0.status == .done } : []
        // (A list emptied by the collection above is left alone.)
        if !tasks.isEmpty { tasks.removeAll { $0.status == .done } }
        return (task, finished)
    }

    /// Runs a command to completion: create_mm creates an mm, anything else runs as a task.
    /// Returns the task (nil for create_mm) and the new mm's id for create_mm.
    public mutating func apply(_ command: Command) throws(CommandError) -> (task: TaskStruct?, mm: Int?) {
        guard let operation = try command.operation() else {
            _ = apply(.createMM(name: command.name))
            return (nil, mms.count)
        }
        return (apply(.perform(operation, pauseAt: nil)).task, nil)
    }
}
