/// A lock the model's tasks take, named as the kernel names it.
public enum Lock: Codable, Hashable, Sendable {
    /// `mm->mmap_sem`, for read or for write.
    case mmapSem(mm: Int, write: Bool)
    /// `mm->page_table_lock` (the model has one page-table lock per mm).
    case pageTable(mm: Int)
    /// `anon_vma->lock` (a spinlock in 2008); in a modern world `anon_vma->rwsem`, which sleeps.
    case anonVMA(Int, sleeps: Bool = false)
    /// `mapping->i_mmap_lock` of a file (a spinlock in 2008); in a modern world
    /// `i_mmap_rwsem`, which sleeps.
    case iMmap(file: Int, sleeps: Bool = false)
    /// `mm->mmu_notifier_mm->lock`.
    case notifierList(mm: Int)
    /// The global `mm_all_locks_mutex`.
    case allLocksMutex
    /// A lock a driver policy declares, of one notifier's driver instance (`kvm->mmu_lock`).
    case driver(notifier: Int, name: LockName, spin: Bool)

    /// True for spinlocks: holding one makes the context atomic.
    public var isSpinlock: Bool {
        switch self {
        case .mmapSem, .allLocksMutex: false
        case .pageTable, .notifierList: true
        case .anonVMA(_, let sleeps), .iMmap(_, let sleeps): !sleeps
        case .driver(_, _, let spin): spin
        }
    }

    /// True when `self` and `other` cannot be held at once by two tasks.
    func conflicts(with other: Lock) -> Bool {
        switch (self, other) {
        case (.mmapSem(let a, let writeA), .mmapSem(let b, let writeB)):
            a == b && (writeA || writeB)
        default:
            self == other
        }
    }

    /// The lock's name without its instance: what `lock:` and `unlock:` steps are named by.
    public var name: String {
        switch self {
        case .mmapSem: "mmap_sem"
        case .pageTable: "page_table_lock"
        case .anonVMA: "anon_vma"
        case .iMmap: "i_mmap_lock"
        case .notifierList: "mmu_notifier_mm.lock"
        case .allLocksMutex: "mm_all_locks_mutex"
        case .driver(_, let name, _): name.text
        }
    }

    /// The name traces show.
    public var label: String {
        switch self {
        case .mmapSem(_, let write): write ? "mmap_sem:w" : "mmap_sem:r"
        case .pageTable: "page_table_lock"
        case .anonVMA(let id, _): "anon_vma:\(id)"
        case .iMmap(let file, _): "i_mmap_lock:\(file)"
        case .notifierList: "mmu_notifier_mm.lock"
        case .allLocksMutex: "mm_all_locks_mutex"
        case .driver(let notifier, let name, _): "\(name):\(notifier)"
        }
    }
}

extension [Lock] {
    /// Whether a spinlock is among the locks: a task holding them is atomic.
    var holdsSpinlock: Bool { contains { $0.isSpinlock } }

    /// Drops the last hold of `lock`, if there is one: the lock released is most often the
    /// last one taken, removed from the end.
    mutating func drop(_ lock: Lock) {
        if last == lock {
            removeLast()
        } else if let index = lastIndex(of: lock) {
            remove(at: index)
        }
    }
}

/// Where a task stands.
public enum TaskStatus: String, Codable, Hashable, Sendable, CaseIterable {
    /// It can run its next step.
    case runnable
    /// Its next step waits for a lock or a grace period.
    case blocked
    /// It was told to stop before a named step (`pause_at`) and waits for step or resume.
    case paused
    /// It has finished; its result is final.
    case done
}

/// A reader that a grace period waits for: a task and its read-side section count.
public struct ReaderMark: Codable, Hashable, Sendable {
    /// The reading task.
    public var task: Int
    /// The task's `rcuEpoch` when the grace period started.
    public var epoch: Int
}

