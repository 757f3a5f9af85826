/// One thing that happened, in order: a notifier call, or a model event such as a pte change
/// or a frame freed, with the locks the task held at that moment.
public struct TraceEvent: Codable, Hashable, Sendable {
    /// Position in the world's trace, from 1.
    public var seq: Int
    /// The task that caused it.
    public var task: Int?
    /// The mm concerned.
    public var mm: Int?
    /// The operation the task runs.
    public var op: String?
    /// A notifier method (`release`, `clear_flush_young`, `invalidate_page`,
    /// `invalidate_range_start`, `invalidate_range_end`) or a model event (`pte_clear`,
    /// `pte_set`, `frame_free`, `frame_alloc`, `spte_set`, `spte_zap`, `tlb_flush`,
    /// `fault_retry`, `grace_period`, `register`, `unregister`, ...).
    public var call: TraceCall
    /// The notifier called, or whose secondary MMU changed.
    public var notifier: Int?
    /// Range start.
    public var start: UInt64?
    /// Range end.
    public var end: UInt64?
    /// Page address.
    public var address: UInt64?
    /// The frame concerned.
    public var pfn: Int?
    /// How many pages a batched event covers.
    public var pages: Int?
    /// The locks held, in the order taken (rcu_read_lock is `inRCU`).
    public var heldLocks: [Lock]
    /// True inside rcu_read_lock.
    public var inRCU: Bool
    /// The locks held, as `mmap_sem:w`, `page_table_lock`, `rcu_read_lock` ...
    public var locks: [String] { heldLocks.map(\.label) + (inRCU ? ["rcu_read_lock"] : []) + (inSRCU ? ["srcu_read_lock"] : []) }
    /// True when the task was in atomic context (a spinlock or rcu_read_lock held).
    public var atomic: Bool
    /// A callback's return value, where it has one (clear_flush_young); for a driver statement
    /// the value it read or wrote (a sample's, an inc's, an if's condition as 1 or 0).
    public var ret: Int?
    /// For a driver statement: its JSON pointer in the notifier's policy (`/fault/3`).
    public var statement: String?
    /// For a driver statement: the driver's name.
    public var driver: String?
    /// Modern: inside the notifier core's srcu_read_lock (sleepable).
    public var inSRCU = false
    /// Modern: a start or end's event (`UNMAP`, `CLEAR`, ...).
    public var event: RangeEvent?
    /// Modern: whether a start or end's range is blockable.
    public var blockable: Bool?
}

/// The fields of a trace event other than its position and context, as a step reports it.
struct EventInfo {
    var call: TraceCall
    var mm: Int?
    var notifier: Int?
    var start: UInt64?
    var end: UInt64?
    var address: UInt64?
    var pfn: Int?
    var pages: Int?
    var ret: Int?
    /// For a driver statement: its id in the notifier's policy (the trace shows its pointer
    /// and the driver's name).
    var statement: Int?
    var event: RangeEvent?
    var blockable: Bool?

    init(
        _ call: TraceCall,
        mm: Int? = nil,
        notifier: Int? = nil,
        start: UInt64? = nil,
        end: UInt64? = nil,
        address: UInt64? = nil,
        pfn: Int? = nil,
        pages: Int? = nil,
        ret: Int? = nil,
        statement: Int? = nil,
        event: RangeEvent? = nil,
        blockable: Bool? = nil
    ) {
        self.call = call
        self.mm = mm
        self.notifier = notifier
        self.start = start
        self.end = end
        self.address = address
        self.pfn = pfn
        self.pages = pages
        self.ret = ret
        self.statement = statement
        self.event = event
        self.blockable = blockable
    }
}
