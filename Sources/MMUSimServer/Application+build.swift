public import Hummingbird

/// Builds the MMU Notifier Lab HTTP application; run it with `runService()` or inside a `ServiceGroup`.
///
/// Middleware runs outside in: errors become `{"error": {"code", "message"}}` answers, then the
/// token is checked (when configured), then static files from `publicDirectory` answer what no route does.
/// - Parameters:
///   - configuration: Where to listen, which files to serve, which token to require.
///   - onServerRunning: Called once the socket is bound, with the bound port (the real one when the port asked was 0).
public func buildApplication(
    configuration: AppConfiguration,
    onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let simulator = Simulator(config: configuration.world)
    let router = Router(context: AppRequestContext.self, options: [.autoGenerateHeadEndpoints])
    router.add(middleware: MetricsMiddleware(simulator: simulator))
    router.add(middleware: JSONErrorMiddleware(logger: configuration.logger))
    if let token = configuration.token {
        router.add(middleware: TokenMiddleware(token: token))
    }
    router.add(
        middleware: FileMiddleware(
            configuration.publicDirectory,
            searchForIndexHtml: true,
            logger: configuration.logger
        )
    )
    var endpoints = EndpointRegistry(router: router)
    Routes(simulator: simulator, limits: configuration.limits).add(to: &endpoints)
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