/// A simulated thread running one operation as a sequence of atomic steps (`task_struct`).
///
/// What a step changes lives behind one reference, copied on write (`TaskState`): a copy of
/// a task, and of a world's tasks (the explorer copies a world at every step it takes), is one
/// retain, not one of each of the task's arrays and strings; a step copies the state of the
/// task it runs alone. Two tasks sharing their state are the same at once.
public struct TaskStruct: Codable, Hashable, Sendable {
    /// The task's id.
    public private(set) var id: Int
    /// The mm it works on, if any (the operation's, kept: the checker asks after every step).
    public private(set) var mm: Int?
    /// True for a driver's worker thread (`queue_work`), which no request started.
    public private(set) var isWorker: Bool
    /// The rest, shared by the copies of the task until one changes it.
    private var storage: Shared<TaskState>

    /// A task that will run `operation` as `program`.
    init(id: Int, operation: Operation, program: [Step]) {
        self.id = id
        mm = operation.mm
        isWorker = Self.isWorker(operation)
        storage = Shared(wrappedValue: TaskState(operation: operation, program: program))
    }

    /// Whether `operation` runs on a driver's worker thread.
    private static func isWorker(_ operation: Operation) -> Bool {
        switch operation {
        case .work, .srcuFree: true
        default: false
        }
    }

    /// Makes this task, whose state no one else holds, a new task `id` that will run
    /// `operation`, as `init` makes one with an empty program: its state's box, and the room of
    /// its arrays, serve again.
    fileprivate mutating func reuse(id: Int, operation: Operation) {
        self.id = id
        mm = operation.mm
        isWorker = Self.isWorker(operation)
        storage.wrappedValue.reset(operation: operation)
    }

    /// The task's state, copied out of a box it shares before it changes.
    var state: TaskState {
        @inline(__always) _read { yield storage.wrappedValue }
        @inline(__always) _modify { yield &storage.wrappedValue }
    }

    /// Whether `other` keeps its state in this task's box: a copy no step changed since.
    func sharesState(with other: TaskStruct) -> Bool { storage.sharesBox(with: other.storage) }

    /// `body` of pointers to this task's state and `other`'s, where their boxes keep them
    /// (`Shared.withValues`): for reading only.
    func withStates<R>(_ other: TaskStruct, _ body: (UnsafePointer<TaskState>, UnsafePointer<TaskState>) -> R) -> R {
        storage.withValues(other.storage, body)
    }

    /// The operation it runs.
    public var operation: Operation { state.operation }
    /// The steps still to run; the last element runs next.
    var program: TaskProgram {
        @inline(__always) _read { yield state.program }
        @inline(__always) _modify { yield &state.program }
    }
    /// The locks it holds, in the order taken.
    public internal(set) var locks: [Lock] {
        @inline(__always) _read { yield state.locks }
        @inline(__always) _modify { yield &state.locks }
    }
    /// Nesting depth of rcu_read_lock.
    public internal(set) var rcuDepth: Int {
        @inline(__always) _read { yield state.rcuDepth }
        @inline(__always) _modify { yield &state.rcuDepth }
    }
    /// Bumped when the outermost rcu_read_unlock runs; grace periods compare it.
    var rcuEpoch: Int {
        @inline(__always) _read { yield state.rcuEpoch }
        @inline(__always) _modify { yield &state.rcuEpoch }
    }
    /// Modern: nesting depth of the notifier core's srcu_read_lock (sleepable: not atomic).
    public internal(set) var srcuDepth: Int {
        @inline(__always) _read { yield state.srcuDepth }
        @inline(__always) _modify { yield &state.srcuDepth }
    }
    /// Bumped when the outermost srcu_read_unlock runs; SRCU grace periods compare it.
    var srcuEpoch: Int {
        @inline(__always) _read { yield state.srcuEpoch }
        @inline(__always) _modify { yield &state.srcuEpoch }
    }
    /// Where it stands.
    public internal(set) var status: TaskStatus {
        @inline(__always) _read { yield state.status }
        @inline(__always) _modify { yield &state.status }
    }
    /// What it waits for when blocked.
    public internal(set) var blockedOn: String? {
        @inline(__always) _read { yield state.blockedOn }
        @inline(__always) _modify { yield &state.blockedOn }
    }
    /// The step name to stop before, if any.
    public internal(set) var pauseAt: String? {
        @inline(__always) _read { yield state.pauseAt }
        @inline(__always) _modify { yield &state.pauseAt }
    }
    /// The result so far; final when done.
    public internal(set) var result: OpResult {
        @inline(__always) _read { yield state.result }
        @inline(__always) _modify { yield &state.result }
    }
    /// Steps run so far.
    public internal(set) var stepsRun: Int {
        @inline(__always) _read { yield state.stepsRun }
        @inline(__always) _modify { yield &state.stepsRun }
    }
    /// Invalidate ranges this task has started and not ended, per notifier.
    var openRanges: [ActiveRange] {
        @inline(__always) _read { yield state.openRanges }
        @inline(__always) _modify { yield &state.openRanges }
    }
    /// Working values passed from one step to a later one.
    var scratch: Scratch {
        @inline(__always) _read { yield state.scratch }
        @inline(__always) _modify { yield &state.scratch }
    }

