/// A value kept behind one reference and copied on write: a copy of the struct that holds it
/// costs one retain, not a copy of the value. For values the explorer copies at every step it
/// takes and changes in few of them: a task's state (each of a world's tasks is copied with the
/// world, one runs the step), and inside it the operation and result, which rarely change.
/// It compares, hashes and encodes as the value itself.
@propertyWrapper
public struct Shared<Value: Hashable & Codable & Sendable>: Hashable, Codable, Sendable {
    private typealias Box = SharedBox<Value>

    private var box: Box

    /// Keeps `wrappedValue`.
    public init(wrappedValue: Value) { box = Box(wrappedValue) }

    /// The value.
    public var wrappedValue: Value {
        @inline(__always) _read { yield box.value }
        @inline(__always) _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.value) }
            yield &box.value
        }
    }

    /// A writer of the value where its box keeps it, the box made unique first: for the
    /// running task's state, written by every step without a check that its box is unique
    /// (`World.me`). The writer holds the box, so a change through the struct's own
    /// `wrappedValue` while it lives copies the box away from it: `isWritten(by:)` tells.
    mutating func writer() -> SharedWriter<Value> {
        if !isKnownUniquelyReferenced(&box) { box = Box(box.value) }
        return SharedWriter(box: box)
    }

    /// Whether `writer` writes this value's box.
    func isWritten(by writer: SharedWriter<Value>) -> Bool { box === writer.box }

    /// Whether this is the only reference to its box: a change then happens in place.
    mutating func isUnique() -> Bool { isKnownUniquelyReferenced(&box) }

    /// Whether `other` keeps its value in this one's box: the same value, known without reading it.
    func sharesBox(with other: Shared) -> Bool { box === other.box }

    /// `body` of pointers to this value and `other`'s where their boxes keep them, for reading
    /// only: fields read through them are read in place (a value read out of its box whole is a
    /// copy, a retain of each of its arrays and strings, of objects other copies share).
    func withValues<R>(_ other: Shared, _ body: (UnsafePointer<Value>, UnsafePointer<Value>) -> R) -> R {
        withUnsafeMutablePointer(to: &box.value) { mine in
            // One box: one access to it, not two overlapping ones.
            if box === other.box { return body(mine, mine) }
            return withUnsafeMutablePointer(to: &other.box.value) { theirs in body(mine, theirs) }
        }
    }

    /// The same value (one box is the same value).
    public static func == (lhs: Shared, rhs: Shared) -> Bool { lhs.box === rhs.box || lhs.box.value == rhs.box.value }

    /// The value's hash.
    public func hash(into hasher: inout Hasher) { hasher.combine(box.value) }

    /// Decodes the value itself.
    public init(from decoder: any Decoder) throws { box = Box(try Value(from: decoder)) }

    /// Encodes the value itself.
    public func encode(to encoder: any Encoder) throws { try box.value.encode(to: encoder) }
}

/// The box a `Shared` keeps its value in.
final class SharedBox<Value>: @unchecked Sendable {
    // Written only through `Shared.wrappedValue`'s modify, after it made the box unique, or
    // through the one writer of a unique box (`Shared.writer()`): no other access can overlap
    // (unchecked: the runtime's exclusivity check of a class's property cost more than most of
    // the steps a task's state is read in).
    @exclusivity(unchecked) var value: Value
    init(_ value: Value) { self.value = value }
}

/// A writer of a `Shared` value in its box (`Shared.writer()`).
struct SharedWriter<Value>: @unchecked Sendable {
    fileprivate let box: SharedBox<Value>
    /// Where the box keeps the value: a final class's stored property lives in the object, at
    /// one place for the object's life, and the writer holds the object. (Read and written
    /// through it by addressors, not through the box's accessors: a step reads the running
    /// task's state some sixty times, and the coroutine of a `_modify` was called, not inlined,
    /// in the engine's loop.)
    let pointer: UnsafeMutablePointer<Value>

    fileprivate init(box: SharedBox<Value>) {
        self.box = box
        pointer = withUnsafeMutablePointer(to: &box.value) { $0 }
    }
}

/// A field of a value that is no part of the value: what a copy keeps for speed alone (a task
/// to reuse, the running task's writer, a cache). It compares equal, hashes as nothing, encodes
/// as null and decodes as new, so that the value holding it compares, hashes and encodes as if
/// it were not there.
protocol NotPartOfValue: Codable, Hashable, Sendable {
    init()
}

extension NotPartOfValue {
    static func == (_: Self, _: Self) -> Bool { true }
    func hash(into hasher: inout Hasher) {}
    init(from decoder: any Decoder) throws { self.init() }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encodeNil()
    }
}
