import ArgumentParser
import Foundation
import MMUSim
import MMUSimServer

/// `mmusim check POLICY.json`: a driver policy against the workload catalogue of DRIVERS.md.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a driver policy against the catalogue of adversarial workloads.",
        discussion: """
            Each workload sets up one written page with the driver registered and explores every \
            interleaving of two tasks (a fault against munmap, mprotect, mremap, madvise, reclaim, \
            migration, writeback, exit, unregister, a second fault; fork then a COW write; two \
            invalidations at once; reclaim against a device access). The world has every upstream \
            fix unless the policy's "world" or a flag says otherwise. Prints one verdict a workload \
            and each counterexample as a ladder diagram; exits 1 on any violation or deadlock.
            """
    )

    @Argument(help: "The policy file (JSON, DRIVERS.md).")
    var file: String

    @Option(name: .customLong("variant"), help: "A variant of the policy to apply (repeatable).")
    var variants: [String] = []

    @Option(name: .customLong("workload"), help: "Only this workload (repeatable); all by default.")
    var workloads: [String] = []

    @Option(help: "The exit_mmap release ordering: v17 or fixed (default: the policy's world, else fixed).")
    var releaseOrder: String?

    @Option(name: .customLong("core-bug"), help: "A core bug to switch on (repeatable; default: the policy's world, else none).")
    var coreBugs: [String] = []

    @Option(help: "The kernel the policy must be written for (default: the policy's own kernel): v17 or modern.")
    var kernel: KernelVersion?

    @Option(help: "Stop each workload's exploration after this many seconds.")
    var seconds: Double = 60

    @Option(help: "Threads that expand the states of each level (default: the machine's cores; the same verdicts whatever N).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Explore every interleaving, without partial-order reduction (the same verdicts, more states).")
    var noReduce = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs is at least 1, not \(jobs)") }
    }

    func run() throws {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ValidationError("\(file): \(error.localizedDescription)")
        }
        let policy: Policy
        do {
            policy = try Policy.load(text: text).applying(variants: variants)
        } catch {
            throw ValidationError("\(file)\(error.pointer.isEmpty ? "" : " at \(error.pointer)"): \(error.message)")
        }
        if let kernel, kernel != policy.kernel {
            throw ValidationError("\(file) is written for the \(policy.kernel.rawValue) kernel, not \(kernel.rawValue)")
        }
        let order = try releaseOrder.map { text -> ReleaseOrder in
            guard let order = ReleaseOrder(rawValue: text) else { throw ValidationError("--release-order is v17 or fixed, not \(text)") }
            return order
        }
        var verdicts: [PolicyCheck.Verdict] = []
        do {
            let check = try PolicyCheck(policy, releaseOrder: order, coreBugs: coreBugs.isEmpty ? nil : coreBugs)
            let names = workloads.isEmpty ? PolicyCheck.catalogue(for: policy).map(\.name) : workloads
            let clock = ContinuousClock()
            for name in names {
                let deadline = clock.now + .milliseconds(Int(seconds * 1000))
                verdicts += try check.run(workloads: [name], jobs: jobs, reduce: !noReduce) { clock.now > deadline }
            }
        } catch {
            throw ValidationError(error.message)
        }
        print(Self.report(policy: policy, file: file, verdicts: verdicts))
        if verdicts.contains(where: { !$0.clean }) { throw ExitCode(1) }
    }

    /// The verdicts as text: a line a workload, and a ladder under each failing one.
    static func report(policy: Policy, file: String, verdicts: [PolicyCheck.Verdict]) -> String {
        let variants = policy.applied.isEmpty ? "" : " with \(policy.applied.joined(separator: ", "))"
        var lines = ["\(file): \(policy.name)\(variants), \(verdicts.count) workloads"]
        for verdict in verdicts {
            let result = verdict.result
            let states = "\(result.distinctStates) states, \(result.transitions) steps" + (result.truncated ? ", cut short" : "")
            if verdict.clean {
                lines.append("  \(verdict.workload): clean (\(states))")
                continue
            }
            var problems = result.violations.keys.sorted()
            if result.deadlocks > 0 { problems.append("deadlock in \(result.deadlocks) \(result.deadlocks == 1 ? "state" : "states")") }
            lines.append("  \(verdict.workload): \(problems.joined(separator: ", ")) (\(states))")
            if let ladder = verdict.ladder {
                for violation in result.counterexample?.violations ?? [] { lines.append("    \(violation.invariant.rawValue): \(violation.message)") }
                lines.append(ladder.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
            }
        }
        let failing = verdicts.filter { !$0.clean }.count
        lines.append(failing == 0 ? "clean on every workload" : "\(failing) of \(verdicts.count) workloads failed")
        return lines.joined(separator: "\n")
    }
}
