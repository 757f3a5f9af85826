import Synchronization

/// The world's trace: a ring of the most recent events, with a count of those that fell off.
///
/// The ring keeps each event as a `TraceRecord`, a fixed-size value with no reference in it:
/// its strings and its lock set are numbers into tables the log keeps, each distinct one
/// stored once. Appending an event then retains nothing, overwriting the oldest releases
/// nothing, and the running task's lock array is not shared with the event (a lock taken after
/// an event would otherwise copy the array). `events` builds the `TraceEvent`s back.
public struct TraceLog: Codable, Hashable, Sendable {
    /// How many events the ring keeps.
    public let capacity: Int
    private var ring: [TraceRecord] = []
    private var head = 0
    /// Events dropped because the ring was full.
    public private(set) var dropped = 0
    /// The tables the records' codes index, behind one reference copied on write: a copy of a
    /// world copies its trace (the explorer copies a world at every step it takes), and one
    /// reference is one retain, not one for each table.
    private var codes = Codes()

    /// Creates an empty log that keeps `capacity` events.
    public init(capacity: Int) {
        precondition(capacity > 0, "a trace needs room for one event")
        self.capacity = capacity
        // The whole ring at once, up to a million events (its pages are touched as events fill
        // it): growing it by doubling copied it whole each time, megabytes in the middle of an
        // operation. A larger ring than that grows past it as before.
        ring.reserveCapacity(min(capacity, 1 << 20))
    }

    /// A log that keeps no event, for a world whose trace nobody reads (the explorer's states:
    /// a counterexample's trace is replayed): the world then builds no event at all.
    static let none = TraceLog(keepingNone: ())

    private init(keepingNone: Void) { capacity = 0 }

    /// Whether the log keeps events.
    var keepsEvents: Bool { capacity > 0 }

    /// The number of events kept.
    public var count: Int { ring.count }

    @inline(__always)
    mutating func append(_ record: TraceRecord) {
        if ring.count < capacity {
            ring.append(record)
        } else {
            ring[head] = record
            head += 1
            if head == capacity { head = 0 }
            dropped += 1
        }
    }

    /// The tables, made this log's own before they change.
    @inline(__always)
    private mutating func ownCodes() -> Codes {
        if !isKnownUniquelyReferenced(&codes) { codes = codes.copy() }
        return codes
    }

    /// The code of `name`, an operation's (a task keeps its own: `EventCodes`).
    mutating func opCode(name: String) -> Int32 {
        let codes = ownCodes()
        // A new task most often runs what the last one ran (a fault after a fault): its name is
        // compared with that one's (a short string is two words), not hashed.
        let last = codes.lastOp
        let found = last >= 0 && codes.strings[Int(last)] == name ? last : codes.code(name)
        codes.lastOp = found
        return found
    }

    /// The code of a lock set, stored in an array of the log's own the first time it is seen.
    @inline(__always)
    mutating func lockSetCode(_ locks: [Lock]) -> Int32 {
        if locks.isEmpty { return 0 }
        // The set last looked up, or the one before it (two tasks' sets alternate, as a fault of
        // kvm and one of gru do), found by reading alone: the tables are made this log's own
        // only to change them.
        let (last, before) = codes.lastLockSets
        if codes.lockSets[Int(last)].sameElements(locks) { return last }
        if codes.lockSets[Int(before)].sameElements(locks) { return before }
        return ownCodes().lockSetCode(locks)
    }

    /// The serial of the tables the codes index (`EventCodes`).
    @inline(__always)
    var codesSerial: UInt64 { codes.serial }

    /// Whether the lock set of code `code` holds a spinlock (known when the set was coded).
    @inline(__always)
    func holdsSpinlock(_ code: Int32) -> Bool { codes.spinning[Int(code)] }

    /// The code of statement `id` of the policy at `policy` (its pointer and its driver's name,
    /// one pair of the tables), from `names` the first time.
    @inline(__always)
    mutating func statementCode(policy: Int, id: Int, _ names: () -> (pointer: String, driver: String)) -> Int32 {
        if let known = codes.statement(policy: policy, id: id) { return known }
        return ownCodes().statementCode(policy: policy, id: id, names())
    }

    /// The event a record stands for.
    private func event(_ record: TraceRecord) -> TraceEvent {
        TraceEvent(
            seq: record.seq,
            task: record.task,
            mm: record.mm,
            op: record.op < 0 ? nil : codes.strings[Int(record.op)],
            call: record.call,
            notifier: record.notifier,
            start: record.start,
            end: record.end,
            address: record.address,
            pfn: record.pfn,
            pages: record.pages,
            heldLocks: codes.lockSets[Int(record.locks)],
            inRCU: record.inRCU,
            atomic: record.atomic,
            ret: record.ret,
            statement: codes.string(codes.pairs[Int(record.statement)].pointer),
            driver: codes.string(codes.pairs[Int(record.statement)].driver),
            inSRCU: record.inSRCU,
            event: record.event,
            blockable: record.blockable
        )
    }

