/// A loaded policy with what the interpreter looks up while it runs: its statements by id, and
/// its variables by position. Immutable, and shared by reference between copies of a world.
public final class LoadedPolicy: Sendable {
    /// The policy, with the variants it was registered with applied.
    public let policy: Policy
    /// The variants applied.
    public var variants: [String] { policy.applied }
    /// Each statement's program: the ids of the statements of a program, by its pointer.
    let programs: [String: [Int]]
    /// The step name of each statement: `driver:<name>:<pointer>`, as its step carries it.
    let stepNames: [InternedName]
    /// The name each statement's step had when the built-in kinds ran in Swift, which
    /// `pause_at` still takes (`lock:mmu_lock`, `install_spte`), or nil.
    let oldStepNames: [String?]
    /// The policy's invariants (kept apart: the checker reads them after every step).
    let invariants: [PolicyInvariant]
    /// What each invariant holds, compiled, in buffers of the policy's own (`PlainExprs`): the
    /// checker evaluates them after steps without retaining anything.
    let holds: PlainExprs
    /// Every invariant holds only when no operation is in flight on the mm (`quiescent`).
    let quiescentOnly: Bool
    /// The invariants read no shared variable: a notifier's own variables decide them alone.
    let invariantsReadOwnVarsOnly: Bool
    /// The instance variables in a fixed order (by name): a notifier holds their values so.
    public let varNames: [String]
    /// Where the local `ret` lives (gup, lookup_pte and call answer in it).
    let ret: VarRef
    /// Every statement, nested ones included, by id, with its names and expressions resolved:
    /// one reference a statement, so that running one copies no string, array or expression.
    let code: [StatementCode]
    /// The statement ids of the fault path, and of each callback the policy has.
    let faultProgram: [Int]?
    let callbackPrograms: [Callback: [Int]]

    init(_ policy: Policy) {
        self.policy = policy
        var statements: [Statement] = []
        var programs: [String: [Int]] = [:]
        func visit(_ program: Program) {
            programs[program.pointer] = Array(statements.count..<statements.count + program.statements.count)
            statements += program.statements
            program.statements.flatMap(\.nested).forEach(visit)
        }
        policy.programs.forEach(visit)
        self.programs = programs
        stepNames = statements.map { InternedName("driver:\(policy.name):\($0.pointer)") }
        oldStepNames = statements.map { Self.oldStepName($0.action, tlb: policy.tlb) }
        varNames = policy.vars.keys.sorted()
        let localNames = NameResolver.localNames(statements, varNames: varNames, sharedVars: policy.sharedVars)
        let resolver = NameResolver(varNames: varNames, sharedVars: policy.sharedVars, localNames: localNames, locks: policy.locks)
        let compiled = statements.map { [resolver, programs] statement in
            var compiled = resolver.compile(statement.action)
            compiled.nested = statement.nested.map { programs[$0.pointer] ?? [] }
            return compiled
        }
        ret = resolver.ref("ret")
        code = zip(statements, compiled).map { StatementCode(statement: $0, compiled: $1) }
        faultProgram = policy.fault.map { programs[$0.pointer] ?? [] }
        callbackPrograms = policy.callbacks.mapValues { programs[$0.pointer] ?? [] }
        invariants = policy.invariants
        holds = PlainExprs(invariants.map { [resolver] in resolver.compile($0.holds) })
        quiescentOnly = policy.invariants.allSatisfy(\.quiescentOnly)
        invariantsReadOwnVarsOnly = policy.invariants.allSatisfy { invariant in
            invariant.holds.leaves.allSatisfy { leaf in
                guard let name = leaf.readName, case .shared = resolver.ref(name) else { return true }
                return false
            }
        }
    }

    /// The step that runs statement `id` for notifier `node`.
    @inline(__always)
    func step(_ id: Int, of node: Int) -> Step { .driverStatement(notifier: node, statement: id, name: stepNames[id]) }

