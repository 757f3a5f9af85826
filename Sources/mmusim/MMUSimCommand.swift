import ArgumentParser
import MMUSimServer

/// The `mmusim` command: serve the API, or run, explore and replay scenarios.
@main
struct MMUSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmusim",
        abstract: "An executable model of the Linux MMU-notifier protocol (mmu-notifier-core v17).",
        version: ServerVersion.version,
        subcommands: [Serve.self, Run.self, Explore.self, Replay.self, Check.self]
    )
}
