/// An array kept in chunks of eight elements, each copied on write apart: a copy of the whole
/// that then changes one element copies that element's chunk and the list of chunks, not
/// every element. The explorer keeps a world per state, and a step changes a frame or two of
/// the world's frames: with a plain array each state held its own copy of all of them (64
/// frames, 3 KiB, most of a state's size). It encodes as a plain array.
public struct ChunkedArray<Element: Hashable & Codable & Sendable>: RandomAccessCollection, MutableCollection, Hashable, Codable, Sendable {
    /// A position: 0 to count.
    public typealias Index = Int
    /// Every position.
    public typealias Indices = Range<Int>

    private static var shift: Int { 3 }
    private static var mask: Int { (1 << shift) - 1 }

    private var chunks: [[Element]]
    /// The number of elements.
    public private(set) var count: Int

    /// `count` copies of `element`.
    public init(repeating element: Element, count: Int) {
        self.count = count
        let full = count >> Self.shift
        chunks = Array(repeating: Array(repeating: element, count: Self.mask + 1), count: full)
        if count & Self.mask != 0 { chunks.append(Array(repeating: element, count: count & Self.mask)) }
    }

    /// The elements of `array`, in order.
    public init(_ array: [Element]) {
        count = array.count
        chunks = stride(from: 0, to: array.count, by: Self.mask + 1).map { Array(array[$0..<Swift.min(array.count, $0 + Self.mask + 1)]) }
    }

    /// 0.
    public var startIndex: Int { 0 }
    /// `count`.
    public var endIndex: Int { count }
    /// 0 to count.
    public var indices: Range<Int> { 0..<count }

    /// The element at `position`, read and changed in place.
    public subscript(position: Int) -> Element {
        _read { yield chunks[position >> Self.shift][position & Self.mask] }
        _modify { yield &chunks[position >> Self.shift][position & Self.mask] }
    }

    /// The same elements; chunks shared by both are not compared.
    public static func == (lhs: ChunkedArray, rhs: ChunkedArray) -> Bool {
        lhs.count == rhs.count && lhs.chunks.sameElements(rhs.chunks)
    }

    /// The count and every element.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for chunk in chunks { for element in chunk { hasher.combine(element) } }
    }

    /// Decodes a plain array.
    public init(from decoder: any Decoder) throws {
        self.init(try [Element](from: decoder))
    }

    /// Encodes a plain array.
    public func encode(to encoder: any Encoder) throws {
        try Array(self).encode(to: encoder)
    }
}