    /// The old step name of a statement: a driver lock's `lock:NAME`, and the steps of the
    /// built-in kinds' fault paths (kvm's with its TLB in front of sptes, gru's TLB alone,
    /// and the pinning kinds' without a TLB).
    private static func oldStepName(_ action: Statement.Action, tlb: TLBMode) -> String? {
        switch action {
        case .lock(let name): "lock:\(name)"
        case .unlock(let name): "unlock:\(name)"
        case .sample: tlb == .only ? "ms_range_active" : "mmu_notifier_seq"
        case .lookupPTE: "atomic_pte_lookup"
        case .install:
            switch tlb {
            case .only: "tlb_dropin"
            case .withTable: "install_spte"
            case .none: "map_pinned"
            }
        case .putPage: "kvm_release_pfn_clean"
        case .retry: "fault_retry"
        default: nil
        }
    }

    /// The initial value of the shared variable `name`, or nil when the policy declares none
    /// of that name (most declare none: no key to hash then).
    func sharedInitial(_ name: String) -> Int? {
        policy.sharedVars.isEmpty ? nil : policy.sharedVars[name]
    }

    /// The statement ids of the program at `pointer`.
    func program(_ pointer: String) -> [Int] { programs[pointer] ?? [] }
}

/// The policies a world's notifiers run, each with its variants applied. A world keeps the
/// ones registered so far; copies share them.
public struct PolicyTable: Hashable, Sendable, Codable {
    /// The loaded policies, by index.
    public private(set) var loaded: [LoadedPolicy] = []

    /// An empty table.
    public init() {}

    /// The index of `policy` (variants applied), adding it if it is new.
    mutating func index(of policy: Policy) -> Int {
        if let found = find(policy) { return found }
        loaded.append(LoadedPolicy(policy))
        return loaded.count - 1
    }

    /// The index of `policy`, if the table holds it.
    func find(_ policy: Policy) -> Int? {
        loaded.firstIndex { $0.policy == policy }
    }

    /// The policy at `index`.
    public subscript(index: Int) -> LoadedPolicy { loaded[index] }

    /// Equal tables hold the same policies; a shared one compares by identity alone. (Read in
    /// place: a walk over copies of the elements retains each policy, which every world of an
    /// exploration shares, on every comparison of two states.)
    public static func == (a: PolicyTable, b: PolicyTable) -> Bool {
        a.loaded.count == b.loaded.count
            && a.loaded.withUnsafeBufferPointer { x in
                b.loaded.withUnsafeBufferPointer { y in
                    x.baseAddress == y.baseAddress || x.indices.allSatisfy { x[$0] === y[$0] || x[$0].policy == y[$0].policy }
                }
            }
    }

    /// Hashes how many policies there are (equal tables hold the same ones).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(loaded.count)
    }

    /// Writes the policies.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(loaded.map(\.policy))
    }

    /// Reads the policies back, loading each document again.
    public init(from decoder: any Decoder) throws {
        for policy in try decoder.singleValueContainer().decode([Policy].self) { _ = index(of: policy) }
    }
}

/// Where a name a statement reads or writes lives, resolved once when the policy loads as
/// `value` resolves it at run time: the driver's variable, else a shared one, else a local.
enum VarRef: Hashable, Sendable {
    /// An instance variable, by its index in `varNames`.
    case instance(Int)
    /// A shared variable and its initial value (the name interned: a reference holds no
    /// string, and is copied as plain bits).
    case shared(InternedName, initial: Int)
    /// A local of the running frame, by its slot.
    case local(Int)
}

/// An expression with its names resolved and its strings numbered: what the interpreter
/// evaluates on every statement (an `Expr` would look each name up by string). It is kept
/// flat, its operations in postfix order over a stack of values, so that evaluating it walks
/// one array of plain values (a tree of indirect enums retained and released every node it
/// visited).
struct CompiledExpr: Sendable {
    /// What an operation reads from the world (`value(_:depth:leaf:)` asks for it).
    enum Leaf: Sendable {
        case variable(VarRef)
        /// The fault's `write` argument.
        case write
        /// A field of the running frame's context.
        case context(Context)
    }

