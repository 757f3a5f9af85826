/// What running one step did.
public enum StepOutcome: Hashable, Sendable {
    /// A step with this name ran.
    case ran(String)
    /// The next step waits for something (a lock, a grace period).
    case blocked(String)
    /// The task has finished.
    case done
}

/// What `advance` did: `StepOutcome`, the name of the step that ran if asked for (the
/// explorer does not ask).
enum Advance {
    case ran(String?)
    case blocked(String)
    case done
}

/// What executing a step did, inside the engine.
enum Exec {
    /// The step ran and changed the world.
    case ran
    /// The step was a macro: it replaced itself with other steps.
    case expanded
    /// The step cannot run now; nothing changed.
    case blocked(String)
}

extension World {
    // MARK: Running tasks

    /// Starts `operation` as a new task and returns its id; the task has not run a step yet.
    /// A request the model refuses outright (bad range, unknown id) gives a task that is
    /// already done with its errno, having changed nothing.
    public mutating func start(_ operation: Operation, pauseAt: String? = nil) -> Int {
        let id = nextTaskID
        nextTaskID += 1
        var task = spareTask.take(id: id, operation: operation) ?? TaskStruct(id: id, operation: operation, program: [])
        // A registration's policy joins the world's table first: its plan names it by index.
        let subscribe = enterRegisteredPolicy(operation)
        // A secondary fault's one step is built where it goes (the commonest operation: no
        // array, and no value around the step to copy and destroy); any other's come from `plan`.
        var steps: [Step] = []
        var refused: Errno?
        if case .fault(let mm, let notifier, let address, _) = operation {
            refused = unmodelled(operation) ?? faultRefusal(mm: mm, notifier: notifier, address: address)
        } else {
            switch plan(operation) {
            case .success(let planned): steps = planned
            case .failure(let errno): refused = errno
            }
        }
        if let refused {
            task.pauseAt = pauseAt
            task.result.fail(refused)
            task.status = .done
        } else {
            // BUG_ON(atomic_read(&mm->mm_users) <= 0): the caller of mmu_notifier_register, and a
            // thread faulting a secondary MMU, use the mm: a user reference for the whole call.
            let user = holdsUser(operation, subscribe: subscribe)
            if let mm = user { mms[mm - 1].users += 1 }
            task.state.begin(operation, pauseAt: pauseAt, dropUser: user, steps: steps)
        }
        tasks.append(task)
        return id
    }

    /// The policy a registration registers joins the world's table; its subscription, if the
    /// policy is known; nil for any other operation (which builds no policy value to drop).
    private mutating func enterRegisteredPolicy(_ operation: Operation) -> Subscription? {
        let registered: Policy
        switch operation {
        case .register(_, let kind, let bugs, _, _), .registerInterval(_, let kind, let bugs, _, _):
            guard let policy = driverPolicy(kind, bugs: bugs) else { return nil }
            registered = policy
        case .registerPolicy(_, let policy, _, _): registered = policy
        default: return nil
        }
        _ = policies.index(of: registered)
        return registered.subscribe
    }

    /// Runs the next step of a task, whether or not it is paused; macros on the way expand
    /// for free.
    public mutating func step(_ id: Int) -> StepOutcome {
        var statements = false
        return switch advance(id, named: true, statements: &statements) {
        case .ran(let name): .ran(name!)
        case .blocked(let reason): .blocked(reason)
        case .done: .done
        }
    }

    /// `step` for the explorer, which reads no step's name: whether the step ran, and whether a
    /// driver statement ran in it (macros expand into the steps after them: a statement may run
    /// in the step of a core one; the sleep sets ask).
    mutating func stepNotingStatements(_ id: Int) -> (outcome: Advance, ranStatement: Bool) {
        var statements = false
        let outcome = advance(id, named: false, statements: &statements)
        return (outcome, statements)
    }

