import Synchronization

/// A driver lock's name (`mmu_lock`), kept as a number into a process-wide table of the names
/// seen, so that a `Lock` holds no reference: the task's lock array, a step that takes or
/// drops a lock and a trace record copy it as plain bits, and two names compare as numbers.
/// It reads, prints and encodes as its text.
public struct LockName: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
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

    /// The names seen so far, both ways. (A policy declares a handful; the table only grows.)
    private static let table = Mutex<(texts: [String], codes: [String: UInt32])>(([], [:]))
}
