/// The driver-policy interpreter: registration of a policy's notifier, its callbacks as the
/// core calls them, its fault path, and each statement as one atomic step
/// (`driver:<name>:<pointer>`), so that pause_at, the trace, the checker and the explorer
/// apply to a policy as to any kernel path (../shared/DRIVERS.md).
extension World {
    // MARK: Callbacks

    /// The steps of a policy's callback for `call` on `node`, run before the walk moves on:
    /// nothing when the policy lacks the method (the core's `if (mn->ops->method)`), else
    /// each statement, then the callback's return.
    mutating func invokePolicy(_ call: NotifyCall, on node: Int) -> [Step] {
        checkCallbackTarget(call, node)
        let loaded = policies[notifiers[node - 1].policy]
        // The core's five methods are v17's callbacks of the same names.
        let callback = Callback(rawValue: call.kind.rawValue)!
        // The window bookkeeping is the core's view, whether or not the driver has the method.
        // The window a mapping must not be set up in opens when the driver's start has run
        // (driverReturn): a mapping set up before its zap is zapped by it, as kvm's spte set
        // before its invalidate_range_start takes mmu_lock is.
        switch call.kind {
        case .invalidateRangeStart:
            let range = ActiveRange(notifier: node, task: current, start: call.start, end: call.end)
            me.openRanges.append(range)
            if loaded.policy.callbacks[.invalidateRangeStart] == nil { notifiers[node - 1].activeRanges.append(range) }
        case .invalidateRangeEnd:
            let range = ActiveRange(notifier: node, task: current, start: call.start, end: call.end)
            if let index = notifiers[node - 1].activeRanges.firstIndex(of: range) {
                notifiers[node - 1].activeRanges.remove(at: index)
            } else {
                checkUnmatchedEnd(call, node)
            }
            if let index = me.openRanges.firstIndex(of: range) { me.openRanges.remove(at: index) }
        case .release:
            notifiers[node - 1].releaseDone = true
        default:
            break
        }
        guard let program = loaded.callbackPrograms[callback] else { return [] }
        switch call.kind {
        case .release: notifiers[node - 1].counters.release += 1
        case .clearFlushYoung: notifiers[node - 1].counters.clearFlushYoung += 1
        case .invalidatePage: notifiers[node - 1].counters.invalidatePage += 1
        case .invalidateRangeStart: notifiers[node - 1].counters.invalidateRangeStart += 1
        case .invalidateRangeEnd: notifiers[node - 1].counters.invalidateRangeEnd += 1
        case .clearYoung, .testYoung, .archInvalidateSecondaryTLBs: break
        }
        // An aging callback shows when it returns, with what it answered (driverReturn).
        if !callback.ages {
            let pageCall = call.kind == .invalidatePage
            emit(
                EventInfo(
                    TraceCall(call.kind),
                    mm: call.mm,
                    notifier: node,
                    start: pageCall || call.kind == .release ? nil : call.start,
                    end: pageCall || call.kind == .release ? nil : call.end,
                    address: pageCall ? call.start : nil,
                    event: call.event,
                    blockable: call.event == nil ? nil : call.blockable
                )
            )
        }
        var frame = DriverFrame(notifier: node, callback: callback, start: call.start, end: call.end, address: call.start, write: false)
        frame.event = call.event
        frame.blockable = call.blockable
        me.scratch.driverFrames.append(frame)
        // An empty callback (ignore_invalidate_page's) returns at once.
        guard !program.isEmpty else {
            _ = driverReturn(node)
            return []
        }
        return statementSteps(node, program) + [.driverReturn(notifier: node)]
    }

    /// The steps of the statements `ids` of `node`'s policy. (Mutating, as the other readers
    /// the interpreter calls on every statement: a non-mutating method called from a mutating
    /// one gets a copy of the world, every field retained; a mutating one gets it in place.)
    mutating func statementSteps(_ node: Int, _ ids: [Int]) -> [Step] {
        let loaded = policies[notifiers[node - 1].policy]
        return ids.map { loaded.step($0, of: node) }
    }

    /// Pushes the steps of the statements `ids` of `node`'s policy so that the first runs next.
    mutating func pushStatements(_ node: Int, _ ids: [Int]) {
        // One access to the task's program for them all, the policy lent.
        withPolicy(of: node) { world, loaded in world.me.program.pushStatements(ids, of: node, in: loaded) }
    }

    // MARK: The fault path

    /// A policy's secondary fault: its `fault` program, with `address` and `write` as its
    /// arguments and its locals at 0.
    mutating func policyFault(_ node: Int, address: UInt64, write: Bool) -> Exec {
        notifiers[node - 1].counters.faults += 1
        updateResult { $0.retries = 0 }
        return withPolicy(of: node) { world, loaded in
            guard let fault = loaded.faultProgram else {
                world.abort(.EFAULT)
                return .ran
            }
            return world.runProgram(node, fault, address: address, write: write, isFault: true)
        }
    }

