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
/// - **A policy statement over variables its driver lock guards**: `set`, `inc`, `dec`, `sample`
///   or an `if` of a driver instance whose lock L the task holds, where every statement of the
///   policy that writes a variable it reads holds L when it runs, and every statement that
///   reads or writes a variable it writes holds L too, and no policy invariant reads one it
///   writes (`Guards`, a must-hold analysis of each policy's programs). While the task holds L
///   no other task can run a statement that writes what it reads, or touches what it writes;
///   the core reads no driver variable, and the checker reads them only through invariants.
/// - **The start and end of a notifier walk** (rcu/srcu_read_lock with the list's first node,
///   rcu/srcu_read_unlock, and a modern start's `mn_hlist_invalidate_range_start` when no
///   start failed in its walk: then it owes no end, and runs the srcu_read_unlock alone),
///   while the list cannot change and nobody can wait for a grace
///   period: every task runs an operation that neither links nor unlinks a notifier nor
///   synchronizes (no register, unregister, exit, entry, work item, put or SRCU free), and no
///   policy loaded has a statement that would (unregister, put, synchronize, queue_work, call).
///   Then the list they read is constant, and the read-side depth they write is read by no one.
/// - **The core's call of a callback that opens or closes no window** (clear_flush_young,
///   clear_young, test_young, invalidate_page, and an invalidate_range_start whose driver has
///   one: its window opens when the driver's start returns), under the same conditions, and
///   when no policy frees its notifier: it pushes the driver's frame and program and notes the
///   range the task has open (the task's own), counts the call in the notifier's counters, and
///   reads the list and whether the notifier is freed or unregistered.
///
/// - **mmap_sem taken for read** (a gup's first step, or the core's) while no other task holds
///   it for write or has a step left that takes it so, and nobody trylocks it; **an anon_vma
///   lock taken** while no other task walks the rmap or takes every lock (`anonVMAUncontended`).
/// - **A fault's `retry`**: it unwinds and restarts the task's own fault and counts the retry
///   in its notifier's counters, which every step only adds to and none reads.
/// - **A user reference dropped** (`mmput` at the end of a secondary fault or a register)
///   that is not the last, while every task runs an operation of the list above: none of them
///   reads the mm's user count.
///
/// The step must run as itself (not expand into others), must not end its program unless the
/// return pops the task's own frame alone (the return after the last statement of an
/// invalidate_range_start, an interval invalidate, a release, a fault's or an entry's program
/// reads and writes shared state: `returnsOwnStateOnly`), and must not break an
/// invariant (a violation is visible: the state is expanded whole). It may end its task when
/// it is a lock given up or a user reference dropped, the task leaves no range open, nobody
/// reads whether a task is done (queue_work and grace periods, `listOrGrace`) and another task
/// is left to run (a last step that ends the schedule is expanded whole). After running it
/// the search checks that nothing but the task's program, driver frames, scratch, held locks
/// (one given up), read-side depths, open ranges, result, status (done), guarded driver variables, its notifier's
/// counters and the user count it dropped changed, and expands the state whole if anything else did.
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
        /// Some policy frees its notifier (`free_notifier`): whether a notifier is freed may change.
        var frees = false
        /// Some policy takes mmap_sem for write (`mmap_lock` write).
        var mmapWrites = false
        /// Each loaded policy's guards, by its index in the world's policy table.
        var guards: [Guards] = []

        init(_ world: World) {
            guards = world.policies.loaded.map(Guards.init)
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
                for code in loaded.code {
                    switch code.statement.action {
                    case .trylock: trylocks = true
                    case .unregister, .put, .synchronize, .queueWork, .call: listOrGrace = true
                    case .freeNotifier: frees = true
                    case .mmapLock(true): mmapWrites = true
                    default: break
                    }
                }
            }
        }
    }

    /// Whether `task`'s next step is of a kind that qualifies, and runs as itself.
    func isReducible(_ world: World, task id: Int) -> Bool {
        guard let index = world.taskIndex(id) else { return false }
        // Read in place: a copy of the task retains each of its arrays.
        return isReducible(world, world.tasks[index])
    }

    private func isReducible(_ world: World, _ task: borrowing TaskStruct) -> Bool {
        let id = task.id
        guard !task.isWorker, task.status != .done, let step = task.program.last else { return false }
        // A task's last step ends it: only a lock given up or a user reference dropped may be
        // that, when the task leaves no range open and nobody reads whether a task is done
        // (queue_work, a grace period: `listOrGrace`).
        if task.program.count == 1 {
            guard !facts.listOrGrace, task.openRanges.isEmpty else { return false }
            switch step {
            case .release, .mmapDowngrade, .dropUser: break
            default: return false
            }
        }
        switch step {
        case .release, .mmapDowngrade:
            guard !facts.trylocks else { return false }
        case .dropUser(let mm):
            // Not the last user (the last runs exit_mmap), and nobody else reads the count: every
            // task's operation is on the list of `listOrGrace` (no exit, no register).
            guard !facts.listOrGrace, mm >= 1, mm <= world.mms.count, world.mms[mm - 1].users > 1 else { return false }
        case .notify, .rcuReadUnlock, .srcuReadUnlock:
            guard !facts.listOrGrace else { return false }
        case .callback(let call, let node):
            // The core's call of a callback that opens or closes no window: it pushes the
            // driver's program and frame (the task's own), counts the call, and reads the list
            // and whether the notifier is freed or unregistered, which nobody changes.
            guard !facts.listOrGrace, !facts.frees, node >= 1, node <= world.notifiers.count else { return false }
            switch call.kind {
            case .clearFlushYoung, .clearYoung, .testYoung, .invalidatePage: break
            case .invalidateRangeEnd:
                // It closes the task's window (a removal from the notifier's open ranges, which
                // commutes with another task's opening or closing of its own): only an install
                // of the notifier's reads the window.
                guard !world.tasks.contains(where: { $0.id != id && $0.status != .done && mayInstall($0, on: node, world) }) else { return false }
            case .invalidateRangeStart:
                // Without a start of its own the core opens the window at once.
                guard world.policies[world.notifiers[node - 1].policy].policy.callbacks[.invalidateRangeStart] != nil else { return false }
            default: return false
            }
        case .acquire(.mmapSem(let mm, false)):
            guard mmapReadUncontended(world, mm: mm, except: id) else { return false }
        case .acquire(.anonVMA):
            guard anonVMAUncontended(world, except: id) else { return false }
        case .rangeStartDone:
            // With no start failed in its walk it is the walk's srcu_read_unlock.
            guard !facts.listOrGrace, !task.scratch.rangeFailed else { return false }
        case .driverStatement(let node, let statement, _):
            // The program's last statement runs its return too: that pops the task's own frame
            // (and notes a young page in its own scratch) for a callback listed in
            // `returnsOwnStateOnly`; other returns open a range, fail a task or tear a driver down.
            if case .driverReturn = task.program[task.program.count - 2], !Self.returnsOwnStateOnly(task) { return false }
            guard node >= 1, node <= world.notifiers.count else { return false }
            let loaded = world.policies[world.notifiers[node - 1].policy]
            guard statement < loaded.code.count else { return false }
            switch loaded.code[statement].statement.action {
            case .unlock, .mmapUnlock: guard !facts.trylocks else { return false }
            case .set(let name, let expr) where loaded.isLocal(name) && loaded.readsLocalsOnly(expr): break
            case .inc(let name) where loaded.isLocal(name), .dec(let name) where loaded.isLocal(name): break
            case .branch(let condition, _, _) where loaded.readsLocalsOnly(condition): break
            case .retry: break
            case .gup(let write, _, _) where loaded.readsLocalsOnly(write):
                // Its first step takes mmap_sem for read (get_user_pages_unlocked).
                guard mmapReadUncontended(world, mm: world.notifiers[node - 1].mm, except: id) else { return false }
            case .set, .inc, .dec, .branch, .sample:
                let guards = facts.guards[world.notifiers[node - 1].policy]
                guard guards.isGuarded(statement, heldBy: task, node: node) else { return false }
            default: return false
            }
        default:
            return false
        }
        // A walk start runs as itself unless it expands (an empty list, an interval pass) into
        // whatever comes next; the other kinds always run as themselves.
        guard case .notify = step else { return true }
        var probe = world
        guard let index = probe.taskIndex(id) else { return false }
        probe.tasks[index].program.removeLast()
        return probe.claim(index) { probe in
            if case .ran = probe.execute(step) { return true }
            return false
        }
    }

    /// Whether taking `mm`'s mmap_sem for read now commutes with whatever the tasks but `id` can
    /// do: none holds it for write or has a step left that takes it so (the core takes it for
    /// write only in a step its plan put in the program; the operations that might push one
    /// later, register's and a policy's `mmap_lock` write, are ruled out), and none reads it
    /// without waiting (a trylock). Readers do not exclude each other.
    func mmapReadUncontended(_ world: World, mm: Int, except id: Int) -> Bool {
        guard !facts.trylocks, !facts.listOrGrace, !facts.mmapWrites else { return false }
        for index in world.tasks.indices where world.tasks[index].id != id && world.tasks[index].status != .done {
            if world.tasks[index].locks.contains(.mmapSem(mm: mm, write: true)) { return false }
            let writes = world.tasks[index].program.contains {
                if case .acquire(.mmapSem(mm, true)) = $0 { return true }
                return false
            }
            if writes { return false }
        }
        return true
    }

    /// Whether taking an anon_vma lock now commutes with whatever the tasks but `id` can do: none
    /// walks the rmap (reclaim, writeback, migration, page_idle: `rmapLock`), and none takes
    /// every lock (register's mm_take_all_locks, ruled out with `listOrGrace`). Nothing else
    /// takes an anon_vma lock or asks who holds one.
    func anonVMAUncontended(_ world: World, except id: Int) -> Bool {
        guard !facts.listOrGrace else { return false }
        return !world.tasks.contains { task in
            guard task.id != id, task.status != .done else { return false }
            switch task.operation {
            case .reclaim, .writeback, .migrate, .pageIdle: return true
            default: return false
            }
        }
    }

    /// Whether `task` may yet run an `install` statement of notifier `node`'s policy: one among
    /// the statements its program holds, the programs nested in them, and the fault program a
    /// `retry` among them starts again; or any, when the task may yet enter one of the policy's
    /// programs (its fault, an entry, a work item, a callback with an install).
    func mayInstall(_ task: TaskStruct, on node: Int, _ world: World) -> Bool {
        let loaded = world.policies[world.notifiers[node - 1].policy]
        func installs(_ id: Int) -> Bool {
            if case .install = loaded.code[id].statement.action { return true }
            return false
        }
        // A callback that installs may be entered by any core step (a notification).
        if loaded.policy.callbacks.values.contains(where: { program in loaded.program(program.pointer).contains(where: installs) }) {
            return true
        }
        var pending: [Int] = []
        for step in task.program {
            switch step {
            case .driverStatement(node, let statement, _): pending.append(statement)
            case .secondaryFault(node, _, _), .driverEntry(node, _, _, _), .driverWork(node, _), .callbackProgram(node, _): return true
            default: break
            }
        }
        var seen = Set<Int>()
        while let id = pending.popLast() {
            guard seen.insert(id).inserted, id < loaded.code.count else { continue }
            if installs(id) { return true }
            for inner in loaded.code[id].statement.nested { pending.append(contentsOf: loaded.program(inner.pointer)) }
            if case .retry = loaded.code[id].statement.action, let fault = loaded.policy.fault {
                pending.append(contentsOf: loaded.program(fault.pointer))
            }
        }
        return false
    }

    /// Whether the return of the task's innermost driver program changes nothing but the task's
    /// own scratch (`driverReturn`): a callback other than invalidate_range_start and the
    /// interval `invalidate` (whose returns open a range or report a failed start), `release`
    /// (whose return freezes its driver) and the programs with no callback (a fault's or an
    /// entry's, whose return may fail the task or count a retry).
    static func returnsOwnStateOnly(_ task: TaskStruct) -> Bool {
        switch task.scratch.driverFrames.last?.callback {
        case .clearFlushYoung?, .clearYoung?, .testYoung?, .invalidatePage?, .invalidateRangeEnd?, .archInvalidateSecondaryTLBs?: true
        default: false
        }
    }

    /// Whether going from `before` to `after`, task `id` changed nothing but its program, its
    /// scratch (its driver frames among it), its step count, its read-side depths, the ranges
    /// it has open, its held locks (one given up or downgraded) and, for a driver statement, its driver instance's
    /// variables (the guarded ones, `Guards`).
    static func changedOwnStateOnly(_ before: World, _ after: World, task id: Int) -> Bool {
        guard let index = before.tasks.firstIndex(where: { $0.id == id }), after.tasks.count == before.tasks.count,
            after.violations.count == before.violations.count
        else { return false }
        let old = before.tasks[index]
        let new = after.tasks[index]
        let kept = new.locks.filter { old.locks.contains($0) }
        // A lock given up, mmap_sem downgraded, or mmap_sem taken for read or an anon_vma lock.
        let taken: Bool = {
            guard new.locks.count == old.locks.count + 1, Array(new.locks.dropLast()) == old.locks else { return false }
            switch new.locks.last {
            case .mmapSem(_, false)?, .anonVMA?: return true
            default: return false
            }
        }()
        guard new.locks == old.locks || (kept == new.locks && new.locks.count == old.locks.count - 1) || downgraded(old.locks, new.locks) || taken
        else {
            return false
        }
        var task = new
        if new.status == .done {
            task.status = old.status
            task.blockedOn = old.blockedOn
        }
        task.result = old.result
        task.program = old.program
        task.locks = old.locks
        task.stepsRun = old.stepsRun
        task.scratch = old.scratch
        // Read by the task's own end alone.
        task.openRanges = old.openRanges
        task.rcuDepth = old.rcuDepth
        task.rcuEpoch = old.rcuEpoch
        task.srcuDepth = old.srcuDepth
        task.srcuEpoch = old.srcuEpoch
        guard task.sameState(old) else { return false }
        var rest = after
        rest.tasks[index] = old
        switch old.program.last {
        case .driverStatement(let node, _, _)? where node >= 1 && node <= rest.notifiers.count && node <= before.notifiers.count:
            rest.notifiers[node - 1].vars = before.notifiers[node - 1].vars
            rest.notifiers[node - 1].counters = before.notifiers[node - 1].counters
        case .callback(let call, let node)? where node >= 1 && node <= rest.notifiers.count && node <= before.notifiers.count:
            rest.notifiers[node - 1].counters = before.notifiers[node - 1].counters
            // An end closes the task's own window: its range leaves the open ones.
            if call.kind == .invalidateRangeEnd {
                var open = before.notifiers[node - 1].activeRanges
                if let index = open.firstIndex(where: { $0.task == id && $0.start == call.start && $0.end == call.end }) { open.remove(at: index) }
                guard rest.notifiers[node - 1].activeRanges == open else { return false }
                rest.notifiers[node - 1].activeRanges = before.notifiers[node - 1].activeRanges
            }
        case .dropUser(let mm)? where mm >= 1 && mm <= rest.mms.count && mm <= before.mms.count:
            guard rest.mms[mm - 1].users == before.mms[mm - 1].users - 1 else { return false }
            rest.mms[mm - 1].users = before.mms[mm - 1].users
        default:
            break
        }
        rest.trace = before.trace
        rest.lastSeq = before.lastSeq
        rest.current = before.current
        rest.tablesVisited = before.tablesVisited
        return rest.sameState(before)
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
    /// fault's arguments and the callback's context (a name read as `value` resolves it: the
    /// driver's variable, else a shared one, else a local).
    func readsLocalsOnly(_ expr: Expr) -> Bool { expr.leaves.compactMap(\.readName).allSatisfy(isLocal) }
}

