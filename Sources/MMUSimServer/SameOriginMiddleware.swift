import Hummingbird

/// Keeps web pages from elsewhere away from the lab: a foreign `Host` (DNS rebinding) or a foreign
/// `Origin` (a cross-site form or fetch) is refused with 403 before any route or file answers.
///
/// As Jupyter and Vite's dev server do for a local server without a password:
/// - **Host.** When the server binds loopback, the `Host` must name loopback (`localhost`,
///   `127.0.0.0/8`, `[::1]`, with or without a port) or one of the `--allow-host` names. A page on
///   `evil.example` whose name was rebound to 127.0.0.1 sends `Host: evil.example` and is refused,
///   so it can read nothing. A server bound elsewhere has a token that guards it instead.
/// - **Origin.** Browsers send `Origin` on every cross-origin POST, form or fetch (and on CORS GETs).
///   It must be the server's own, `http://` plus the request's `Host`, or an allowed name's
///   (`http://NAME` or `https://NAME`, as a proxy in front presents it); `Origin: null` (sandboxed
///   frames, `file:` pages) is refused too. A request without `Origin` (curl, libcurl, scripts) passes.
struct SameOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Whether the `Host` must name loopback or an allowed name (the server binds loopback).
    let checksHost: Bool
    /// The `--allow-host` names, lowercased; each may carry a port.
    let allowedHosts: [String]

    init(checksHost: Bool, allowedHosts: [String]) {
        self.checksHost = checksHost
        self.allowedHosts = allowedHosts.map { $0.lowercased() }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // HTTP/1's Host header arrives as the request's authority. Most requests (curl,
        // scripts) carry no Origin, so only the Host is read for them.
        let host = request.head.authority
        if self.checksHost, let host, !Loopback.names(host), !self.isAllowed(host) {
            throw APIError(
                .forbidden,
                code: "forbidden_host",
                message: "Host '\(host)' is not this server's: it answers loopback names (localhost, 127.0.0.1, [::1]) "
                    + "and the --allow-host names only, so that a rebound DNS name cannot reach it"
            )
        }
        if let origin = request.headers[.origin], !self.isOwn(origin: origin.lowercased(), host: host?.lowercased()) {
            throw APIError(
                .forbidden,
                code: "forbidden_origin",
                message: "Origin '\(origin)' is not this server's own: a page from another site may not drive the lab "
                    + "(requests without an Origin header, as curl sends them, are not affected)"
            )
        }
        return try await next(request, context)
    }

    /// Whether `host` (a `Host` value, lowercased) is one of the allowed names, with or without its port.
    private func isAllowed(_ host: String) -> Bool {
        guard !self.allowedHosts.isEmpty else { return false }
        let host = host.lowercased()
        return self.allowedHosts.contains(host) || self.allowedHosts.contains(Loopback.hostname(of: host))
    }

    /// Whether `origin` (lowercased) is the request's own, or an allowed name's behind a proxy.
    private func isOwn(origin: String, host: String?) -> Bool {
        if let host, origin == "http://" + host {
            return true
        }
        for scheme in ["http://", "https://"] where origin.hasPrefix(scheme) {
            return self.isAllowed(String(origin.dropFirst(scheme.count)))
        }
        return false
    }
}

/// Which names and addresses are the loopback interface.
public enum Loopback {
    /// Whether `host` names the loopback interface only: `localhost`, an address in 127.0.0.0/8, or `::1`,
    /// bare or bracketed, with or without a `:port` (a `Host` header's form).
    public static func names(_ host: String) -> Bool {
        let name = hostname(of: host.lowercased())
        let bare = name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
        if bare == "localhost" || bare == "::1" {
            return true
        }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// `host` without a trailing `:port`: `localhost:8080` is `localhost`, `[::1]:80` is `[::1]`;
    /// a bare IPv6 address (more than one colon, no brackets) is left whole.
    static func hostname(of host: String) -> String {
        guard let colon = host.lastIndex(of: ":") else { return host }
        let port = host[host.index(after: colon)...]
        let name = host[..<colon]
        let bracketed = name.hasPrefix("[") && name.hasSuffix("]")
        guard port.allSatisfy(\.isASCII) && port.allSatisfy(\.isNumber), bracketed || !name.contains(":") else { return host }
        return String(name)
    }
}
