import Hummingbird

/// Requires the token on every request but `GET /health`: as `Authorization: Bearer <token>` (curl,
/// scripts) or as the `mmusim_token` cookie (the dashboard in a browser).
///
/// A browser gets the cookie once from the URL: `GET /?token=T` with the right token answers
/// 303 to the same URL without `token`, setting `mmusim_token` HttpOnly (no script reads it) and
/// SameSite=Strict (no other site's request carries it). A wrong token in the URL is a 401.
/// `mmusim serve` refuses to bind anything but loopback without a token; this is what the token guards.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The name of the cookie that carries the token.
    static var cookieName: String { "mmusim_token" }

    /// The token itself.
    private let token: String

    /// Creates a middleware that accepts `token` alone.
    init(token: String) {
        precondition(!token.isEmpty, "an empty token guards nothing")
        self.token = token
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let isRead = request.method == .get || request.method == .head
        if isRead, let given = request.uri.queryParameters["token"] {
            guard Self.equal(String(given), self.token) else { throw Self.unauthorized }
            return self.setCookieAndRedirect(request)
        }
        let isHealth = request.uri.path == "/health" && isRead
        let bearer = request.headers[.authorization].map { Self.equal($0, "Bearer " + self.token) } ?? false
        let cookie = request.cookies[Self.cookieName].map { Self.equal($0.value, self.token) } ?? false
        guard isHealth || bearer || cookie else { throw Self.unauthorized }
        return try await next(request, context)
    }

    private static var unauthorized: APIError {
        APIError(
            .unauthorized,
            code: "unauthorized",
            message: "this server requires Authorization: Bearer <token> (a browser: open /?token=<token> once)",
            headers: [.wwwAuthenticate: "Bearer"]
        )
    }

    /// 303 to the request's own path and query without `token`, setting the cookie; the token leaves the address bar.
    private func setCookieAndRedirect(_ request: Request) -> Response {
        let rest = (request.uri.query ?? "").split(separator: "&").filter { !$0.hasPrefix("token=") && $0 != "token" }
        let location = request.uri.path + (rest.isEmpty ? "" : "?" + rest.joined(separator: "&"))
        var response = Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
        response.setCookie(Cookie(name: Self.cookieName, value: self.token, path: "/", httpOnly: true, sameSite: .strict))
        return response
    }

    /// Compares in time that depends on the lengths alone, not on where the first difference is.
    private static func equal(_ given: String, _ expected: String) -> Bool {
        let given = Array(given.utf8)
        let expected = Array(expected.utf8)
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(given, expected) {
            difference |= a ^ b
        }
        return difference == 0
    }
}
