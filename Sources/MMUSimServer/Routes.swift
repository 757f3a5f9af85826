import Hummingbird

/// The API's endpoints; each feature adds its own in an extension (`Routes+Feature.swift`).
/// Every handler shares the one world held by the simulator actor.
struct Routes {
    /// The world behind the API.
    let simulator: Simulator
    /// What one request may ask for.
    let limits: RequestLimits
    /// HTTP requests answered, for /metrics.
    let requests: RequestCounter
    /// The scenario and explorer libraries.
    let library: Library

    /// `{"status":"ok"}`, the answer of GET /health.
    static let healthBody = ByteBuffer(string: #"{"status":"ok"}"#)

    /// Adds every endpoint of the API.
    func add(to endpoints: inout EndpointRegistry<AppRequestContext>) {
        // The liveness probe answers fixed bytes: load balancers and the benchmark call it hot.
        endpoints.get("/health") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: Self.healthBody))
        }
        let simulator = self.simulator
        endpoints.get("/version") { _, _ in
            VersionAnswer(
                version: ServerVersion.version,
                protocol: ServerVersion.protocolRevision,
                kernel: await simulator.world.config.kernel.rawValue
            )
        }
        addMMRoutes(to: &endpoints)
        addNotifierRoutes(to: &endpoints)
        addSystemRoutes(to: &endpoints)
        addExploreRoutes(to: &endpoints)
        addLibraryRoutes(to: &endpoints)
        addDriverRoutes(to: &endpoints)
    }
}

/// The answer of `GET /version`.
struct VersionAnswer: ResponseEncodable {
    /// The release of MMU Notifier Lab.
    let version: String
    /// The patch revision the model follows.
    let `protocol`: String
    /// The kernel the world runs: `v17` (the seed's protocol) or `modern` (today's).
    let kernel: String
}