    /// The name of the operation.
    public var op: String { operation.name }

    /// The depth and epoch of the task's RCU read side, or of the modern core's SRCU one.
    func readSide(srcu: Bool) -> (depth: Int, epoch: Int) {
        srcu ? (srcuDepth, srcuEpoch) : (rcuDepth, rcuEpoch)
    }
    /// The name of the step that runs next, if any.
    public var nextStep: String? { program.last?.name }
    /// True in atomic context: a spinlock or rcu_read_lock is held (v17 RCU disables preemption).
    public var isAtomic: Bool { state.isAtomic }

    private enum CodingKeys: String, CodingKey {
        case id, mm, isWorker
    }

    /// Decodes the task as it encodes: its state's fields beside its id, mm and isWorker.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(Int.self, forKey: .id)
        mm = try container.decodeIfPresent(Int.self, forKey: .mm)
        isWorker = try container.decode(Bool.self, forKey: .isWorker)
        storage = Shared(wrappedValue: try TaskState(from: decoder))
    }

    /// Encodes the task as one object: its state's fields beside its id, mm and isWorker.
    public func encode(to encoder: any Encoder) throws {
        try state.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encodeIfPresent(mm, forKey: .mm)
        try container.encode(isWorker, forKey: .isWorker)
    }
}

/// What a task's steps change: everything of a task but its id, mm and kind.
struct TaskState: Codable, Hashable, Sendable {
    /// The operation it runs.
    @Shared var operation: Operation
    /// The steps still to run; the last element runs next.
    var program: TaskProgram
    /// The locks it holds, in the order taken. (A change makes its code in the trace's tables
    /// unknown: `eventCodes`.)
    var locks: [Lock] = [] {
        didSet { eventCodes.serial = 0 }
    }
    /// The codes of its operation and lock set in the trace's tables, kept for its next events.
    var eventCodes = EventCodes()
    /// Nesting depth of rcu_read_lock.
    var rcuDepth = 0
    /// Bumped when the outermost rcu_read_unlock runs; grace periods compare it.
    var rcuEpoch = 0
    /// Modern: nesting depth of the notifier core's srcu_read_lock (sleepable: not atomic).
    var srcuDepth = 0
    /// Bumped when the outermost srcu_read_unlock runs; SRCU grace periods compare it.
    var srcuEpoch = 0
    /// Where it stands.
    var status: TaskStatus = .runnable
    /// What it waits for when blocked.
    var blockedOn: String?
    /// The step name to stop before, if any.
    var pauseAt: String?
    /// The result so far; final when done.
    @Shared var result = OpResult()
    /// Steps run so far.
    var stepsRun = 0
    /// Invalidate ranges this task has started and not ended, per notifier.
    var openRanges: [ActiveRange] = []
    /// Working values passed from one step to a later one.
    var scratch = Scratch()

    init(operation: Operation, program: [Step]) {
        self.operation = operation
        self.program = TaskProgram(program)
        // Room for the few locks a task holds at once: the array is allocated once, not again
        // when a second lock nests in the first (a gup's page-table lock inside mmap_sem).
        locks.reserveCapacity(4)
    }

