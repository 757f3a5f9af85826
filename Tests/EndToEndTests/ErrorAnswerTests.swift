import Foundation
import Testing

/// A request the API cannot take, and what it must answer.
struct ErrorCase: Sendable, CustomTestStringConvertible {
    /// The HTTP method.
    var method: String
    /// The path and query; `$A` stands for the address of the world's one mapping.
    var path: String
    /// The raw body, or nil for none; `$A` stands for the address of the world's one mapping.
    var body: String?
    /// The status the answer must have.
    var status: Int
    /// The `error.code` the answer must have.
    var code: String
    /// Words the `error.message` must contain, the ones that name the problem.
    var mentions: [String]
    /// A server bug that makes the code or the message wrong, reported as a known issue until it is fixed.
    var knownIssue: String?

    init(
        _ method: String,
        _ path: String,
        _ body: String? = nil,
        _ status: Int,
        _ code: String,
        mentions: [String] = [],
        knownIssue: String? = nil
    ) {
        self.method = method
        self.path = path
        self.body = body
        self.status = status
        self.code = code
        self.mentions = mentions
        self.knownIssue = knownIssue
    }

    var testDescription: String { "\(self.method) \(self.path) \(self.body.map { String($0.prefix(60)) } ?? "") → \(self.status) \(self.code)" }

    /// A body of more than 1 MiB, the default limit, that is otherwise a valid munmap.
    static let oversized = #"{"addr": "$A", "length": 4096, "pad": ""# + String(repeating: "x", count: (1 << 20) + 16) + #""}"#