    /// `step`, with the name of the step that ran only when `named` (`run` does not read it),
    /// noting in `statements` whether a driver statement ran.
    private mutating func advance(_ id: Int, named: Bool, statements: inout Bool) -> Advance {
        guard let index = taskIndex(id) else { return .done }
        if tasks[index].status == .done { return .done }
        return claim(index) { world in world.advanceClaimed(index, named: named, statements: &statements) }
    }

    /// `advance` of task `index`, claimed.
    private mutating func advanceClaimed(_ index: Int, named: Bool, statements: inout Bool) -> Advance {
        while let next = me.program.popClaimed() {
            if case .driverStatement = next { statements = true }
            let name = named ? next.name : nil
            switch execute(consume next) {
            case .expanded:
                // Expansions run for free, unless the task is to pause at what comes next: then
                // they end the step, so that run() sees the pause point (a notifier call with no
                // notifier listed expands to nothing, and the step after it is still a pause point).
                guard let pause = me.pauseAt, let peek = me.program.last, self.pause(pause, stopsAt: peek) else {
                    continue
                }
                fallthrough
            case .ran:
                _ = ranStep(index)
                return .ran(name)
            case .blocked(let reason):
                wait(reason)
                return .blocked(reason)
            }
        }
        programOver(index)
        return .done
    }

    /// Runs a task until it finishes, blocks, or reaches its `pause_at` step; returns where
    /// it stands.
    @discardableResult
    public mutating func run(_ id: Int) -> TaskStatus {
        if let index = taskIndex(id), tasks[index].pauseAt == nil { return runUnpaused(index) }
        while true {
            guard let index = taskIndex(id) else { return .done }
            expandMacros(index)
            if let pause = tasks[index].pauseAt, let next = tasks[index].program.last, self.pause(pause, stopsAt: next) {
                tasks[index].pauseAt = nil
                tasks[index].status = .paused
                return .paused
            }
            var statements = false
            switch advance(id, named: false, statements: &statements) {
            case .ran: continue
            case .blocked: return .blocked
            case .done: return .done
            }
        }
    }

    /// `run` for a task with no pause point: its steps one after another in one loop, each
    /// counted and checked as `advance` counts and checks it (macros expand for free, a
    /// blocked step goes back and blocks the task), without finding the task again and
    /// answering for every step (a secondary fault runs 15 of them).
    private mutating func runUnpaused(_ index: Int) -> TaskStatus {
        if tasks[index].status == .done { return .done }
        return claim(index) { world in world.runClaimed(index) }
    }

    /// `runUnpaused` of task `index`, claimed.
    private mutating func runClaimed(_ index: Int) -> TaskStatus {
        while let next = me.program.popClaimed() {
            switch execute(consume next) {
            case .expanded:
                continue
            case .ran:
                if ranStep(index) { return .done }
            case .blocked(let reason):
                wait(reason)
                return .blocked
            }
        }
        programOver(index)
        return .done
    }

    /// A step of task `index` ran: it is counted, the task finishes if its program is over, and
    /// the step's violations are stamped. True when the task finished.
    @inline(__always)
    private mutating func ranStep(_ index: Int) -> Bool {
        let over = me.ranStep()
        if over { finish(index) }
        stampViolations(lastSeq)
        return over
    }

    /// Task `index`'s program ran out (its last steps were macros): it finishes.
    @inline(__always)
    private mutating func programOver(_ index: Int) {
        finish(index)
        stampViolations(lastSeq)
    }

    /// The running task's next step cannot run now (`execute` put it back): the task waits
    /// for `reason`.
    @inline(__always)
    private mutating func wait(_ reason: String) {
        me.status = .blocked
        me.blockedOn = reason
    }

    /// Lets a paused task run on to the end or to its next blocking point (resume).
    @discardableResult
    public mutating func resume(_ id: Int) -> TaskStatus {
        guard let index = taskIndex(id) else { return .done }
        if tasks[index].status == .paused { tasks[index].status = .runnable }
        let status = run(id)
        wakeBlocked()
        return status
    }

