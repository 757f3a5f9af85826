import Foundation
import Hummingbird
import MMUSim
import NIOPosix

/// Step names and the explorer.
extension Routes {
    func addExploreRoutes(to endpoints: inout EndpointRegistry<AppRequestContext>) {
        let limits = self.limits
        let simulator = self.simulator

        endpoints.get("/steps") { _, _ in
            StepsAnswer(steps: World.stepCatalog.mapValues { Array(Set($0)).sorted() })
        }
        endpoints.post("/explore") { request, _ in
            let decoded = try await request.decodeBodyAndText(ExploreSpec.self, limit: limits.maxBody)
            var spec = decoded.value
            let states = spec.maxStates ?? limits.maxExploreStates
            guard states > 0, states <= limits.maxExploreStates else {
                throw invalid("'max_states' must be between 1 and \(limits.maxExploreStates) (the limit max_explore_states)", code: "limit_exceeded")
            }
            spec.maxStates = states
            if let frames = spec.frames, frames < 2 || frames > 4096 {
                throw invalid("an exploration's 'frames' must be between 2 and 4096", code: "limit_exceeded")
            }
            if let slots = spec.swapSlots, slots < 0 || slots > 4096 {
                throw invalid("an exploration's 'swap_slots' must be between 0 and 4096", code: "limit_exceeded")
            }
            let explorer: Explorer
            do {
                let drivers = try Explorer.drivers(inText: decoded.text)
                if spec.setup == nil {
                    // Explore from here: a copy of the live world, which the exploration leaves as it is.
                    guard spec.frames == nil, spec.swapSlots == nil, spec.releaseOrder == nil, spec.coreBugs == nil, spec.kernel == nil else {
                        throw invalid("without 'setup' the exploration starts from the live world, which has its own options: give 'setup' with them")
                    }
                    explorer = try Explorer(spec, from: await simulator.world, drivers: drivers)
                } else {
                    explorer = try Explorer(spec, drivers: drivers)
                }
            } catch let error as ExploreError {
                throw invalid(error.message)
            }
            let seconds = limits.maxExploreSeconds
            let reduce = spec.reduce ?? true
            let result = try await NIOThreadPool.singleton.runIfActive {
                let clock = ContinuousClock()
                let deadline = clock.now + .milliseconds(Int(seconds * 1000))
                return explorer.run(reduce: reduce) { clock.now > deadline }
            }
            return ExploreAnswer(result, expectation: spec.expect)
        }
    }
}

/// GET /steps.
struct StepsAnswer: ResponseEncodable, Sendable {
    var steps: [String: [String]]
}

/// POST /explore.
struct ExploreAnswer: ResponseEncodable, Sendable {
    struct CounterexampleAnswer: Codable, Sendable {
        var schedule: [Int]
        var violations: [ViolationAnswer]
        var trace: [EventAnswer]
    }

    struct Verdict: Codable, Sendable {
        var expected: Bool
        var mismatches: [String]
    }

    var schedules: Int
    var distinctStates: Int
    var transitions: Int
    var reduced: Bool
    var violations: [String: Int]
    var deadlocks: Int
    var truncated: Bool
    var locksTaken: [Int]
    var counterexample: CounterexampleAnswer?
    var verdict: Verdict?

    init(_ result: ExploreResult, expectation: ExploreSpec.Expectation?) {
        schedules = result.schedules
        distinctStates = result.distinctStates
        transitions = result.transitions
        reduced = result.reduced
        violations = result.violations
        deadlocks = result.deadlocks
        truncated = result.truncated
        locksTaken = result.locksTaken
        counterexample = result.counterexample.map {
            CounterexampleAnswer(schedule: $0.schedule, violations: $0.violations.map(ViolationAnswer.init), trace: $0.trace.map(EventAnswer.init))
        }
        verdict = expectation.map {
            let mismatches = $0.mismatches(result)
            return Verdict(expected: mismatches.isEmpty, mismatches: mismatches)
        }
    }
}
