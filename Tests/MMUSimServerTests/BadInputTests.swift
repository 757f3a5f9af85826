import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MMUSimServer
import Testing

/// Malformed requests, limits and paths outside public/: each a 4xx with the error object,
/// and the world unchanged.
struct BadInputTests {
    private static func makeApp(limits: RequestLimits = RequestLimits()) -> some ApplicationProtocol {
        var logger = Logger(label: "BadInputTests")
        logger.logLevel = .critical
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return buildApplication(
            configuration: .init(port: 0, publicDirectory: root.appendingPathComponent("public").path, logger: logger, limits: limits)
        )
    }

    private struct Case: Sendable, CustomStringConvertible {
        var method: HTTPRequest.Method
        var path: String
        var body: [UInt8]
        var contentType = "application/json"
        var status: Int
        var description: String { "\(method) \(path) \(String(decoding: body.prefix(60), as: UTF8.self))" }

        init(_ method: HTTPRequest.Method, _ path: String, _ body: String, _ status: Int, contentType: String = "application/json") {
            self.method = method
            self.path = path
            self.body = Array(body.utf8)
            self.status = status
            self.contentType = contentType
        }

        init(_ method: HTTPRequest.Method, _ path: String, bytes: [UInt8], _ status: Int) {
            self.method = method
            self.path = path
            body = bytes
            self.status = status
        }
    }

