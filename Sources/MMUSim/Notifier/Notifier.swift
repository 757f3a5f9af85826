/// Where a notifier is in its life.
public enum NotifierState: String, Codable, Hashable, Sendable {
    /// On the mm's hlist.
    case listed
    /// Unlinked by exit_mmap or unregister, but unregister has not returned.
    case released
    /// mmu_notifier_unregister has returned (or a driver without a notifier detached).
    case unregistered
    /// A pinning or unsafe driver: attached to the mm, but never on the notifier list.
    case attached
}

/// Per-notifier counts of each callback and fault outcome.
public struct NotifierCounters: Codable, Hashable, Sendable {
    /// ->release calls.
    public var release = 0
    /// ->clear_flush_young calls.
    public var clearFlushYoung = 0
    /// ->invalidate_page calls.
    public var invalidatePage = 0
    /// ->invalidate_range_start calls.
    public var invalidateRangeStart = 0
    /// ->invalidate_range_end calls.
    public var invalidateRangeEnd = 0
    /// Secondary faults taken.
    public var faults = 0
    /// Faults that had to start over (kvm) or whose dropin was refused (gru).
    public var retries = 0
    /// Modern: an interval subscription's ->invalidate calls (nil for the others).
    public var invalidate: Int?
}

/// A registered secondary MMU: the `struct mmu_notifier` and the driver state behind it.
public struct Notifier: Codable, Hashable, Sendable {
    /// The notifier's id (unique in the world).
    public let id: Int
    /// The mm it is attached to.
    public let mm: Int
    /// The driver policy it runs (an index into `World.policies`).
    public let policy: Int
    /// The driver's name: the policy's.
    public let driverName: String
    /// True when the driver registered an mmu_notifier (the others are only attached).
    public var usesNotifier: Bool { subscribe != .none }
    /// True when the driver's fault path pins what it maps (a gup with `pin`): each such
    /// mapping holds its own page reference (pinning, xpmem).
    public let pins: Bool
    /// The policy's instance variables, in its `varNames` order. (A change forgets that the
    /// policy's invariants held.)
    public internal(set) var vars: [Int] = [] {
        didSet { invariantsHeld.held = false }
    }
    /// Whether the policy's invariants all held when last evaluated together, the variables
    /// unchanged since (World+Checker.swift's `checkPolicyInvariants`).
    var invariantsHeld = InvariantsHeld()
    /// Where the notifier is in its life.
    public var state: NotifierState
    /// Callback and fault counts.
    public var counters = NotifierCounters()
    /// The secondary page table (spte per address), for the kinds that have one.
    public var sptes = RadixTable()
    /// The secondary TLB (translations cached per address).
    public var tlb = RadixTable()
    /// Set when ->release has run: the secondary MMU is torn down and establishes nothing more.
    public var frozen = false
    /// Set when the driver has freed the notifier (`free_notifier`).
    public var freed = false
    /// True once ->release has run (or the driver had none to run).
    public var releaseDone = false
    /// The hlist successor when the notifier was unlinked: a walker standing on an unlinked
    /// node still follows its next pointer (`hlist_del_init_rcu` keeps it).
    public var unlinkedNext: Int?
    /// Ranges between this notifier's invalidate_range_start and _end, with the task in each.
    public var activeRanges: [ActiveRange] = []
    /// Modern interval subscription (`struct mmu_interval_notifier`): the first address of its
    /// range.
    public var intervalStart: UInt64 = 0
    /// The first address past its range.
    public var intervalEnd: UInt64 = 0
    /// Its `invalidate_seq` (mmu_interval_set_seq sets it to the round's).
    public var invalidateSeq = 0
    /// Modern `mmu_notifier_get`/`put` (subscribe get): the subscription's `users`.
    public var users = 0
    /// How the driver subscribed (classic, get, interval or none).
    public var subscribe: Subscription

    /// Creates a notifier that runs a driver policy, with its variables at their initial values.
    init(id: Int, mm: Int, policy index: Int, loaded: LoadedPolicy, state: NotifierState) {
        self.id = id
        self.mm = mm
        self.state = state
        policy = index
        driverName = loaded.policy.name
        subscribe = loaded.policy.subscribe
        if subscribe == .interval { counters.invalidate = 0 }
        pins = loaded.policy.pins
        vars = loaded.varNames.map { loaded.policy.vars[$0]! }
    }
}

/// An open invalidate_range_start/_end window seen by one notifier.
public struct ActiveRange: Codable, Hashable, Sendable {
    /// The notifier whose window it is.
    public var notifier: Int
    /// The task inside the window.
    public var task: Int
    /// First address of the range.
    public var start: UInt64
    /// First address past the range.
    public var end: UInt64
}

/// That a notifier's policy invariants all held at its variables' present values, which they
/// alone read (the policy reads no shared variable in them): evaluated again they hold again,
/// so the checker skips them. A cache, no part of the notifier's value (`NotPartOfValue`): a
/// notifier decoded has it false.
struct InvariantsHeld: NotPartOfValue {
    var held = false

    init() {}
}
