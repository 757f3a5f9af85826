import Synchronization

/// A name kept as a number into a process-wide table of the names seen: a driver lock's
/// (`mmu_lock`) and a driver statement's step (`driver:kvm:/fault/3`). A `Lock` and a `Step`
/// then hold no reference: the task's lock array and program, and a trace record, copy them as
/// plain bits, and two names compare as numbers. It reads, prints and encodes as its text.
public struct InternedName: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The name's number in the table: the same text, the same number.
    let code: UInt32

    /// The name `text`.
    public init(_ text: String) {
        code = Self.table.withLock { table in
            if let code = table.codes[text] { return code }
            let code = UInt32(table.texts.count)
            table.texts.append(text)
            table.codes[text] = code
            return code
        }
    }

    /// The name a literal spells.
    public init(stringLiteral text: String) { self.init(text) }

    /// The name's text.
    public var text: String { Self.table.withLock { $0.texts[Int(code)] } }

    /// The name's text.
    public var description: String { text }

    /// Decodes a name from its text.
    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }

    /// Encodes the name as its text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    /// The names seen so far, both ways. (A policy declares a handful of locks and a few dozen
    /// statements; the table only grows.)
    private static let table = Mutex<(texts: [String], codes: [String: UInt32])>(([], [:]))
}

/// A driver lock's name.
public typealias LockName = InternedName