    /// The record of an event, its strings and locks coded in this log's tables.
    private mutating func record(_ event: TraceEvent) -> TraceRecord {
        let locks = lockSetCode(event.heldLocks)
        let codes = ownCodes()
        return TraceRecord(
            seq: event.seq,
            task: event.task,
            mm: event.mm,
            op: event.op.map { codes.code($0) } ?? -1,
            call: event.call,
            notifier: event.notifier,
            start: event.start,
            end: event.end,
            address: event.address,
            pfn: event.pfn,
            pages: event.pages,
            locks: locks,
            inRCU: event.inRCU,
            atomic: event.atomic,
            ret: event.ret,
            statement: codes.pair(event.statement.map { codes.code($0) } ?? -1, event.driver.map { codes.code($0) } ?? -1),
            inSRCU: event.inSRCU,
            event: event.event,
            blockable: event.blockable
        )
    }

    /// The kept events in order.
    public var events: [TraceEvent] {
        (ring[head...] + ring[..<head]).map(event)
    }

    /// The kept events with a sequence number above `seq`, in order.
    public func events(after seq: Int) -> [TraceEvent] {
        guard let last = ring.isEmpty ? nil : ring[(head + ring.count - 1) % ring.count], last.seq > seq else { return [] }
        let oldest = ring[head].seq
        let skip = max(0, seq - oldest + 1)
        guard skip < ring.count else { return [] }
        return (skip..<ring.count).map { event(ring[(head + $0) % ring.count]) }
    }

    // MARK: Codable, Hashable: the events, as the log held them before it coded them

    private enum CodingKeys: String, CodingKey {
        case capacity, ring, head, dropped
    }

    /// Decodes a log as `encode(to:)` writes it: its events in ring order.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        capacity = try container.decode(Int.self, forKey: .capacity)
        head = try container.decode(Int.self, forKey: .head)
        dropped = try container.decode(Int.self, forKey: .dropped)
        let events = try container.decode([TraceEvent].self, forKey: .ring)
        ring.reserveCapacity(events.count)
        for event in events { ring.append(record(event)) }
    }

    /// Encodes the capacity, the ring's events in its own order, its head and the dropped count.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(capacity, forKey: .capacity)
        try container.encode(ring.map(event), forKey: .ring)
        try container.encode(head, forKey: .head)
        try container.encode(dropped, forKey: .dropped)
    }

    /// Two logs are equal when they keep the same events in the same ring places.
    public static func == (a: TraceLog, b: TraceLog) -> Bool {
        a.capacity == b.capacity && a.head == b.head && a.dropped == b.dropped && a.ring.count == b.ring.count
            && (a.ring.isEmpty || a.ring.map(a.event) == b.ring.map(b.event))
    }

    /// Hashes what `==` compares, but the events: their count stands for them.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(capacity)
        hasher.combine(head)
        hasher.combine(dropped)
        hasher.combine(ring.count)
    }
}

/// A trace log's tables: the strings and lock sets its records name by number, and the last
/// ones looked up. A log changes them only once it holds the only reference (`ownCodes`), as
/// a copy-on-write value would (unchecked Sendable: no two threads reach one that changes).
/// Its fields' exclusivity is unchecked: no access to one overlaps another, and the runtime's
/// check of each cost more than the lookup it guarded.
private final class Codes: @unchecked Sendable {
    /// This set of tables' own number: a copy has another (`EventCodes` keeps codes by it).
    let serial = Codes.serials.add(1, ordering: .relaxed).newValue
    private static let serials = Atomic<UInt64>(0)
    /// The strings the records name (operations, statement pointers, drivers).
    @exclusivity(unchecked) var strings: [String] = []
    @exclusivity(unchecked) var stringCodes: [String: Int32] = [:]
    /// The lock sets the records name; 0 is the empty set. A set is stored in an array of its
    /// own, never the task's.
    @exclusivity(unchecked) var lockSets: [[Lock]] = [[]]
    /// Whether each lock set holds a spinlock (the context is then atomic), by code.
    @exclusivity(unchecked) var spinning: [Bool] = [false]
    @exclusivity(unchecked) var lockSetCodes: [[Lock]: Int32] = [[]: 0]
    /// The last two lock sets looked up, the last first, to find them again without hashing.
    @exclusivity(unchecked) var lastLockSets: (last: Int32, before: Int32) = (0, 0)
    /// The code of the operation last looked up.
    @exclusivity(unchecked) var lastOp: Int32 = -1
    /// The pairs of a statement's pointer and its driver's name a record names by number (-1
    /// for none); 0 is the pair of none, an event of no statement's.
    @exclusivity(unchecked) var pairs: [(pointer: Int32, driver: Int32)] = [(-1, -1)]
    @exclusivity(unchecked) var pairCodes: [Int64: Int32] = [Codes.key(-1, -1): 0]
    /// Driver statements' pair codes, by policy index and statement id.
    @exclusivity(unchecked) var statementCodes: [[Int32?]] = []