    /// A policy's entry point: its program, with `address` and `write` as for a fault.
    mutating func policyEntry(_ node: Int, name: String, address: UInt64, write: Bool) -> Exec {
        let loaded = policies[notifiers[node - 1].policy]
        return runProgram(node, loaded.program(loaded.policy.entries[name]!.pointer), address: address, write: write)
    }

    /// A policy's work item, on the worker task `queue_work` started: its program, with no
    /// page of its own.
    mutating func policyWork(_ node: Int, name: String) -> Exec {
        let loaded = policies[notifiers[node - 1].policy]
        return runProgram(node, loaded.program(loaded.policy.work[name]!.pointer), address: 0, write: false)
    }

    /// Runs the fault path's, an entry's or a work item's program as the task's next steps, in
    /// a frame of its own.
    private mutating func runProgram(_ node: Int, _ program: [Int], address: UInt64, write: Bool, isFault: Bool = false) -> Exec {
        // The frame built where the task keeps it (a frame built first was copied there).
        me.scratch.driverFrames.append(
            DriverFrame(notifier: node, callback: nil, start: address, end: address + pageSize, address: address, write: write, isFault: isFault)
        )
        enterFramedProgram(node, program)
        return .expanded
    }

    /// Enters the statements `statements` of `node`'s policy in `frame`: they are the task's
    /// next steps, then its return.
    mutating func enterProgram(_ node: Int, _ statements: [Int], _ frame: DriverFrame) {
        me.scratch.driverFrames.append(frame)
        enterFramedProgram(node, statements)
    }

    /// `enterProgram` once its frame is the task's innermost.
    private mutating func enterFramedProgram(_ node: Int, _ statements: [Int]) {
        me.program.appendClaimed(.driverReturn(notifier: node))
        pushStatements(node, statements)
    }

    /// The end of a gup's own steps: it succeeded (local `ret` is 0), and a failure later in
    /// the program is no longer its `else`'s.
    mutating func gupDone(_ node: Int) -> Exec {
        frame.gup = nil
        assignRet(node, 0)
        return .expanded
    }

    /// A failure inside a gup whose statement has an `else` (an -errno from handle_mm_fault,
    /// no vma, no permission): the gup's steps go with the locks and read-side sections they
    /// took, local `ret` is the -errno, and the `else` runs. False when no such gup is running
    /// (the caller then fails the task).
    mutating func failIntoGupElse(_ errno: Errno) -> Bool {
        guard let gup = me.scratch.driverFrames.last?.gup, let otherwise = gup.otherwise else { return false }
        let node = frame.notifier
        while let last = me.program.popClaimed() {
            if case .driverGupDone(let owner) = last, owner == node { break }
        }
        me.locks.removeSubrange(gup.locks...)
        me.rcuDepth = gup.rcuDepth
        me.srcuDepth = gup.srcuDepth
        dropGupReference()
        frame.gup = nil
        assignRet(node, -errno.number)
        pushStatements(node, policies[notifiers[node - 1].policy].program(otherwise))
        return true
    }

    /// The end of a callback or of the fault path: its frame goes. A clear_flush_young whose
    /// `age` found a young mapping reports the page referenced.
    mutating func driverReturn(_ node: Int) -> Exec {
        if me.scratch.driverFrames.isEmpty { return .expanded }
        // A program's frame (a fault, an entry, a work item: no callback) is read in place for
        // what its end needs, and dropped: a fault ends so every time.
        if frame.callback == nil {
            let (isFault, ret, address) = (frame.isFault, frame.ret, frame.address)
            me.scratch.driverFrames.removeLast()
            programReturned(node, isFault: isFault, ret: ret, address: address)
            return .expanded
        }
        let frame = me.scratch.driverFrames.removeLast()
        if let callback = frame.callback, callback.ages {
            emit(
                EventInfo(
                    callback == .clearYoung ? .clearYoung : callback == .testYoung ? .testYoung : .clearFlushYoung,
                    mm: notifiers[node - 1].mm,
                    notifier: node,
                    address: frame.address,
                    ret: frame.young ? 1 : 0
                )
            )
            if frame.young { scratch.young = true }
        }
        // A driver whose ->release ran is torn down: it sets up nothing more.
        if frame.callback == .release { notifiers[node - 1].frozen = true }
        if frame.callback == .invalidateRangeStart {
            let range = ActiveRange(notifier: node, task: current, start: frame.start, end: frame.end)
            if frame.ret == -Errno.EAGAIN.number {
                startFailed(node, frame, range)
            } else {
                notifiers[node - 1].activeRanges.append(range)
            }
        }
        // An interval ->invalidate that answered true opens its window until the range's end.
        if frame.callback == .invalidate {
            scratch.intervalAnswer = (frame.ret ?? 1) != 0
            if scratch.intervalAnswer {
                notifiers[node - 1].activeRanges.append(ActiveRange(notifier: node, task: current, start: frame.start, end: frame.end))
            }
        }
        return .expanded
    }

