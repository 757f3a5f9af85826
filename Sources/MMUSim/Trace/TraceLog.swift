/// The world's trace: a ring of the most recent events, with a count of those that fell off.
public struct TraceLog: Codable, Hashable, Sendable {
    /// How many events the ring keeps.
    public let capacity: Int
    private var ring: [TraceEvent] = []
    private var head = 0
    /// Events dropped because the ring was full.
    public private(set) var dropped = 0

    /// Creates an empty log that keeps `capacity` events.
    public init(capacity: Int) {
        precondition(capacity > 0, "a trace needs room for one event")
        self.capacity = capacity
    }

    /// A log that keeps no event, for a world whose trace nobody reads (the explorer's states:
    /// a counterexample's trace is replayed): the world then builds no event at all.
    static let none = TraceLog(keepingNone: ())

    private init(keepingNone: Void) { capacity = 0 }

    /// Whether the log keeps events.
    var keepsEvents: Bool { capacity > 0 }

    /// The number of events kept.
    public var count: Int { ring.count }

    mutating func append(_ event: consuming TraceEvent) {
        if ring.count < capacity {
            ring.append(event)
        } else {
            ring[head] = event
            head += 1
            if head == capacity { head = 0 }
            dropped += 1
        }
    }

    /// The kept events in order.
    public var events: [TraceEvent] {
        Array(ring[head...] + ring[..<head])
    }

    /// The kept events with a sequence number above `seq`, in order.
    public func events(after seq: Int) -> [TraceEvent] {
        guard let last = ring.isEmpty ? nil : ring[(head + ring.count - 1) % ring.count], last.seq > seq else { return [] }
        let oldest = ring[head].seq
        let skip = max(0, seq - oldest + 1)
        guard skip < ring.count else { return [] }
        return (skip..<ring.count).map { ring[(head + $0) % ring.count] }
    }
}
