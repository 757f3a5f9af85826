/// A loaded policy with what the interpreter looks up while it runs: its statements by id, and
/// its variables by position. Immutable, and shared by reference between copies of a world.
public final class LoadedPolicy: Sendable {
    /// The policy, with the variants it was registered with applied.
    public let policy: Policy
    /// The variants applied.
    public var variants: [String] { policy.applied }
    /// Every statement, nested ones included, by id.
    let statements: [Statement]
    /// Each statement's program: the ids of the statements of a program, by its pointer.
    let programs: [String: [Int]]
    /// The step name of each statement: `driver:<name>:<pointer>`.
    let stepNames: [String]
    /// The name each statement's step had when the built-in kinds ran in Swift, which
    /// `pause_at` still takes (`lock:mmu_lock`, `install_spte`), or nil.
    let oldStepNames: [String?]
    /// The policy's invariants (kept apart: the checker reads them after every step).
    let invariants: [PolicyInvariant]
    /// Every invariant holds only when no operation is in flight on the mm (`quiescent`).
    let quiescentOnly: Bool
    /// The instance variables in a fixed order (by name): a notifier holds their values so.
    public let varNames: [String]

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
        self.statements = statements
        self.programs = programs
        stepNames = statements.map { "driver:\(policy.name):\($0.pointer)" }
        oldStepNames = statements.map { Self.oldStepName($0.action, tlb: policy.tlb) }
        varNames = policy.vars.keys.sorted()
        invariants = policy.invariants
        quiescentOnly = policy.invariants.allSatisfy(\.quiescentOnly)
    }

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

    /// A variable's value: the instance's (`vars`, in `varNames`' order), the world's shared
    /// one, else the running frame's local (`local`, 0 when unset).
    func value(_ name: String, vars: [Int], shared: [String: Int], local: () -> Int?) -> Int {
        if let index = varNames.firstIndex(of: name) { return vars[index] }
        if let initial = sharedInitial(name) { return shared[name] ?? initial }
        return local() ?? 0
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

    /// Equal tables hold the same policies; a shared one compares by identity alone.
    public static func == (a: PolicyTable, b: PolicyTable) -> Bool {
        a.loaded.count == b.loaded.count && zip(a.loaded, b.loaded).allSatisfy { $0 === $1 || $0.policy == $1.policy }
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