extension Search {
    /// Which driver locks guard which of a policy's variables: for each statement, the locks
    /// its task holds whenever it runs (a must-hold analysis of each program from its entry,
    /// where no driver lock is held: after a branch, the locks both ways hold; a retry's or a
    /// return's path is joined as if it went on, which only shrinks the sets), and for each
    /// variable the locks held at every statement that writes it, and at every one that reads
    /// or writes it. Smaller sets than the truth only take fewer steps alone.
    struct Guards {
        /// For each statement (by id), the locks of which any, held by its task when it runs
        /// next, guard everything it reads and writes; empty when none does.
        private var guarding: [Set<LockName>] = []

        init(_ loaded: LoadedPolicy) {
            var held = Array(repeating: Set<String>(), count: loaded.code.count)
            var visited = Array(repeating: false, count: loaded.code.count)
            func walk(_ pointer: String, _ entry: Set<String>) -> Set<String> {
                var locks = entry
                for id in loaded.program(pointer) {
                    held[id] = visited[id] ? held[id].intersection(locks) : locks
                    visited[id] = true
                    locks = held[id]
                    switch loaded.code[id].statement.action {
                    case .lock(let name): locks.insert(name)
                    case .unlock(let name): locks.remove(name)
                    default: break
                    }
                    // A nested list runs with the locks held before the statement (a trylock's
                    // `else` without the lock it failed to take); after it, what both ways hold.
                    for inner in loaded.code[id].statement.nested { locks.formIntersection(walk(inner.pointer, held[id])) }
                }
                return locks
            }
            for program in loaded.policy.programs { _ = walk(program.pointer, []) }
            // Per variable, the locks held wherever it is written, and wherever it is touched.
            let accesses = loaded.code.map { Self.accesses($0.statement.action, loaded) }
            var writeGuard: [String: Set<String>] = [:]
            var accessGuard: [String: Set<String>] = [:]
            for (id, access) in accesses.enumerated() {
                for name in access.writes { writeGuard[name] = writeGuard[name]?.intersection(held[id]) ?? held[id] }
                for name in access.reads.union(access.writes) { accessGuard[name] = accessGuard[name]?.intersection(held[id]) ?? held[id] }
            }
            var invariantReads: Set<String> = []
            for invariant in loaded.invariants { invariantReads.formUnion(Self.reads(invariant.holds, loaded)) }
            // A statement that may touch any variable (a call, a work item, a shared variable)
            // leaves none guarded.
            let opaque = accesses.contains(where: \.any)
            guarding = accesses.enumerated().map { id, access in
                guard !opaque, access.writes.isDisjoint(with: invariantReads) else { return [] }
                let guards = held[id].filter { lock in
                    access.reads.allSatisfy { writeGuard[$0]?.contains(lock) ?? true }
                        && access.writes.allSatisfy { accessGuard[$0]?.contains(lock) ?? false }
                }
                return Set(guards.map { LockName($0) })
            }
        }

