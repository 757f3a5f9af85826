import CJSONC

/// A JSON document as parsed by json-c, copied out into Swift values.
///
/// json-c is the independent parser of these tests: the server encodes with Foundation, the tests read with C.
/// Everything is copied before the json-c tree is released, so no value points into freed memory.
enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses one JSON document; anything but whitespace after it is an error.
    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        guard let tokener = json_tokener_new() else {
            throw JSONParseError(message: "json_tokener_new failed")
        }
        defer { json_tokener_free(tokener) }
        // The terminating NUL tells json-c that the input ends here (a bare number could otherwise go on).
        let input = bytes + [0]
        let root = input.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { json_tokener_parse_ex(tokener, $0.baseAddress, Int32($0.count)) }
        }
        defer { json_object_put(root) }
        let error = json_tokener_get_error(tokener)
        guard error == json_tokener_success else {
            throw JSONParseError(message: String(cString: json_tokener_error_desc(error)))
        }
        let end = json_tokener_get_parse_end(tokener)
        guard bytes[min(end, bytes.count)...].allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) else {
            throw JSONParseError(message: "trailing bytes after the document at offset \(end)")
        }
        return JSONValue(copying: root)
    }

    /// Copies a json-c value; nil is JSON null.
    private init(copying object: OpaquePointer?) {
        guard let object else {
            self = .null
            return
        }
        switch json_object_get_type(object) {
        case json_type_boolean:
            self = .bool(json_object_get_boolean(object) != 0)
        case json_type_int:
            self = .int(json_object_get_int64(object))
        case json_type_double:
            self = .double(json_object_get_double(object))
        case json_type_string:
            let length = Int(json_object_get_string_len(object))
            let bytes = UnsafeRawBufferPointer(start: json_object_get_string(object), count: length)
            self = .string(String(decoding: bytes, as: UTF8.self))
        case json_type_array:
            self = .array((0..<json_object_array_length(object)).map { JSONValue(copying: json_object_array_get_idx(object, $0)) })
        case json_type_object:
            // json_object_object_foreach is a macro Swift cannot import; the iterator API walks the same table.
            var members: [String: JSONValue] = [:]
            var iterator = json_object_iter_begin(object)
            var end = json_object_iter_end(object)
            while json_object_iter_equal(&iterator, &end) == 0 {
                let name = String(cString: json_object_iter_peek_name(&iterator))
                members[name] = JSONValue(copying: json_object_iter_peek_value(&iterator))
                json_object_iter_next(&iterator)
            }
            self = .object(members)
        default:
            self = .null
        }
    }

    /// The member named `key` of an object; nil for a missing key or a non-object.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members[key]
    }

    /// The string this value is, or nil.
    var string: String? {
        guard case .string(let value) = self else { return nil }
        return value
    }

    /// The integer this value is, or nil.
    var int: Int64? {
        guard case .int(let value) = self else { return nil }
        return value
    }
}

/// json-c could not parse an answer.
struct JSONParseError: Error, CustomStringConvertible {
    /// json-c's description of what was wrong.
    let message: String

    var description: String { "JSON parse error: \(self.message)" }
}
