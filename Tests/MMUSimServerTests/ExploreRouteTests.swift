import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MMUSimServer
import Testing

/// POST /explore and GET /steps, in process.
struct ExploreRouteTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/explore")

    static var files: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".json") }.sorted()) ?? []
    }

    private static func makeApp() -> some ApplicationProtocol {
        var logger = Logger(label: "ExploreRouteTests")
        logger.logLevel = .warning
        return buildApplication(configuration: .init(port: 0, logger: logger))
    }

    private struct Answer: Decodable {
        struct Verdict: Decodable {
            let expected: Bool
            let mismatches: [String]
        }
        struct Counterexample: Decodable {
            let schedule: [Int]
            let trace: [Event]
        }
        struct Event: Decodable {
            let seq: Int
            let call: String
            let address: String?
        }
        let schedules: Int
        let distinctStates: Int
        let violations: [String: Int]
        let verdict: Verdict?
        let counterexample: Counterexample?

        enum CodingKeys: String, CodingKey {
            case schedules, violations, verdict, counterexample
            case distinctStates = "distinct_states"
        }
    }

    @Test("POST /explore gives each example's expected verdict", arguments: files)
    func examples(_ name: String) async throws {
        let body = try Data(contentsOf: Self.examples.appendingPathComponent(name))
        // The file's own expectation: some schedule breaks an invariant exactly when it lists one.
        let expect = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["expect"] as? [String: Any]
        let expectsViolations = !((expect?["violations"] as? [Any]) ?? []).isEmpty
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/explore", method: .post, headers: .json, body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .ok)
                let answer = try JSONDecoder().decode(Answer.self, from: Data(response.body.readableBytesView))
                #expect(answer.verdict?.expected == true, "\(name): \(answer.verdict?.mismatches ?? [])")
                #expect(answer.schedules > 0 && answer.distinctStates > 1)
                #expect(answer.violations.isEmpty != expectsViolations)
                #expect((answer.counterexample != nil) == expectsViolations)
                if let trace = answer.counterexample?.trace { #expect(trace.map(\.seq) == trace.map(\.seq).sorted()) }
            }
        }
    }

    @Test("POST /explore refuses a spec it cannot run with a 422 that names the problem")
    func badSpec() async throws {
        let spec = #"{"setup": [{"op": "create_mm"}], "tasks": [{"op": "munmap", "mm": 1}]}"#
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/explore", method: .post, headers: .json, body: ByteBuffer(string: spec)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(decoding: response.body.readableBytesView, as: UTF8.self).contains("munmap needs 'addr'"))
            }
            try await client.execute(uri: "/explore", method: .post, headers: .json, body: ByteBuffer(string: #"{"setup": [], "tasks": []}"#)) {
                response in
                #expect(response.status == .unprocessableContent)
            }
        }
    }

    @Test("GET /steps lists each operation's step names, and pause_at must name one of them")
    func steps() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/steps", method: .get) { response in
                let answer = try JSONDecoder().decode([String: [String: [String]]].self, from: Data(response.body.readableBytesView))
                #expect(answer["steps"]?["munmap"]?.contains("zap_pte_range") == true)
                #expect(answer["steps"]?["exit"]?.contains("release") == true)
            }
            try await client.execute(uri: "/mms", method: .post, headers: .json, body: ByteBuffer(string: "{}")) { _ in }
            let munmap = #"{"addr": "0x7f0000000000", "length": 4096, "pause_at": "no_such_step"}"#
            try await client.execute(uri: "/mms/1/munmap", method: .post, headers: .json, body: ByteBuffer(string: munmap)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(decoding: response.body.readableBytesView, as: UTF8.self).contains("no_such_step"))
            }
        }
    }
}
