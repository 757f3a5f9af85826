import Foundation
import Hummingbird
import Logging
import MMUSimServer
import ServiceLifecycle

/// A live MMU Notifier Lab server on 127.0.0.1 and a free port, for as long as a test body runs.
///
/// The application runs inside a `ServiceGroup`, as `mmusim serve` runs it; the bound port comes from
/// `onServerRunning`, and the server stops through the group's graceful shutdown before `withRunning` returns.
struct TestServer: Sendable {
    /// The port the server bound.
    let port: Int

    /// The server's origin, `http://127.0.0.1:PORT`.
    var baseURL: String { "http://127.0.0.1:\(self.port)" }

    /// A libcurl client for this server.
    var client: HTTPClient { HTTPClient(baseURL: self.baseURL) }

    /// Starts a server, runs `body` with it, then shuts the server down gracefully and waits until it has stopped.
    /// - Parameters:
    ///   - token: The bearer token the server requires, or nil for none.
    ///   - allowedHosts: The `--allow-host` names.
    ///   - shutdownTimeoutSeconds: How long the graceful shutdown may take before the server is cancelled and
    ///     ``TestServerError/shutdownTimedOut(seconds:)`` is thrown.
    ///   - body: The test, given the running server.
    /// - Returns: What `body` returns; if `body` throws, the server is still stopped first.
    static func withRunning<Value>(
        token: String? = nil,
        allowedHosts: [String] = [],
        shutdownTimeoutSeconds: Int = 10,
        _ body: (TestServer) async throws -> Value
    ) async throws -> Value {
        var logger = Logger(label: "EndToEndTests.TestServer")
        logger.logLevel = .warning
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = buildApplication(
            configuration: .init(
                host: "127.0.0.1",
                port: 0,
                publicDirectory: Self.publicDirectory,
                token: token,
                allowedHosts: allowedHosts,
                logger: logger
            )
        ) { port in
            portContinuation.yield(port)
        }
        let serviceGroup = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))

        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Ends the wait for a port if the server stops without binding one.
                defer { portContinuation.finish() }
                try await serviceGroup.run()
            }
            var portIterator = ports.makeAsyncIterator()
            guard let port = await portIterator.next() else {
                try await group.waitForAll()
                throw TestServerError.stoppedBeforeListening
            }
            let result: Result<Value, any Error>
            do {
                result = .success(try await body(TestServer(port: port)))
            } catch {
                result = .failure(error)
            }
            await serviceGroup.triggerGracefulShutdown()
            // A server that does not stop in time is cancelled, and the test learns of it by the error.
            group.addTask {
                try await Task.sleep(for: .seconds(shutdownTimeoutSeconds))
                throw TestServerError.shutdownTimedOut(seconds: shutdownTimeoutSeconds)
            }
            var shutdownError: (any Error)? = nil
            do {
                _ = try await group.next()
            } catch {
                shutdownError = error
            }
            group.cancelAll()
            while !group.isEmpty {
                _ = try? await group.next()
            }
            let value = try result.get()
            if let shutdownError { throw shutdownError }
            return value
        }
    }

    /// The repository's `public/` folder, found from this file's path so tests run from any directory.
    static let publicDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("public")
        .path
}

/// Why a test server could not be used.
enum TestServerError: Error {
    /// The service group returned before the server reported a bound port.
    case stoppedBeforeListening
    /// The graceful shutdown did not finish in time; the server was cancelled.
    case shutdownTimedOut(seconds: Int)
}
