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

    @Test(
        "explore from here: without setup the exploration starts from a copy of the live world (the same result as the setup that built it), which it leaves as it was"
    )
    func fromHere() async throws {
        let setup: [String] = [
            #"{"op": "create_mm"}"#,
            #"{"op": "mmap", "mm": 1, "length": 8192, "prot": "rw", "flags": ["private", "anonymous"]}"#,
            #"{"op": "touch", "mm": 1, "addr": "0x7f0000000000", "length": 8192, "write": true, "value": 1}"#,
            #"{"op": "register", "mm": 1, "kind": "kvm", "bugs": ["skip_retry_check"]}"#,
        ]
        let tasks =
            #"[{"op": "fault", "mm": 1, "notifier": 1, "address": "0x7f0000000000", "write": true}, "#
            + #"{"op": "munmap", "mm": 1, "addr": "0x7f0000000000", "length": 4096}]"#
        let whole = #"{"setup": ["# + setup.joined(separator: ", ") + #"], "tasks": "# + tasks + "}"
        try await Self.makeApp().test(.router) { client in
            var expected: Answer?
            try await client.execute(uri: "/explore", method: .post, headers: .json, body: ByteBuffer(string: whole)) { response in
                expected = try JSONDecoder().decode(Answer.self, from: Data(response.body.readableBytesView))
            }
            // The same world, built live through the API.
            let live: [(String, String)] = [
                ("/mms", "{}"), ("/mms/1/mmap", #"{"length": 8192, "prot": "rw", "flags": ["private", "anonymous"]}"#),
                ("/mms/1/touch", #"{"addr": "0x7f0000000000", "length": 8192, "write": true, "value": 1}"#),
                ("/mms/1/notifiers", #"{"kind": "kvm", "bugs": ["skip_retry_check"]}"#),
            ]
            for (path, body) in live {
                try await client.execute(uri: path, method: .post, headers: .json, body: ByteBuffer(string: body)) { #expect($0.status == .ok) }
            }
            var before = Data()
            try await client.execute(uri: "/mms/1", method: .get) { before = Data($0.body.readableBytesView) }
            try await client.execute(uri: "/explore", method: .post, headers: .json, body: ByteBuffer(string: #"{"tasks": "# + tasks + "}")) {
                response in
                #expect(response.status == .ok)
                let answer = try JSONDecoder().decode(Answer.self, from: Data(response.body.readableBytesView))
                #expect(!answer.violations.isEmpty && answer.violations == expected?.violations)
                #expect(answer.schedules == expected?.schedules && answer.distinctStates == expected?.distinctStates)
            }
            try await client.execute(uri: "/mms/1", method: .get) { #expect(Data($0.body.readableBytesView) == before) }
            try await client.execute(uri: "/mms/1/notifiers/1", method: .get) { response in
                #expect(String(decoding: response.body.readableBytesView, as: UTF8.self).contains(#""faults":0"#))
            }
            // World options belong to a new world.
            try await client.execute(
                uri: "/explore",
                method: .post,
                headers: .json,
                body: ByteBuffer(string: #"{"frames": 8, "tasks": "# + tasks + "}")
            ) { response in
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
