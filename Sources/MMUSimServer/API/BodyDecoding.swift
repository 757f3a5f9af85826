import Foundation
import Hummingbird
import MMUSim

extension Request {
    /// Decodes a JSON body (an empty body reads as `{}`), answering 413 past the limit and
    /// 400 for JSON that is malformed or of the wrong shape. `JSONBodyMiddleware` has already
    /// refused a body that is not `application/json`.
    func decodeBody<T: Decodable>(_ type: T.Type, limit: Int) async throws -> T {
        try await decodeBodyAndText(type, limit: limit).value
    }

    /// `decodeBody`, also giving the body's text (for a member that must keep its member
    /// order, such as an inline driver policy).
    func decodeBodyAndText<T: Decodable>(_ type: T.Type, limit: Int) async throws -> (value: T, text: String) {
        var request = self
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            // Both HTTPError and NIOTooManyBytesError (what collecting past the limit throws) land here.
            throw APIError(.contentTooLarge, code: "body_too_large", message: "the request body is over the limit of \(limit) bytes")
        }
        let bytes = buffer.readableBytes == 0 ? Data("{}".utf8) : Data(buffer.readableBytesView)
        let value: T
        do {
            value = try APIJSON.decoder().decode(T.self, from: bytes)
        } catch let error as DecodingError {
            throw APIError(.badRequest, code: "bad_request", message: Self.numberProblem(bytes) ?? Self.describe(error))
        } catch {
            throw APIError(.badRequest, code: "bad_request", message: "the body is not valid JSON")
        }
        if let step = (value as? any Pausable)?.pauseAt, !World.stepNames.contains(step), !Self.isDriverStep(step) {
            throw invalid("'pause_at' names no step: '\(step)' (GET /steps lists them)", code: "unknown_step")
        }
        return (value, String(decoding: bytes, as: UTF8.self))
    }

    /// A driver policy's statement as a step name: `driver:<driver>:<JSON pointer>`.
    /// Read byte by byte: a character compare would take `/` and a combining mark after it as
    /// one character.
    static func isDriverStep(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        let prefix = Array("driver:".utf8)
        guard bytes.starts(with: prefix) else { return false }
        let rest = bytes.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: UInt8(ascii: ":")), colon > rest.startIndex else { return false }
        return rest[..<colon].allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D }
            && bytes.count > colon + 1 && bytes[colon + 1] == UInt8(ascii: "/")
    }

    /// The body as text, answering 413 past the limit.
    func bodyText(limit: Int) async throws -> String {
        var request = self
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return String(decoding: buffer.readableBytesView, as: UTF8.self)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "the request body is over the limit of \(limit) bytes")
        }
    }

    /// Foundation reports a number that does not fit its field (negative, fractional, too big)
    /// as invalid JSON; when the JSON parses, name the fields whose numbers are out of range.
    private static func numberProblem(_ bytes: Data) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any] else { return nil }
        let bad = object.compactMap { key, value -> String? in
            guard !(value is Bool), let number = value as? NSNumber else { return nil }
            let double = number.doubleValue
            return double < 0 || double != double.rounded() || double >= 18_446_744_073_709_551_616 ? "'\(key)' (\(number))" : nil
        }.sorted()
        guard !bad.isEmpty else { return nil }
        return "\(bad.joined(separator: ", ")) must be a non-negative integer below 2^64"
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let names = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? APIJSON.wireName($0.stringValue) }
            return names.isEmpty ? "the body" : "'" + names.joined(separator: ".") + "'"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context)) has the wrong type: expected \(type)"
        case .valueNotFound(_, let context):
            return "\(path(context)) must not be null"
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "the body" : path(context)
            return "\(parent) lacks the required field '\(APIJSON.wireName(key.stringValue))'"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "the body is not valid JSON" }
            return "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "the body does not match the request's schema"
        }
    }
}

/// A 422 for a request that parsed but asks for something the API does not take.
func invalid(_ message: String, code: String = "invalid_request") -> APIError {
    APIError(.unprocessableContent, code: code, message: message)
}

/// Checks a page-aligned, non-empty range below TASK_SIZE and returns it.
func checkRange(_ addr: UInt64, _ length: UInt64, field: String = "addr") throws -> (start: UInt64, length: UInt64) {
    guard addr % pageSize == 0 else { throw invalid("'\(field)' \(hex(addr)) is not page-aligned (4096)", code: "unaligned") }
    guard length > 0 else { throw invalid("'length' must be positive", code: "empty_range") }
    guard addr <= taskSize, length <= taskSize - addr else {
        throw invalid("the range \(hex(addr)) + \(length) passes the end of user space (\(hex(taskSize)))", code: "range_overflow")
    }
    return (addr, length)
}

/// Runs one of the model's field rules (`Command.mmapFlags`, `.protection`, `.driver`), the
/// same for API requests as for scenario and explorer commands: a broken rule is a 422 with
/// the rule's code and message.
func unprocessable<T>(_ rule: () throws(CommandError) -> T) throws -> T {
    do {
        return try rule()
    } catch {
        throw invalid(error.message, code: error.code)
    }
}