    /// The end of a program's frame (no callback's): a fault that answered -EAGAIN is retried
    /// by its user; a program that answered an -errno fails its task with it.
    private mutating func programReturned(_ node: Int, isFault: Bool, ret: Int?, address: UInt64) {
        if isFault, ret == -Errno.EAGAIN.number { countRetry(node, address: address) }
        if let ret, ret < 0 {
            let errno = Errno.allCases.first { -$0.number == ret } ?? .EFAULT
            updateResult { $0.fail(errno) }
        }
    }

    /// A classic invalidate_range_start that answered -EAGAIN: the walk's caller will call no
    /// end for it, so its range is no longer open; a failure in a blockable range, or from a
    /// driver that has an end (WARN_ON(ops->invalidate_range_end) since c2655835fd8c), breaks
    /// the core's contract.
    private mutating func startFailed(_ node: Int, _ frame: DriverFrame, _ range: ActiveRange) {
        scratch.rangeFailed = true
        let call = NotifyCall(kind: .invalidateRangeStart, mm: notifiers[node - 1].mm, start: frame.start, end: frame.end, event: frame.event)
        if frame.blockable { checkFailedBlockable(call, answer: "-EAGAIN") }
        let hasEnd = policies[notifiers[node - 1].policy].policy.callbacks[.invalidateRangeEnd] != nil
        if hasEnd, !config.has(.unpairedEndOnEagain) {
            report(
                .notifierContract,
                mm: call.mm,
                notifier: node,
                address: frame.start,
                "notifier \(node) (\(notifiers[node - 1].driverName)) failed invalidate_range_start and has an invalidate_range_end: "
                    + "a start that can fail must not implement end (WARN_ON since c2655835fd8c)"
            )
        }
        if !hasEnd, let index = me.openRanges.firstIndex(of: range) { me.openRanges.remove(at: index) }
    }

    /// A callback the core calls outside the list walk (`alloc_notifier` once a get's
    /// subscription is registered, `free_notifier` after put's grace period): its program.
    mutating func callbackProgram(_ node: Int, _ callback: Callback) -> Exec {
        guard let program = policies[notifiers[node - 1].policy].callbackPrograms[callback], !program.isEmpty else { return .ran }
        let frame = DriverFrame(notifier: node, callback: callback, start: 0, end: 0, address: 0, write: false)
        enterProgram(node, program, frame)
        return .ran
    }

    /// A fault that starts over (`retry`) or that the user retries (-EAGAIN): counted on the
    /// notifier and in the answer, and shown as `fault_retry`.
    private mutating func countRetry(_ node: Int, address: UInt64) {
        notifiers[node - 1].counters.retries += 1
        updateResult { $0.retries = ($0.retries ?? 0) + 1 }
        emit(EventInfo(.faultRetry, mm: notifiers[node - 1].mm, notifier: node, address: address))
    }

    /// The running task's innermost driver frame.
    var frame: DriverFrame {
        // Lent in place: reading one field does not copy the frame out (its locals and gup).
        @inline(__always) _read { yield me.scratch.driverFrames[me.scratch.driverFrames.count - 1] }
        // In place: a frame's locals are not copied to change one of them.
        _modify { yield &me.scratch.driverFrames[me.scratch.driverFrames.count - 1] }
    }

    /// Drops the rest of the innermost program (for return and retry), up to its return step.
    mutating func unwindToReturn(_ node: Int) {
        while !me.program.isEmpty, !me.program.nextIsReturn(of: node) {
            _ = me.program.popClaimed()
        }
    }

    // MARK: Statements

    /// Runs one statement of `node`'s policy.
    mutating func driverStatement(_ node: Int, _ id: Int) -> Exec {
        // The statement lent as its policy is (`withPolicy`): a policy's code is a constant of it.
        withPolicy(of: node) { world, loaded in
            Unmanaged.passUnretained(loaded.code[id])._withUnsafeGuaranteedRef { code in world.driverStatement(node, id, code, loaded) }
        }
    }

    /// `body` with the world and the policy of notifier `node`, lent, not retained: the world's
    /// policy table only ever grows (`PolicyTable.index(of:)` appends) and is never replaced
    /// while the world runs a step, so the world holds the policy for the whole call. (A
    /// policy held as a reference read from the world is retained around every call that takes
    /// the world inout, and released after: twice a statement.)
    @inline(__always)
    mutating func withPolicy<R>(of node: Int, _ body: (inout World, LoadedPolicy) -> R) -> R {
        Unmanaged.passUnretained(policies[notifiers[node - 1].policy])._withUnsafeGuaranteedRef { body(&self, $0) }
    }