        /// Whether `statement` (an id), run next by `task` on notifier `node`, touches only
        /// locals and variables a lock the task holds guards.
        func isGuarded(_ statement: Int, heldBy task: TaskStruct, node: Int) -> Bool {
            let locks = guarding[statement]
            return !locks.isEmpty
                && task.locks.contains { lock in
                    if case .driver(node, let name, _) = lock { return locks.contains(name) }
                    return false
                }
        }

        /// The driver variables a statement reads and writes (locals left out), and whether it
        /// may touch any (shared variables, calls, work, anything not listed). A name resolves
        /// as `value` resolves it: the driver's variable, else a shared one, else a local.
        private static func accesses(_ action: Statement.Action, _ loaded: LoadedPolicy) -> (reads: Set<String>, writes: Set<String>, any: Bool) {
            func variable(_ name: String) -> Set<String> { loaded.varNames.contains(name) ? [name] : [] }
            func shared(_ name: String) -> Bool { !loaded.varNames.contains(name) && loaded.sharedInitial(name) != nil }
            func expressions(_ exprs: [Expr], writing written: [String] = []) -> (Set<String>, Set<String>, Bool) {
                let names = exprs.flatMap(\.leaves).compactMap(\.readName)
                return (
                    names.reduce(into: []) { $0.formUnion(variable($1)) }, written.reduce(into: []) { $0.formUnion(variable($1)) },
                    (names + written).contains(where: shared)
                )
            }
            switch action {
            case .lock, .unlock, .trylock, .sleep, .retry, .zap, .flushTLB, .age, .setSeq, .freeNotifier, .mmapLock, .mmapUnlock, .putPage,
                .put, .synchronize, .unregister:
                return ([], [], false)
            case .inc(let name), .dec(let name): return (variable(name), variable(name), shared(name))
            case .set(let name, let expr): return expressions([expr], writing: [name])
            case .sample(let local, let from): return expressions([.variable(from)], writing: [local])
            case .wait(let expr), .ret(let expr), .assert(let expr, _), .branch(let expr, _, _): return expressions([expr])
            case .readBegin(let local): return expressions([], writing: [local])
            case .readRetry(let local, _): return expressions([.variable(local)])
            // They answer in the local `ret`.
            case .gup(let write, _, _), .hmmRangeFault(let write, _), .lookupPTE(let write, _): return expressions([write], writing: ["ret"])
            case .install(let writable, let prefetch): return expressions([writable] + (prefetch.map { [$0] } ?? []))
            case .call, .queueWork: return ([], [], true)
            }
        }

