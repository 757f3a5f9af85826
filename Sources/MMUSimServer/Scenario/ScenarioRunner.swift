import Foundation
import MMUSim

/// Runs a scenario on a world of its own, without a server, and checks each step's
/// expectations against the same JSON the API would answer.
public struct ScenarioRunner {
    /// The world the scenario builds.
    public private(set) var world: World
    private var names: [String: Int] = [:]
    private let scenario: Scenario
    /// The scenario file's own driver policies (its `drivers`), which a `register` may name.
    private let drivers: [String: Policy]

    /// Prepares a scenario, with the driver policies its file carries (`drivers`, read from
    /// its text by `Explorer.drivers(inText:)` so that their variants keep their order).
    /// - Throws: `CommandError` when its world options cannot be (an unknown core bug...), or
    ///   a driver takes a built-in's name.
    public init(_ scenario: Scenario, drivers: [String: Policy] = [:]) throws(CommandError) {
        self.scenario = scenario
        self.drivers = drivers
        world = World(try scenario.config())
        if let name = drivers.keys.sorted().first(where: { BuiltinDrivers.policies[$0] != nil }) {
            throw CommandError("drivers: '\(name)' is a built-in driver's name", code: "builtin_driver")
        }
    }

    /// Runs every step, even after a failure, and reports each; a world that cannot be is
    /// one failed step.
    public static func run(_ scenario: Scenario, drivers: [String: Policy] = [:]) -> ScenarioReport {
        var runner: ScenarioRunner
        do {
            runner = try ScenarioRunner(scenario, drivers: drivers)
        } catch {
            let failure = StepReport(index: 0, label: "world", passed: false, checked: true, failures: [error.message])
            return ScenarioReport(description: scenario.description, steps: [failure])
        }
        let steps = scenario.steps.enumerated().map { runner.run(index: $0.offset + 1, $0.element) }
        return ScenarioReport(description: scenario.description, steps: steps)
    }

    private mutating func run(index: Int, _ step: ScenarioStep) -> StepReport {
        var report = StepReport(index: index, label: step.label, passed: true, checked: step.expect != nil, failures: [])
        func fail(_ message: String) {
            report.passed = false
            report.failures.append(message)
        }
        let before = world.lastSeq
        let violationsBefore = world.violations.count
        // A step runs as the API request for it would: the same journal record, applied.
        let record: JournalRecord
        if let command = step.do {
            if let pause = step.pauseAt, !World.stepNames.contains(pause), !pause.hasPrefix("driver:") { fail("pause_at names no step: '\(pause)'") }
            do {
                let operation = try Explorer.operation(command, drivers: drivers)
                record = operation.map { .perform($0, pauseAt: step.pauseAt) } ?? .createMM(name: command.name)
            } catch {
                fail("the operation cannot run: \(error.message)")
                return report
            }
        } else if let name = step.step ?? step.resume {
            guard let id = names[name], world.task(id) != nil else {
                fail("no task named '\(name)' is running")
                return report
            }
            record = step.step != nil ? .step(task: id) : .resume(task: id)
        } else {
            return check(step, report: report, task: nil, before: before, violationsBefore: violationsBefore, createdMM: nil)
        }
        let task = world.apply(record).task
        if let name = step.name, let task { names[name] = task.id }
        let created = if case .createMM = record { world.mms.count } else { Int?.none }
        return check(step, report: report, task: task, before: before, violationsBefore: violationsBefore, createdMM: created)
    }

    /// Checks a step's expectations, as POST /scenarios/judge does for the dashboard: the
    /// answer the step's request would give, the events it caused, then the world it left.
    private func check(
        _ step: ScenarioStep,
        report: StepReport,
        task: TaskStruct?,
        before: Int,
        violationsBefore: Int,
        createdMM: Int?
    ) -> StepReport {
        var report = report
        guard let expect = step.expect else { return report }
        let answer: JSONValue = task.map { JSONValue.of(OperationAnswer(Simulator.Outcome(task: $0, events: []))) } ?? .object(["ret": .int(0)])
        let events = world.trace.events(after: before).map { JSONValue.of(EventAnswer($0)) }
        let judge = ScenarioJudge(
            world: world,
            answer: answer,
            events: events,
            violationsBefore: violationsBefore,
            defaultMM: step.do?.mm ?? createdMM ?? 1
        )
        for check in judge.checks(expect) where !check.passed {
            report.passed = false
            report.failures.append("\(check.label): expected \(check.expected)\n      actual   \(check.actual)")
        }
        return report
    }
}