    /// `driverStatement` of the statement `code` of the policy `loaded`.
    private mutating func driverStatement(_ node: Int, _ id: Int, _ code: StatementCode, _ loaded: LoadedPolicy) -> Exec {
        // A statement that waits changes nothing and shows nothing. The statement's event comes
        // first, then what it does: the value it reads or writes (an expression evaluated once,
        // here, for the event and for what the statement does).
        var shown: Int?
        switch code.kind {
        case .lock:
            let lock = code.driverLock(of: node)
            if me.locks.contains(lock) { return .blocked("\(lock.label) already held by this task: locks are not recursive") }
            if let reason = waitReason(for: lock) { return .blocked(reason) }
        case .wait:
            let holds = evaluate(code, 0, node)
            guard holds != 0 else { return .blocked("\(loaded.stepNames[id].text) waits") }
            shown = holds
        case .mmapLock:
            guard case .mmapLock(let write) = code.statement.action else { break }
            let mm = notifiers[node - 1].mm
            let held = me.locks.contains {
                if case .mmapSem(let owner, _) = $0 { return owner == mm }
                return false
            }
            if held { return .blocked("mmap_sem already held by this task: it is not recursive") }
            if let reason = waitReason(for: .mmapSem(mm: mm, write: write)) { return .blocked(reason) }
        case .inc: shown = value(node, code.name!) + 1
        case .dec: shown = value(node, code.name!) - 1
        case .sample: shown = value(node, code.from!)
        case .evaluates: shown = evaluate(code, 0, node)
        case .other: break
        }
        emit(EventInfo(.driver, mm: notifiers[node - 1].mm, notifier: node, ret: shown, statement: id))
        let result = runStatement(node, code, loaded, id, shown: shown)
        // The program's last statement returns with it: the callback's return is no point where
        // another task can run (an invalidate_range_start's window is open once its last
        // statement has run).
        if case .ran = result, me.program.nextIsReturn(of: node) {
            _ = me.program.popClaimed()
            _ = driverReturn(node)
        }
        return result
    }

