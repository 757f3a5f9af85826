import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MMUSim
import MMUSimServer

/// `mmusim serve`: the HTTP/JSON API and the dashboard.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the HTTP/JSON API and the dashboard.",
        discussion: """
            With --port 0 a free port is bound. The first line of standard output is always \
            "listening on http://HOST:PORT" with the bound port. SIGINT or SIGTERM shuts down gracefully.
            """
    )

    @Option(help: "The address to bind. Anything but loopback requires --token.")
    var host = "127.0.0.1"

    @Option(help: "The port to bind; 0 binds a free port.")
    var port = 8080

    @Option(help: "The folder of the journal (default ./.mmusim).")
    var stateDir: String?

    @Flag(help: "Keep no journal: a restart starts from an empty world.")
    var ephemeral = false

    @Option(help: "The number of 4 KiB physical frames.")
    var frames: Int?

    @Option(help: "The number of swap slots.")
    var swapSlots: Int?

    @Option(
        help: "The order of __mmu_notifier_release and mmu_notifier_unregister: v17 (unlink, then ->release: racy) or fixed (->release first)."
    )
    var releaseOrder: ReleaseOrder?

    @Option(help: "The kernel whose notifier protocol the world runs: v17 (the seed's, the default) or modern (today's).")
    var kernel: KernelVersion?

    @Option(
        name: .customLong("core-bug"),
        help: ArgumentHelp(
            "A core bug the world has (repeatable; give 'none' for a world with every upstream fix).",
            discussion: "Without the flag the world is the seed's: v17_release_order, hugetlb_fork_no_notifier, hugetlb_cow_no_notifier.",
            valueName: "name"
        )
    )
    var coreBugs: [String] = []

    @Option(help: "A token that every request but /health must carry as 'Authorization: Bearer TOKEN'.")
    var token: String?

    @Option(
        help: ArgumentHelp(
            "A name (with an optional :port) that the Host header may give, and whose http:// and https:// origins may call; repeatable.",
            discussion: "A server on loopback answers loopback names only (localhost, 127.0.0.1, [::1]); add the name a proxy in front presents.",
            valueName: "name"
        )
    )
    var allowHost: [String] = []

    @Option(help: "The folder of the dashboard's static files.")
    var publicDir = "public"

    @Option(help: "The folder that holds scenarios/ and examples/explore/, served at /library (default: the public folder's parent).")
    var libraryDir: String?

    @Option(help: "Trace events kept (a ring: older ones drop, and /trace says how many).")
    var traceCapacity = 100_000

    @Option(help: "sysctl_max_map_count: VMAs one mm may have before mmap answers ENOMEM.")
    var maxMapCount = 65_530

    @Option(help: "The largest request body, in bytes.")
    var maxBody = 1 << 20

    @Option(help: "The most mms the world may hold.")
    var maxMMs = 1024

    @Option(help: "The most notifiers one mm may have.")
    var maxNotifiersPerMM = 64

    @Option(help: "The most pages one touch may access.")
    var maxTouchPages = 1 << 20

    @Option(help: "The most /trace/stream listeners at once.")
    var maxStreamClients = 16

    @Option(help: "The most distinct states one exploration may visit.")
    var maxExploreStates = 200_000

    @Option(help: "The most seconds one exploration may run.")
    var maxExploreSeconds = 20.0

    func validate() throws {
        guard (0...65535).contains(self.port) else {
            throw ValidationError("--port must be between 0 and 65535, not \(self.port).")
        }
        if self.stateDir != nil, self.ephemeral {
            throw ValidationError("--state-dir and --ephemeral exclude each other: --ephemeral keeps no journal.")
        }
        if let frames, frames < 2 || frames > 1 << 22 {
            throw ValidationError("--frames must be between 2 and \(1 << 22), not \(frames).")
        }
        if let swapSlots, swapSlots < 0 || swapSlots > 1 << 22 {
            throw ValidationError("--swap-slots must be between 0 and \(1 << 22), not \(swapSlots).")
        }
        for (name, value) in [
            ("--trace-capacity", traceCapacity), ("--max-map-count", maxMapCount), ("--max-body", maxBody), ("--max-mms", maxMMs),
            ("--max-notifiers-per-mm", maxNotifiersPerMM), ("--max-touch-pages", maxTouchPages), ("--max-stream-clients", maxStreamClients),
            ("--max-explore-states", maxExploreStates),
        ] where value < 1 {
            throw ValidationError("\(name) must be at least 1, not \(value).")
        }
        do {
            _ = try self.worldConfig()
        } catch {
            throw ValidationError(error.message)
        }
        if !(maxExploreSeconds > 0) { throw ValidationError("--max-explore-seconds must be positive.") }
        if let token, token.isEmpty || !token.unicodeScalars.allSatisfy(Self.isCookieOctet) {
            throw ValidationError(
                "--token must be printable ASCII without spaces, quotes, commas, semicolons or backslashes (a browser keeps it in a cookie)."
            )
        }
        if !Loopback.names(self.host), self.token == nil {
            throw ValidationError(
                """
                refusing to bind \(self.host) without --token: anyone who reaches that address could drive the model. \
                Pass --token TOKEN (clients then send 'Authorization: Bearer TOKEN'), or bind 127.0.0.1.
                """
            )
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let configuration = AppConfiguration(
            host: self.host,
            port: self.port,
            publicDirectory: self.publicDir,
            libraryDirectory: self.libraryDir,
            token: self.token,
            allowedHosts: self.allowHost,
            logger: Logger(label: "mmusim"),
            world: try self.worldConfig(),
            limits: RequestLimits(
                maxBody: maxBody,
                maxTouchPages: UInt64(maxTouchPages),
                maxExploreStates: maxExploreStates,
                maxExploreSeconds: maxExploreSeconds,
                maxMMs: maxMMs,
                maxNotifiersPerMM: maxNotifiersPerMM,
                maxStreamClients: maxStreamClients
            )
        )
        let shownHost = self.host.contains(":") ? "[\(self.host)]" : self.host
        let announce: @Sendable (Int) async -> Void = { port in
            // FileHandle writes straight to the descriptor: nothing is left in a buffer for a reader waiting on this line.
            FileHandle.standardOutput.write(Data("listening on http://\(shownHost):\(port)\n".utf8))
        }
        if ephemeral {
            try await buildApplication(configuration: configuration, onServerRunning: announce).runService()
            return
        }
        let directory = URL(fileURLWithPath: stateDir ?? ".mmusim")
        do {
            let built = try buildApplication(configuration: configuration, stateDirectory: directory, onServerRunning: announce)
            for warning in built.warnings { configuration.logger.warning("\(warning)") }
            try await built.application.runService()
        } catch let error as JournalError {
            FileHandle.standardError.write(Data("mmusim serve: refusing to start: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The world the flags ask for.
    func worldConfig() throws(CommandError) -> WorldConfig {
        var config = WorldConfig(
            frames: self.frames ?? 65_536,
            swapSlots: self.swapSlots ?? 65_536,
            traceCapacity: traceCapacity,
            maxMapCount: maxMapCount
        )
        let bugs = self.coreBugs.filter { $0 != "none" }
        try config.apply(kernel: kernel, releaseOrder: self.releaseOrder, coreBugs: self.coreBugs.isEmpty ? nil : bugs)
        return config
    }

    /// RFC 6265's cookie-octet: what a cookie value may hold unquoted.
    static func isCookieOctet(_ scalar: Unicode.Scalar) -> Bool {
        (0x21...0x7E).contains(scalar.value) && !"\",;\\".unicodeScalars.contains(scalar)
    }
}

/// The two orderings of `__mmu_notifier_release` the model offers.
extension ReleaseOrder: ExpressibleByArgument {}

extension KernelVersion: ExpressibleByArgument {}