    /// Makes this state, which no one else holds, a new task's that will run `operation`, equal
    /// to `init(operation:program: [])`'s (asserted, so that a field added and not reset here
    /// fails the tests): the operation and result boxes are written in place, the arrays
    /// emptied with their room kept.
    mutating func reset(operation: Operation) {
        // A fault after a fault (the commonest succession) takes the new one's numbers alone:
        // a whole operation assigned is copied, and the old one destroyed, by functions that
        // switch over its every case.
        if case .fault(let mm, let notifier, let address, let write) = operation, case .fault = self.operation {
            self.operation = .fault(mm: mm, notifier: notifier, address: address, write: write)
        } else {
            self.operation = operation
        }
        result = OpResult()
        // An array already empty (as a finished task's mostly are) is left alone.
        if !program.isEmpty { program.removeAll(keepingCapacity: true) }
        if !locks.isEmpty { locks.removeAll(keepingCapacity: true) }
        (rcuDepth, rcuEpoch, srcuDepth, srcuEpoch) = (0, 0, 0, 0)
        status = .runnable
        // A string that is there already nil is left alone (an assignment releases the old one).
        if blockedOn != nil { blockedOn = nil }
        if pauseAt != nil { pauseAt = nil }
        stepsRun = 0
        if !openRanges.isEmpty { openRanges.removeAll(keepingCapacity: true) }
        scratch.reset()
        eventCodes = EventCodes()
        assert(self == TaskState(operation: operation, program: []), "a reused task's state is not a new one's")
    }

    /// Sets up the program of a new task that runs `operation` (its steps `steps`, or a
    /// secondary fault's one step), with the mm's user reference `dropUser` dropped at its end,
    /// in one access to the state. (Field by field on the task, each change checked that the
    /// state's box was unique.)
    mutating func begin(_ operation: Operation, pauseAt: String?, dropUser mm: Int?, steps: [Step]) {
        if pauseAt != nil { self.pauseAt = pauseAt }
        // Room for what a short operation pushes (a secondary fault's program and its gup's
        // steps): its program then grows in place (a reused task's has it already). The last
        // step runs first.
        let room = max(16, steps.count + 1)
        if program.capacity < room { program.reserveCapacity(room) }
        if let mm { program.append(.dropUser(mm: mm)) }
        if case .fault(_, let notifier, let address, let write) = operation {
            program.append(World.faultStep(notifier: notifier, address: address, write: write))
        } else {
            program.push(steps)
        }
    }

    /// True in atomic context: a spinlock or rcu_read_lock is held (v17 RCU disables preemption).
    var isAtomic: Bool { rcuDepth > 0 || locks.holdsSpinlock }

    /// Notes a step run, in one access to the state: the task is runnable and waits for
    /// nothing. True when its program is over.
    @inline(__always)
    mutating func ranStep() -> Bool {
        stepsRun += 1
        status = .runnable
        // A wait's reason is released only if there is one (most steps had none).
        if blockedOn != nil { blockedOn = nil }
        return program.isEmpty
    }

    /// Whether the operation and the result of `a` equal `b`'s, by their boxes first (a copy of
    /// a task shares them; the values' own `==` would compare every field of the two).
    static func sameOperationAndResult(_ a: UnsafePointer<TaskState>, _ b: UnsafePointer<TaskState>) -> Bool {
        a.pointee._operation == b.pointee._operation && a.pointee._result == b.pointee._result
    }
}

/// The last task `perform` handed back, kept so that the next task can run in its state's box
/// once the caller has let the task go: no one else can see the box then (a secondary fault
/// otherwise allocates a box, its operation's and result's, and its program's, locks' and
/// frames' arrays, and frees them all at the end). Not part of the world's value
/// (`NotPartOfValue`): a world decoded has none.
struct SpareTask: NotPartOfValue {
    private var task: TaskStruct?

    init() {}

    /// Keeps `task` (finished) for reuse.
    mutating func keep(_ task: TaskStruct) { self.task = task }

