import ArgumentParser
import Foundation

/// `mmusim run SCENARIO.json`: run a scenario and check its expectations.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a scenario file and check its expectations.")

    @Argument(help: "The scenario file.")
    var scenario: String

    func run() throws {
        try notImplemented("run")
    }
}

/// `mmusim replay DIR`: rebuild the world from a state directory's journal.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Replay a state directory's journal and print the world it gives.")

    @Argument(help: "The state directory.")
    var stateDir: String

    func run() throws {
        try notImplemented("replay")
    }
}

/// Says on standard error that `subcommand` does not exist yet and exits with status 2.
private func notImplemented(_ subcommand: String) throws -> Never {
    FileHandle.standardError.write(Data("mmusim \(subcommand): not implemented yet\n".utf8))
    throw ExitCode(2)
}
