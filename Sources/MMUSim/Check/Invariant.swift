/// The invariants the checker holds the world to, under their stable names.
public enum Invariant: String, Codable, Hashable, Sendable, CaseIterable {
    /// No spte or TLB entry names a freed (or freed and reused) frame unless its secondary MMU
    /// pins it; with no operation in flight on the mm, every spte names the frame its
    /// address's pte maps.
    case noStaleSpte = "no-stale-spte"
    /// No spte is set up for an address inside an active invalidate range.
    case noSpteInInvalidateWindow = "no-spte-in-invalidate-window"
    /// With no operation in flight on the mm, a writable spte implies a writable pte.
    case noStaleWrite = "no-stale-write"
    /// Every invalidate_range_start has its end, on the same task.
    case balancedRanges = "balanced-ranges"
    /// Every listed notifier gets ->release before exit_mmap frees a page; no method runs
    /// after mmu_notifier_unregister returns.
    case releaseBeforeFree = "release-before-free"
    /// No callback sleeps under rcu_read_lock or a spinlock.
    case noSleepInAtomic = "no-sleep-in-atomic"
    /// Content survives swap, migration, COW and writeback.
    case dataIntegrity = "data-integrity"
    /// No RCU reader touches a freed notifier.
    case notifierUseAfterFree = "notifier-use-after-free"
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
