import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MMUSimServer
import Testing

/// The routes, tested in process through HummingbirdTesting's `.router` framework (no socket).
struct RouteTests {
    private static func makeApp(token: String? = nil) -> some ApplicationProtocol {
        var logger = Logger(label: "MMUSimServerTests")
        logger.logLevel = .warning
        return buildApplication(configuration: .init(host: "127.0.0.1", port: 0, publicDirectory: publicDirectory, token: token, logger: logger))
    }

    @Test("GET /health answers 200 with status ok")
    func health() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let answer = try JSONDecoder().decode(HealthAnswer.self, from: Data(response.body.readableBytesView))
                #expect(answer.status == "ok")
            }
        }
    }

    @Test("GET /version reports protocol v17 and the release")
    func version() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/version", method: .get) { response in
                #expect(response.status == .ok)
                let answer = try JSONDecoder().decode(VersionAnswer.self, from: Data(response.body.readableBytesView))
                #expect(answer.protocol == "v17")
                #expect(answer.version == ServerVersion.version)
            }
        }
    }

    @Test("GET /tasks/{t} knows a task that finished within its own request")
    func finishedTaskIsKnown() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/mms", method: .post, headers: .json, body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .ok)
            }
            let mmap = #"{"length": 8192, "prot": "rw", "flags": ["private", "anonymous"]}"#
            let task = try await client.execute(uri: "/mms/1/mmap", method: .post, headers: .json, body: ByteBuffer(string: mmap)) { response in
                #expect(response.status == .ok)
                let answer = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                #expect(answer?["status"] as? String == "done")
                return try #require(answer?["task"] as? Int)
            }
            try await client.execute(uri: "/tasks/\(task)", method: .get) { response in
                #expect(response.status == .ok)
                let answer = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                #expect(answer?["id"] as? Int == task)
                #expect(answer?["status"] as? String == "done")
                #expect(answer?["op"] as? String == "mmap")
            }
        }
    }

    @Test("an unknown path answers 404 with the error object, code not_found")
    func unknownPath() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/no/such/resource", method: .get) { response in
                #expect(response.status == .notFound)
                let answer = try JSONDecoder().decode(ErrorAnswer.self, from: Data(response.body.readableBytesView))
                #expect(answer.error.code == "not_found")
                #expect(answer.error.message.contains("/no/such/resource"))
            }
        }
    }

    @Test("a known path asked with another method answers 405 with Allow and code method_not_allowed")
    func wrongMethod() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/health", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
                let answer = try JSONDecoder().decode(ErrorAnswer.self, from: Data(response.body.readableBytesView))
                #expect(answer.error.code == "method_not_allowed")
            }
        }
    }

    @Test("GET / serves the dashboard page from public/")
    func dashboard() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(String(decoding: response.body.readableBytesView, as: UTF8.self).contains("<title>MMU Notifier Lab</title>"))
            }
        }
    }

    @Test("with a token, requests without it answer 401 unauthorized, /health stays open, the right bearer passes")
    func token() async throws {
        try await Self.makeApp(token: "s3cret").test(.router) { client in
            try await client.execute(uri: "/version", method: .get) { response in
                #expect(response.status == .unauthorized)
                let answer = try JSONDecoder().decode(ErrorAnswer.self, from: Data(response.body.readableBytesView))
                #expect(answer.error.code == "unauthorized")
            }
            try await client.execute(uri: "/version", method: .get, headers: [.authorization: "Bearer wrong!"]) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/version", method: .get, headers: [.authorization: "Bearer s3cret"]) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test("GET /library/scenarios and /library/explore list the repository's own files with their descriptions, and serve each as it is on disk")
    func library() async throws {
        let root = URL(fileURLWithPath: publicDirectory).deletingLastPathComponent()
        let manager = FileManager.default
        let top = try manager.contentsOfDirectory(atPath: root.appendingPathComponent("scenarios").path).filter { $0.hasSuffix(".json") }.sorted()
        let folders = ["invariants", "modern"].flatMap { folder in
            ((try? manager.contentsOfDirectory(atPath: root.appendingPathComponent("scenarios/\(folder)").path)) ?? [])
                .filter { $0.hasSuffix(".json") }.sorted().map { "\(folder)/\($0)" }
        }
        let examples = try manager.contentsOfDirectory(atPath: root.appendingPathComponent("examples/explore").path).filter { $0.hasSuffix(".json") }
            .sorted()
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/library/scenarios", method: .get) { response in
                #expect(response.status == .ok)
                let answer = try JSONDecoder().decode(LibraryListing.self, from: Data(response.body.readableBytesView))
                #expect(answer.scenarios?.map(\.file) == top + folders)
                let xip = answer.scenarios?.first { $0.file == "seed-xip-unmap.json" }
                #expect(xip?.title == "seed-xip-unmap" && xip?.steps == 9 && xip?.description.contains("__xip_unmap") == true)
            }
            for file in ["seed-xip-unmap.json", "invariants/no-stale-write.json"] {
                let onDisk = try Data(contentsOf: root.appendingPathComponent("scenarios/\(file)"))
                try await client.execute(uri: "/library/scenarios/\(file)", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(Data(response.body.readableBytesView) == onDisk)
                }
            }
            try await client.execute(uri: "/library/explore", method: .get) { response in
                let answer = try JSONDecoder().decode(LibraryListing.self, from: Data(response.body.readableBytesView))
                #expect(answer.examples?.map(\.file) == examples)
                #expect(answer.examples?.allSatisfy { !$0.description.isEmpty && $0.steps == nil } == true)
            }
            let example = try Data(contentsOf: root.appendingPathComponent("examples/explore/08-hugetlb-fork-gap.json"))
            try await client.execute(uri: "/library/explore/08-hugetlb-fork-gap.json", method: .get) { response in
                #expect(Data(response.body.readableBytesView) == example)
            }
            // Only a listed file is served: nothing else in the repository, however the path is spelt.
            for uri in [
                "/library/scenarios/nope.json", "/library/explore/..%2F..%2FPackage.swift", "/library/scenarios/..%2FPackage.swift",
                "/library/scenarios/invariants/..%2F..%2FPackage.swift",
            ] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .notFound, "\(uri)")
                    let answer = try JSONDecoder().decode(ErrorAnswer.self, from: Data(response.body.readableBytesView))
                    #expect(["unknown_file", "not_found"].contains(answer.error.code), "\(uri)")
                }
            }
        }
    }
}

