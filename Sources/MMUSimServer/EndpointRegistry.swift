import Hummingbird

/// Adds endpoints to a router and remembers which methods each path answers.
///
/// Hummingbird answers a known path asked with an unknown method as it answers an unknown path (404).
/// After the last endpoint, ``addMethodNotAllowedResponders()`` gives every other common method of a
/// known path a responder that answers 405 with an `Allow` header.
struct EndpointRegistry<Context: RequestContext> {
    /// The methods a path that exists but does not answer them gets a 405 for; any method left out would answer 404.
    private static var commonMethods: [HTTPRequest.Method] {
        [.get, .head, .post, .put, .patch, .delete, .options, .trace, HTTPRequest.Method("QUERY")!]
    }

    private let router: Router<Context>
    /// Paths in the order they were first added, each with its methods; the order keeps `Allow` stable.
    private var methodsByPath: [(path: String, methods: [HTTPRequest.Method])] = []

    /// Creates a registry that adds to `router`.
    init(router: Router<Context>) {
        self.router = router
    }

    /// Adds a handler for `method` on `path` (Hummingbird path syntax: `/mms/{mm}`).
    mutating func on(
        _ path: String,
        method: HTTPRequest.Method,
        use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator
    ) {
        if let index = self.methodsByPath.firstIndex(where: { $0.path == path }) {
            precondition(!self.methodsByPath[index].methods.contains(method), "\(method) \(path) added twice")
            self.methodsByPath[index].methods.append(method)
        } else {
            self.methodsByPath.append((path, [method]))
        }
        self.router.on(RouterPath(path), method: method, use: handler)
    }

    /// Adds a GET handler (HEAD is generated from it).
    mutating func get(_ path: String, use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator) {
        self.on(path, method: .get, use: handler)
    }

    /// Adds a POST handler.
    mutating func post(_ path: String, use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator) {
        self.on(path, method: .post, use: handler)
    }

    /// Adds a DELETE handler.
    mutating func delete(_ path: String, use handler: @escaping @Sendable (Request, Context) async throws -> some ResponseGenerator) {
        self.on(path, method: .delete, use: handler)
    }

    /// The endpoints added so far: each path (Hummingbird syntax, which is OpenAPI's: `/mms/{mm}`) with the
    /// methods it answers, in the order added. The HEAD that the router generates for a GET and the 405
    /// responders are not listed. A test holds openapi.yaml to this list.
    func routes() -> [(path: String, methods: [HTTPRequest.Method])] {
        self.methodsByPath
    }

    /// Makes every common method that a known path does not answer answer 405; call once, after the last endpoint.
    func addMethodNotAllowedResponders() {
        for (path, methods) in self.methodsByPath {
            // HEAD is generated for every GET when the router builds its responder.
            var allowed = methods
            if methods.contains(.get), !methods.contains(.head) {
                allowed.append(.head)
            }
            let allow = allowed.map(\.rawValue).joined(separator: ", ")
            for method in Self.commonMethods where !allowed.contains(method) {
                self.router.on(RouterPath(path), method: method) { request, _ -> Response in
                    throw APIError.methodNotAllowed(request.method, path: request.uri.path, allow: allow)
                }
            }
        }
    }
}