    /// A copy with the same tables.
    func copy() -> Codes {
        let copy = Codes()
        (copy.strings, copy.stringCodes, copy.lockSets, copy.lockSetCodes) = (strings, stringCodes, lockSets, lockSetCodes)
        copy.spinning = spinning
        (copy.lastLockSets, copy.lastOp, copy.statementCodes) = (lastLockSets, lastOp, statementCodes)
        (copy.pairs, copy.pairCodes) = (pairs, pairCodes)
        return copy
    }

    /// The code of `text` in the string table.
    func code(_ text: String) -> Int32 {
        if let code = stringCodes[text] { return code }
        let code = Int32(strings.count)
        strings.append(text)
        stringCodes[text] = code
        return code
    }

    /// The string of code `code`, nil for -1.
    func string(_ code: Int32) -> String? { code < 0 ? nil : strings[Int(code)] }

    /// The dictionary key of a pair of string codes.
    static func key(_ pointer: Int32, _ driver: Int32) -> Int64 { Int64(pointer) << 32 | Int64(UInt32(bitPattern: driver)) }

    /// The code of the pair of string codes `pointer` and `driver`, added if it is new.
    func pair(_ pointer: Int32, _ driver: Int32) -> Int32 {
        if let code = pairCodes[Self.key(pointer, driver)] { return code }
        let code = Int32(pairs.count)
        pairs.append((pointer, driver))
        pairCodes[Self.key(pointer, driver)] = code
        return code
    }

    /// The code of a non-empty lock set (`TraceLog.lockSetCode` compares the last two looked up
    /// first, before it owns the tables).
    func lockSetCode(_ locks: [Lock]) -> Int32 {
        let code = find(locks)
        lastLockSets = (code, lastLockSets.last)
        return code
    }

    /// The code of a non-empty lock set, added if it is new.
    private func find(_ locks: [Lock]) -> Int32 {
        // The few sets a short operation shows are found by comparison; a hash is for the rest.
        for code in 1..<min(lockSets.count, 8) where lockSets[code].sameElements(locks) { return Int32(code) }
        if let code = lockSetCodes[locks] { return code }
        let own = locks.map { $0 }
        let code = Int32(lockSets.count)
        lockSets.append(own)
        spinning.append(own.holdsSpinlock)
        lockSetCodes[own] = code
        return code
    }

    /// The pair code of statement `id` of the policy at `policy`, if it is known.
    func statement(policy: Int, id: Int) -> Int32? {
        guard policy < statementCodes.count, id < statementCodes[policy].count else { return nil }
        return statementCodes[policy][id]
    }

    /// The pair code of statement `id` of the policy at `policy`, whose pointer and driver are
    /// `names`.
    func statementCode(policy: Int, id: Int, _ names: (pointer: String, driver: String)) -> Int32 {
        while statementCodes.count <= policy { statementCodes.append([]) }
        if statementCodes[policy].count <= id { statementCodes[policy] += repeatElement(nil, count: id + 1 - statementCodes[policy].count) }
        let code = pair(code(names.pointer), code(names.driver))
        statementCodes[policy][id] = code
        return code
    }
}

/// A trace event as the ring keeps it: no reference in it, its strings, its statement and its
/// lock set coded in the log's tables, its optional numbers stored plain with a bit each saying
/// whether they are there, and the numbers a world bounds (an mm's, a notifier's, a pfn, a count
/// of pages, each below 2^28 frames' worth) in 32 bits: 80 bytes, not the 176 of optionals. The
/// ring of a busy world is megabytes, written at every event; its size is what a new world's
/// first events pay to touch.
struct TraceRecord {
    /// Which of the optional numbers are there, and the flags.
    private struct Fields: OptionSet {
        let rawValue: UInt16
        static let task = Fields(rawValue: 1 << 0)
        static let mm = Fields(rawValue: 1 << 1)
        static let notifier = Fields(rawValue: 1 << 2)
        static let start = Fields(rawValue: 1 << 3)
        static let end = Fields(rawValue: 1 << 4)
        static let address = Fields(rawValue: 1 << 5)
        static let pfn = Fields(rawValue: 1 << 6)
        static let pages = Fields(rawValue: 1 << 7)
        static let ret = Fields(rawValue: 1 << 8)
        static let inRCU = Fields(rawValue: 1 << 9)
        static let atomic = Fields(rawValue: 1 << 10)
        static let inSRCU = Fields(rawValue: 1 << 11)
        static let blockableKnown = Fields(rawValue: 1 << 12)
        static let blockable = Fields(rawValue: 1 << 13)

