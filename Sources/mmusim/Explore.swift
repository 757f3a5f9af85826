import ArgumentParser
import Foundation
import MMUSim
import MMUSimServer

/// `mmusim explore FILE...`: run every interleaving of each file's tasks and check the
/// verdict the file expects.
struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every interleaving of the concurrent tasks of explorer files.",
        discussion: """
            Each file gives a world, setup commands, 2 or 3 tasks and optionally the verdict it expects \
            ("expect": {"violations": [...]}); see examples/explore/. Prints, per file, the schedules and \
            distinct states explored, the violations found and a shortest counterexample's schedule and trace (fewest steps, then the smallest sequence of task ids). \
            Exits 1 when a file's verdict differs from its expectation.

            --jobs N expands each level of the breadth-first search on N threads (the same result \
            whatever N). --shard i/n explores one part of a partition of the states; run every part \
            (on as many machines as you like) with --json, then --merge their outputs to get the \
            whole run's verdict, violations, deadlocks and counterexample:
              parallel mmusim explore FILE --shard {}/4 --json '>' shard{}.json ::: 1 2 3 4
              mmusim explore FILE --merge shard1.json shard2.json shard3.json shard4.json
            """
    )

    @Argument(help: "Explorer files (JSON).")
    var files: [String]

    @Option(help: "Stop each exploration after this many seconds.")
    var seconds: Double = 60

    @Flag(help: "Print each result as JSON instead of text.")
    var json = false

    @Flag(help: "Print the counterexample's trace as a ladder diagram: a column per task, at most 100 characters wide.")
    var ladder = false

    @Flag(help: "Explore every interleaving, without partial-order reduction (the same verdict, more states).")
    var noReduce = false

    @Option(help: "Threads that expand the states of each level (default: the machine's cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Explore part i of n (1 <= i <= n) of a partition of the states; print it with --json for --merge.")
    var shard: String?

    @Option(parsing: .upToNextOption, help: "Merge the --json outputs of every shard of the one FILE given, instead of exploring.")
    var merge: [String] = []

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs is at least 1, not \(jobs)") }
        if let shard, Shard(shard) == nil { throw ValidationError("--shard is i/n with 1 <= i <= n, not '\(shard)'") }
        if !merge.isEmpty {
            guard files.count == 1 else { throw ValidationError("--merge takes the one explorer file the shards explored, not \(files.count)") }
            guard shard == nil else { throw ValidationError("--merge and --shard do not go together") }
        }
    }

    func run() throws {
        var failed = 0
        for file in files {
            let spec: ExploreSpec
            let explorer: Explorer
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                spec = try APIJSON.decoder().decode(ExploreSpec.self, from: data)
                explorer = try Explorer(spec, drivers: try Explorer.drivers(inText: String(decoding: data, as: UTF8.self)))
            } catch let error as ExploreError {
                throw ValidationError("\(file): \(error.message)")
            } catch {
                throw ValidationError("\(file): \(error)")
            }
            let clock = ContinuousClock()
            let deadline = clock.now + .milliseconds(Int(seconds * 1000))
            let started = clock.now
            let result: ExploreResult
            if merge.isEmpty {
                result = explorer.run(jobs: jobs, shard: shard.flatMap(Shard.init), reduce: !noReduce && spec.reduce != false) {
                    clock.now > deadline
                }
            } else {
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                var parts: [ExploreResult] = []
                for path in merge {
                    do {
                        parts.append(try decoder.decode(ShardOutput.self, from: Data(contentsOf: URL(fileURLWithPath: path))).result)
                    } catch {
                        throw ValidationError("\(path): not the --json output of explore --shard: \(error)")
                    }
                }
                do {
                    result = try explorer.merged(parts)
                } catch {
                    throw ValidationError(error.message)
                }
            }
            let elapsed = clock.now - started
            // A shard is a part: its verdict is the merge's.
            let mismatches = shard == nil ? spec.expect?.mismatches(result) ?? [] : []
            if json {
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print(
                    Self.describe(
                        file: file,
                        result: result,
                        elapsed: elapsed,
                        ladder: ladder ? explorer.initial : nil
                    )
                )
            }
            if spec.expect != nil, shard == nil {
                let verdict = mismatches.isEmpty ? "  verdict: as expected" : "  verdict: NOT as expected: " + mismatches.joined(separator: "; ")
                // With --json, stdout is the JSON alone.
                if json {
                    FileHandle.standardError.write(Data((verdict + "\n").utf8))
                } else {
                    print(verdict)
                }
            }
            if !mismatches.isEmpty { failed += 1 }
        }
        if files.count > 1 { print("\(files.count - failed) passed, \(failed) failed") }
        if failed > 0 { throw ExitCode(1) }
    }

    /// The text report of one exploration; with `ladder` (the notifiers' drivers) the
    /// counterexample prints as a ladder diagram instead of a list of events.
    static func describe(file: String, result: ExploreResult, elapsed: Duration, ladder world: World?) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var lines = [
            "\(file): \(result.schedules) schedules, \(result.distinctStates) distinct states, \(result.transitions) steps"
                + (result.reduced ? "" : " (no reduction)")
                + (result.truncated ? " (cut short by a bound)" : "") + String(format: " in %.3f s", seconds)
        ]
        if result.violations.isEmpty {
            lines.append("  no invariant violated" + (result.deadlocks > 0 ? "; \(result.deadlocks) deadlocks" : ""))
        } else {
            for (invariant, count) in result.violations.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(invariant): at \(count) \(count == 1 ? "place" : "places") (mm, notifier, address)")
            }
        }
        if !result.locksTaken.isEmpty { lines.append("  locks_taken: \(result.locksTaken.map(String.init).joined(separator: ", "))") }
        if let counterexample = result.counterexample {
            lines.append("  counterexample schedule (task ids): \(counterexample.schedule.map(String.init).joined(separator: " "))")
            for violation in counterexample.violations {
                lines.append("  \(violation.invariant.rawValue) at seq \(violation.seq): \(violation.message)")
            }
            if let world {
                var tasks: [Int] = []
                for task in counterexample.schedule where !tasks.contains(task) { tasks.append(task) }
                let diagram = world.ladder(counterexample.trace, violations: counterexample.violations, columns: tasks)
                lines.append(diagram.render().trimmingCharacters(in: .newlines))
                return lines.joined(separator: "\n")
            }
            lines.append("  trace:")
            for event in counterexample.trace {
                var text = "    \(event.seq) task \(event.task.map(String.init) ?? "-") \(event.op ?? "") \(event.call.rawValue)"
                if let notifier = event.notifier { text += " n\(notifier)" }
                if let start = event.start, let end = event.end { text += " \(hex(start))-\(hex(end))" }
                if let address = event.address { text += " @\(hex(address))" }
                if let pfn = event.pfn { text += " pfn \(pfn)" }
                if !event.locks.isEmpty { text += " [\(event.locks.joined(separator: ", "))]" }
                lines.append(text)
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// What `--merge` reads of a shard's `--json` output: its counts, its findings and its
/// counterexample's schedule (the merge replays the trace).
struct ShardOutput: Decodable {
    var schedules: Int
    var distinctStates: Int
    var transitions: Int
    var truncated: Bool
    var locksTaken: [Int]
    var reduced: Bool
    var findings: ShardFindings
    var counterexample: Schedule?

    struct Schedule: Decodable {
        var schedule: [Int]
    }

    var result: ExploreResult {
        var result = ExploreResult()
        result.schedules = schedules
        result.distinctStates = distinctStates
        result.transitions = transitions
        result.truncated = truncated
        result.locksTaken = locksTaken
        result.reduced = reduced
        result.findings = findings
        result.counterexample = counterexample.map { Counterexample(schedule: $0.schedule, violations: [], trace: []) }
        return result
    }
}