        /// The driver variables an expression reads.
        private static func reads(_ expr: Expr, _ loaded: LoadedPolicy) -> Set<String> {
            Set(expr.leaves.compactMap(\.readName).filter(loaded.varNames.contains))
        }
    }
}

/// Sleep sets (Godefroid 1996, chapter 5), on top of the steps taken alone: once a state's step
/// of task u has been explored, a later step t of that state whose order with u does not matter
/// (independent in that state: either order reaches the same state, and neither disables the
/// other) leaves u asleep in the state t reaches, and u is not stepped there: that order is the
/// state u then t reached. u stays asleep for as long as each step taken is independent of it.
/// A state met again with a sleep set that wakes some of its asleep tasks has those stepped
/// (Godefroid's rule for a search that keeps states), so every state reachable is still
/// reached: sleep sets cut steps, not states.
///
/// Independence is decided first from what the two steps read and write:
/// - a driver statement that touches only its own driver's instance variables and a spinlock of
///   its (`DriverAccess`: lock, unlock, inc, dec, set, sample, if) is independent of a step of
///   another task that ran no driver statement, did not end its task (a task's end reads every
///   driver variable: the policy invariants) and broke nothing. Core steps read no driver
///   variable or lock; a statement's checks read its own task's locks;
/// - two such statements are independent when they are another driver's, or take different
///   locks and neither writes a variable the other reads or writes.
///
/// Any other pair (two core steps: a fault's put_page and munmap's zap of another page, reclaim's
/// walk and a callback) is independent in the state when running it in both orders shows it
/// (`commute`): both run, nothing breaks, the same state. That is exact for this state, which is
/// all a sleep set is (Godefroid and Pirottin, "Refining dependencies improves partial-order
/// verification methods", CAV 1993); the steps run to test it are not steps of the search.
extension Search {
    /// A step taken from a state: the task, the world it led to, whether a driver statement ran.
    struct Taken {
        var task: Int
        var world: World
        var ranStatement: Bool