    /// The kept task made a new task `id` that will run `operation` with an empty program,
    /// if no one else holds its state any more; nil otherwise (the kept task is dropped).
    mutating func take(id: Int, operation: Operation) -> TaskStruct? {
        // Moved out, not copied: the kept task's box is then referenced by it alone, unless
        // someone else holds it.
        guard var kept = task.take(), kept.storageIsUnique() else { return nil }
        kept.reuse(id: id, operation: operation)
        return kept
    }
}

extension TaskStruct {
    /// Whether no other task value shares this one's state.
    fileprivate mutating func storageIsUnique() -> Bool { storage.isUnique() }

    /// A writer of this task's state in its box, made unique first (`World.claim`).
    fileprivate mutating func stateWriter() -> SharedWriter<TaskState> { storage.writer() }

    /// Whether `writer` writes this task's state.
    fileprivate func isStateWritten(by writer: SharedWriter<TaskState>) -> Bool { storage.isWritten(by: writer) }
}

/// The codes a task's events take from the trace's tables, kept in the task: its lock set's
/// (with whether the set holds a spinlock), known for the tables of serial `serial`, and its
/// operation's, known for those of `opSerial` (0: none known). Every event of a task names
/// them, and looking them up compared the task's lock array with the tables' sets at each
/// event. A change of the task's locks makes its lock set's unknown (`TaskState.locks`), and a
/// new task starts with none. The tables only grow, and a copy of them has a serial of its
/// own, so a code known for a serial is right in those tables, and in any later copy of them,
/// in any copy of the world; another log's tables never match. Not part of the task's value.
struct EventCodes: NotPartOfValue {
    var serial: UInt64 = 0
    var opSerial: UInt64 = 0
    var op: Int32 = 0
    var locks: Int32 = 0
    var spinning = false

    init() {}
}

/// The state of the task whose steps the engine runs, written in place through its box's
/// writer: a step's change to it takes no check that the world's task array and the task's box
/// are unique (two of each change's three; a secondary fault makes some sixty). Not part of the
/// world's value (`NotPartOfValue`), and between steps it holds nothing (a copy of the world
/// between steps shares no writer).
struct RunningTask: NotPartOfValue {
    fileprivate var writer: SharedWriter<TaskState>?

    init() {}
}

extension World {
    /// The running task's state, through its writer: step code runs claimed (`claim`). (Where
    /// its box keeps it, by addressors: no coroutine to call. The writer is unwrapped unchecked
    /// in optimized builds, checked in debug ones, where the tests run: a check at each of a
    /// fault's some sixty reads cost 1% of it.)
    var me: TaskState {
        @inline(__always) unsafeAddress { UnsafePointer(running.writer.unsafelyUnwrapped.pointer) }
        @inline(__always) unsafeMutableAddress { running.writer.unsafelyUnwrapped.pointer }
    }

    /// Whether a task runs (a policy's invariants are also evaluated outside any).
    var hasRunningTask: Bool {
        @inline(__always) get { running.writer != nil }
    }

    /// Runs `body` with task `index` running: `current` is its id and its state is written
    /// through `me`, in place. Its box is made unique first; after, nothing may have written
    /// the state around the writer (a change through `tasks[index]` would have copied the
    /// box away from it: a precondition, cheap, once a run). Claims do not nest: one task runs
    /// at a time.
    @inline(__always)
    mutating func claim<R>(_ index: Int, _ body: (inout World) -> R) -> R {
        precondition(!hasRunningTask, "task \(current) is running")
        let writer = tasks[index].stateWriter()
        running.writer = writer
        current = tasks[index].id
        // Its program its own too: the engine's pushes and pops then check nothing (`TaskProgram`).
        me.program.makeUnique()
        let result = body(&self)
        precondition(tasks[index].isStateWritten(by: writer), "task \(tasks[index].id)'s state was written around its writer")
        running.writer = nil
        return result
    }
}

