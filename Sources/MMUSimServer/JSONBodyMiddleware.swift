import Hummingbird

/// A mutating request (POST, PUT, PATCH, DELETE) that carries a body must say `Content-Type: application/json`;
/// one without a body (fork, exit, reset, step, resume) may send no type at all.
///
/// A web page can send a form (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`) or
/// an untyped blob to any address without a CORS preflight; only JSON needs one. Refusing every other body
/// with 415 before a route runs keeps such a request from changing anything, whatever its `Origin`.
struct JSONBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The largest body collected to learn whether a body that is not JSON is empty (the API's body limit).
    let maxBody: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.mutates(request.method), !Self.isJSON(request.headers[.contentType]) else {
            return try await next(request, context)
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: self.maxBody)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "the request body is over the limit of \(self.maxBody) bytes")
        }
        if body.readableBytes > 0 {
            let type = request.headers[.contentType].map { "'\($0)'" } ?? "none"
            throw APIError(
                .unsupportedMediaType,
                code: "unsupported_media_type",
                message: "a request body must be JSON sent with Content-Type: application/json (this one's type: \(type))"
            )
        }
        return try await next(request, context)
    }

    private static func mutates(_ method: HTTPRequest.Method) -> Bool {
        switch method {
        case .post, .put, .patch, .delete: true
        default: false
        }
    }

    /// `application/json` or a `+json` type, with any parameters (`; charset=utf-8`).
    private static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let media = contentType.split(separator: ";", omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces).lowercased()
        return media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }
}
