import Testing

/// No web page can drive the lab: what a browser on another site can send (a form, a no-cors fetch,
/// a DNS-rebound name, a sandboxed frame) is refused before it changes anything, while curl and the
/// dashboard on the server's own origin work as before.
@Suite("Only the server's own origin drives it")
struct SameOriginTests {
    /// What a client can see of the world; equal before and after a refused request.
    private func snapshot(_ lab: LabClient) async throws -> [String: JSONValue] {
        var state: [String: JSONValue] = [:]
        for path in ["/mms", "/mms/1", "/mms/1/ptes", "/frames", "/tasks", "/invariants"] {
            state[path] = try await lab.get(path)
        }
        state["next"] = try await lab.get("/trace")["next"]
        return state
    }

    /// mm 1 with two written pages.
    private func buildWorld(_ lab: LabClient) async throws {
        let mm = try await lab.createMM()
        let a = try await lab.mmap(mm: mm, pages: 2)
        try await lab.write(mm: mm, a, pages: 2, value: 9)
    }

    /// Sends `method path` with `body` and `headers`, expects `status` with error `code`, and the world unchanged.
    private func expectRefused(
        _ method: String,
        _ path: String,
        body: String?,
        headers: [String],
        status: Int,
        code: String,
        in server: TestServer
    ) async throws {
        let lab = LabClient(server)
        let before = try await self.snapshot(lab)
        let answer = try await lab.client.request(method: method, path: path, body: body.map { Array($0.utf8) }, headers: headers)
        #expect(answer.status == status, "\(String(decoding: answer.body.prefix(300), as: UTF8.self))")
        #expect(try JSONValue.parse(answer.body)["error"]?["code"]?.string == code)
        #expect(try await self.snapshot(lab) == before)
    }

    @Test("a form-encoded POST /reset, what a no-cors fetch or a form sends from any site, answers 415 and resets nothing")
    func formEncodedReset() async throws {
        try await TestServer.withRunning { server in
            try await self.buildWorld(LabClient(server))
            for type in ["application/x-www-form-urlencoded", "text/plain;charset=UTF-8", "multipart/form-data; boundary=x"] {
                try await self.expectRefused(
                    "POST",
                    "/reset",
                    body: "{}",
                    headers: ["Content-Type: \(type)"],
                    status: 415,
                    code: "unsupported_media_type",
                    in: server
                )
            }
        }
    }