    /// Runs statement `id`, whose event showed `shown` (the value an inc, dec or sample
    /// writes, the value of a set, return, if, wait or assert's expression).
    private mutating func runStatement(_ node: Int, _ code: StatementCode, _ loaded: LoadedPolicy, _ id: Int, shown: Int?) -> Exec {
        switch code.statement.action {
        case .lock:
            let lock = code.driverLock(of: node)
            if !lock.isSpinlock { checkStatementMaySleep(node, code.statement) }
            me.locks.append(lock)
        case .trylock:
            let lock = code.driverLock(of: node)
            if waitReason(for: lock) == nil, !me.locks.contains(lock) {
                me.locks.append(lock)
            } else {
                pushStatements(node, code.nested[0])
            }
        case .unlock:
            let lock = code.driverLock(of: node)
            me.locks.drop(lock)
        case .inc, .dec, .set, .sample: assign(node, code.name!, shown!)
        case .wait:
            checkStatementMaySleep(node, code.statement)
        case .sleep:
            checkStatementMaySleep(node, code.statement)
        case .branch:
            // Its then, or its else if it has one (the programs' statements found at load).
            let nested = code.nested
            if shown! != 0 {
                pushStatements(node, nested[0])
            } else if nested.count > 1 {
                pushStatements(node, nested[1])
            }
        case .ret:
            frame.ret = shown!
            unwindToReturn(node)
        case .retry:
            countRetry(node, address: frame.address)
            unwindToReturn(node)
            if let fault = loaded.faultProgram { pushStatements(node, fault) }
        case .zap(let scope, let setDirty, let put):
            let (start, end) = range(scope)
            zapPolicy(node, from: start, to: end, setDirty: setDirty, put: put)
        case .flushTLB(let scope):
            let (start, end) = range(scope)
            flushPolicyTLB(node, from: start, to: end)
        case .age(let scope, let clear):
            let (start, end) = range(scope)
            agePolicy(node, from: start, to: end, clear: clear)
        case .assert(_, let name):
            checkAssertion(node, name: name, at: loaded.stepNames[id].text, holds: shown! != 0)
        case .freeNotifier:
            notifiers[node - 1].freed = true
            emit(EventInfo(.notifierFree, mm: notifiers[node - 1].mm, notifier: node))
        case .gup(_, let pin, let otherwise):
            // get_user_pages_unlocked: it takes and drops mmap_sem itself; a failure runs the
            // `else`, or without one ends the program's task with the -errno.
            let mm = notifiers[node - 1].mm
            frame.pinned = pin
            beginGup(otherwise)
            let mode = AccessMode.gup(write: evaluate(code, 0, node) != 0)
            // Its steps pushed last first (mmap_sem, the fault, its release, the end), with no
            // array to allocate for them.
            let address = frame.address
            me.program.appendClaimed(.driverGupDone(notifier: node))
            me.program.appendClaimed(.release(.mmapSem(mm: mm, write: false)))
            me.program.appendClaimed(.handleFault(mm: mm, address: address, mode: mode))
            me.program.appendClaimed(.acquire(.mmapSem(mm: mm, write: false)))
            return .expanded
        case .lookupPTE(_, let otherwise):
            // atomic_pte_lookup: the pte as it is, no lock, no reference.
            let pte = mms[notifiers[node - 1].mm - 1].pageTable.translation(at: frame.address)
            if pte.isPresent, evaluate(code, 0, node) == 0 || pte.write {
                scratch.lookedUp = pte.pfn
                assignRet(node, 0)
            } else {
                assignRet(node, -Errno.EFAULT.number)
                if otherwise != nil {
                    pushStatements(node, code.nested[0])
                } else {
                    frame.ret = -Errno.EFAULT.number
                    unwindToReturn(node)
                }
            }
        case .install:
            guard !notifiers[node - 1].frozen else {
                failTornDown(node)
                return .ran
            }
            installPolicy(
                node,
                writable: evaluate(code, 0, node) != 0,
                prefetch: code.plainExprs.count > 1 ? evaluate(code, 1, node) : 0
            )
        case .putPage:
            dropGupReference()
        case .synchronize(.rcu):
            // synchronize_rcu sleeps until every reader that started before it has left.
            checkStatementMaySleep(node, code.statement)
            push([.synchronizeRCU])
        case .unregister(release: true):
            // mmu_notifier_unregister on the driver's own notifier, as the core runs it: the
            // ->release it calls (if the notifier is still listed) runs inside, then the grace period.
            checkStatementMaySleep(node, code.statement)
            if case .success(let steps) = plan(.unregister(mm: notifiers[node - 1].mm, notifier: node)) { push(steps) }
        case .mmapLock(let write):
            checkStatementMaySleep(node, code.statement)
            me.locks.append(.mmapSem(mm: notifiers[node - 1].mm, write: write))
        case .mmapUnlock(let write):
            let lock = Lock.mmapSem(mm: notifiers[node - 1].mm, write: write)
            me.locks.drop(lock)
        case .call(let op, let fields):
            runCall(node, op, fields, code)
        case .queueWork(let name):
            // queue_work: a pending item (its worker has not started) is not queued again.
            let work = Operation.work(mm: notifiers[node - 1].mm, notifier: node, name: name)
            if !tasks.contains(where: { $0.operation == work && $0.stepsRun == 0 && $0.status != .done }) { _ = start(work) }
        case .unregister(release: false):
            // mmu_notifier_unregister_no_release (before 5.4): unlink and mmdrop, no ->release,
            // no grace period: freeing the notifier next waits for no reader.
            let mm = notifiers[node - 1].mm
            withLock(.notifierList(mm: mm)) { $0.unlink(node) }
            markUnregistered(node)
            mmdrop(mm)
        case .synchronize(.srcu):
            checkStatementMaySleep(node, code.statement)
            push([.synchronizeSRCU])
        case .put:
            push([.notifierPut(notifier: node)])
        case .setSeq:
            // mmu_interval_set_seq: WRITE_ONCE(interval_sub->invalidate_seq, cur_seq).
            notifiers[node - 1].invalidateSeq = frame.curSeq
        case .readBegin:
            // mmu_interval_read_begin: the subscription's seq under the lock; if a round that
            // hit it is on, sleep until the mm's seq moves.
            let mm = notifiers[node - 1].mm
            let seq = notifiers[node - 1].invalidateSeq
            assign(node, code.name!, seq)
            frame.notifierSeq = seq
            if seq == mms[mm - 1].invalidateSeq {
                checkStatementMaySleep(node, code.statement)
                push([.readBeginWait(mm: mm, seq: seq)])
            }
        case .readRetry:
            if notifiers[node - 1].invalidateSeq != value(node, code.name!) { pushStatements(node, code.nested[0]) }
        case .hmmRangeFault(_, let otherwise):
            // hmm_range_fault under the caller's mmap_lock: -EBUSY if the subscription was
            // invalidated since read_begin, else handle_mm_fault as needed; no page reference.
            let mm = notifiers[node - 1].mm
            beginGup(otherwise)
            push([
                .hmmCheckRetry(notifier: node),
                .handleFault(mm: mm, address: frame.address, mode: .hmm(write: evaluate(code, 0, node) != 0)),
                .driverGupDone(notifier: node),
            ])
            return .expanded
        }
        return .ran
    }

    /// The start of a `gup` or `hmm_range_fault`'s own steps: where a failure unwinds to (the
    /// task's locks and read-side depths now) and the `else` it then runs.
    private mutating func beginGup(_ otherwise: Program?) {
        frame.gup = GupFrame(otherwise: otherwise?.pointer, locks: me.locks.count, rcuDepth: me.rcuDepth, srcuDepth: me.srcuDepth)
    }

    /// A fault that would install after its driver's ->release ran fails with -EFAULT instead
    /// (docs/fidelity.md): the driver's locks the task holds go, and the gup reference.
    private mutating func failTornDown(_ node: Int) {
        me.locks.removeAll {
            if case .driver(let owner, _, _) = $0 { return owner == node }
            return false
        }
        dropGupReference()
        frame.ret = -Errno.EFAULT.number
        unwindToReturn(node)
    }