/// Judges a step's expectations (docs/scenarios.md) against what the step answered, the events
/// it caused and the world it left: the one place the rules of `expect` are written, for
/// `mmusim run`, POST /scenarios/run and the dashboard's POST /scenarios/judge alike.
struct ScenarioJudge {
    /// The world after the step.
    let world: World
    /// The step's answer, as the API gives it (`{"ret": 0}` for a step with none).
    let answer: JSONValue
    /// The events the step caused, as the API's trace gives them.
    let events: [JSONValue]
    /// How many violations were known before the step.
    let violationsBefore: Int
    /// The mm an expectation without `mm` is about.
    let defaultMM: Int

    /// One expectation compared: its key, how a report names it, what was expected and found.
    struct Check: Encodable, Sendable {
        var key: String
        var label: String
        var expected: JSONValue
        var actual: JSONValue
        var passed: Bool
    }

    /// Every expectation of `expect`, in key order (a state key with a list: one check per item).
    func checks(_ expect: [String: JSONValue]) -> [Check] {
        var checks: [Check] = []
        func compare(_ key: String, _ label: String, _ expected: JSONValue, _ actual: JSONValue, _ passed: Bool? = nil) {
            checks.append(Check(key: key, label: label, expected: expected, actual: actual, passed: passed ?? expected.matches(actual)))
        }
        let calls = events.filter { if case .string(let call)? = $0["call"] { TraceCall(rawValue: call)?.isNotifierMethod == true } else { false } }
        for (key, expected) in expect.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "ret", "errno", "status", "next_step", "values", "faults", "retries", "locks_taken", "child", "addr", "scanned", "referenced",
                "swapped_out", "kept", "failed", "cleaned", "migrated", "value", "tlb_hit", "spte", "id", "attempts":
                compare(key, key, expected, answer[key] ?? .null)
            case "calls":
                compare(key, key, expected, .array(calls))
            case "calls_any_order":
                compare(key, key, expected, .array(calls), matchesInAnyOrder(expected, calls))
            case "events":
                compare(key, "events (in this order, others may come between)", expected, .array(events), matchesSubsequence(expected, events))
            case "invariants", "violations":
                // invariants: every invariant violated so far; violations: those this step broke.
                let since = key == "invariants" ? 0 : min(violationsBefore, world.violations.count)
                let found = JSONValue.array(Set(world.violations[since...].map(\.invariant.rawValue)).sorted().map(JSONValue.string))
                let wanted: JSONValue = expected == .string("ok") ? .array([]) : sortedStrings(expected)
                compare(key, key, wanted, found)
            default:
                for (label, expectedItem, actual) in items(key, expected, defaultMM: defaultMM) {
                    compare(key, label, expectedItem, actual)
                }
            }
        }
        return checks
    }

    /// The state expectations: each expected object with the actual object it is compared to.
    private func items(_ key: String, _ expected: JSONValue, defaultMM: Int) -> [(String, JSONValue, JSONValue)] {
        let list: [JSONValue] = if case .array(let array) = expected { array } else { [expected] }
        return list.map { item in
            guard case .object(let fields) = item else { return ("\(key)", item, .string("an object per item")) }
            let mm = fields["mm"]?.numeric.map { NSDecimalNumber(decimal: $0).intValue } ?? defaultMM
            let address = fields["address"]?.numeric.map { NSDecimalNumber(decimal: $0).uint64Value }
            let notifier = fields["notifier"]?.numeric.map { NSDecimalNumber(decimal: $0).intValue } ?? 1
            let label = "\(key) " + JSONValue.object(fields.filter { ["mm", "address", "notifier", "id", "name"].contains($0.key) }).description
            switch key {
            case "ptes":
                guard let address, world.mm(mm) != nil else { return (label, item, .string("no such mm or no address")) }
                let pte = world.pte(mm: mm, address: address)
                var actual = pte.isNone ? JSONValue.object(["state": .string("none")]) : JSONValue.of(PTEAnswer(address: address, pte: pte))
                actual = merged(actual, ["mm": .int(Int64(mm)), "address": .string(hex(address))])
                return (label, item, actual)
            case "sptes", "tlb":
                guard let address, let n = world.notifier(notifier) else { return (label, item, .string("no such notifier or no address")) }
                let entry = key == "tlb" ? n.tlb.get(address >> pageShift) : n.sptes.get(address >> pageShift)
                let pte = PTE(raw: entry)
                var actual: JSONValue = .object(["present": .bool(false)])
                if pte.isPresent {
                    let frame = world.frames[pte.pfn]
                    actual = JSONValue.of(
                        SpteAnswer(
                            address: Hex(address),
                            pfn: pte.pfn,
                            writable: pte.write,
                            young: pte.young,
                            dirty: pte.dirty,
                            valid: frame.isAllocated && frame.generation == pte.generation
                        )
                    )
                    actual = merged(actual, ["present": .bool(true)])
                }
                return (label, item, merged(actual, ["notifier": .int(Int64(notifier)), "address": .string(hex(address))]))
            case "frame_at":
                guard let address, world.mm(mm) != nil, world.pte(mm: mm, address: address).isPresent else {
                    return (label, item, .string("no page mapped there"))
                }
                let actual = JSONValue.of(FrameAnswer(pfn: world.pte(mm: mm, address: address).pfn, world: world))
                return (label, item, merged(actual, ["mm": .int(Int64(mm)), "address": .string(hex(address))]))
            case "frames":
                return (
                    label, item, .object(["in_use": .int(Int64(world.framesInUse)), "free": .int(Int64(world.config.frames - world.framesInUse))])
                )
            case "notifiers":
                let id = fields["id"]?.numeric.map { NSDecimalNumber(decimal: $0).intValue } ?? notifier
                guard let n = world.notifier(id) else { return (label, item, .string("no notifier \(id)")) }
                return (label, item, JSONValue.of(NotifierAnswer(n, in: world)))
            case "mm", "mms":
                let id = fields["id"]?.numeric.map { NSDecimalNumber(decimal: $0).intValue } ?? mm
                guard let found = world.mm(id) else { return (label, item, .string("no mm \(id)")) }
                var actual = JSONValue.of(MMAnswer(found, world: world, detailed: true))
                actual = merged(actual, ["vma_count": .int(Int64(found.vmas.count))])
                return (label, item, actual)
            case "file":
                let name = fields["name"].flatMap { if case .string(let text) = $0 { text } else { nil } } ?? ""
                guard let file = world.file(named: name) else { return (label, item, .string("no file \(name)")) }
                let disk = Dictionary(uniqueKeysWithValues: file.disk.map { (String($0.key), JSONValue.uint($0.value)) })
                return (label, item, .object(["name": .string(name), "disk": .object(disk), "cached_pages": .int(Int64(file.pageCache.count))]))
            default:
                return (key, item, .string("an expectation this runner knows (see docs/scenarios.md)"))
            }
        }
    }
}