    /// Runs blocked tasks whose wait is over, until none can move; paused tasks stay paused.
    public mutating func wakeBlocked() {
        var progress = true
        while progress {
            progress = false
            // A blocked task tries again; a driver's worker (queue_work) runs once the request
            // that queued it is done, as a kernel worker thread runs later.
            // By index: a loop over the tasks themselves would copy each one.
            var waiting: [(id: Int, stepsRun: Int)] = []
            for index in tasks.indices where tasks[index].status == .blocked || tasks[index].isWorker && tasks[index].status == .runnable {
                waiting.append((tasks[index].id, tasks[index].stepsRun))
            }
            for task in waiting {
                // A blocked step changes nothing, so trying it is the test.
                run(task.id)
                if let after = taskIndex(task.id), tasks[after].stepsRun == task.stepsRun, tasks[after].status != .done {
                    continue
                }
                progress = true
            }
        }
    }

    /// Starts an operation, runs it to completion (or to its pause point or a block), lets
    /// blocked tasks move on, and collects every task that finished: `apply(.perform)`.
    public mutating func perform(_ operation: Operation, pauseAt: String? = nil) -> TaskStruct {
        let id = start(operation, pauseAt: pauseAt)
        run(id)
        return settle(id, report: false).task!
    }

    /// Forgets a finished task.
    public mutating func collect(_ id: Int) {
        tasks.removeAll { $0.id == id && $0.status == .done }
    }

    /// Expands macro steps at the top of a task's program so that its next step is real.
    mutating func expandMacros(_ index: Int) {
        claim(index) { world in
            while world.me.program.nextIsMacro, let next = world.me.program.popClaimed() {
                // (A blocked macro is back on the program: the task's next step.)
                guard case .blocked = world.execute(consume next) else { continue }
                return
            }
        }
    }

    /// The running task, task `index`, is done.
    private mutating func finish(_ index: Int) {
        me.status = .done
        me.blockedOn = nil
        checkTaskFinished(index)
    }

    // MARK: The running task

    /// The index of task `id`. (By index, inlined: a closure over the tasks would copy each task
    /// it looks at, a non-mutating call from a mutating method the world.)
    @inline(__always)
    func taskIndex(_ id: Int) -> Int? {
        for index in tasks.indices where tasks[index].id == id { return index }
        return nil
    }

    /// Pushes steps so that `steps[0]` runs next.
    mutating func push(_ steps: [Step]) {
        me.program.push(steps)
    }

    /// Ends the running operation with an error: its remaining steps are dropped and the
    /// locks it holds are released, so that nothing is left half-done or held.
    mutating func abort(_ errno: Errno) {
        // Inside a driver's gup with an `else`, the failure is the driver's to handle.
        if failIntoGupElse(errno) { return }
        me.result.fail(errno)
        // The call still drops its user reference (the `mmput` at the bottom of its program).
        let mmput = me.program.first.flatMap { step -> Step? in
            if case .dropUser = step { return step }
            return nil
        }
        me.program = mmput.map { [$0] } ?? []
        me.locks.removeAll()
        me.rcuDepth = 0
        me.srcuDepth = 0
    }

    /// Updates the running task's result.
    mutating func updateResult(_ body: (inout OpResult) -> Void) {
        body(&me.result)
    }

    /// The running task's scratch values.
    var scratch: Scratch {
        @inline(__always) get { me.scratch }
        // In place: a change of one value does not copy the others.
        _modify { yield &me.scratch }
    }

    // MARK: Locks

    /// The task other than `id` that holds a lock conflicting with `lock`, if any. (Mutating, as
    /// `waitReason` is: a step asks, and a non-mutating call from a mutating one copies the
    /// world, 304 bytes, to read it.)
    mutating func holder(of lock: Lock, except id: Int) -> Int? {
        for index in tasks.indices where tasks[index].id != id && tasks[index].locks.contains(where: { $0.conflicts(with: lock) }) {
            return tasks[index].id
        }
        return nil
    }