/// Values that a step leaves for a later step of the same task.
struct Scratch: Codable, Hashable, Sendable {
    /// Frames whose references the current unmap gathered (`mmu_gather`), put when the gather
    /// fills, at the end of a ZAP_BLOCK_SIZE block, or by `tlb_finish_mmu` after the range's end.
    var pendingFree: [Int] = []
    /// `unmap_vmas`' `zap_work`: bytes of the current ZAP_BLOCK_SIZE block left to zap.
    var zapWork = 0
    /// Modern: the mm and range the gather's ptes were cleared in, for the TLB flush's
    /// arch_invalidate_secondary_tlbs at tlb_finish_mmu (mm 0: none).
    var flushMM = 0
    var flushStart: UInt64 = 0
    var flushEnd: UInt64 = 0
    /// `__unmap_hugepage_range`'s `page_list`: huge pages put after its own range's end.
    var hugePages: [Int] = []
    /// The ORed result of the clear_flush_young walk.
    var young = false
    /// A frame the operation holds a reference on (gup result, COW copy, migration target).
    var pfn = -1
    /// Whether the gup result may be mapped writable.
    var writable = false
    /// The child mm a fork is building.
    var child = 0
    /// Frames a reclaim, writeback or migration pass goes through.
    var candidates: [Int] = []
    /// Where the current page of such a pass is mapped.
    var mappings: [Mapping] = []
    /// The mm whose exit_mmap this task runs (its mmput dropped the last user), or 0.
    var exitMmap = 0
    /// The pfn a driver's `lookup_pte` (gru's atomic_pte_lookup) or `hmm_range_fault` found.
    var lookedUp = -1
    /// `lookedUp` is hmm_range_fault's: `writable` says whether its pte is.
    var fromHMM = false
    /// migration: `migrate_page_move_mapping` answered -EAGAIN (someone else holds the page).
    var migrationFailed = false
    /// Modern: a classic invalidate_range_start of the walk failed (-EAGAIN), or an interval
    /// subscription's invalidate answered false in a non-blockable range: the caller
    /// (the OOM reaper) skips the range and calls no end.
    var rangeFailed = false
    /// Modern: what the last interval ->invalidate answered.
    var intervalAnswer = true
    /// The OOM reaper: a VMA of this attempt was skipped.
    var reapFailed = false
    /// The driver programs the task is inside, innermost last (a callback a gup's COW break
    /// calls runs inside the fault that called gup).
    var driverFrames: [DriverFrame] = []
}

extension Scratch {
    /// Makes these values a new task's, with the room of the driver frames' array kept.
    mutating func reset() {
        // Field by field, in place: the arrays keep their room and an empty one is left alone
        // (a new Scratch built and assigned destroyed and rebuilt every field). TaskState.reset
        // asserts the result equals a new task's.
        if !pendingFree.isEmpty { pendingFree.removeAll(keepingCapacity: true) }
        if !hugePages.isEmpty { hugePages.removeAll(keepingCapacity: true) }
        if !candidates.isEmpty { candidates.removeAll(keepingCapacity: true) }
        if !mappings.isEmpty { mappings.removeAll(keepingCapacity: true) }
        if !driverFrames.isEmpty { driverFrames.removeAll(keepingCapacity: true) }
        (zapWork, flushMM, flushStart, flushEnd, child, exitMmap) = (0, 0, 0, 0, 0, 0)
        (pfn, lookedUp) = (-1, -1)
        (young, writable, fromHMM, migrationFailed, rangeFailed, reapFailed) = (false, false, false, false, false, false)
        intervalAnswer = true
    }

    /// The local in `slot` of the innermost driver frame; 0 when no program runs or it never
    /// set it. (Read through the task's read accessors, which lend the scratch in place: no
    /// copy, and no check that the state's box is unique, as a mutating read made.)
    func local(_ slot: Int) -> Int {
        guard let last = driverFrames.indices.last else { return 0 }
        return driverFrames[last].locals[slot]
    }

    /// Sets the local in `slot` of the innermost driver frame, the slots before it 0 if they
    /// were past the end, in one access to the frame.
    mutating func setLocal(_ slot: Int, _ value: Int) {
        driverFrames[driverFrames.count - 1].locals.set(slot, value)
    }

    /// The `write` argument of the innermost driver frame; false when no program runs.
    func writeArgument() -> Bool {
        driverFrames.isEmpty ? false : driverFrames[driverFrames.count - 1].write
    }
}