private func merged(_ value: JSONValue, _ extra: [String: JSONValue]) -> JSONValue {
    guard case .object(var fields) = value else { return value }
    for (key, item) in extra { fields[key] = item }
    return .object(fields)
}

private func sortedStrings(_ value: JSONValue) -> JSONValue {
    guard case .array(let items) = value else { return value }
    return .array(items.sorted { $0.description < $1.description })
}

/// Each expected item matches a distinct actual item, and there are as many of each.
private func matchesInAnyOrder(_ expected: JSONValue, _ actual: [JSONValue]) -> Bool {
    guard case .array(let wanted) = expected, wanted.count == actual.count else { return false }
    var unused = actual
    for item in wanted {
        guard let index = unused.firstIndex(where: { item.matches($0) }) else { return false }
        unused.remove(at: index)
    }
    return true
}

/// The expected items match actual items in order, with others allowed in between; a string
/// item names an event's call.
private func matchesSubsequence(_ expected: JSONValue, _ actual: [JSONValue]) -> Bool {
    guard case .array(let wanted) = expected else { return false }
    var cursor = actual.startIndex
    for item in wanted {
        let pattern: JSONValue = if case .string(let call) = item { .object(["call": .string(call)]) } else { item }
        guard let found = actual[cursor...].firstIndex(where: { pattern.matches($0) }) else { return false }
        cursor = found + 1
    }
    return true
}