    /// Nil when the running task could take `lock` now; otherwise what it waits for. (Mutating
    /// to read the world in place: every lock a step takes asks, and a non-mutating call from a
    /// step copied the world to read it.)
    mutating func waitReason(for lock: Lock) -> String? {
        // The running task is the only one (a lone fault, at its every lock): no other holder.
        if tasks.count == 1, hasRunningTask { return nil }
        return holder(of: lock, except: current).map { "\(lock.label) held by task \($0)" }
    }

    /// Runs `body` with `locks` added to the running task's held locks, for a step that takes
    /// and drops them inside itself.
    mutating func withLocks<T>(_ locks: [Lock], _ body: (inout World) -> T) -> T {
        holding({ $0.append(contentsOf: locks) }, body)
    }

    /// `withLocks` for one lock (no array to allocate: a fault takes the page-table lock so).
    mutating func withLock<T>(_ lock: Lock, _ body: (inout World) -> T) -> T {
        holding({ $0.append(lock) }, body)
    }

    /// Inlined: its callers' closure that takes the locks then costs no call.
    @inline(__always)
    private mutating func holding<T>(_ take: (inout [Lock]) -> Void, _ body: (inout World) -> T) -> T {
        let before = me.locks.count
        take(&me.locks)
        let result = body(&self)
        let count = me.locks.count
        if count == before + 1 {
            me.locks.removeLast()
        } else if count > before {
            me.locks.removeSubrange(before...)
        }
        return result
    }

    // MARK: Trace

    /// Appends an event with the running task's context.
    @inline(__always)
    mutating func emit(_ info: consuming EventInfo) {
        lastSeq += 1
        stampViolations(lastSeq)
        guard trace.keepsEvents else { return }
        // The running task's context, read in place, once (an event outside any task's step has
        // none), and the statement's codes: each field is then stored once, in the record built
        // whole.
        var (task, mm, op, locks): (Int?, Int?, Int32, Int32) = (nil, info.mm, -1, 0)
        var (inRCU, atomic, inSRCU) = (false, false, false)
        if hasRunningTask {
            task = current
            if mm == nil { mm = me.operation.mm }
            // The task's codes, looked up only when it has none for these tables.
            var codes = me.eventCodes
            if codes.serial != trace.codesSerial {
                if codes.opSerial != trace.codesSerial { codes.op = trace.opCode(name: me.operation.name) }
                codes.locks = trace.lockSetCode(me.locks)
                codes.spinning = trace.holdsSpinlock(codes.locks)
                // Read after the lookups: one that added a code made the tables the log's own, a
                // copy holding every code known before.
                (codes.serial, codes.opSerial) = (trace.codesSerial, trace.codesSerial)
                me.eventCodes = codes
            }
            (op, locks) = (codes.op, codes.locks)
            inRCU = me.rcuDepth > 0
            // `isAtomic`, whether the set holds a spinlock read off its code.
            atomic = inRCU || codes.spinning
            inSRCU = me.srcuDepth > 0
        }
        var statement: Int32 = 0
        if let id = info.statement, let node = info.notifier {
            let policy = notifiers[node - 1].policy
            statement = trace.statementCode(policy: policy, id: id) {
                let loaded = policies[policy]
                return (loaded.code[id].statement.pointer, loaded.policy.name)
            }
        }
        trace.append(
            TraceRecord(
                seq: lastSeq,
                task: task,
                mm: mm,
                op: op,
                call: info.call,
                notifier: info.notifier,
                start: info.start,
                end: info.end,
                address: info.address,
                pfn: info.pfn,
                pages: info.pages,
                locks: locks,
                inRCU: inRCU,
                atomic: atomic,
                ret: info.ret,
                statement: statement,
                inSRCU: inSRCU,
                event: info.event,
                blockable: info.blockable
            )
        )
    }
}