    /// One operation: a leaf or a constant pushes a value, an operator pops its operands and
    /// pushes its result. Plain data.
    enum Op: Sendable {
        case constant(Int)
        case leaf(Leaf)
        case compare(Compare)
        /// All of the top `count` values are true (1).
        case all(Int)
        /// Any of the top `count` values is true.
        case any(Int)
        case not
        case arithmetic(Arithmetic)
        /// x, low, high: low <= x < high.
        case within
    }

    /// The context fields an expression reads (DRIVERS.md's context).
    enum Context: Sendable {
        case start, end, address, blockable, event, other
    }

    /// A comparison (DRIVERS.md's eq, ne, lt, le, gt, ge).
    enum Compare: Sendable {
        case eq, ne, lt, le, gt, ge

        /// Whether `x` compares so with `y`.
        @inline(__always)
        func holds(_ x: Int, _ y: Int) -> Bool {
            switch self {
            case .eq: x == y
            case .ne: x != y
            case .lt: x < y
            case .le: x <= y
            case .gt: x > y
            case .ge: x >= y
            }
        }
    }

    /// An arithmetic operator (DRIVERS.md's min, max, add, sub, shr).
    enum Arithmetic: Sendable {
        case min, max, add, sub, shift
    }

    /// The operations in postfix order.
    private(set) var ops: [Op] = []
    /// The most values on the stack at once.
    private(set) var depth = 1

    /// A constant.
    static func constant(_ number: Int) -> CompiledExpr { CompiledExpr(ops: [.constant(number)]) }

    /// A leaf.
    static func leaf(_ leaf: Leaf) -> CompiledExpr { CompiledExpr(ops: [.leaf(leaf)]) }

    /// `op` over `operands`. Each operand leaves one value on the stack, on top of the values
    /// of those before it: the stack is deepest while one of them runs.
    static func apply(_ op: Op, to operands: [CompiledExpr]) -> CompiledExpr {
        var expr = CompiledExpr(ops: operands.flatMap(\.ops) + [op])
        for (position, operand) in operands.enumerated() { expr.depth = max(expr.depth, position + operand.depth) }
        return expr
    }
}

/// A statement and its compiled form, kept together behind one reference. The compiled
/// form's fields are the class's own constants: a field read is a load, not a copy of the
/// whole form with its arrays retained.
final class StatementCode: Sendable {
    let statement: Statement
    /// `CompiledStatement.name`: what inc, dec, set and read_begin write, sample's local,
    /// read_retry's.
    let name: VarRef?
    /// `CompiledStatement.from`: what a sample reads.
    let from: VarRef?
    /// `CompiledStatement.spin`: a lock, unlock or trylock's lock is a spinlock.
    let spin: Bool
    /// `CompiledStatement.lock`: a lock, unlock or trylock's lock name.
    let lock: LockName?
    /// `CompiledStatement.nested`: the statement ids of its nested programs.
    let nested: [[Int]]
    /// `CompiledStatement.exprs`, its expressions in the order its action lists them, each in
    /// a buffer of the statement's own as plain values (`PlainExprs`): what the interpreter
    /// evaluates (`World.evaluate(_:_:_:)`).
    let plainExprs: PlainExprs
    /// What the interpreter does before the statement's event, read as a byte (the action
    /// itself is an indirect enum: a switch over it loads its box).
    let kind: Kind

    /// What comes before a statement's event: a check that it may run now, the value it shows.
    enum Kind {
        /// May wait for the lock.
        case lock
        /// Waits until its condition holds, and shows it.
        case wait
        /// May wait for mmap_sem.
        case mmapLock
        /// Shows the value it writes.
        case inc, dec, sample
        /// Shows its expression's value (set, return, if, assert).
        case evaluates
        /// Shows nothing and never waits.
        case other
    }

