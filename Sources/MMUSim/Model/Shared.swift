/// A value kept behind one reference and copied on write: a copy of the struct that holds it
/// costs one retain, not a copy of the value. For values the explorer copies at every step it
/// takes and changes in few of them: a task's state (each of a world's tasks is copied with the
/// world, one runs the step), and inside it the operation and result, which rarely change.
/// It compares, hashes and encodes as the value itself.
@propertyWrapper
public struct Shared<Value: Hashable & Codable & Sendable>: Hashable, Codable, Sendable {
    private final class Box: @unchecked Sendable {
        // Written only through `wrappedValue`'s modify, after it made the box unique: no other
        // access can overlap (unchecked: the runtime's exclusivity check of a class's property
        // cost more than most of the steps a task's state is read in).
        @exclusivity(unchecked) var value: Value
        init(_ value: Value) { self.value = value }
    }

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