    private static let corpus: [Case] = [
        Case(.post, "/mms/1/mmap", "{", 400),
        Case(.post, "/mms/1/mmap", "[1, 2]", 400),
        Case(.post, "/mms/1/mmap", #"{"length": "four", "prot": "rw", "flags": ["private", "anonymous"]}"#, 400),
        Case(.post, "/mms/1/mmap", #"{"length": 4096, "prot": 7, "flags": ["private", "anonymous"]}"#, 400),
        Case(.post, "/mms/1/mmap", #"{"length": 99999999999999999999999, "prot": "rw", "flags": ["private", "anonymous"]}"#, 400),
        Case(.post, "/mms/1/mmap", #"{"length": -4096, "prot": "rw", "flags": ["private", "anonymous"]}"#, 400),
        Case(.post, "/mms/1/mmap", #"{"length": 4096, "prot": "rwz", "flags": ["private", "anonymous"]}"#, 422),
        Case(.post, "/mms/1/mmap", #"{"length": 4096, "prot": "rw", "flags": ["private", "bogus"]}"#, 422),
        Case(.post, "/mms/1/mmap", #"{"length": 4096, "prot": "rw", "flags": ["private", "shared", "anonymous"]}"#, 422),
        Case(.post, "/mms/1/munmap", #"{"addr": "0x7f0000000001", "length": 4096}"#, 422),
        Case(.post, "/mms/1/munmap", #"{"addr": "0x7f0000000000", "length": 0}"#, 422),
        Case(.post, "/mms/1/munmap", #"{"addr": "0x7ffffffff000", "length": 8192}"#, 422),
        Case(.post, "/mms/1/munmap", #"{"addr": "0xffffffffffffffff", "length": 4096}"#, 422),
        Case(.post, "/mms/1/munmap", #"{"addr": "-0x1000", "length": 4096}"#, 400),
        Case(.post, "/mms/1/munmap", #"{"addr": "0x7f0000000000", "length": 4096, "pause_at": "nowhere"}"#, 422),
        Case(.post, "/mms/1/madvise", #"{"addr": "0x7f0000000000", "length": 4096, "advice": "willneed"}"#, 422),
        Case(.post, "/mms/1/mremap", #"{"old_addr": "0x7f0000000000", "old_length": 4096, "new_length": 8192, "flags": ["jump"]}"#, 422),
        Case(.post, "/mms/1/notifiers", #"{"kind": "nvidia"}"#, 422),
        Case(.post, "/mms/1/notifiers", #"{"kind": "kvm", "bugs": ["typo"]}"#, 422),
        Case(.post, "/mms/1/touch", #"{"addr": "0x7f0000000000", "length": 1099511627776, "write": true}"#, 422),
        Case(.post, "/reset", #"{"release_order": "v18"}"#, 422),
        Case(.post, "/reset", #"{"frames": 1}"#, 422),
        Case(.post, "/reset", #"{"frames": 1000000000}"#, 422),
        Case(.post, "/mms/99/munmap", #"{"addr": "0x7f0000000000", "length": 4096}"#, 404),
        Case(.post, "/mms/abc/munmap", #"{"addr": "0x7f0000000000", "length": 4096}"#, 404),
        Case(.post, "/mms/1/notifiers/7/fault", #"{"address": "0x7f0000000000", "write": false}"#, 404),
        Case(.post, "/tasks/12345/resume", "", 404),
        Case(.post, "/mms/1/mmap", String(repeating: "[", count: 100_000), 400),
        Case(.post, "/mms", #"{"name": ""# + String(repeating: "x", count: 2 << 20) + #""}"#, 413),
        Case(
            .post,
            "/mms/1/mmap",
            bytes: Array(#"{"length": 4096, "prot": "rw", "file": ""#.utf8) + [0xff, 0xfe] + Array(#"", "flags": ["shared"]}"#.utf8),
            400
        ),
        Case(.post, "/mms/1/munmap", #"{"addr": "0x7f0000000000", "length": 4096}"#, 415, contentType: "text/plain"),
        Case(.post, "/reset", "{}", 415, contentType: "application/x-www-form-urlencoded"),
        Case(.delete, "/mms/1/munmap", "", 405),
        Case(.get, "/mms/1/munmap/extra", "", 404),
    ]

    private func snapshot(_ client: some TestClientProtocol) async throws -> [String] {
        var parts: [String] = []
        for path in ["/mms/1", "/frames", "/mms/1/notifiers/1", "/tasks"] {
            parts.append(try await client.execute(uri: path, method: .get) { String(decoding: $0.body.readableBytesView, as: UTF8.self) })
        }
        let trace = try await client.execute(uri: "/trace", method: .get) { response in
            try JSONDecoder().decode([String: JSONValue].self, from: Data(response.body.readableBytesView))["next"]?.description ?? ""
        }
        return parts + [trace]
    }

    @Test("every malformed request of the corpus answers its 4xx with the error object and changes nothing")
    func corpus() async throws {
        try await Self.makeApp().test(.router) { client in
            for (path, body) in [
                ("/mms", "{}"), ("/mms/1/mmap", #"{"length": 16384, "prot": "rw", "flags": ["private", "anonymous"]}"#),
                ("/mms/1/touch", #"{"addr": "0x7f0000000000", "length": 16384, "write": true, "value": 5}"#),
                ("/mms/1/notifiers", #"{"kind": "kvm"}"#),
            ] {
                try await client.execute(uri: path, method: .post, headers: .json, body: ByteBuffer(string: body)) { #expect($0.status == .ok) }
            }
            let before = try await snapshot(client)
            for item in Self.corpus {
                try await client.execute(
                    uri: item.path,
                    method: item.method,
                    headers: [.contentType: item.contentType],
                    body: ByteBuffer(bytes: item.body)
                ) { response in
                    #expect(Int(response.status.code) == item.status, "\(item)")
                    let answer = try? JSONDecoder().decode([String: [String: String]].self, from: Data(response.body.readableBytesView))
                    let message = answer?["error"]?["message"] ?? ""
                    #expect(answer?["error"]?["code"]?.isEmpty == false && !message.isEmpty, "\(item): no error object")
                    #expect(!message.contains("/work/") && !message.contains(".swift"), "\(item): \(message)")
                }
            }
            #expect(try await snapshot(client) == before)
        }
    }

    @Test("static files cannot escape public/, plainly, percent-encoded or double-encoded")
    func traversal() async throws {
        try await Self.makeApp().test(.router) { client in
            for path in [
                "/../Package.swift", "/..%2fPackage.swift", "/%2e%2e/Package.swift", "/%2e%2e%2fPackage.swift", "/%252e%252e%252fPackage.swift",
                "/js/../../Package.swift", "/js/%2e%2e/%2e%2e/Package.swift", "/..%5cPackage.swift", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            ] {
                try await client.execute(uri: path, method: .get) { response in
                    let text = String(decoding: response.body.readableBytesView, as: UTF8.self)
                    #expect(!text.contains("PackageDescription") && !text.contains("root:x:0:0"), "\(path) served a file outside public/")
                    #expect(response.status == .notFound || response.status == .badRequest, "\(path): \(response.status)")
                }
            }
        }
    }

    @Test("each limit answers a 4xx that names it: mms, notifiers per mm, stream clients")
    func limits() async throws {
        let limits = RequestLimits(maxMMs: 2, maxNotifiersPerMM: 1, maxStreamClients: 1)
        try await Self.makeApp(limits: limits).test(.router) { client in
            for expected in [HTTPResponse.Status.ok, .ok, .tooManyRequests] {
                try await client.execute(uri: "/mms", method: .post, headers: .json, body: ByteBuffer(string: "{}")) { response in
                    #expect(response.status == expected)
                    if expected != .ok { #expect(String(decoding: response.body.readableBytesView, as: UTF8.self).contains("max_mms")) }
                }
            }
            try await client.execute(uri: "/mms/1/fork", method: .post) { response in
                #expect(response.status == .tooManyRequests)
            }
            for expected in [HTTPResponse.Status.ok, .tooManyRequests] {
                try await client.execute(uri: "/mms/1/notifiers", method: .post, headers: .json, body: ByteBuffer(string: #"{"kind": "gru"}"#)) {
                    response in
                    #expect(response.status == expected)
                    if expected != .ok { #expect(String(decoding: response.body.readableBytesView, as: UTF8.self).contains("max_notifiers_per_mm")) }
                }
            }
        }
    }
}
