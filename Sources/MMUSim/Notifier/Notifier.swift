/// The kinds of secondary MMU the model offers.
public enum SecondaryKind: String, Codable, Hashable, Sendable, CaseIterable {
    /// KVM shadow page tables: sptes plus a TLB, with the mmu_notifier_seq/count retry protocol.
    case kvm
    /// SGI GRU: a TLB only; a dropin fails while an invalidate range is active.
    case gru
    /// XPMEM: remote attachments pinned with get_user_pages; invalidating needs to sleep.
    case xpmem
    /// A legacy driver that pins every page it maps and registers no notifier (KVM before 2.6.27).
    case pinning
    /// A driver that neither pins nor registers: the use-after-free the seed prevents.
    case unsafe

    /// True when the kind registers an mmu_notifier.
    public var usesNotifier: Bool { self != .pinning && self != .unsafe }

    /// True when each mapping holds its own page reference.
    public var pins: Bool { self == .pinning || self == .xpmem }

    /// True when the kind has sptes; the others hold only a TLB.
    public var hasSptes: Bool { self != .gru }

    /// Its translation caches: kvm's TLB in front of its sptes, GRU's TLB alone.
    var tlbMode: TLBMode {
        switch self {
        case .kvm: .withTable
        case .gru: .only
        default: .none
        }
    }

    /// What the kind models, in a sentence (GET /drivers).
    public var summary: String {
        switch self {
        case .kvm: "KVM shadow page tables: sptes plus a TLB, and the mmu_notifier_seq/count retry protocol of its fault path."
        case .gru: "SGI GRU: a TLB only; a dropin is refused while an invalidate range is active (ms_range_active)."
        case .xpmem: "XPMEM: remote attachments pinned with get_user_pages; its invalidations sleep to reach the remote node."
        case .pinning: "A legacy driver that pins every page it maps and registers no notifier (KVM before 2.6.27)."
        case .unsafe: "A driver that neither pins its pages nor registers a notifier: the use-after-free the seed prevents."
        }
    }
}

/// A driver bug that can be switched on per notifier; each is caught by the checker.
public enum DriverBug: String, Codable, Hashable, Sendable, CaseIterable {
    /// The fault path installs its spte without checking mmu_notifier_count and _seq.
    case skipRetryCheck = "skip_retry_check"
    /// The driver has no ->release.
    case noRelease = "no_release"
    /// ->invalidate_page does nothing.
    case ignoreInvalidatePage = "ignore_invalidate_page"
    /// Zapping a dirty spte does not call set_page_dirty.
    case noSetPageDirty = "no_set_page_dirty"
    /// Every callback sleeps.
    case sleeps
    /// ->release frees the notifier at once instead of after a grace period.
    case freeInRelease = "free_in_release"

    /// What the switch does, in a sentence (GET /drivers).
    public var summary: String {
        switch self {
        case .skipRetryCheck: "The fault path installs its mapping without checking the invalidate count and sequence (kvm) or ms_range_active (gru)."
        case .noRelease: "The driver has no ->release."
        case .ignoreInvalidatePage: "->invalidate_page does nothing."
        case .noSetPageDirty: "Dropping a dirty mapping does not call set_page_dirty."
        case .sleeps: "Every callback sleeps."
        case .freeInRelease: "->release frees the notifier at once instead of after a grace period."
        }
    }
}

/// The driver a registration attaches: a built-in kind (with its bug switches) run in
/// Swift, or a driver policy (an index into `World.policies`) run by the interpreter.
public enum DriverChoice: Codable, Hashable, Sendable {
    case kind(SecondaryKind, bugs: Set<DriverBug>)
    case policy(Int)
}

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
}

/// A registered secondary MMU: the `struct mmu_notifier` and the driver state behind it.
public struct Notifier: Codable, Hashable, Sendable {
    /// The notifier's id (unique in the world).
    public let id: Int
    /// The mm it is attached to.
    public let mm: Int
    /// The built-in kind of secondary MMU it runs in Swift; nil for a driver policy.
    public let kind: SecondaryKind?
    /// The driver policy it runs (an index into `World.policies`); nil for a built-in kind.
    public let policy: Int?
    /// The driver's name: the kind, or the policy's name.
    public let driverName: String
    /// True when the driver registered an mmu_notifier (the others are only attached).
    public let usesNotifier: Bool
    /// True when every mapping of the driver holds its own page reference (pinning, xpmem); a
    /// policy's mappings hold one each only when installed from a pinned gup.
    public let pins: Bool
    /// A policy's instance variables, in its `varNames` order.
    public internal(set) var vars: [Int] = []
    /// The bugs switched on, one bit each (in `DriverBug.allCases` order).
    let bugMask: UInt8
    /// The bugs switched on.
    public var bugs: Set<DriverBug> { Set(DriverBug.allCases.filter(has)) }
    /// Where the notifier is in its life.
    public var state: NotifierState
    /// Callback and fault counts.
    public var counters = NotifierCounters()
    /// kvm `mmu_notifier_seq`: bumped by invalidate_page and invalidate_range_end.
    public var seq: UInt64 = 0
    /// kvm `mmu_notifier_count`, gru `ms_range_active`: open invalidate ranges.
    public var count = 0
    /// gru: TLB invalidates issued (`gru_flush_tlb_range`); a dropin whose TFH was read before
    /// one of them is ignored by the hardware.
    public var flushes: UInt64 = 0
    /// The secondary page table (spte per address), for the kinds that have one.
    public var sptes = RadixTable()
    /// The secondary TLB (translations cached per address).
    public var tlb = RadixTable()
    /// Set by ->release: the secondary MMU is torn down and establishes nothing more.
    public var frozen = false
    /// Set when the driver has freed the notifier (free_in_release).
    public var freed = false
    /// True once ->release has run (or the driver had none to run).
    public var releaseDone = false
    /// The hlist successor when the notifier was unlinked: a walker standing on an unlinked
    /// node still follows its next pointer (`hlist_del_init_rcu` keeps it).
    public var unlinkedNext: Int?
    /// Ranges between this notifier's invalidate_range_start and _end, with the task in each.
    public var activeRanges: [ActiveRange] = []

    /// Creates a notifier.
    public init(id: Int, mm: Int, kind: SecondaryKind, bugs: Set<DriverBug>, state: NotifierState) {
        self.id = id
        self.mm = mm
        self.kind = kind
        self.state = state
        policy = nil
        driverName = kind.rawValue
        usesNotifier = kind.usesNotifier
        pins = kind.pins
        bugMask = bugs.reduce(0) { $0 | Self.bit($1) }
    }

    /// Creates a notifier that runs a driver policy, with its variables at their initial values.
    init(id: Int, mm: Int, policy index: Int, loaded: LoadedPolicy, state: NotifierState) {
        self.id = id
        self.mm = mm
        self.state = state
        kind = nil
        policy = index
        driverName = loaded.policy.name
        usesNotifier = loaded.policy.subscribe != .none
        pins = false
        bugMask = 0
        vars = loaded.varNames.map { loaded.policy.vars[$0]! }
    }

    private static func bit(_ bug: DriverBug) -> UInt8 {
        1 << UInt8(DriverBug.allCases.firstIndex(of: bug)!)
    }

    /// True when `bug` is switched on.
    public func has(_ bug: DriverBug) -> Bool { bugMask & Self.bit(bug) != 0 }
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