    /// Drops the reference the last gup took, if the task still holds it (put_page).
    private mutating func dropGupReference() {
        guard scratch.pfn >= 0 else { return }
        putPage(scratch.pfn)
        scratch.pfn = -1
    }

    /// `call`: the driver runs an mm operation on its own mm, as steps of this task (the
    /// operation's own checks and locks: a call that needs a lock the task holds blocks for
    /// good). Local `ret` is 0, or the -errno of an operation refused at its entry.
    private mutating func runCall(_ node: Int, _ op: String, _ fields: [String: Expr], _ code: StatementCode) {
        var command = Command(op: op)
        command.mm = notifiers[node - 1].mm
        command.notifier = node
        // The statement's expressions are its fields', by name.
        for (position, field) in fields.keys.sorted().enumerated() {
            let text: String? = if case .str(let word) = fields[field] { word } else { nil }
            command.set(field: field, number: evaluate(code, position, node), text: text)
        }
        var planned: Result<[Step], Errno> = .failure(.EINVAL)
        if let operation = try? command.operation() { planned = plan(operation) }
        switch planned {
        case .success(let steps):
            assignRet(node, 0)
            push(steps)
        case .failure(let errno):
            assignRet(node, -errno.number)
        }
    }

    /// The range a zap, flush or age covers.
    mutating func range(_ scope: Statement.Scope) -> (UInt64, UInt64) {
        switch scope {
        case .all: (0, taskSize)
        case .page: (frame.address, frame.address + pageSize)
        case .range: (frame.start, frame.end)
        }
    }

    // MARK: Variables and expressions

    /// A variable's value: the instance's, the world's shared one, or the running frame's local,
    /// read in place.
    mutating func value(_ node: Int, _ ref: VarRef) -> Int {
        switch ref {
        case .instance(let index): return notifiers[node - 1].vars[index]
        case .shared(let name, let initial): return sharedVars[name.text] ?? initial
        case .local(let slot):
            guard hasRunningTask else { return 0 }
            return me.scratch.local(slot)
        }
    }

    /// A string's stable number (FNV-1a), so that `{"str": ...}` compares equal to itself alone.
    static func code(_ text: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int(truncatingIfNeeded: hash)
    }

    /// Sets a variable, where `value` finds it. A driver variable written (its own or a shared
    /// one) has the policy invariants checked, as they read driver variables alone: this is
    /// where they can break (a statement's `inc`, `set` or `sample`, or a gup's end writing a
    /// `ret` the policy declares, which is no statement); a task's end checks them all.
    mutating func assign(_ node: Int, _ ref: VarRef, _ newValue: Int) {
        switch ref {
        case .instance(let index):
            notifiers[node - 1].vars[index] = newValue
            if config.checkInvariants { checkPolicyInvariants(of: node) }
        case .shared(let name, _):
            sharedVars[name.text] = newValue
            if config.checkInvariants { checkPolicyInvariants() }
        case .local(let slot):
            me.scratch.setLocal(slot, newValue)
        }
    }

    /// Sets `ret` (what a gup, a lookup_pte or a call answers; a local unless the policy
    /// declares a variable of that name).
    mutating func assignRet(_ node: Int, _ newValue: Int) {
        assign(node, policies[notifiers[node - 1].policy].ret, newValue)
    }

    /// The value of expression `index` of statement `code`; true is 1, false 0. Everything is
    /// read in place: variables, the write argument, and the context from the running task's
    /// innermost frame.
    mutating func evaluate(_ code: StatementCode, _ index: Int, _ node: Int) -> Int {
        code.plainExprs[index].value { leaf in value(node, leaf) }
    }

    /// What a leaf of one of `node`'s expressions reads.
    @inline(__always)
    private mutating func value(_ node: Int, _ leaf: CompiledExpr.Leaf) -> Int {
        switch leaf {
        case .variable(let ref): return value(node, ref)
        case .write:
            guard hasRunningTask else { return 0 }
            return me.scratch.writeArgument() ? 1 : 0
        case .context(let field):
            guard hasRunningTask else { return CompiledExpr.context(field, nil) }
            return CompiledExpr.context(field, me.scratch.driverFrames.last)
        }
    }
}

extension CompiledExpr {
    /// The value, true 1 and false 0, of the expression whose operations are `ops` and whose
    /// stack is `depth` deep, with its leaves (variables, the write argument, the context) read
    /// by `leaf`: one evaluation for the interpreter and the checker's policy invariants, each
    /// reading the world in place.
    @inline(__always)
    static func value(_ ops: UnsafeBufferPointer<Op>, depth: Int, leaf: (Leaf) -> Int) -> Int {
        // The common shapes need no stack: a constant, a leaf, a comparison of two of them
        // (three operations ending in a comparison: its operands are pushes).
        if ops.count == 1, let value = Self.pushed(ops[0], leaf) { return value }
        if ops.count == 3, case .compare(let compare) = ops[2], let x = Self.pushed(ops[0], leaf), let y = Self.pushed(ops[1], leaf) {
            return compare.holds(x, y) ? 1 : 0
        }
        // An `or` or an `and` of two such comparisons (kvm's retry checks), the second compared
        // only when the first does not decide: every operand is a read, so stopping early
        // gives what evaluating both would.
        if ops.count == 7, let pair = Self.twoComparisons(ops, leaf) { return pair }
        return onStack(ops, depth: depth, leaf: leaf)
    }

