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

/// Says on standard error that `subcommand` does not exist yet and exits with status 2.
private func notImplemented(_ subcommand: String) throws -> Never {
    FileHandle.standardError.write(Data("mmusim \(subcommand): not implemented yet\n".utf8))
    throw ExitCode(2)
}
