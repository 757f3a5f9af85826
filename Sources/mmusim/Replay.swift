import ArgumentParser
import Foundation
import MMUSim
import MMUSimServer

/// `mmusim replay DIR`: rebuild the world from a state directory's journal and summarize it.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Replay a state directory's journal and print the world it gives.")

    @Argument(help: "The state directory.")
    var stateDir: String

    func run() throws {
        let world: World
        let warnings: [String]
        do {
            (world, warnings) = try replayStateDirectory(URL(fileURLWithPath: stateDir))
        } catch let error as JournalError {
            FileHandle.standardError.write(Data("mmusim replay: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        print(Self.summary(world))
    }

    static func summary(_ world: World) -> String {
        var lines = [
            "world: \(world.config.frames) frames (\(world.framesInUse) in use), \(world.config.swapSlots) swap slots, release order \(world.config.releaseOrder.rawValue), core bugs \(world.config.coreBugs.sorted().map(\.rawValue).joined(separator: ", "))",
            "trace: \(world.lastSeq) events; tasks not finished: \(world.tasks.count)",
        ]
        for mm in world.mms {
            let state = mm.count == 0 ? "freed" : mm.exited ? "exited" : "live"
            lines.append(
                "mm \(mm.id)\(mm.name.map { " (\($0))" } ?? ""): \(state), users \(mm.users), count \(mm.count), \(mm.vmas.count) VMAs, rss \(mm.rss)"
            )
        }
        for notifier in world.notifiers {
            lines.append(
                "notifier \(notifier.id) on mm \(notifier.mm): \(notifier.driverName), \(notifier.state.rawValue), \(notifier.sptes.count) sptes"
            )
        }
        lines.append(world.violations.isEmpty ? "invariants: ok" : "invariants: \(world.violations.count) violations")
        for violation in world.violations { lines.append("  \(violation.invariant.rawValue): \(violation.message)") }
        return lines.joined(separator: "\n")
    }
}