    /// `value` of an expression of any other shape, through a stack. (Out of line: the stack's
    /// room, and its guard, are made only for these.)
    @inline(never)
    private static func onStack(_ ops: UnsafeBufferPointer<Op>, depth: Int, leaf: (Leaf) -> Int) -> Int {
        // The stack in place for the expressions policies write, on the heap past that.
        if depth <= 8 {
            var stack = InlineArray<8, Int>(repeating: 0)
            var span = stack.mutableSpan
            return run(ops, on: &span, leaf: leaf)
        }
        var stack = [Int](repeating: 0, count: depth)
        var span = stack.mutableSpan
        return run(ops, on: &span, leaf: leaf)
    }

    /// The value of `any(2)` or `all(2)` over two comparisons of pushed values (seven
    /// operations), or nil for any other shape.
    @inline(__always)
    private static func twoComparisons(_ ops: UnsafeBufferPointer<Op>, _ leaf: (Leaf) -> Int) -> Int? {
        let any: Bool
        switch ops[6] {
        case .any(2): any = true
        case .all(2): any = false
        default: return nil
        }
        guard case .compare(let first) = ops[2], case .compare(let second) = ops[5],
            let x = pushed(ops[0], leaf), let y = pushed(ops[1], leaf)
        else { return nil }
        // The first decides an `or` that holds and an `and` that does not.
        if first.holds(x, y) == any { return any ? 1 : 0 }
        guard let u = pushed(ops[3], leaf), let v = pushed(ops[4], leaf) else { return nil }
        return second.holds(u, v) ? 1 : 0
    }

    /// The value a constant or a leaf pushes; nil for an operator.
    @inline(__always)
    private static func pushed(_ op: Op, _ leaf: (Leaf) -> Int) -> Int? {
        switch op {
        case .constant(let number): number
        case .leaf(let read): leaf(read)
        default: nil
        }
    }

    /// The operations `ops` run over `stack`, which has room for their depth of values.
    @inline(__always)
    private static func run(_ ops: UnsafeBufferPointer<Op>, on stack: inout MutableSpan<Int>, leaf: (Leaf) -> Int) -> Int {
        var top = -1
        for op in ops {
            switch op {
            case .constant(let number):
                top += 1
                stack[top] = number
            case .leaf(let read):
                top += 1
                stack[top] = leaf(read)
            case .compare(let compare):
                let (x, y) = (stack[top - 1], stack[top])
                top -= 1
                stack[top] = compare.holds(x, y) ? 1 : 0
            case .all(let count):
                // Every operand is a read: evaluating all of them gives what stopping at
                // the first false one would.
                var holds = 1
                for position in top - count + 1..<top + 1 where stack[position] == 0 { holds = 0 }
                top += 1 - count
                stack[top] = holds
            case .any(let count):
                var holds = 0
                for position in top - count + 1..<top + 1 where stack[position] != 0 { holds = 1 }
                top += 1 - count
                stack[top] = holds
            case .not:
                stack[top] = stack[top] == 0 ? 1 : 0
            case .arithmetic(let arithmetic):
                let (x, y) = (stack[top - 1], stack[top])
                top -= 1
                stack[top] =
                    switch arithmetic {
                    case .min: min(x, y)
                    case .max: max(x, y)
                    case .add: x &+ y
                    case .sub: x &- y
                    case .shift: y >= 0 && y < 64 ? x >> y : 0
                    }
            case .within:
                let (x, low, high) = (stack[top - 2], stack[top - 1], stack[top])
                top -= 2
                stack[top] = low <= x && x < high ? 1 : 0
            }
        }
        return stack[0]
    }

    /// A context field as a program's frame holds it, or as no frame has it (0, blockable 1).
    static func context(_ field: Context, _ frame: DriverFrame?) -> Int {
        switch field {
        case .start: Int(truncatingIfNeeded: frame?.start ?? 0)
        case .end: Int(truncatingIfNeeded: frame?.end ?? 0)
        case .address: Int(truncatingIfNeeded: frame?.address ?? 0)
        case .blockable: (frame?.blockable ?? true) ? 1 : 0
        case .event: frame?.event.map { World.code($0.rawValue) } ?? 0
        case .other: 0
        }
    }
}

extension Expr {
    /// The name a variable, shared or local leaf reads (resolved as `value` resolves it).
    var readName: String? {
        switch self {
        case .variable(let name), .shared(let name), .local(let name): name
        default: nil
        }
    }