        /// Task `task`'s next step from `world`: what it did, and the step (its world unchanged
        /// when the step was blocked).
        static func take(_ task: Int, from world: World) -> (outcome: Advance, step: Taken) {
            var next = world
            let (outcome, statements) = next.stepNotingStatements(task)
            return (outcome, Taken(task: task, world: next, ranStatement: statements))
        }
    }

    /// What the driver statement a task runs next reads and writes: its notifier, the instance
    /// variables by index, the spinlock it takes or gives up.
    struct DriverAccess {
        var node: Int
        var reads: Set<Int> = []
        var writes: Set<Int> = []
        var lock: String?
    }

    /// The access of task `id`'s next step, when it is a driver statement of that kind: nil for
    /// any other step, for a statement that touches shared variables, sleeps (a mutex, a wait),
    /// or ends its program with a return that does more than pop its frame, and for a write
    /// when its policy has an invariant checked at every step (its check would be part of it).
    func driverAccess(_ world: World, task id: Int) -> DriverAccess? {
        guard let index = world.taskIndex(id) else { return nil }
        // Read in place: a copy of the task retains each of its arrays.
        return driverAccess(world, world.tasks[index])
    }

    private func driverAccess(_ world: World, _ task: borrowing TaskStruct) -> DriverAccess? {
        guard task.status != .done, task.program.count >= 2, case .driverStatement(let node, let statement, _)? = task.program.last,
            node >= 1, node <= world.notifiers.count
        else { return nil }
        if case .driverReturn = task.program[task.program.count - 2], !Self.returnsOwnStateOnly(task) { return nil }
        let loaded = world.policies[world.notifiers[node - 1].policy]
        guard statement < loaded.code.count else { return nil }
        var access = DriverAccess(node: node)
        // The instance variables a name or an expression reads (nil when one is shared).
        func variables(_ names: [String]) -> Set<Int>? {
            var found: Set<Int> = []
            for name in names {
                if let variable = loaded.varNames.firstIndex(of: name) {
                    found.insert(variable)
                } else if loaded.sharedInitial(name) != nil {
                    return nil
                }
            }
            return found
        }
        func reads(_ expr: Expr) -> Set<Int>? { variables(expr.leaves.compactMap(\.readName)) }
        switch loaded.code[statement].statement.action {
        case .lock(let name):
            guard loaded.code[statement].spin else { return nil }
            access.lock = name
        case .unlock(let name):
            access.lock = name
        case .inc(let name), .dec(let name):
            guard let touched = variables([name]) else { return nil }
            access.reads = touched
            access.writes = touched
        case .set(let name, let expr):
            guard let written = variables([name]), let read = reads(expr) else { return nil }
            access.reads = read
            access.writes = written
        case .sample(let local, let from):
            guard let written = variables([local]), let read = variables([from]) else { return nil }
            access.reads = read
            access.writes = written
        case .branch(let condition, _, _):
            guard let read = reads(condition) else { return nil }
            access.reads = read
        default:
            return nil
        }
        if !access.writes.isEmpty, loaded.invariants.contains(where: { !$0.quiescentOnly }) { return nil }
        return access
    }

