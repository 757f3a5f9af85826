import Foundation

/// Any JSON value, for expectations that name only the fields they care about.
public enum JSONValue: Codable, Hashable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Reads any JSON value; integers stay exact up to 64 bits.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(UInt64.self) {
            self = .uint(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// The field `key` of an object; nil for a missing field or a value that is no object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { fields[key] } else { nil }
    }

    /// Writes the value.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .uint(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The value of an encodable thing, as the API would print it.
    static func of(_ value: some Encodable) -> JSONValue {
        guard let data = try? APIJSON.encoder.encode(value), let decoded = try? JSONDecoder().decode(JSONValue.self, from: data) else { return .null }
        return decoded
    }

    /// Compact JSON text with sorted keys.
    public var description: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "?"
    }

    /// True when `actual` has every field this (expected) value names, recursively; arrays
    /// match element by element with the same length; numbers compare by value; an address
    /// string matches the same number written another way.
    func matches(_ actual: JSONValue) -> Bool {
        switch (self, actual) {
        case (.object(let expected), .object(let real)):
            return expected.allSatisfy { key, value in real[key].map { value.matches($0) } ?? (value == .null) }
        case (.array(let expected), .array(let real)):
            return expected.count == real.count && zip(expected, real).allSatisfy { $0.matches($1) }
        default:
            if let a = numeric, let b = actual.numeric { return a == b }
            return self == actual
        }
    }

    /// The value as an exact number, when it is one (or an address string).
    var numeric: Decimal? {
        switch self {
        case .int(let value): Decimal(value)
        case .uint(let value): Decimal(value)
        case .double(let value): Decimal(value)
        case .string(let text) where text.hasPrefix("0x"): UInt64(text.dropFirst(2), radix: 16).map { Decimal($0) }
        default: nil
        }
    }
}
