/// Partial-order reduction: a state whose next step of some task is independent of every step
/// any other task can take before it (in every state they can reach) need not be expanded
/// with the other tasks' steps too: their orders before and after that step reach the same
/// states (a persistent set of one step: Godefroid, "Partial-Order Methods for the
/// Verification of Concurrent Systems", 1996). Which steps qualify follows from what the
/// model's code reads and writes:
///
/// - **A lock given up**: the core's `unlock:` steps and `mmap_write_downgrade`, a policy's
///   `unlock` and `mmap_unlock`. They write the task's held locks alone, which another task
///   reads only to take a conflicting lock, and that blocks (no step) while this one is held.
///   A trylock reads them without blocking, so none qualifies when another task may trylock:
///   an OOM reaper (mmap_read_trylock) or a policy with a `trylock` statement.
/// - **A policy statement over the task's locals**: `set`, `inc` or `dec` of a local, an `if`
///   whose condition reads locals, the fault's arguments and the callback's context. They read
///   and write the task's own driver frame, which no other task reads. The policy invariants
///   checked after every statement read the driver's variables, which only statements change,
///   each checking them after itself.
/// - **The start and end of a notifier walk** (rcu/srcu_read_lock with the list's first node,
///   rcu/srcu_read_unlock), while the list cannot change and nobody can wait for a grace
///   period: every task runs an operation that neither links nor unlinks a notifier nor
///   synchronizes (no register, unregister, exit, entry, work item, put or SRCU free), and no
///   policy loaded has a statement that would (unregister, put, synchronize, queue_work, call).
///   Then the list they read is constant, and the read-side depth they write is read by no one.
///
/// The step must run as itself (not expand into others), must not end its task or its program
/// (the return after a program's last statement reads and writes shared state), and must not
/// break an invariant (a violation is visible: the state is expanded whole). After running it
/// the search checks that nothing but the task's program, driver frames, scratch, held locks
/// (one given up) and read-side depths changed, and expands the state whole if anything else did.
///
/// The cycle proviso: a step that reaches a state already seen at this depth or less is not
/// taken alone, so every cycle of the reduced graph has a state expanded whole and no step of
/// another task is put off for ever. Those states are known before a level is expanded, so the
/// reduced graph is the same whatever the number of jobs.
extension Search {
    /// What the tasks and policies of an exploration allow (computed once, at its start).
    struct Facts {
        /// Some task may trylock: no lock given up is taken alone.
        var trylocks = false
        /// Some task may link or unlink a notifier, or wait for a grace period.
        var listOrGrace = false

        init(_ world: World) {
            for task in world.tasks where task.status != .done {
                switch task.operation {
                case .oomReap: trylocks = true
                case .mmap, .munmap, .mprotect, .mremap, .madviseDontneed, .touch, .fork, .reclaim, .writeback, .migrate, .fault, .access,
                    .pageIdle, .khugepagedScan:
                    break
                default: listOrGrace = true
                }
            }
            for loaded in world.policies.loaded {
                for statement in loaded.statements {
                    switch statement.action {
                    case .trylock: trylocks = true
                    case .unregister, .put, .synchronize, .queueWork, .call: listOrGrace = true
                    default: break
                    }
                }
            }
        }
    }