    /// Whether `step`, taken from `world`, touched no driver variable or lock: it ran no driver
    /// statement, wrote no driver variable (a gup's end writes `ret`, which a policy may declare),
    /// did not end its task, and broke nothing.
    static func touchedNoDriver(_ world: World, _ step: Taken) -> Bool {
        guard !step.ranStatement, step.world.violations.count == world.violations.count, step.world.task(step.task)?.status != .done,
            step.world.sharedVars == world.sharedVars, step.world.notifiers.count == world.notifiers.count
        else { return false }
        return step.world.notifiers.indices.allSatisfy { step.world.notifiers[$0].vars == world.notifiers[$0].vars }
    }

    /// Whether the next steps of tasks `u` and `t` are independent in `world`: from what they
    /// read and write when that decides, else by running them in both orders (`commute`). `t`
    /// was taken (`step`, its `driverAccess` `b`, read once for every u); `u`'s step is known
    /// when it was taken from this state too (`uStep`), else it is run here once and kept there.
    func independent(_ world: World, _ u: Int, _ uStep: inout Taken?, _ step: Taken, stepAccess b: DriverAccess?) -> Bool {
        switch (driverAccess(world, task: u), b) {
        case (let a?, let b?):
            guard a.node == b.node else { return true }
            if let lock = a.lock, lock == b.lock { return false }
            if a.writes.isDisjoint(with: b.reads.union(b.writes)) && b.writes.isDisjoint(with: a.reads) { return true }
        case (_?, nil):
            if Self.touchedNoDriver(world, step) { return true }
        case (nil, _?):
            if let uStep, Self.touchedNoDriver(world, uStep) { return true }
        case (nil, nil):
            break
        }
        if uStep == nil {
            let (outcome, taken) = Taken.take(u, from: world)
            guard case .ran = outcome else { return false }
            uStep = taken
        }
        return uStep.map { Self.commute(world, $0, step) } ?? false
    }