        /// Sets `flag` when `on`, clears it otherwise.
        mutating func set(_ flag: Fields, _ on: Bool) {
            if on { insert(flag) } else { remove(flag) }
        }
    }

    var seq: Int
    private var taskValue = 0
    private var retValue = 0
    private var startValue: UInt64 = 0
    private var endValue: UInt64 = 0
    private var addressValue: UInt64 = 0
    private var mmValue: Int32 = 0
    private var notifierValue: Int32 = 0
    private var pfnValue: Int32 = 0
    private var pagesValue: Int32 = 0
    var op: Int32
    var locks: Int32
    /// The code of the statement's pointer and driver pair (0: none).
    var statement: Int32
    private var fields: Fields = []
    var call: TraceCall
    var event: RangeEvent?

    init(
        seq: Int,
        task: Int?,
        mm: Int?,
        op: Int32,
        call: TraceCall,
        notifier: Int?,
        start: UInt64?,
        end: UInt64?,
        address: UInt64?,
        pfn: Int?,
        pages: Int?,
        locks: Int32,
        inRCU: Bool,
        atomic: Bool,
        ret: Int?,
        statement: Int32,
        inSRCU: Bool,
        event: RangeEvent?,
        blockable: Bool?
    ) {
        (self.seq, self.op, self.call, self.locks, self.statement, self.event) = (seq, op, call, locks, statement, event)
        (self.inRCU, self.atomic, self.inSRCU, self.blockable) = (inRCU, atomic, inSRCU, blockable)
        (self.task, self.mm, self.notifier, self.start, self.end, self.address) = (task, mm, notifier, start, end, address)
        (self.pfn, self.pages, self.ret) = (pfn, pages, ret)
    }

    /// Stores `value` in `slot` and notes in `fields` whether it is there.
    private static func store<T>(_ value: T?, _ field: Fields, _ slot: inout T, _ fields: inout Fields, none: T) {
        slot = value ?? none
        fields.set(field, value != nil)
    }

    /// `store` of a number the world bounds below 2^31, kept in 32 bits (one past them traps).
    private static func store32(_ value: Int?, _ field: Fields, _ slot: inout Int32, _ fields: inout Fields) {
        store(value.map { Int32($0) }, field, &slot, &fields, none: 0)
    }

    var task: Int? {
        get { fields.contains(.task) ? taskValue : nil }
        set { Self.store(newValue, .task, &taskValue, &fields, none: 0) }
    }
    var mm: Int? {
        get { fields.contains(.mm) ? Int(mmValue) : nil }
        set { Self.store32(newValue, .mm, &mmValue, &fields) }
    }
    var notifier: Int? {
        get { fields.contains(.notifier) ? Int(notifierValue) : nil }
        set { Self.store32(newValue, .notifier, &notifierValue, &fields) }
    }
    var start: UInt64? {
        get { fields.contains(.start) ? startValue : nil }
        set { Self.store(newValue, .start, &startValue, &fields, none: 0) }
    }
    var end: UInt64? {
        get { fields.contains(.end) ? endValue : nil }
        set { Self.store(newValue, .end, &endValue, &fields, none: 0) }
    }
    var address: UInt64? {
        get { fields.contains(.address) ? addressValue : nil }
        set { Self.store(newValue, .address, &addressValue, &fields, none: 0) }
    }
    var pfn: Int? {
        get { fields.contains(.pfn) ? Int(pfnValue) : nil }
        set { Self.store32(newValue, .pfn, &pfnValue, &fields) }
    }
    var pages: Int? {
        get { fields.contains(.pages) ? Int(pagesValue) : nil }
        set { Self.store32(newValue, .pages, &pagesValue, &fields) }
    }
    var ret: Int? {
        get { fields.contains(.ret) ? retValue : nil }
        set { Self.store(newValue, .ret, &retValue, &fields, none: 0) }
    }
    var inRCU: Bool {
        get { fields.contains(.inRCU) }
        set { fields.set(.inRCU, newValue) }
    }
    var atomic: Bool {
        get { fields.contains(.atomic) }
        set { fields.set(.atomic, newValue) }
    }
    var inSRCU: Bool {
        get { fields.contains(.inSRCU) }
        set { fields.set(.inSRCU, newValue) }
    }
    var blockable: Bool? {
        get { fields.contains(.blockableKnown) ? fields.contains(.blockable) : nil }
        set {
            fields.set(.blockableKnown, newValue != nil)
            fields.set(.blockable, newValue == true)
        }
    }
}
