/// A JSON document as a driver policy is written: objects keep their members in the order the
/// author wrote them (a policy's variants apply in that order), numbers that are integers stay
/// exact. The model imports nothing, so it reads JSON text itself (`JSON.parse`).
public enum JSON: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    /// Members in document order; a key appears once.
    case object([(key: String, value: JSON)])

    /// Equal values; objects with the same members in any order.
    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.double(let x), .double(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        // Objects are equal with the same members, whatever their order (RFC 6902's test).
        case (.object(let x), .object(let y)):
            x.count == y.count && x.allSatisfy { member in y.contains { $0.key == member.key && $0.value == member.value } }
        default: false
        }
    }

    /// Hashes what equality compares (an object by its member count alone).
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .int(let value): hasher.combine(value)
        case .double(let value): hasher.combine(value)
        case .string(let value): hasher.combine(value)
        case .array(let value): hasher.combine(value)
        case .object(let members): hasher.combine(members.count)
        }
    }

    /// The member `key` of an object; nil for a missing member or a value that is no object.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The members of an object, in order; nil for anything else.
    public var members: [(key: String, value: JSON)]? {
        if case .object(let members) = self { members } else { nil }
    }

    /// The elements of an array; nil for anything else.
    public var elements: [JSON]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    /// The string, if this is one.
    public var string: String? {
        if case .string(let text) = self { text } else { nil }
    }

    /// The integer, if this is one (a double with no fraction counts).
    public var int: Int? {
        switch self {
        case .int(let value): Int(exactly: value)
        case .double(let value): Int(exactly: value)
        default: nil
        }
    }

    /// What kind of value this is, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

// MARK: Reading

/// JSON text that does not parse: where, and why.
public struct JSONSyntaxError: Error, Hashable, Sendable {
    /// The line, from 1.
    public var line: Int
    /// The column, from 1.
    public var column: Int
    /// What is wrong there.
    public var message: String

    /// `line L, column C: message`.
    public var description: String { "line \(line), column \(column): \(message)" }
}

extension JSON {
    /// Parses JSON text (RFC 8259). A key repeated in one object is an error, since a policy
    /// that says two things at one place is ambiguous.
    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSON {
        var reader = Reader(bytes: Array(text.utf8))
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.position == reader.bytes.count else { throw reader.error("unexpected text after the document") }
        return value
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        func error(_ message: String) -> JSONSyntaxError {
            var line = 1
            var column = 1
            for byte in bytes[..<min(position, bytes.count)] {
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            return JSONSyntaxError(line: line, column: column, message: message)
        }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
        }

        mutating func expect(_ literal: String) throws(JSONSyntaxError) {
            for byte in literal.utf8 {
                guard peek == byte else { throw error("expected '\(literal)'") }
                position += 1
            }
        }

        mutating func value(depth: Int) throws(JSONSyntaxError) -> JSON {
            guard depth < 128 else { throw error("nested deeper than 128 levels") }
            guard let byte = peek else { throw error("unexpected end of the document") }
            switch byte {
            case UInt8(ascii: "{"):
                position += 1
                var members: [(key: String, value: JSON)] = []
                skipSpace()
                if peek == UInt8(ascii: "}") {
                    position += 1
                    return .object(members)
                }
                while true {
                    skipSpace()
                    guard peek == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
                    let keyStart = position
                    let key = try string()
                    if members.contains(where: { $0.key == key }) {
                        position = keyStart
                        throw error("the member '\(key)' appears twice in one object")
                    }
                    skipSpace()
                    try expect(":")
                    skipSpace()
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    if peek == UInt8(ascii: ",") {
                        position += 1
                        continue
                    }
                    try expect("}")
                    return .object(members)
                }
            case UInt8(ascii: "["):
                position += 1
                var elements: [JSON] = []
                skipSpace()
                if peek == UInt8(ascii: "]") {
                    position += 1
                    return .array(elements)
                }
                while true {
                    skipSpace()
                    elements.append(try value(depth: depth + 1))
                    skipSpace()
                    if peek == UInt8(ascii: ",") {
                        position += 1
                        continue
                    }
                    try expect("]")
                    return .array(elements)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            default:
                return try number()
            }
        }

        mutating func number() throws(JSONSyntaxError) -> JSON {
            let start = position
            if peek == UInt8(ascii: "-") { position += 1 }
            func digits(_ reader: inout Reader) -> Int {
                var count = 0
                while let byte = reader.peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    reader.position += 1
                    count += 1
                }
                return count
            }
            let integerStart = position
            guard digits(&self) > 0 else { throw error("expected a value") }
            if bytes[integerStart] == UInt8(ascii: "0"), position - integerStart > 1 { throw error("a number does not start with 0") }
            var isInteger = true
            if peek == UInt8(ascii: ".") {
                position += 1
                isInteger = false
                guard digits(&self) > 0 else { throw error("expected digits after the decimal point") }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                position += 1
                isInteger = false
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { position += 1 }
                guard digits(&self) > 0 else { throw error("expected digits in the exponent") }
            }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            if isInteger, let value = Int64(text) { return .int(value) }
            guard let value = Double(text) else { throw error("'\(text)' is not a number") }
            return .double(value)
        }

        mutating func string() throws(JSONSyntaxError) -> String {
            position += 1
            var scalars = String.UnicodeScalarView()
            var run: [UInt8] = []
            func flush() {
                scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
                run.removeAll()
            }
            while true {
                guard let byte = peek else { throw error("a string is not closed") }
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    flush()
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    flush()
                    guard let escape = peek else { throw error("a string is not closed") }
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{8}")
                    case UInt8(ascii: "f"): scalars.append("\u{C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if code >= 0xD800, code < 0xDC00 {
                            try expect("\\u")
                            let low = try hex4()
                            guard low >= 0xDC00, low < 0xE000 else { throw error("a high surrogate without its low half") }
                            code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw error("\\u escape of no character") }
                        scalars.append(scalar)
                    default:
                        throw error("unknown escape '\\\(Character(Unicode.Scalar(escape)))'")
                    }
                case 0..<0x20:
                    throw error("a control character inside a string")
                default:
                    run.append(byte)
                }
            }
        }

        mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
            guard position + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16) else {
                throw error("\\u needs four hex digits")
            }
            position += 4
            return code
        }
    }
}

// MARK: Writing

extension JSON: CustomStringConvertible {
    /// Compact JSON text, members in document order.
    public var description: String { text(indent: nil) }

    /// JSON text; with `indent`, one member or element a line.
    public func text(indent: String?, level: Int = 0) -> String {
        let newline = indent.map { "\n" + String(repeating: $0, count: level + 1) } ?? ""
        let close = indent.map { "\n" + String(repeating: $0, count: level) } ?? ""
        let colon = indent == nil ? ":" : ": "
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .string(let text): return Self.quoted(text)
        case .array(let elements):
            if elements.isEmpty { return "[]" }
            return "[" + elements.map { newline + $0.text(indent: indent, level: level + 1) }.joined(separator: ",") + close + "]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            return "{"
                + members.map { newline + Self.quoted($0.key) + colon + $0.value.text(indent: indent, level: level + 1) }.joined(separator: ",")
                + close + "}"
        }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let digits = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension JSON: Encodable {
    /// Writes the value. An object is written as a dictionary, so that an encoder's key
    /// strategy (the API's snake_case) leaves a policy's own names alone; its member order is
    /// then the encoder's.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let members): try container.encode(Dictionary(members.map { ($0.key, $0.value) }) { first, _ in first })
        }
    }
}
