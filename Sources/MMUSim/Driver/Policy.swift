/// A driver policy (../shared/DRIVERS.md): what one secondary-MMU driver does in each notifier
/// callback, in its fault path and in its other entry points, as a short program each. This
/// file holds the parsed form; `Policy.load` (PolicyLoader.swift) reads and validates a
/// document into it.
public struct Policy: Codable, Hashable, Sendable {
    /// The driver's name (`kvm`), as `kind` on registration and in `driver:<name>:<pointer>`.
    public var name: String
    /// What it models, and the source it follows.
    public var description: String
    /// The protocol it is written for.
    public var kernel: KernelVersion
    /// How it subscribes to the mm.
    public var subscribe: Subscription
    /// Whether a TLB sits in front of its page table (`true`), replaces it (`only`), or neither.
    public var tlb: TLBMode
    /// The driver's locks and their kinds.
    public var locks: [String: DriverLockKind]
    /// The instance's variables and their initial values.
    public var vars: [String: Int]
    /// Variables shared by every driver instance of the world.
    public var sharedVars: [String: Int]
    /// The callbacks it implements; a missing one is skipped by the core.
    public var callbacks: [Callback: Program]
    /// The secondary fault path (POST .../fault), if it has one.
    public var fault: Program?
    /// Other entry points, by name.
    public var entries: [String: Program]
    /// Work items `queue_work` runs on a worker task.
    public var work: [String: Program]
    /// The driver's own promises.
    public var invariants: [PolicyInvariant]
    /// The named variants (JSON Patches), in document order.
    public var variants: [(name: String, patch: JSON)]
    /// The document as written, for GET /drivers/{name} and for applying variants.
    public var document: JSON
    /// The variants applied to the document this policy was read from, in the order applied.
    public internal(set) var applied: [String] = []

    /// The same document.
    public static func == (a: Policy, b: Policy) -> Bool { a.document == b.document && a.applied == b.applied }
    /// Hashes the document.
    public func hash(into hasher: inout Hasher) { hasher.combine(document) }

    init(
        name: String,
        description: String,
        kernel: KernelVersion,
        subscribe: Subscription,
        tlb: TLBMode,
        locks: [String: DriverLockKind],
        vars: [String: Int],
        sharedVars: [String: Int],
        callbacks: [Callback: Program],
        fault: Program?,
        entries: [String: Program],
        work: [String: Program],
        invariants: [PolicyInvariant],
        variants: [(name: String, patch: JSON)],
        document: JSON
    ) {
        self.name = name
        self.description = description
        self.kernel = kernel
        self.subscribe = subscribe
        self.tlb = tlb
        self.locks = locks
        self.vars = vars
        self.sharedVars = sharedVars
        self.callbacks = callbacks
        self.fault = fault
        self.entries = entries
        self.work = work
        self.invariants = invariants
        self.variants = variants
        self.document = document
    }

    private struct Stored: Codable {
        var document: String
        var applied: [String]
    }

    /// Writes the document's text and the variants applied.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Stored(document: document.description, applied: applied))
    }

    /// Reads a policy back: its document is validated again.
    public init(from decoder: any Decoder) throws {
        let stored = try decoder.singleValueContainer().decode(Stored.self)
        self = try Policy.load(text: stored.document)
        applied = stored.applied
    }
}

extension Policy {
    /// Every statement list at the top of the document: the callbacks (in `Callback` order),
    /// the fault path, the entries and the work items (by name).
    public var programs: [Program] {
        Callback.allCases.compactMap { callbacks[$0] } + (fault.map { [$0] } ?? []) + entries.keys.sorted().map { entries[$0]! }
            + work.keys.sorted().map { work[$0]! }
    }

    /// Every statement, nested ones included: each list's own, then those nested in them.
    public var allStatements: [Statement] {
        func flatten(_ program: Program) -> [Statement] { program.statements + program.statements.flatMap(\.nested).flatMap(flatten) }
        return programs.flatMap(flatten)
    }

    /// True when the driver pins what it maps: a `gup` with `pin` (pinning, xpmem).
    public var pins: Bool {
        allStatements.contains {
            if case .gup(_, pin: true, _) = $0.action { return true }
            return false
        }
    }
}