    /// Whether `task`'s next step is of a kind that qualifies, and runs as itself.
    func isReducible(_ world: World, task id: Int) -> Bool {
        guard let index = world.tasks.firstIndex(where: { $0.id == id }) else { return false }
        let task = world.tasks[index]
        guard !task.isWorker, task.status != .done, task.program.count > 1, let step = task.program.last else { return false }
        switch step {
        case .release, .mmapDowngrade:
            guard !facts.trylocks else { return false }
        case .notify, .rcuReadUnlock, .srcuReadUnlock:
            guard !facts.listOrGrace else { return false }
        case .driverStatement(let node, let statement, _):
            // The program's last statement runs its return too.
            if case .driverReturn = task.program[task.program.count - 2] { return false }
            guard node >= 1, node <= world.notifiers.count else { return false }
            let loaded = world.policies[world.notifiers[node - 1].policy]
            guard statement < loaded.statements.count else { return false }
            switch loaded.statements[statement].action {
            case .unlock, .mmapUnlock: guard !facts.trylocks else { return false }
            case .set(let name, let expr): guard loaded.isLocal(name) && loaded.readsLocalsOnly(expr) else { return false }
            case .inc(let name), .dec(let name): guard loaded.isLocal(name) else { return false }
            case .branch(let condition, _, _): guard loaded.readsLocalsOnly(condition) else { return false }
            default: return false
            }
        default:
            return false
        }
        // A walk start runs as itself unless it expands (an empty list, an interval pass) into
        // whatever comes next; the other kinds always run as themselves.
        guard case .notify = step else { return true }
        var probe = world
        probe.current = id
        probe.tasks[index].program.removeLast()
        if case .ran = probe.execute(step) { return true }
        return false
    }

    /// Whether going from `before` to `after`, task `id` changed nothing but its program, its
    /// scratch (its driver frames among it), its step count, its read-side depths and its held
    /// locks (one given up or downgraded).
    static func changedOwnStateOnly(_ before: World, _ after: World, task id: Int) -> Bool {
        guard let index = before.tasks.firstIndex(where: { $0.id == id }), after.tasks.count == before.tasks.count,
            after.violations.count == before.violations.count
        else { return false }
        let old = before.tasks[index]
        let new = after.tasks[index]
        let kept = new.locks.filter { old.locks.contains($0) }
        guard new.locks == old.locks || (kept == new.locks && new.locks.count == old.locks.count - 1) || downgraded(old.locks, new.locks) else {
            return false
        }
        var task = new
        task.program = old.program
        task.locks = old.locks
        task.stepsRun = old.stepsRun
        task.scratch = old.scratch
        task.rcuDepth = old.rcuDepth
        task.rcuEpoch = old.rcuEpoch
        task.srcuDepth = old.srcuDepth
        task.srcuEpoch = old.srcuEpoch
        guard task == old else { return false }
        var rest = after
        rest.tasks[index] = old
        rest.trace = before.trace
        rest.lastSeq = before.lastSeq
        rest.current = before.current
        rest.tablesVisited = before.tablesVisited
        return rest == before
    }

    /// `mmap_write_downgrade`: one mmap_sem held for write is now held for read.
    private static func downgraded(_ old: [Lock], _ new: [Lock]) -> Bool {
        guard old.count == new.count else { return false }
        let changed = zip(old, new).filter { $0 != $1 }
        guard changed.count == 1, case .mmapSem(let a, true) = changed[0].0, case .mmapSem(let b, false) = changed[0].1 else { return false }
        return a == b
    }
}

extension LoadedPolicy {
    /// A name that is neither one of the driver's variables nor a shared one: a local.
    func isLocal(_ name: String) -> Bool {
        !varNames.contains(name) && sharedInitial(name) == nil
    }

    /// Whether an expression reads only the running task's driver frame: constants, locals, the
    /// fault's arguments and the callback's context.
    func readsLocalsOnly(_ expr: Expr) -> Bool {
        switch expr {
        case .int, .bool, .str, .arg, .context, .local: true
        case .variable(let name): isLocal(name)
        case .shared: false
        case .compare(_, let a, let b), .arithmetic(_, let a, let b): readsLocalsOnly(a) && readsLocalsOnly(b)
        case .all(let operands), .any(let operands): operands.allSatisfy(readsLocalsOnly)
        case .not(let operand): readsLocalsOnly(operand)
        case .within(let a, let b, let c): readsLocalsOnly(a) && readsLocalsOnly(b) && readsLocalsOnly(c)
        }
    }
}