    /// Every leaf the expression reads (variables, shared ones, locals, the write argument, the
    /// context, strings), in order; constants left out.
    var leaves: [Expr] {
        switch self {
        case .int, .bool: []
        case .str, .variable, .shared, .local, .arg, .context: [self]
        case .compare(_, let a, let b), .arithmetic(_, let a, let b): a.leaves + b.leaves
        case .all(let operands), .any(let operands): operands.flatMap(\.leaves)
        case .not(let operand): operand.leaves
        case .within(let a, let b, let c): a.leaves + b.leaves + c.leaves
        }
    }
}

extension Callback {
    /// The aging callbacks: they answer whether the secondary saw the page young.
    var ages: Bool { self == .clearFlushYoung || self == .clearYoung || self == .testYoung }
}

/// A driver program a task is running: whose, its context and its locals.
struct DriverFrame: Codable, Hashable, Sendable {
    /// The notifier whose policy runs.
    var notifier: Int
    /// The callback, or nil for the fault path.
    var callback: Callback?
    /// The callback's range, or the fault's page.
    var start: UInt64
    var end: UInt64
    /// The page address.
    var address: UInt64
    /// The fault's `write` argument.
    var write: Bool
    /// The program's locals by slot (`NameResolver.localNames`; 0 until set, and past the end).
    var locals = FrameLocals()
    /// The last gup was a pin: the page's reference moves into the mapping installed.
    var pinned = false
    /// An `age` found a young mapping.
    var young = false
    /// Modern: the callback's range event and whether it is blockable.
    var event: RangeEvent?
    var blockable = true
    /// Modern: an interval ->invalidate's `cur_seq`, for `set_seq`.
    var curSeq = 0
    /// Modern: what the program's last `read_begin` returned (hmm_range_fault's
    /// `range->notifier_seq`).
    var notifierSeq = 0
    /// The program is the fault path (not an entry): an -EAGAIN it returns is a refused
    /// fault that the user retries, counted as a retry (gru's refused dropin).
    var isFault = false
    /// What a `return` gave.
    var ret: Int?
    /// The gup whose steps are running, if any.
    var gup: GupFrame?
}

/// A driver frame's locals by slot, as many as up to the highest slot set, each 0 until set.
/// The first four live in the frame itself (a fault path sets two or three: no array is
/// allocated for them), the rest in an array. It compares, hashes and encodes as the array of
/// its values.
struct FrameLocals: Codable, Hashable, Sendable {
    private var first = InlineArray<4, Int>(repeating: 0)
    private var rest: [Int] = []
    /// One past the highest slot set.
    private(set) var count = 0

    /// The local in `slot`; 0 past the end.
    subscript(slot: Int) -> Int {
        guard slot < count else { return 0 }
        return slot < 4 ? first[slot] : rest[slot - 4]
    }

    /// Sets the local in `slot`, the slots before it 0 if they were past the end.
    mutating func set(_ slot: Int, _ value: Int) {
        if slot >= count {
            if slot >= 4, rest.count < slot - 3 { rest.append(contentsOf: repeatElement(0, count: slot - 3 - rest.count)) }
            count = slot + 1
        }
        if slot < 4 { first[slot] = value } else { rest[slot - 4] = value }
    }

    /// The values, slot by slot.
    var values: [Int] { (0..<count).map { self[$0] } }

    init() {}

    init(_ values: [Int]) {
        for (slot, value) in values.enumerated() { set(slot, value) }
    }

    static func == (a: FrameLocals, b: FrameLocals) -> Bool {
        a.count == b.count && (0..<a.count).allSatisfy { a[$0] == b[$0] }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for slot in 0..<count { hasher.combine(self[slot]) }
    }

    init(from decoder: any Decoder) throws { self.init(try [Int](from: decoder)) }

    func encode(to encoder: any Encoder) throws { try values.encode(to: encoder) }
}

/// A `gup` statement while its steps run: where its `else` is, and the task's locks and
/// read-side depth when it began (a failure unwinds to them).
struct GupFrame: Codable, Hashable, Sendable {
    /// The pointer of the statement's `else`, or nil.
    var otherwise: String?
    /// How many locks the task held.
    var locks: Int
    /// The task's rcu_read_lock depth, and its depth in the modern core's SRCU.
    var rcuDepth: Int
    var srcuDepth: Int
}

extension World {
    /// A driver variable of a notifier (kvm's `seq` and `count`, gru's `count`): an instance
    /// variable, or a shared one its policy declares; nil for a name it does not declare.
    public func variable(_ name: String, of id: Int) -> Int? {
        guard let notifier = notifier(id) else { return nil }
        let loaded = policies[notifier.policy]
        if let index = loaded.varNames.firstIndex(of: name) { return notifier.vars[index] }
        return loaded.policy.sharedVars[name].map { sharedVars[name] ?? $0 }
    }
}
