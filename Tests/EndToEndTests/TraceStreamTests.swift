import Testing

/// One Server-Sent Event as received.
struct ServerSentEvent: Equatable {
    /// The `id:` field.
    var id: String?
    /// The `event:` field.
    var event: String?
    /// The `data:` lines, joined by newlines.
    var data: String

    /// The events in a stream's text; comment-only blocks and a last, incomplete block are left out.
    static func parse(_ text: String) -> [ServerSentEvent] {
        let blocks = text.replacing("\r\n", with: "\n").split(separator: "\n\n", omittingEmptySubsequences: false).dropLast()
        return blocks.compactMap { block in
            var event = ServerSentEvent(data: "")
            var data: [Substring] = []
            for line in block.split(separator: "\n") {
                if line.hasPrefix(":") { continue }
                let field = line.prefix { $0 != ":" }
                var value = line.dropFirst(field.count + 1)
                if value.hasPrefix(" ") { value = value.dropFirst() }
                switch field {
                case "id": event.id = String(value)
                case "event": event.event = String(value)
                case "data": data.append(value)
                default: continue
                }
            }
            guard !data.isEmpty else { return nil }
            event.data = data.joined(separator: "\n")
            return event
        }
    }
}

@Suite("GET /trace/stream over libcurl")
struct TraceStreamTests {
    /// Opens GET /trace/stream and waits until the server has subscribed (it writes a comment first).
    private func open(
        _ server: TestServer,
        _ capture: StreamCapture,
        timeoutMilliseconds: Int = 20_000
    ) async -> Task<(status: Int, contentType: String?), any Error> {
        let transfer = Task { try await server.client.stream(path: "/trace/stream", into: capture, timeoutMilliseconds: timeoutMilliseconds) }
        #expect(await capture.wait { $0.contains(": mmusim trace stream") })
        return transfer
    }

    /// Stops a stream and waits for its transfer; then one more event lets the server's handler see the disconnect.
    ///
    /// Without that event the handler waits for the next trace event forever, and the server's graceful shutdown
    /// with it: see ``shutdownWithOpenStream()``.
    private func close(
        _ capture: StreamCapture,
        _ transfer: Task<(status: Int, contentType: String?), any Error>,
        _ lab: LabClient
    ) async throws -> (status: Int, contentType: String?) {
        capture.stop()
        let answer = try await transfer.value
        // The first write to a closed connection may still succeed: a few events make sure one fails.
        let mm = try await lab.createMM(name: "wake the stream handlers")
        for _ in 0..<3 {
            try await lab.write(mm: mm, try await lab.mmap(mm: mm, pages: 1))
        }
        return answer
    }

    /// The events of a stream's text, parsed by json-c.
    private func events(_ capture: StreamCapture) throws -> [JSONValue] {
        try ServerSentEvent.parse(capture.text).map { try JSONValue.parse(Array($0.data.utf8)) }
    }

    @Test("GET /trace/stream sends every new trace event as one SSE event, in order, its data the event of GET /trace and its id the seq")
    func streamMatchesTrace() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let start = try await lab.traceNext()
            let capture = StreamCapture()
            let transfer = await self.open(server, capture)

            let a = try await lab.mmap(mm: mm, pages: 2)
            try await lab.write(mm: mm, a, pages: 2, value: 9)
            let kvm = try await lab.register(mm: mm, "kvm")
            try await lab.fault(mm: mm, kvm, a, write: true)
            let munmap = try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(2 * LabClient.page)])

            let expected = try await lab.events(since: start)
            #expect(expected.count > 10)
            let complete = await capture.wait { ServerSentEvent.parse($0).count >= expected.count }
            let (status, contentType) = try await self.close(capture, transfer, lab)
            #expect(complete)
            #expect(status == 200)
            #expect(contentType?.hasPrefix("text/event-stream") == true)

            let received = ServerSentEvent.parse(capture.text)
            let parsed = try self.events(capture)
            #expect(parsed == expected)
            #expect(received.map(\.id) == expected.map { $0["seq"]?.int.map { String($0) } })
            #expect(received.allSatisfy { $0.event == "trace" })
            // The munmap's own trace is the stream's last events, its start/end pair included.
            let munmapTrace = munmap["trace"]?.array ?? []
            #expect(!munmapTrace.isEmpty && Array(parsed.suffix(munmapTrace.count)) == munmapTrace)
            #expect(
                Array(LabClient.calls(parsed).suffix(2)) == [
                    LabClient.range("invalidate_range_start", kvm, a, a + 2 * LabClient.page),
                    LabClient.range("invalidate_range_end", kvm, a, a + 2 * LabClient.page),
                ]
            )
        }
    }

    @Test("two GET /trace/stream listeners receive the same events")
    func twoListeners() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let start = try await lab.traceNext()
            let captures = [StreamCapture(), StreamCapture()]
            var transfers: [Task<(status: Int, contentType: String?), any Error>] = []
            for capture in captures {
                transfers.append(await self.open(server, capture))
            }
            let a = try await lab.mmap(mm: mm, pages: 1)
            try await lab.write(mm: mm, a, value: 3)
            let expected = try await lab.events(since: start)
            for (capture, transfer) in zip(captures, transfers) {
                #expect(await capture.wait { ServerSentEvent.parse($0).count >= expected.count })
                #expect(try await self.close(capture, transfer, lab).status == 200)
                #expect(Array(try self.events(capture).prefix(expected.count)) == expected)
            }
        }
    }

    @Test("POST /mms: its mm_create event is in its answer's trace and on GET /trace/stream, as in GET /trace")
    func mmCreateIsStreamed() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let start = try await lab.traceNext()
            let capture = StreamCapture()
            let transfer = await self.open(server, capture)
            let create = try await lab.post("/mms", ["name": "streamed"])
            let mm = try LabClient.int(create["id"], "id")
            let mmap = try await lab.post("/mms/\(mm)/mmap", ["length": 4096, "prot": "rw", "flags": ["private", "anonymous"]])
            let mmapSeqs = mmap["trace"]?.array?.compactMap { $0["seq"]?.int.map { String($0) } } ?? []
            // The mmap's events are the last the stream can bring.
            #expect(await capture.wait { ServerSentEvent.parse($0).last?.id == mmapSeqs.last })
            _ = try await self.close(capture, transfer, lab)

            let expected = try await lab.events(since: start).filter { ($0["seq"]?.int ?? 0) <= Int64(mmapSeqs.last ?? "0") ?? 0 }
            #expect(LabClient.events(expected, ["mm_create"]).count == 1)
            let streamed = Array(try self.events(capture).prefix(expected.count))
            #expect(streamed == expected)
            #expect(create["trace"]?.array == LabClient.events(expected, ["mm_create"]))
        }
    }

    @Test("the server shuts down gracefully within 3 s while a GET /trace/stream client stays connected")
    func shutdownWithOpenStream() async throws {
        let capture = StreamCapture()
        try await TestServer.withRunning(shutdownTimeoutSeconds: 3) { server in
            let lab = LabClient(server)
            _ = await self.open(server, capture, timeoutMilliseconds: 8_000)
            _ = try await lab.createMM()
        }
        capture.stop()
    }
}