/// The protocol a policy is written for.
public enum KernelVersion: String, Codable, Hashable, Sendable, CaseIterable {
    /// mmu-notifier-core v17 (2008), as the seed posts it.
    case v17
    /// Today's kernel (../shared/MODERN.md).
    case modern
}

/// How a driver hears from the mm.
public enum Subscription: String, Codable, Hashable, Sendable, CaseIterable {
    /// mmu_notifier_register.
    case classic
    /// modern mmu_notifier_get/put.
    case get
    /// modern mmu_interval_notifier_insert.
    case interval
    /// No notifier: the driver pins what it maps, or maps without telling anyone.
    case none
}

/// A driver's translation caches.
public enum TLBMode: String, Hashable, Sendable {
    /// A secondary page table only.
    case none
    /// A TLB in front of the page table (kvm).
    case withTable
    /// TLB entries and no page table (GRU).
    case only
}

/// A driver lock's kind.
public enum DriverLockKind: String, Hashable, Sendable, CaseIterable {
    /// May sleep.
    case mutex
    /// Makes its holder atomic.
    case spinlock
}

/// The callbacks a policy may implement.
public enum Callback: String, Codable, Hashable, Sendable, CaseIterable {
    case release
    case clearFlushYoung = "clear_flush_young"
    case clearYoung = "clear_young"
    case testYoung = "test_young"
    case invalidatePage = "invalidate_page"
    case invalidateRangeStart = "invalidate_range_start"
    case invalidateRangeEnd = "invalidate_range_end"
    case archInvalidateSecondaryTLBs = "arch_invalidate_secondary_tlbs"
    case allocNotifier = "alloc_notifier"
    case freeNotifier = "free_notifier"
    case invalidate

    /// The callbacks of a kernel's `struct mmu_notifier_ops` (and, for modern interval
    /// subscriptions, `mmu_interval_notifier_ops`).
    public static func of(_ kernel: KernelVersion) -> [Callback] {
        switch kernel {
        case .v17: [.release, .clearFlushYoung, .invalidatePage, .invalidateRangeStart, .invalidateRangeEnd]
        case .modern:
            [
                .release, .clearFlushYoung, .clearYoung, .testYoung, .invalidateRangeStart, .invalidateRangeEnd, .archInvalidateSecondaryTLBs,
                .allocNotifier, .freeNotifier, .invalidate,
            ]
        }
    }

    /// True when the core passes a range (`start`, `end`).
    func hasRange(_ kernel: KernelVersion) -> Bool {
        switch self {
        case .invalidateRangeStart, .invalidateRangeEnd, .invalidate, .archInvalidateSecondaryTLBs, .clearYoung: true
        case .clearFlushYoung: kernel == .modern
        default: false
        }
    }

    /// True when the core passes one page's `address`.
    func hasAddress(_ kernel: KernelVersion) -> Bool {
        switch self {
        case .invalidatePage, .testYoung: true
        case .clearFlushYoung: kernel == .v17
        default: false
        }
    }
}

/// A statement list and where it stands in the document.
public struct Program: Hashable, Sendable {
    /// The JSON pointer of the list (`/callbacks/invalidate_range_start`).
    public var pointer: String
    /// The statements, in order.
    public var statements: [Statement]
}

/// One statement: one atomic step, named by its JSON pointer.
public struct Statement: Hashable, Sendable {
    /// `/fault/3`.
    public var pointer: String
    /// What it does.
    public var action: Action

    /// What a statement does (DRIVERS.md's table, one case a row).
    public indirect enum Action: Hashable, Sendable {
        case lock(String)
        case unlock(String)
        case trylock(String, otherwise: Program)
        case inc(String)
        case dec(String)
        case set(String, to: Expr)
        case wait(Expr)
        case sleep
        case branch(Expr, then: Program, otherwise: Program?)
        case ret(Expr)
        case retry
        case zap(Scope, setDirty: Bool, put: Bool)
        case flushTLB(Scope)
        case age(Scope, clear: Bool)
        case setSeq
        case call(String, fields: [String: Expr])
        case queueWork(String)
        case assert(Expr, name: String)
        case unregister(release: Bool)
        case put
        case synchronize(GracePeriod)
        case freeNotifier
        case sample(String, from: String)
        case readBegin(String)
        case readRetry(String, then: Program)
        case gup(write: Expr, pin: Bool, otherwise: Program?)
        case hmmRangeFault(write: Expr, otherwise: Program?)
        case lookupPTE(write: Expr, otherwise: Program?)
        case mmapLock(write: Bool)
        case mmapUnlock(write: Bool)
        case install(writable: Expr, prefetch: Expr?)
        case putPage
    }

