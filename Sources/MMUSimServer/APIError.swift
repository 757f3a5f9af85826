import Hummingbird
import MMUSim

/// A request the API cannot take, answered as `{"error": {"code": "...", "message": "..."}}`.
///
/// `code` is a stable snake_case name that clients branch on; `message` is for people.
/// A simulated kernel failure is not an `APIError`: it is data (`ret`, `errno`) in a 200 answer.
struct APIError: Error, HTTPResponseError {
    /// The HTTP status of the answer.
    var status: HTTPResponse.Status
    /// The stable, machine-readable name of the error.
    var code: String
    /// A sentence that says what was wrong with the request.
    var message: String
    /// Headers to add to the answer, such as `Allow` for a 405.
    var headers: HTTPFields
    /// For a driver policy's error: the JSON pointer of what is wrong.
    var pointer: String?

    /// Creates an error answer.
    init(_ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// Encodes the error object as JSON with this error's status and headers.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        let answer = ErrorAnswer(error: .init(code: self.code, message: self.message, pointer: self.pointer))
        var response = try context.responseEncoder.encode(answer, from: request, context: context)
        response.status = self.status
        response.headers.append(contentsOf: self.headers)
        return response
    }
}

extension APIError {
    /// The code for a status that has no more specific one: its reason phrase in snake_case ("Not Found" is "not_found").
    static func code(for status: HTTPResponse.Status) -> String {
        if status.kind == .serverError {
            return "internal_error"
        }
        let words = status.reasonPhrase.lowercased().split { !($0.isLetter || $0.isNumber) }
        return words.isEmpty ? "http_\(status.code)" : words.joined(separator: "_")
    }

    /// The answer to a known path asked with a method it does not answer.
    static func methodNotAllowed(_ method: HTTPRequest.Method, path: String, allow: String) -> APIError {
        APIError(
            .methodNotAllowed,
            code: "method_not_allowed",
            message: "\(method.rawValue) is not allowed on \(path); allowed: \(allow)",
            headers: [.allow: allow]
        )
    }
}

/// A policy that cannot be loaded or registered: a 422 whose error names the JSON pointer of
/// what is wrong (`{"error": {"code": "invalid_policy", "message": ..., "pointer": "/fault/3"}}`).
func policyError(_ error: PolicyError, code: String = "invalid_policy") -> APIError {
    let at = error.pointer.isEmpty ? "the document" : error.pointer
    var answer = APIError(.unprocessableContent, code: code, message: "\(at): \(error.message)")
    answer.pointer = error.pointer
    return answer
}

/// The JSON shape of every error answer.
private struct ErrorAnswer: Encodable {
    struct Body: Encodable {
        let code: String
        let message: String
        let pointer: String?
    }

    let error: Body
}
