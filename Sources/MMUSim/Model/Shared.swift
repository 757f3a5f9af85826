/// A value kept behind one reference and copied on write: a copy of the struct that holds it
/// costs one retain, not a copy of the value. For large fields that rarely change, such as a
/// task's operation and result (464 of a task's 720 bytes): the explorer copies every task
/// of a world at each step it takes. It compares, hashes and encodes as the value itself.
@propertyWrapper
public struct Shared<Value: Hashable & Codable & Sendable>: Hashable, Codable, Sendable {
    private final class Box: @unchecked Sendable {
        // Written only through `wrappedValue`'s modify, after it made the box unique: no other
        // access can overlap (unchecked: the runtime's exclusivity check of a class's property
        // cost more than the step a task's state is read for).
        @exclusivity(unchecked) var value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box

    /// Keeps `wrappedValue`.
    public init(wrappedValue: Value) { box = Box(wrappedValue) }

    /// The value.
    public var wrappedValue: Value {
        _read { yield box.value }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.value) }
            yield &box.value
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