    /// The statement lists nested in this statement (a branch's, a trylock's `else`), in order.
    public var nested: [Program] {
        switch action {
        case .trylock(_, let inner), .readRetry(_, let inner), .branch(_, let inner, nil): [inner]
        case .branch(_, let then, let otherwise?): [then, otherwise]
        case .gup(_, _, let inner?), .hmmRangeFault(_, let inner?), .lookupPTE(_, let inner?): [inner]
        default: []
        }
    }

    /// The statement in a few words, for a ladder's cell: `lock mmu_lock`, `inc count`,
    /// `sample mmu_seq = seq`, `if`, `gup write`.
    public var summary: String {
        switch action {
        case .lock(let lock): "lock \(lock)"
        case .unlock(let lock): "unlock \(lock)"
        case .trylock(let lock, _): "trylock \(lock)"
        case .inc(let name): "inc \(name)"
        case .dec(let name): "dec \(name)"
        case .set(let name, _): "set \(name)"
        case .wait: "wait"
        case .sleep: "sleep"
        case .branch: "if"
        case .ret: "return"
        case .retry: "retry"
        case .zap(let scope, let setDirty, let put): "zap \(scope.rawValue)" + (setDirty ? "" : " (dirty ignored)") + (put ? " put" : "")
        case .flushTLB(let scope): "flush_tlb \(scope.rawValue)"
        case .age(let scope, let clear): (clear ? "age+clear " : "age ") + scope.rawValue
        case .setSeq: "set_seq"
        case .call(let op, _): "call \(op)"
        case .queueWork(let item): "queue_work \(item)"
        case .assert(_, let name): "assert \(name)"
        case .unregister(let release): release ? "unregister" : "unregister no_release"
        case .put: "put"
        case .synchronize(let period): "synchronize_\(period.rawValue)"
        case .freeNotifier: "free_notifier"
        case .sample(let local, let from): "sample \(local) = \(from)"
        case .readBegin(let local): "read_begin \(local)"
        case .readRetry(let local, _): "read_retry \(local)"
        case .gup(_, let pin, _): pin ? "gup pin" : "gup"
        case .hmmRangeFault: "hmm_range_fault"
        case .lookupPTE: "lookup_pte"
        case .mmapLock(let write): "mmap_lock \(write ? "write" : "read")"
        case .mmapUnlock(let write): "mmap_unlock \(write ? "write" : "read")"
        case .install: "install"
        case .putPage: "put_page"
        }
    }

    /// What a zap, flush or age covers.
    public enum Scope: String, Hashable, Sendable {
        case range, page, all
    }

    /// The grace period a `synchronize` waits for.
    public enum GracePeriod: String, Hashable, Sendable {
        case rcu, srcu
    }
}

/// An expression (DRIVERS.md's expressions).
public indirect enum Expr: Hashable, Sendable {
    case int(Int)
    case bool(Bool)
    case str(String)
    case variable(String)
    case shared(String)
    case local(String)
    case arg(String)
    /// A callback's or fault's context value: start, end, address, blockable, event, owner.
    case context(String)
    case compare(String, Expr, Expr)
    case all([Expr])
    case any([Expr])
    case not(Expr)
    case arithmetic(String, Expr, Expr)
    case within(Expr, Expr, Expr)
}

/// A driver's own promise, checked by the checker.
public struct PolicyInvariant: Hashable, Sendable {
    /// Its name; a violation is `policy:<name>`.
    public var name: String
    /// After every step, or whenever no operation is in flight on the mm.
    public var quiescentOnly: Bool
    /// What must hold.
    public var holds: Expr
}

/// A policy that cannot be loaded: the JSON pointer of what is wrong, and why.
public struct PolicyError: Error, Hashable, Sendable {
    /// `/callbacks/invalidate_range_start/2`; empty for the whole document.
    public var pointer: String
    /// Why.
    public var message: String

    /// An error at `pointer`.
    public init(_ pointer: String, _ message: String) {
        self.pointer = pointer
        self.message = message
    }
}