    init(statement: Statement, compiled: CompiledStatement) {
        self.statement = statement
        (name, from, spin, lock, nested) = (compiled.name, compiled.from, compiled.spin, compiled.lock, compiled.nested)
        plainExprs = PlainExprs(compiled.exprs)
        kind =
            switch statement.action {
            case .lock: .lock
            case .wait: .wait
            case .mmapLock: .mmapLock
            case .inc: .inc
            case .dec: .dec
            case .sample: .sample
            case .set, .ret, .branch, .assert: .evaluates
            default: .other
            }
    }

    /// The lock a lock, unlock or trylock statement names, of notifier `node`'s driver.
    func driverLock(of node: Int) -> Lock { .driver(notifier: node, name: lock!, spin: spin) }
}

/// Compiled expressions, each in a buffer of plain operations that this owner allocates and
/// frees when it goes (a statement's expressions, a policy's invariants). One read out is plain
/// data, copied without a retain (a `CompiledExpr` read out of an array retains its
/// operations); it is valid while its owner is, which the interpreter and the checker lend.
/// Not copyable: one owner frees each buffer once.
struct PlainExprs: ~Copyable, Sendable {
    private let items: [PlainExpr]

    /// Buffers of `exprs`' operations.
    init(_ exprs: [CompiledExpr]) {
        items = exprs.map { expr in
            let buffer = UnsafeMutableBufferPointer<CompiledExpr.Op>.allocate(capacity: expr.ops.count)
            _ = buffer.initialize(from: expr.ops)
            return PlainExpr(ops: UnsafeBufferPointer(buffer), depth: expr.depth)
        }
    }

    deinit {
        for item in items { item.ops.deallocate() }
    }

    var count: Int { items.count }

    subscript(index: Int) -> PlainExpr { items[index] }
}

/// One of `PlainExprs`: its operations and its stack's depth. Unchecked Sendable: the buffer
/// is written once, before its owner is shared.
struct PlainExpr: @unchecked Sendable {
    let ops: UnsafeBufferPointer<CompiledExpr.Op>
    let depth: Int

    /// Made by `PlainExprs` alone, which owns the buffer.
    fileprivate init(ops: UnsafeBufferPointer<CompiledExpr.Op>, depth: Int) { (self.ops, self.depth) = (ops, depth) }

    /// The expression's value (`CompiledExpr.value(_:depth:leaf:)`).
    @inline(__always)
    func value(leaf: (CompiledExpr.Leaf) -> Int) -> Int { CompiledExpr.value(ops, depth: depth, leaf: leaf) }
}

/// A statement's names and expressions, resolved when its policy loads.
struct CompiledStatement: Sendable {
    /// The variable it names: what inc, dec, set and read_begin write, sample's local,
    /// read_retry's.
    var name: VarRef?
    /// What a sample reads.
    var from: VarRef?
    /// Its expressions, in the order its action lists them (a set's value; a condition; a
    /// gup's write; an install's writable, then its prefetch; a call's fields, by name).
    var exprs: [CompiledExpr] = []
    /// A lock, unlock or trylock's lock is a spinlock.
    var spin = false
    /// A lock, unlock or trylock's lock name, interned once.
    var lock: LockName?
    /// The statement ids of its nested programs, in `Statement.nested`'s order (an if's then and
    /// else, a trylock's or lookup_pte's else, a read_retry's then): found once, not by pointer
    /// at every run.
    var nested: [[Int]] = []
}

/// Resolves a policy's names as `value` does (the driver's variable, else a shared one, else
/// a local by its slot) and compiles its expressions.
struct NameResolver {
    let varNames: [String]
    let sharedVars: [String: Int]
    let localNames: [String]
    /// The policy's locks and their kinds.
    let locks: [String: DriverLockKind]

    /// Where `name` lives (every local a statement names has its slot: `localNames`).
    func ref(_ name: String) -> VarRef {
        if let index = varNames.firstIndex(of: name) { return .instance(index) }
        if let initial = sharedVars[name] { return .shared(InternedName(name), initial: initial) }
        return .local(localNames.firstIndex(of: name) ?? localNames.count)
    }