    @Test("a body without a Content-Type (a no-cors fetch of a Blob) answers 415; a POST without a body needs none")
    func untypedBody() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            try await self.buildWorld(lab)
            try await self.expectRefused(
                "POST",
                "/mms",
                body: #"{"name": "x"}"#,
                headers: ["Content-Type:"],
                status: 415,
                code: "unsupported_media_type",
                in: server
            )
            // fork without a body or a type, as `curl -X POST` sends it: the mm gets a child.
            let fork = try await lab.client.request(method: "POST", path: "/mms/1/fork", body: [], headers: ["Content-Type:"])
            #expect(fork.status == 200)
            #expect(try JSONValue.parse(fork.body)["child"]?.int == 2)
        }
    }

    @Test("a cross-origin POST /mms (Origin http://evil.example) answers 403 and creates no mm")
    func crossOriginPost() async throws {
        try await TestServer.withRunning { server in
            try await self.buildWorld(LabClient(server))
            try await self.expectRefused(
                "POST",
                "/mms",
                body: #"{"name": "evil"}"#,
                headers: ["Origin: http://evil.example"],
                status: 403,
                code: "forbidden_origin",
                in: server
            )
            // The same port on another loopback name is another origin too.
            try await self.expectRefused(
                "POST",
                "/mms/1/exit",
                body: nil,
                headers: ["Origin: http://localhost:\(server.port)"],
                status: 403,
                code: "forbidden_origin",
                in: server
            )
        }
    }

    @Test("Origin: null (a sandboxed frame or a file: page) answers 403 and changes nothing")
    func nullOrigin() async throws {
        try await TestServer.withRunning { server in
            try await self.buildWorld(LabClient(server))
            try await self.expectRefused(
                "POST",
                "/reset",
                body: "{}",
                headers: ["Origin: null"],
                status: 403,
                code: "forbidden_origin",
                in: server
            )
        }
    }

    @Test("a foreign Host (DNS rebinding) answers 403 for every method, static files included, and changes nothing")
    func foreignHost() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            try await self.buildWorld(lab)
            for path in ["/mms", "/", "/js/api.js", "/health"] {
                try await self.expectRefused("GET", path, body: nil, headers: ["Host: evil.example"], status: 403, code: "forbidden_host", in: server)
            }
            try await self.expectRefused(
                "POST",
                "/reset",
                body: "{}",
                headers: ["Host: evil.example:\(server.port)", "Origin: http://evil.example:\(server.port)"],
                status: 403,
                code: "forbidden_host",
                in: server
            )
            // Loopback names, with or without the port, are the server's own.
            for host in ["localhost", "localhost:\(server.port)", "127.0.0.1", "[::1]:\(server.port)", "127.1.2.3"] {
                let answer = try await lab.client.request(path: "/mms", headers: ["Host: \(host)"])
                #expect(answer.status == 200, "Host: \(host)")
            }
        }
    }

    @Test("the server's own origin passes: the dashboard's POST from http://HOST with its JSON body")
    func ownOrigin() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let created = try await lab.client.request(
                method: "POST",
                path: "/mms",
                body: Array(#"{"name": "dash"}"#.utf8),
                headers: ["Origin: http://127.0.0.1:\(server.port)"]
            )
            #expect(created.status == 200)
            let other = try await lab.client.request(
                method: "POST",
                path: "/mms",
                body: Array("{}".utf8),
                headers: [
                    "Host: localhost:\(server.port)", "Origin: http://localhost:\(server.port)", "Content-Type: application/json; charset=utf-8",
                ]
            )
            #expect(other.status == 200)
            #expect(try await lab.get("/mms")["mms"]?.array?.count == 2)
        }
    }

    @Test("--allow-host NAME lets a proxy's Host and its http:// and https:// origins through, and no other")
    func allowHost() async throws {
        try await TestServer.withRunning(allowedHosts: ["lab.example"]) { server in
            let lab = LabClient(server)
            for headers in [["Host: lab.example"], ["Host: lab.example:443", "Origin: https://lab.example"], ["Origin: http://lab.example"]] {
                let answer = try await lab.client.request(method: "POST", path: "/mms", body: Array("{}".utf8), headers: headers)
                #expect(answer.status == 200, "\(headers)")
            }
            try await self.expectRefused(
                "POST",
                "/mms",
                body: "{}",
                headers: ["Host: lab.example.evil.example"],
                status: 403,
                code: "forbidden_host",
                in: server
            )
        }
    }

    @Test("with --token, /?token=T sets an HttpOnly SameSite=Strict cookie and redirects without it; the cookie then works")
    func tokenCookie() async throws {
        try await TestServer.withRunning(token: "s3cret") { server in
            let client = server.client
            let redirect = try await client.exchange(path: "/?token=s3cret&scenario=x")
            #expect(redirect.status == 303)
            #expect(redirect.header("Location") == ["/?scenario=x"])
            let cookie = redirect.header("Set-Cookie").first ?? ""
            #expect(cookie.hasPrefix("mmusim_token=s3cret"))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            #expect(try await client.request(path: "/mms", headers: ["Cookie: mmusim_token=s3cret"]).status == 200)
            #expect(try await client.request(path: "/", headers: ["Cookie: mmusim_token=s3cret"]).status == 200)
            #expect(try await client.request(path: "/mms", headers: ["Authorization: Bearer s3cret"]).status == 200)
            #expect(try await client.request(path: "/mms").status == 401)
            #expect(try await client.request(path: "/mms", headers: ["Cookie: mmusim_token=guess"]).status == 401)
            #expect(try await client.request(path: "/?token=guess").status == 401)
            // The cookie does not let another site in: its Origin is still refused.
            let crossSite = try await client.request(
                method: "POST",
                path: "/reset",
                body: Array("{}".utf8),
                headers: ["Cookie: mmusim_token=s3cret", "Origin: http://evil.example"]
            )
            #expect(crossSite.status == 403)
        }
    }
}
