/// Request bodies written as Swift literals, serialised to JSON text, and accessors for reading answers.
extension JSONValue: ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral
{
    init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements) { _, last in last })
    }

    init(arrayLiteral elements: JSONValue...) {
        self = .array(elements)
    }

    init(stringLiteral value: String) {
        self = .string(value)
    }

    init(integerLiteral value: Int64) {
        self = .int(value)
    }

    init(booleanLiteral value: Bool) {
        self = .bool(value)
    }

    /// An address as the API prints it, `"0x7f0000000000"`.
    static func address(_ value: UInt64) -> JSONValue {
        .string(hexAddress(value))
    }

    /// A length or count, given as an unsigned value.
    static func number(_ value: UInt64) -> JSONValue {
        .int(Int64(value))
    }

    /// The JSON text of this value (object keys sorted, so the text is stable).
    var serialized: String {
        switch self {
        case .null: "null"
        case .bool(let value): value ? "true" : "false"
        case .int(let value): String(value)
        case .double(let value): String(value)
        case .string(let value): Self.quoted(value)
        case .array(let items): "[" + items.map(\.serialized).joined(separator: ",") + "]"
        case .object(let members):
            "{" + members.keys.sorted().map { Self.quoted($0) + ":" + members[$0]!.serialized }.joined(separator: ",") + "}"
        }
    }

    /// The UTF-8 bytes of ``serialized``, ready to send.
    var bytes: [UInt8] { Array(self.serialized.utf8) }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The element at `index` of an array; nil for a non-array or an index out of range.
    subscript(index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    /// The elements this value is, or nil.
    var array: [JSONValue]? {
        guard case .array(let items) = self else { return nil }
        return items
    }

    /// The boolean this value is, or nil.
    var bool: Bool? {
        guard case .bool(let value) = self else { return nil }
        return value
    }

    /// The address this value is: a `"0x..."` string or an integer; nil otherwise.
    var address: UInt64? {
        switch self {
        case .int(let value): return value >= 0 ? UInt64(value) : nil
        case .string(let text) where text.hasPrefix("0x"): return UInt64(text.dropFirst(2), radix: 16)
        default: return nil
        }
    }
}

/// An address in the API's spelling: lowercase hex with a `0x` prefix.
func hexAddress(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16)
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}