    /// `expr` with its names resolved.
    func compile(_ expr: Expr) -> CompiledExpr {
        switch expr {
        case .int(let number): return .constant(number)
        case .bool(let flag): return .constant(flag ? 1 : 0)
        case .str(let text): return .constant(World.code(text))
        case .variable(let name), .shared(let name), .local(let name): return .leaf(.variable(ref(name)))
        case .arg: return .leaf(.write)
        case .context(let name):
            let fields: [String: CompiledExpr.Context] = [
                "start": .start, "end": .end, "address": .address, "blockable": .blockable, "event": .event,
            ]
            return .leaf(.context(fields[name] ?? .other))
        case .compare(let op, let a, let b):
            let ops: [String: CompiledExpr.Compare] = ["eq": .eq, "ne": .ne, "lt": .lt, "le": .le, "gt": .gt]
            return .apply(.compare(ops[op] ?? .ge), to: [compile(a), compile(b)])
        case .all(let operands): return .apply(.all(operands.count), to: operands.map(compile))
        case .any(let operands): return .apply(.any(operands.count), to: operands.map(compile))
        case .not(let operand): return .apply(.not, to: [compile(operand)])
        case .arithmetic(let op, let a, let b):
            let ops: [String: CompiledExpr.Arithmetic] = ["min": .min, "max": .max, "add": .add, "sub": .sub]
            return .apply(.arithmetic(ops[op] ?? .shift), to: [compile(a), compile(b)])
        case .within(let x, let low, let high): return .apply(.within, to: [compile(x), compile(low), compile(high)])
        }
    }

    /// A statement's names and expressions.
    func compile(_ action: Statement.Action) -> CompiledStatement {
        switch action {
        case .inc(let name), .dec(let name), .readBegin(let name), .readRetry(let name, _): CompiledStatement(name: ref(name))
        case .set(let name, let expr): CompiledStatement(name: ref(name), exprs: [compile(expr)])
        case .sample(let local, let from): CompiledStatement(name: ref(local), from: ref(from))
        case .wait(let expr), .ret(let expr), .assert(let expr, _), .branch(let expr, _, _): CompiledStatement(exprs: [compile(expr)])
        case .gup(let write, _, _), .hmmRangeFault(let write, _), .lookupPTE(let write, _): CompiledStatement(exprs: [compile(write)])
        case .install(let writable, let prefetch): CompiledStatement(exprs: [compile(writable)] + (prefetch.map { [compile($0)] } ?? []))
        case .call(_, let fields): CompiledStatement(exprs: fields.keys.sorted().map { compile(fields[$0]!) })
        case .lock(let name), .unlock(let name), .trylock(let name, _): CompiledStatement(spin: locks[name] == .spinlock, lock: LockName(name))
        default: CompiledStatement()
        }
    }

    /// The names of the locals the policy's statements use, `ret` among them, in a fixed order:
    /// a frame holds their values by slot.
    static func localNames(_ statements: [Statement], varNames: [String], sharedVars: [String: Int]) -> [String] {
        var names: Set<String> = ["ret"]
        for statement in statements {
            var exprs: [Expr] = []
            switch statement.action {
            case .inc(let name), .dec(let name), .readBegin(let name): names.insert(name)
            case .set(let name, let expr):
                names.insert(name)
                exprs = [expr]
            case .sample(let local, let from): names.formUnion([local, from])
            case .readRetry(let local, _): names.insert(local)
            case .wait(let expr), .ret(let expr), .assert(let expr, _), .branch(let expr, _, _): exprs = [expr]
            case .gup(let write, _, _), .hmmRangeFault(let write, _), .lookupPTE(let write, _): exprs = [write]
            case .install(let writable, let prefetch): exprs = [writable] + (prefetch.map { [$0] } ?? [])
            case .call(_, let fields): exprs = Array(fields.values)
            default: break
            }
            names.formUnion(exprs.flatMap(\.leaves).compactMap(\.readName))
        }
        return names.filter { !varNames.contains($0) && sharedVars[$0] == nil }.sorted()
    }
}