    static let badRequests: [ErrorCase] = [
        ErrorCase("POST", "/mms/1/munmap", #"{"addr": "$A", "length": "#, 400, "bad_request", mentions: ["JSON"]),
        ErrorCase("POST", "/mms/1/munmap", #"[4096, 4096]"#, 400, "bad_request"),
        ErrorCase("POST", "/mms/1/munmap", #"{"addr": "$A", "length": "four pages"}"#, 400, "bad_request", mentions: ["length"]),
        ErrorCase("POST", "/mms/1/munmap", #"{"addr": "$A"}"#, 400, "bad_request", mentions: ["length"]),
        ErrorCase("POST", "/mms/1/munmap", #"{"addr": "0xZZ", "length": 4096}"#, 400, "bad_request", mentions: ["addr", "0xZZ"]),
        ErrorCase(
            "POST",
            "/mms/1/munmap",
            #"{"addr": "$A", "length": -4096}"#,
            400,
            "bad_request",
            mentions: ["length"]
        ),
        ErrorCase("POST", "/mms/1/touch", #"{"addr": "$A", "write": "yes", "value": 5}"#, 400, "bad_request", mentions: ["write"]),
        ErrorCase("POST", "/mms/1/mmap", #"{"length": 4096, "prot": "rw", "flags": "private"}"#, 400, "bad_request", mentions: ["flags"]),
        ErrorCase("POST", "/mms/1/notifiers", #"{"kind": 1}"#, 400, "bad_request", mentions: ["kind"]),
        ErrorCase("POST", "/mms/1/notifiers/1/fault", #"{"address": "$A", "write": 1}"#, 400, "bad_request", mentions: ["write"]),
        ErrorCase("POST", "/reset", #"{"frames": "many"}"#, 400, "bad_request", mentions: ["frames"]),
        ErrorCase("POST", "/scenarios/judge", nil, 400, "bad_request", mentions: []),
        ErrorCase("POST", "/scenarios/judge", #"{}"#, 400, "bad_request", mentions: ["expect"]),
        ErrorCase("POST", "/scenarios/judge", #"{"expect": null}"#, 400, "bad_request", mentions: ["expect"]),
        ErrorCase("POST", "/mms/1/munmap", #"{"addr": "0x+1000", "length": 4096}"#, 400, "bad_request", mentions: ["addr"]),
        ErrorCase("POST", "/mms/1/munmap", #"{"addr": "+4096", "length": 4096}"#, 400, "bad_request", mentions: ["addr"]),
        ErrorCase("GET", "/trace?since=abc", nil, 400, "bad_request", mentions: ["since", "abc"]),
        ErrorCase("GET", "/trace?since=+1", nil, 400, "bad_request", mentions: ["since"]),
        ErrorCase("GET", "/trace?mm=-1", nil, 400, "bad_request", mentions: ["mm"]),
        ErrorCase("GET", "/mms/1/ptes?addr=xyz", nil, 400, "bad_request", mentions: ["addr", "xyz"]),
    ]

    static let notFound: [ErrorCase] = [
        ErrorCase("GET", "/mms/99", nil, 404, "unknown_mm", mentions: ["99"]),
        ErrorCase("GET", "/mms/abc/ptes", nil, 404, "unknown_mm", mentions: ["abc"]),
        // A route's 404 stays the route's, even where the static-file fallback would refuse the path (`..`).
        ErrorCase("GET", "/mms/0..0/notifiers", nil, 404, "unknown_mm", mentions: ["0..0"]),
        ErrorCase("POST", "/mms/99/munmap", #"{"addr": "$A", "length": 4096}"#, 404, "unknown_mm", mentions: ["99"]),
        ErrorCase("POST", "/mms/99/notifiers", #"{"kind": "kvm"}"#, 404, "unknown_mm", mentions: ["99"]),
        ErrorCase("POST", "/mms/99/exit", nil, 404, "unknown_mm", mentions: ["99"]),
        ErrorCase("POST", "/reclaim", #"{"mm": 99}"#, 404, "unknown_mm", mentions: ["99"]),
        ErrorCase("POST", "/migrate", #"{"mm": 99, "addr": "$A"}"#, 404, "unknown_mm", mentions: ["99"]),
        ErrorCase("GET", "/mms/1/notifiers/7", nil, 404, "unknown_notifier", mentions: ["7"]),
        ErrorCase("GET", "/mms/2/notifiers/1", nil, 404, "unknown_notifier", mentions: ["mm 2"]),
        ErrorCase("POST", "/mms/1/notifiers/7/fault", #"{"address": "$A", "write": true}"#, 404, "unknown_notifier", mentions: ["7"]),
        ErrorCase("POST", "/mms/2/notifiers/1/access", #"{"address": "$A", "write": false}"#, 404, "unknown_notifier", mentions: ["1"]),
        ErrorCase("DELETE", "/mms/1/notifiers/7", nil, 404, "unknown_notifier", mentions: ["7"]),
        ErrorCase("GET", "/tasks/42", nil, 404, "unknown_task", mentions: ["42"]),
        ErrorCase("POST", "/tasks/42/step", nil, 404, "unknown_task", mentions: ["42"]),
        ErrorCase("POST", "/tasks/42/resume", nil, 404, "unknown_task", mentions: ["42"]),
        ErrorCase("POST", "/writeback", #"{"file": "nosuchfile"}"#, 404, "unknown_file", mentions: ["nosuchfile"]),
        ErrorCase("GET", "/no/such/path", nil, 404, "not_found", mentions: ["/no/such/path"]),
        ErrorCase("POST", "/mms/1/frobnicate", #"{"addr": "$A"}"#, 404, "not_found", mentions: ["/mms/1/frobnicate"]),
    ]

    static let methodNotAllowed: [ErrorCase] = [
        ErrorCase("DELETE", "/mms/1", nil, 405, "method_not_allowed", mentions: ["DELETE", "GET"]),
        ErrorCase("GET", "/mms/1/munmap", nil, 405, "method_not_allowed", mentions: ["GET", "POST"]),
        ErrorCase("PUT", "/mms/1/notifiers", #"{"kind": "kvm"}"#, 405, "method_not_allowed", mentions: ["PUT"]),
        ErrorCase("PATCH", "/frames", #"{}"#, 405, "method_not_allowed", mentions: ["PATCH"]),
        ErrorCase("DELETE", "/trace", nil, 405, "method_not_allowed", mentions: ["DELETE"]),
        ErrorCase("POST", "/mms/1/notifiers/1/sptes", #"{}"#, 405, "method_not_allowed", mentions: ["POST"]),
    ]

    static let tooLarge: [ErrorCase] = [
        ErrorCase("POST", "/mms/1/munmap", Self.oversized, 413, "body_too_large", mentions: ["1048576"])
    ]

    static let unprocessable: [ErrorCase] = [
        ErrorCase("POST", "/scenarios/judge", #"{"expect": {}, "violations_before": -1}"#, 422, "invalid_value", mentions: ["violations_before"]),
        ErrorCase("POST", "/mms/1/munmap", #"{"addr": "$A+1", "length": 4096}"#, 422, "unaligned", mentions: ["addr", "$A+1"]),
        ErrorCase("POST", "/mms/1/munmap", #"{"addr": "$A", "length": 0}"#, 422, "empty_range", mentions: ["length"]),
        ErrorCase("POST", "/mms/1/munmap", #"{"addr": "0x7ffffffff000", "length": 8192}"#, 422, "range_overflow", mentions: ["end of user space"]),
        ErrorCase(
            "POST",
            "/mms/1/munmap",
            #"{"addr": "0xfffffffffffff000", "length": 4096}"#,
            422,
            "range_overflow",
            mentions: ["end of user space"]
        ),
        ErrorCase(
            "POST",
            "/mms/1/munmap",
            #"{"addr": "$A", "length": 18446744073709547520}"#,
            422,
            "range_overflow",
            mentions: ["end of user space"]
        ),
        ErrorCase("POST", "/mms/1/madvise", #"{"addr": "$A", "length": 0, "advice": "dontneed"}"#, 422, "empty_range", mentions: ["length"]),
        ErrorCase("POST", "/mms/1/madvise", #"{"addr": "$A", "length": 4096, "advice": "willneed"}"#, 422, "invalid_value", mentions: ["willneed"]),
        ErrorCase("POST", "/mms/1/mprotect", #"{"addr": "$A", "length": 4096, "prot": "rwz"}"#, 422, "invalid_value", mentions: ["prot", "rwz"]),
        ErrorCase("POST", "/mms/1/mprotect", #"{"addr": "$A+1", "length": 4096, "prot": "r"}"#, 422, "unaligned", mentions: ["addr"]),
        ErrorCase(
            "POST",
            "/mms/1/mmap",
            #"{"length": 4096, "prot": "rw", "flags": ["private", "anonymous", "bogus"]}"#,
            422,
            "invalid_value",
            mentions: ["bogus"]
        ),
        ErrorCase(
            "POST",
            "/mms/1/mmap",
            #"{"length": 4096, "prot": "rwq", "flags": ["private", "anonymous"]}"#,
            422,
            "invalid_value",
            mentions: ["rwq"]
        ),
        ErrorCase(
            "POST",
            "/mms/1/mmap",
            #"{"length": 0, "prot": "rw", "flags": ["private", "anonymous"]}"#,
            422,
            "empty_range",
            mentions: ["length"]
        ),
        ErrorCase(
            "POST",
            "/mms/1/mmap",
            #"{"addr": "0x10001", "length": 4096, "prot": "rw", "flags": ["private", "anonymous", "fixed"]}"#,
            422,
            "unaligned",
            mentions: ["0x10001"]
        ),
        ErrorCase(
            "POST",
            "/mms/1/mmap",
            #"{"length": 4096, "prot": "rw", "flags": ["shared", "anonymous"], "xip": true}"#,
            422,
            "invalid_request",
            mentions: ["xip"]
        ),
        ErrorCase("POST", "/mms/1/notifiers", #"{"kind": "nvidia"}"#, 422, "invalid_value", mentions: ["nvidia"]),
        ErrorCase("POST", "/mms/1/notifiers", #"{"kind": "kvm", "bugs": ["nope"]}"#, 422, "invalid_value", mentions: ["nope"]),
        ErrorCase(
            "POST",
            "/mms/1/mremap",
            #"{"old_addr": "$A", "old_length": 4096, "new_length": 8192, "flags": ["nomove"]}"#,
            422,
            "invalid_value",
            mentions: ["nomove"]
        ),
        ErrorCase("POST", "/mms/1/mremap", #"{"old_addr": "$A", "old_length": 4096, "new_length": 0}"#, 422, "empty_range", mentions: ["new_length"]),
        ErrorCase(
            "POST",
            "/mms/1/mremap",
            #"{"old_addr": "$A+1", "old_length": 4096, "new_length": 8192}"#,
            422,
            "unaligned",
            mentions: ["old_addr"]
        ),
        ErrorCase(
            "POST",
            "/mms/1/touch",
            #"{"addr": "0x7ffffffff000", "length": 8192, "write": true}"#,
            422,
            "range_overflow",
            mentions: ["end of user space"]
        ),
        ErrorCase(
            "POST",
            "/mms/1/notifiers/1/fault",
            #"{"address": "0x800000000000", "write": false}"#,
            422,
            "range_overflow",
            mentions: ["address"]
        ),
        ErrorCase("POST", "/reset", #"{"release_order": "v18"}"#, 422, "invalid_value", mentions: ["release_order", "v18"]),
        ErrorCase("POST", "/reset", #"{"frames": 1}"#, 422, "limit_exceeded", mentions: ["frames"]),
        ErrorCase("POST", "/reset", #"{"core_bugs": ["no_such_bug"]}"#, 422, "invalid_value", mentions: ["no_such_bug"]),

        ErrorCase("POST", "/reclaim", #"{"pages": -1}"#, 422, "invalid_request", mentions: ["pages"]),
        ErrorCase("POST", "/reclaim", #"{"addr": "$A"}"#, 422, "invalid_request", mentions: ["mm"]),
        ErrorCase("GET", "/trace/export?format=json", nil, 422, "invalid_value", mentions: ["json"]),
    ]
}

/// Every request the API cannot take answers its 4xx with `{"error": {"code", "message"}}` and changes nothing.
@Suite("Error answers change nothing")
struct ErrorAnswerTests {
    /// What a client can see of the world; equal before and after a refused request.
    private func snapshot(_ lab: LabClient) async throws -> [String: JSONValue] {
        var state: [String: JSONValue] = [:]
        for path in ["/mms", "/mms/1", "/mms/2", "/mms/1/ptes", "/mms/1/notifiers/1", "/mms/1/notifiers/1/sptes", "/frames", "/tasks", "/invariants"]
        {
            state[path] = try await lab.get(path)
        }
        state["next"] = try await lab.get("/trace")["next"]
        return state
    }

    /// mm 1 with four written pages, one of them in kvm (notifier 1), and an empty mm 2; the mapping's address.
    private func buildWorld(_ lab: LabClient) async throws -> UInt64 {
        let mm = try await lab.createMM()
        _ = try await lab.createMM(name: "other")
        let a = try await lab.mmap(mm: mm, pages: 4)
        try await lab.write(mm: mm, a, pages: 4, value: 7)
        let kvm = try await lab.register(mm: mm, "kvm")
        try await lab.fault(mm: mm, kvm, a, write: true)
        return a
    }

    private func check(_ error: ErrorCase) async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let a = try await self.buildWorld(lab)
            func fill(_ text: String) -> String {
                text.replacingOccurrences(of: "$A+1", with: hexAddress(a + 1)).replacingOccurrences(of: "$A", with: hexAddress(a))
            }
            let before = try await self.snapshot(lab)
            let body = error.body.map { Array(fill($0).utf8) }
            // "Expect:" stops libcurl from waiting for a 100 Continue before a large body.
            let answer = try await lab.client.request(method: error.method, path: fill(error.path), body: body, headers: ["Expect:"])
            #expect(answer.status == error.status, "\(String(decoding: answer.body.prefix(300), as: UTF8.self))")
            let json = try JSONValue.parse(answer.body)
            let message = json["error"]?["message"]?.string ?? ""
            #expect(!message.isEmpty)
            let checkCodeAndMessage = {
                #expect(json["error"]?["code"]?.string == error.code)
                for word in error.mentions.map(fill) {
                    #expect(message.contains(word), "the message \"\(message)\" does not name \(word)")
                }
            }
            if let bug = error.knownIssue {
                withKnownIssue(Comment(rawValue: bug)) { checkCodeAndMessage() }
            } else {
                checkCodeAndMessage()
            }
            #expect(try await self.snapshot(lab) == before)
        }
    }

    @Test("malformed JSON, a body of the wrong shape and a field of the wrong type answer 400 bad_request", arguments: ErrorCase.badRequests)
    func badRequest(_ error: ErrorCase) async throws {
        try await self.check(error)
    }

    @Test("an unknown mm, notifier, task, file or path answers 404 and names it", arguments: ErrorCase.notFound)
    func notFound(_ error: ErrorCase) async throws {
        try await self.check(error)
    }

    @Test("a known path asked with a method it does not answer gives 405 method_not_allowed", arguments: ErrorCase.methodNotAllowed)
    func methodNotAllowed(_ error: ErrorCase) async throws {
        try await self.check(error)
    }

    @Test("a body over the 1 MiB limit answers 413 body_too_large naming the limit", arguments: ErrorCase.tooLarge)
    func tooLarge(_ error: ErrorCase) async throws {
        try await self.check(error)
    }

    @Test(
        "unaligned, zero-length and overflowing ranges and unknown enum values answer 422 and name the field",
        arguments: ErrorCase.unprocessable
    )
    func unprocessable(_ error: ErrorCase) async throws {
        try await self.check(error)
    }
}
