import Foundation
import MMUSim

/// A scenario: a world, then steps (operations, and step or resume of named tasks), each with
/// optional expectations on what it caused and the state it left. See docs/scenarios.md.
public struct Scenario: Codable, Sendable {
    /// What the scenario shows.
    public var description: String
    /// The seed hunks or kernel sources it follows.
    public var cites: [String]?
    /// The world's settings.
    public var world: WorldOptions?
    /// The steps, in order.
    public var steps: [ScenarioStep]

    /// The settings of a scenario's world.
    public struct WorldOptions: Codable, Sendable {
        /// Physical frames.
        public var frames: Int?
        /// Swap slots.
        public var swapSlots: Int?
        /// v17 or fixed.
        public var releaseOrder: ReleaseOrder?
        /// The core bugs on (absent: the kernel's: the v17 seed's, or none in a modern world).
        public var coreBugs: [String]?
        /// The kernel the world runs: v17 (absent) or modern.
        public var kernel: KernelVersion?
    }

    /// The world configuration the scenario asks for (256 frames and slots by default).
    /// - Throws: `CommandError` for an unknown core bug, or a release order that contradicts them.
    public func config() throws(CommandError) -> WorldConfig {
        var config = WorldConfig(frames: world?.frames ?? 256, swapSlots: world?.swapSlots ?? 256)
        try config.apply(kernel: world?.kernel, releaseOrder: world?.releaseOrder, coreBugs: world?.coreBugs)
        return config
    }
}

/// One step of a scenario: `do` an operation (optionally naming its task and pausing it),
/// or `step` or `resume` a named task; then check `expect`.
public struct ScenarioStep: Codable, Sendable {
    /// A sentence saying what the step is for.
    public var note: String?
    /// The operation to run.
    public var `do`: Command?
    /// A name for the task `do` starts, for later step and resume.
    public var name: String?
    /// Stop the task before the first step of this name.
    public var pauseAt: String?
    /// Run one step of the named task.
    public var step: String?
    /// Run the named task to its end or its next blocking point.
    public var resume: String?
    /// What must hold afterwards; see docs/scenarios.md for the keys.
    public var expect: [String: JSONValue]?

    /// How the step reads in a report.
    var label: String {
        if let command = `do` { return command.op + (name.map { " as \($0)" } ?? "") + (pauseAt.map { " pausing at \($0)" } ?? "") }
        if let step { return "step \(step)" }
        if let resume { return "resume \(resume)" }
        return "check"
    }
}

/// The outcome of one step.
public struct StepReport: Codable, Sendable {
    /// 1-based position in the scenario.
    public var index: Int
    /// What the step did.
    public var label: String
    /// False when an expectation failed or the step could not run.
    public var passed: Bool
    /// Whether the step had expectations.
    public var checked: Bool
    /// One entry per failed expectation: what was expected and what was found.
    public var failures: [String]
}

/// The outcome of a scenario.
public struct ScenarioReport: Codable, Sendable {
    /// The scenario's description.
    public var description: String
    /// Every step's outcome.
    public var steps: [StepReport]
    /// True when every step passed.
    public var passed: Bool { steps.allSatisfy(\.passed) }
}
