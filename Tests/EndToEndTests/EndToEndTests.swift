import CCurl
import Testing

/// The server over a real socket, driven through libcurl, answers parsed by json-c.
struct EndToEndTests {
    @Test("GET /health through libcurl answers 200 and parses to status ok")
    func health() async throws {
        try await TestServer.withRunning { server in
            let answer = try await server.client.request(method: "GET", path: "/health")
            #expect(answer.status == 200)
            #expect(try JSONValue.parse(answer.body)["status"]?.string == "ok")
        }
    }

    @Test("GET /version names protocol v17")
    func version() async throws {
        try await TestServer.withRunning { server in
            let answer = try await server.client.request(path: "/version")
            #expect(answer.status == 200)
            #expect(try JSONValue.parse(answer.body)["protocol"]?.string == "v17")
        }
    }

    @Test("an unknown path answers 404 with error.code not_found")
    func unknownPath() async throws {
        try await TestServer.withRunning { server in
            let answer = try await server.client.request(path: "/mms/1/no-such-thing")
            #expect(answer.status == 404)
            let json = try JSONValue.parse(answer.body)
            #expect(json["error"]?["code"]?.string == "not_found")
            #expect(json["error"]?["message"]?.string?.isEmpty == false)
        }
    }

    @Test("POST with a body to a GET-only path answers 405 with error.code method_not_allowed")
    func wrongMethodWithBody() async throws {
        try await TestServer.withRunning { server in
            let answer = try await server.client.request(method: "POST", path: "/health", body: Array(#"{"x": 1}"#.utf8))
            #expect(answer.status == 405)
            #expect(try JSONValue.parse(answer.body)["error"]?["code"]?.string == "method_not_allowed")
        }
    }

    @Test("GET / serves the dashboard's HTML page")
    func dashboard() async throws {
        try await TestServer.withRunning { server in
            let answer = try await server.client.request(path: "/")
            #expect(answer.status == 200)
            let page = String(decoding: answer.body, as: UTF8.self)
            #expect(page.contains("<title>MMU Notifier Lab</title>"))
        }
    }

    @Test("8 concurrent GET /health requests all answer ok")
    func concurrentRequests() async throws {
        try await TestServer.withRunning { server in
            let client = server.client
            let statuses = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let answer = try await client.request(path: "/health")
                        return answer.status == 200 ? try JSONValue.parse(answer.body)["status"]?.string : nil
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: "ok", count: 8))
        }
    }

    @Test("after the harness returns, the server has stopped listening")
    func stopsOnReturn() async throws {
        let client = try await TestServer.withRunning { server throws -> HTTPClient in
            #expect(try await server.client.request(path: "/health").status == 200)
            return server.client
        }
        await #expect {
            _ = try await client.request(path: "/health")
        } throws: { error in
            (error as? CurlError)?.code == CURLE_COULDNT_CONNECT
        }
    }
}
