/// The invariants the checker holds the world to, under their stable names: the built-in
/// ones below, and a driver policy's own (`policy:<name>`, from its invariants and asserts).
public struct Invariant: RawRepresentable, Codable, Hashable, Sendable, CaseIterable {
    /// The stable name.
    public let rawValue: String

    /// An invariant by its name.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// No spte or TLB entry names a freed (or freed and reused) frame unless its secondary MMU
    /// pins it; with no operation in flight on the mm, every spte names the frame its
    /// address's pte maps.
    public static let noStaleSpte = Invariant(rawValue: "no-stale-spte")
    /// No spte is set up for an address inside an active invalidate range.
    public static let noSpteInInvalidateWindow = Invariant(rawValue: "no-spte-in-invalidate-window")
    /// With no operation in flight on the mm, a writable spte implies a writable pte.
    public static let noStaleWrite = Invariant(rawValue: "no-stale-write")
    /// Every invalidate_range_start has its end, on the same task.
    public static let balancedRanges = Invariant(rawValue: "balanced-ranges")
    /// Every listed notifier gets ->release before exit_mmap frees a page; no method runs
    /// after mmu_notifier_unregister returns.
    public static let releaseBeforeFree = Invariant(rawValue: "release-before-free")
    /// No callback sleeps under rcu_read_lock or a spinlock.
    public static let noSleepInAtomic = Invariant(rawValue: "no-sleep-in-atomic")
    /// Content survives swap, migration, COW and writeback.
    public static let dataIntegrity = Invariant(rawValue: "data-integrity")
    /// No RCU reader touches a freed notifier.
    public static let notifierUseAfterFree = Invariant(rawValue: "notifier-use-after-free")
    /// Modern: what the core WARNs about: a subscriber that fails a blockable range, a classic
    /// start that can fail (-EAGAIN) and has an end.
    public static let notifierContract = Invariant(rawValue: "notifier-contract")

    /// A driver policy's own invariant or assert, `policy:<name>`.
    public static func policy(_ name: String) -> Invariant { Invariant(rawValue: "policy:" + name) }

    /// The built-in invariants.
    public static let allCases: [Invariant] = [
        .noStaleSpte, .noSpteInInvalidateWindow, .noStaleWrite, .balancedRanges, .releaseBeforeFree, .noSleepInAtomic, .dataIntegrity,
        .notifierUseAfterFree, .notifierContract,
    ]
}

/// One broken invariant, recorded once, at the trace event where it was seen.
public struct Violation: Codable, Hashable, Sendable {
    /// The invariant's stable name.
    public var invariant: Invariant
    /// The sequence number of the last trace event when it was found.
    public var seq: Int
    /// The mm concerned.
    public var mm: Int?
    /// The notifier concerned.
    public var notifier: Int?
    /// The address concerned.
    public var address: UInt64?
    /// One sentence that explains it.
    public var message: String
}

/// A range of an mm whose ptes or sptes changed since the mm was last quiescent.
struct ChangedRange: Codable, Hashable, Sendable {
    var mm: Int
    var start: UInt64
    var end: UInt64
}
