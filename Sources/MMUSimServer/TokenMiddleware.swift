import Hummingbird

/// Requires `Authorization: Bearer <token>` on every request but `GET /health`.
///
/// `mmusim serve` refuses to bind anything but loopback without a token; this is what the token guards.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The bytes of the expected token.
    private let expected: [UInt8]

    /// Creates a middleware that accepts `token` alone.
    init(token: String) {
        precondition(!token.isEmpty, "an empty token guards nothing")
        self.expected = Array(("Bearer " + token).utf8)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let isHealth = request.uri.path == "/health" && (request.method == .get || request.method == .head)
        guard isHealth || self.accepts(request.headers[.authorization]) else {
            throw APIError(
                .unauthorized,
                code: "unauthorized",
                message: "this server requires Authorization: Bearer <token>",
                headers: [.wwwAuthenticate: "Bearer"]
            )
        }
        return try await next(request, context)
    }

    /// Compares in time that depends on the length alone, not on where the first difference is.
    private func accepts(_ header: String?) -> Bool {
        guard let header else { return false }
        let given = Array(header.utf8)
        guard given.count == self.expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(given, self.expected) {
            difference |= a ^ b
        }
        return difference == 0
    }
}