extension RouteTests {
    @Test("GET /drivers serves the registration vocabulary: every driver kind with its bug switches; an unknown name is 404")
    func drivers() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/drivers", method: .get) { response in
                let answer = try JSONDecoder().decode(DriverListing.self, from: Data(response.body.readableBytesView))
                #expect(answer.drivers.map(\.name) == ["kvm", "gru", "xpmem", "pinning", "unsafe", "kvm-modern", "dmirror"])
                #expect(answer.drivers.map(\.notifier) == [true, true, true, false, false, true, true])
                #expect(answer.drivers.map(\.pins) == [false, false, true, true, false, false, false])
                let switches = ["skip_retry_check", "no_release", "ignore_invalidate_page", "no_set_page_dirty", "sleeps", "free_in_release"]
                #expect(answer.drivers.prefix(5).allSatisfy { $0.variants.map(\.name) == switches && !$0.description.isEmpty })
                #expect(answer.drivers[5].variants.map(\.name) == ["skip_retry_check"])
                #expect(answer.drivers.last?.variants.map(\.name) == ["sleeps_nonblocking", "skip_read_retry"])
            }
            try await client.execute(uri: "/drivers/gru", method: .get) { response in
                let driver = try JSONDecoder().decode(DriverListing.Driver.self, from: Data(response.body.readableBytesView))
                #expect(driver.name == "gru")
            }
            try await client.execute(uri: "/drivers/nvidia", method: .get) { response in
                #expect(response.status == .notFound)
                let answer = try JSONDecoder().decode(ErrorAnswer.self, from: Data(response.body.readableBytesView))
                #expect(answer.error.code == "unknown_driver")
            }
        }
    }
}

/// GET /drivers, as a client reads it.
private struct DriverListing: Decodable {
    struct Variant: Decodable {
        let name: String
        let description: String
    }
    struct Driver: Decodable {
        let name: String
        let description: String
        let notifier: Bool
        let pins: Bool
        let variants: [Variant]
    }
    let drivers: [Driver]
}

/// GET /library/scenarios or /library/explore, as a client reads it.
private struct LibraryListing: Decodable {
    struct Entry: Decodable {
        let file: String
        let title: String
        let description: String
        let steps: Int?
    }
    let scenarios: [Entry]?
    let examples: [Entry]?
}

/// The folder of the repository's static files, found from this file's path.
private let publicDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent()
    .appendingPathComponent("public")
    .path

/// `{"status": ...}`, as a client reads it.
private struct HealthAnswer: Decodable {
    let status: String
}

/// `{"version": ..., "protocol": ...}`, as a client reads it.
private struct VersionAnswer: Decodable {
    let version: String
    let `protocol`: String
}

/// `{"error": {"code": ..., "message": ...}}`, as a client reads it.
private struct ErrorAnswer: Decodable {
    struct Body: Decodable {
        let code: String
        let message: String
    }

    let error: Body
}
