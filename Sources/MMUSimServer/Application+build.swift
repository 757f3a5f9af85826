public import Foundation
public import Hummingbird
public import MMUSim

/// Builds the MMU Notifier Lab HTTP application; run it with `runService()` or inside a `ServiceGroup`.
///
/// Middleware runs outside in: errors become `{"error": {"code", "message"}}` answers; a foreign
/// `Host` or `Origin` is refused (403); the token is checked (when configured); a mutating body that
/// is not JSON is refused (415); then static files from `publicDirectory` answer what no route does.
/// - Parameters:
///   - configuration: Where to listen, which files to serve, which token to require.
///   - onServerRunning: Called once the socket is bound, with the bound port (the real one when the port asked was 0).
public func buildApplication(
    configuration: AppConfiguration,
    onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    buildApplication(configuration: configuration, simulator: Simulator(config: configuration.world), onServerRunning: onServerRunning)
}

/// Builds the application with a journal in `stateDirectory`: the world is rebuilt from it on
/// start, and every accepted mutating request is appended and fsynced before it is answered.
/// - Throws: `JournalError` naming the byte offset when the journal is corrupt before its end.
/// - Returns: The application and a warning for each torn record dropped at the journal's end.
public func buildApplication(
    configuration: AppConfiguration,
    stateDirectory: URL,
    onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
) throws -> (application: some ApplicationProtocol, warnings: [String]) {
    var warnings: [String] = []
    let simulator = try Simulator(config: configuration.world, stateDirectory: stateDirectory, warnings: &warnings)
    return (buildApplication(configuration: configuration, simulator: simulator, onServerRunning: onServerRunning), warnings)
}

/// Rebuilds the world a state directory's journal describes (`mmusim replay`).
/// - Returns: The world and a warning for each torn record dropped.
public func replayStateDirectory(_ directory: URL) throws -> (world: World, warnings: [String]) {
    var warnings: [String] = []
    let world = try Simulator.replay(directory, warnings: &warnings)
    return (world, warnings)
}

private func buildApplication(
    configuration: AppConfiguration,
    simulator: Simulator,
    onServerRunning: @escaping @Sendable (_ port: Int) async -> Void
) -> some ApplicationProtocol {
    let router = Router(context: AppRequestContext.self, options: [.autoGenerateHeadEndpoints])
    let requests = RequestCounter()
    router.add(middleware: MetricsMiddleware(counter: requests))
    router.add(middleware: JSONErrorMiddleware(logger: configuration.logger))
    router.add(middleware: SameOriginMiddleware(checksHost: Loopback.names(configuration.host), allowedHosts: configuration.allowedHosts))
    if let token = configuration.token {
        router.add(middleware: TokenMiddleware(token: token))
    }
    router.add(middleware: JSONBodyMiddleware(maxBody: configuration.limits.maxBody))
    router.add(
        middleware: StaticFilesMiddleware(
            files: FileMiddleware(
                configuration.publicDirectory,
                searchForIndexHtml: true,
                logger: configuration.logger
            )
        )
    )
    var endpoints = EndpointRegistry(router: router)
    let library = Library(root: URL(fileURLWithPath: configuration.libraryDirectory))
    Routes(simulator: simulator, limits: configuration.limits, requests: requests, library: library).add(to: &endpoints)
    endpoints.addMethodNotAllowedResponders()

    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "mmusim"),
        onServerRunning: { channel in
            guard let port = channel.localAddress?.port else {
                preconditionFailure("a running server's channel has a local address")
            }
            await onServerRunning(port)
        },
        logger: configuration.logger
    )
}
