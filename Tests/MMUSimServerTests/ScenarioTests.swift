import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MMUSim
import MMUSimServer
import Testing

/// The scenario runner and the scenario library.
struct ScenarioTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scenarios")

    /// Every scenario file under the folder, subfolders included (`invariants/...`), by relative path.
    static var files: [String] {
        (FileManager.default.subpaths(atPath: folder.path) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }

    static func load(_ name: String) throws -> Scenario {
        try APIJSON.decoder().decode(Scenario.self, from: Data(contentsOf: folder.appendingPathComponent(name)))
    }

    /// The driver policies a scenario file carries (`drivers`).
    static func drivers(_ name: String) throws -> [String: Policy] {
        try Explorer.drivers(inText: String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8))
    }

    @Test("every scenario in the library passes, says what it shows and cites its source", arguments: files)
    func library(_ name: String) throws {
        let scenario = try Self.load(name)
        #expect(scenario.description.count > 60)
        #expect(!(scenario.cites ?? []).isEmpty)
        let report = ScenarioRunner.run(scenario, drivers: try Self.drivers(name))
        #expect(report.steps.filter(\.checked).count >= 1)
        for step in report.steps where !step.passed { Issue.record("\(name) step \(step.index) \(step.label): \(step.failures)") }
    }

    @Test("the library covers the seed's claims, the HMM self-tests and the pitfalls")
    func coverage() {
        let names = Set(Self.files)
        for hmm in [
            "anon_read", "anon_read_prot", "anon_write", "anon_write_prot", "anon_write_child", "anon_write_child_shared", "file_read", "file_write",
            "anon_teardown", "anon_read_multiple",
        ] {
            #expect(names.contains("hmm-\(hmm).json"))
        }
        #expect(names.filter { $0.hasPrefix("seed-") }.count >= 6)
        #expect(names.filter { $0.hasPrefix("pitfall-") }.count >= 3)
    }

    @Test("a scenario file carries its own driver: register names it, pause_at stops at its statement; without it the register fails")
    func ownDrivers() throws {
        let name = "driver-end-only.json"
        let drivers = try Self.drivers(name)
        #expect(drivers.keys.sorted() == ["end-only"])
        let report = ScenarioRunner.run(try Self.load(name), drivers: drivers)
        #expect(report.passed && report.steps.count == 7)
        // Without its drivers the kind is unknown: the register step cannot run.
        let bare = ScenarioRunner.run(try Self.load(name))
        #expect(!bare.steps[3].passed && bare.steps[3].failures[0].contains("unknown kind 'end-only'"))
        // A driver under a built-in's name is refused before any step.
        let renamed = ScenarioRunner.run(try Self.load(name), drivers: ["kvm": drivers["end-only"]!])
        #expect(renamed.steps.count == 1 && renamed.steps[0].failures[0].contains("built-in"))
    }

    @Test("a wrong expectation fails its step with the expected and the actual value")
    func failureShowsADiff() throws {
        var scenario = try Self.load("seed-release-before-exit-frees.json")
        let exit = try #require(scenario.steps.firstIndex { $0.do?.op == "exit" })
        scenario.steps[exit].expect = ["calls": .array([.object(["call": .string("release"), "notifier": .int(1)])])]
        let report = ScenarioRunner.run(scenario)
        let step = report.steps[exit]
        #expect(!step.passed && !report.passed)
        #expect(step.failures.count == 1)
        #expect(step.failures[0].contains("expected [{\"call\":\"release\",\"notifier\":1}]"))
        #expect(step.failures[0].contains("\"notifier\":2"))
        // The steps after it still ran and passed.
        #expect(report.steps[(exit + 1)...].allSatisfy { $0.passed })
    }

    @Test("violations names what this step broke; invariants, everything broken so far")
    func violationsOfThisStep() throws {
        var scenario = try Self.load("invariants/no-spte-in-invalidate-window.json")
        let fault = try #require(scenario.steps.lastIndex { $0.do?.op == "fault" })
        #expect(ScenarioRunner.run(scenario).steps[fault].passed)
        // A later step that breaks nothing: violations is ok while invariants still lists the fault's.
        let later = try JSONDecoder().decode(
            ScenarioStep.self,
            from: Data(#"{"do": {"op": "create_mm"}, "expect": {"violations": "ok", "invariants": ["no-spte-in-invalidate-window"]}}"#.utf8)
        )
        scenario.steps.append(later)
        #expect(ScenarioRunner.run(scenario).steps.last?.passed == true)
        scenario.steps[scenario.steps.count - 1].expect = ["violations": .array([.string("no-spte-in-invalidate-window")])]
        #expect(ScenarioRunner.run(scenario).steps.last?.passed == false)
    }

    @Test("calls_any_order accepts the calls in another order but not a different set")
    func anyOrder() throws {
        var scenario = try Self.load("seed-release-before-exit-frees.json")
        let exit = try #require(scenario.steps.firstIndex { $0.do?.op == "exit" })
        let release: (Int) -> JSONValue = { .object(["call": .string("release"), "notifier": .int(Int64($0))]) }
        scenario.steps[exit].expect = ["calls_any_order": .array([release(1), release(2)])]
        #expect(ScenarioRunner.run(scenario).steps[exit].passed)
        scenario.steps[exit].expect = ["calls_any_order": .array([release(1), release(1)])]
        #expect(!ScenarioRunner.run(scenario).steps[exit].passed)
    }

    @Test("POST /scenarios/run answers the same verdicts as the runner")
    func overHTTP() async throws {
        var logger = Logger(label: "ScenarioTests")
        logger.logLevel = .warning
        let app = buildApplication(configuration: .init(port: 0, logger: logger))
        let body = try Data(contentsOf: Self.folder.appendingPathComponent("seed-v17-release-race.json"))
        try await app.test(.router) { client in
            try await client.execute(uri: "/scenarios/run", method: .post, headers: .json, body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .ok)
                let answer = try JSONDecoder().decode(Answer.self, from: Data(response.body.readableBytesView))
                #expect(answer.passed && answer.steps.count == 9)
            }
            try await client.execute(uri: "/scenarios/run", method: .post, headers: .json, body: ByteBuffer(string: #"{"steps": []}"#)) { response in
                #expect(response.status == .badRequest)
            }
            // A file with its own driver runs whole; one whose driver is no policy is a 422 naming it.
            let own = try Data(contentsOf: Self.folder.appendingPathComponent("driver-end-only.json"))
            try await client.execute(uri: "/scenarios/run", method: .post, headers: .json, body: ByteBuffer(bytes: own)) { response in
                #expect(response.status == .ok)
                let answer = try JSONDecoder().decode(Answer.self, from: Data(response.body.readableBytesView))
                #expect(answer.passed && answer.steps.count == 7)
            }
            let broken = #"{"description": "x", "drivers": {"mine": {"name": "mine", "fault": [{"jump": 1}]}}, "steps": []}"#
            try await client.execute(uri: "/scenarios/run", method: .post, headers: .json, body: ByteBuffer(string: broken)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("/drivers/mine/fault/0"))
            }
        }
    }

    private struct Answer: Decodable {
        struct Step: Decodable {
            let passed: Bool
        }
        let passed: Bool
        let steps: [Step]
    }
}
