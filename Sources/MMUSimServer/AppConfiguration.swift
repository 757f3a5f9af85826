import Foundation
public import Logging
public import MMUSim

/// What the server needs to know to start: where to listen, where the dashboard's files are, who may call it.
public struct AppConfiguration: Sendable {
    /// The address to bind; loopback unless a token guards the API.
    public var host: String
    /// The port to bind; 0 asks the system for a free one (learn it from `onServerRunning`).
    public var port: Int
    /// The folder of static files served at `/` (the dashboard), relative to the working directory or absolute.
    public var publicDirectory: String
    /// The folder that holds `scenarios/` and `examples/explore/`, which GET /library/... serves;
    /// by default the one that holds the public folder (the repository's root).
    public var libraryDirectory: String
    /// When set, every request but `GET /health` must carry `Authorization: Bearer <token>`.
    public var token: String?
    /// More names (each may carry a `:port`) that the `Host` may give and whose `http://` and `https://`
    /// origins may call, for a server behind a proxy; loopback names are always allowed.
    public var allowedHosts: [String]
    /// The logger the server and its middleware write to.
    public var logger: Logger
    /// The world the server starts with (frames, swap slots, release ordering).
    public var world: WorldConfig
    /// What one request may ask for.
    public var limits: RequestLimits

    /// Creates a configuration; the defaults serve `./public` on 127.0.0.1:8080 without a token.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        publicDirectory: String = "public",
        libraryDirectory: String? = nil,
        token: String? = nil,
        allowedHosts: [String] = [],
        logger: Logger = Logger(label: "mmusim"),
        world: WorldConfig = WorldConfig(),
        limits: RequestLimits = RequestLimits()
    ) {
        self.world = world
        self.limits = limits
        self.host = host
        self.port = port
        self.publicDirectory = publicDirectory
        self.libraryDirectory = libraryDirectory ?? URL(fileURLWithPath: publicDirectory).deletingLastPathComponent().path
        self.token = token
        self.allowedHosts = allowedHosts
        self.logger = logger
    }
}