    /// Whether two steps taken from `world` commute there as they run: each order runs both
    /// (neither disables the other), breaks nothing on the way, and reaches the same state
    /// (Godefroid and Pirottin's conditional independence, CAV 1993: independence in a state,
    /// which is all a sleep set needs of the steps taken from it).
    static func commute(_ world: World, _ first: Taken, _ second: Taken) -> Bool {
        let violations = world.violations.count
        var one = first.world
        var other = second.world
        guard one.violations.count == violations, other.violations.count == violations,
            case .ran = one.stepNotingStatements(second.task).outcome, case .ran = other.stepNotingStatements(first.task).outcome,
            one.violations.count == violations, other.violations.count == violations
        else { return false }
        return one.sameFuture(other)
    }

    /// The sleep set of the state `step` reaches from `world`: the tasks of `asleep` (those
    /// asleep in `world`, and the ones stepped from it before, `taken`) independent of it.
    /// `asleep` tasks not taken from `world` whose steps were run to test them are kept in
    /// `sleepers`, for the next step's test.
    func sleepAfter(_ world: World, _ step: Taken, asleep: UInt64, taken: [Taken], sleepers: inout [Taken]) -> UInt64 {
        var sleep: UInt64 = 0
        var rest = asleep
        let access = rest == 0 ? nil : driverAccess(world, task: step.task)
        while rest != 0 {
            let u = rest.trailingZeroBitCount
            rest &= rest - 1
            var uStep = taken.first { $0.task == u } ?? sleepers.first { $0.task == u }
            let known = uStep != nil
            if independent(world, u, &uStep, step, stepAccess: access) { sleep |= 1 << UInt64(u) }
            if !known, let uStep { sleepers.append(uStep) }
        }
        return sleep
    }
}
