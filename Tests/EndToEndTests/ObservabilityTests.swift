import Testing

@Suite("Metrics, trace filters and the Chrome export")
struct ObservabilityTests {
    private static let page = LabClient.page

    /// Two mms: mm 1 with kvm and gru, mm 2 with kvm; munmaps, a reclaim and an mprotect on them.
    private func buildWorld(_ lab: LabClient) async throws -> (mm1: Int, mm2: Int, kvm1: Int, gru1: Int, kvm2: Int) {
        let mm1 = try await lab.createMM()
        let mm2 = try await lab.createMM()
        let a = try await lab.mmap(mm: mm1, pages: 4)
        let b = try await lab.mmap(mm: mm2, pages: 4)
        try await lab.write(mm: mm1, a, pages: 4, value: 1)
        try await lab.write(mm: mm2, b, pages: 4, value: 2)
        let kvm1 = try await lab.register(mm: mm1, "kvm")
        let gru1 = try await lab.register(mm: mm1, "gru")
        let kvm2 = try await lab.register(mm: mm2, "kvm")
        try await lab.fault(mm: mm1, kvm1, a, write: true)
        try await lab.fault(mm: mm2, kvm2, b, write: true)
        try await lab.post("/mms/\(mm1)/munmap", ["addr": .address(a + 2 * Self.page), "length": .number(2 * Self.page)])
        try await lab.post("/mms/\(mm2)/mprotect", ["addr": .address(b), "length": .number(2 * Self.page), "prot": "r"])
        _ = try await lab.reclaim(mm: mm2, b + 2 * Self.page, pages: 2)
        try await lab.post("/mms/\(mm2)/munmap", ["addr": .address(b), "length": .number(Self.page)])
        return (mm1, mm2, kvm1, gru1, kvm2)
    }

    /// The samples of one metric in Prometheus text, by their label text (`call="release"`).
    private func samples(_ metric: String, in text: String) -> [String: Int] {
        var result: [String: Int] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix(metric + "{") || line.hasPrefix(metric + " ") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Int(parts[1]) else { continue }
            let name = parts[0]
            let labels = name.firstIndex(of: "{").map { String(name[name.index(after: $0)..<name.index(before: name.endIndex)]) } ?? ""
            result[labels] = value
        }
        return result
    }

    private func metrics(_ lab: LabClient) async throws -> String {
        let answer = try await lab.client.request(path: "/metrics")
        #expect(answer.status == 200)
        return String(decoding: answer.body, as: UTF8.self)
    }

    @Test("GET /metrics counts mmusim_notifier_calls_total by call: the notifier calls of the trace, and the new ones after a munmap")
    func notifierCallMetrics() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let world = try await self.buildWorld(lab)
            let text = try await self.metrics(lab)
            #expect(text.contains("# TYPE mmusim_notifier_calls_total counter"))
            #expect(text.contains("# HELP mmusim_notifier_calls_total "))
            let events = try await lab.events(since: 0)
            var expected: [String: Int] = [:]
            for method in LabClient.methods {
                expected["call=\"\(method)\""] = events.filter { $0["call"]?.string == method }.count
            }
            let counted = self.samples("mmusim_notifier_calls_total", in: text)
            #expect(counted == expected)
            // munmap (2 notifiers) + munmap (1) + mprotect (1) start/end pairs; reclaim's clear_flush_young on kvm.
            #expect(counted["call=\"invalidate_range_start\""] == 4 && counted["call=\"invalidate_range_end\""] == 4)
            #expect(counted["call=\"release\""] == 0)
            #expect((counted["call=\"clear_flush_young\""] ?? 0) >= 1)

            // One more munmap over two pages of mm 1 adds exactly one pair per notifier.
            let mmap = try await lab.get("/mms/\(world.mm1)/vmas")["vmas"]?[0]?["start"]?.address ?? 0
            try await lab.post("/mms/\(world.mm1)/munmap", ["addr": .address(mmap), "length": .number(2 * Self.page)])
            let after = self.samples("mmusim_notifier_calls_total", in: try await self.metrics(lab))
            #expect(after["call=\"invalidate_range_start\""] == 6 && after["call=\"invalidate_range_end\""] == 6)
            #expect(after["call=\"invalidate_page\""] == counted["call=\"invalidate_page\""])
            #expect(self.samples("mmusim_trace_events_total", in: try await self.metrics(lab))[""] == (try await lab.traceNext()))
        }
    }

    @Test("GET /trace filters by since, mm, notifier and call, alone and together, as the full trace filtered by hand")
    func traceFilters() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let world = try await self.buildWorld(lab)
            let full = try await lab.get("/trace")
            let all = full["events"]?.array ?? []
            let seqs = all.compactMap { $0["seq"]?.int }
            #expect(seqs.count == all.count && seqs == seqs.sorted() && Set(seqs).count == seqs.count)
            #expect(full["next"]?.int == seqs.last)
            let middle = seqs[seqs.count / 2]

            func filtered(_ query: String) async throws -> [JSONValue] {
                try await lab.get("/trace?" + query)["events"]?.array ?? []
            }
            func int(_ event: JSONValue, _ key: String) -> Int? { event[key]?.int.map { Int($0) } }

            let bySince = try await filtered("since=\(middle)")
            #expect(bySince == all.filter { ($0["seq"]?.int ?? 0) > middle } && !bySince.isEmpty)
            let byMM = try await filtered("mm=\(world.mm2)")
            #expect(byMM == all.filter { int($0, "mm") == world.mm2 } && !byMM.isEmpty)
            let byNotifier = try await filtered("notifier=\(world.gru1)")
            #expect(byNotifier == all.filter { int($0, "notifier") == world.gru1 } && !byNotifier.isEmpty)
            #expect(byNotifier.allSatisfy { int($0, "mm") == world.mm1 })
            let byCall = try await filtered("call=invalidate_range_end")
            #expect(byCall == all.filter { $0["call"] == "invalidate_range_end" } && byCall.count == 4)
            let combined = try await filtered("since=\(middle)&mm=\(world.mm2)&notifier=\(world.kvm2)&call=invalidate_range_start")
            #expect(
                combined
                    == all.filter {
                        ($0["seq"]?.int ?? 0) > middle && int($0, "mm") == world.mm2 && int($0, "notifier") == world.kvm2
                            && $0["call"] == "invalidate_range_start"
                    }
            )
            #expect(try await filtered("call=no_such_call").isEmpty)
            let tail = try await lab.get("/trace?since=\(seqs.last ?? 0)")
            #expect(tail["events"] == [] && tail["next"] == full["next"])
        }
    }

    @Test("GET /trace/export?format=chrome parses as Chrome trace JSON with one notifier slice per notifier call, in seq order")
    func chromeExport() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            _ = try await self.buildWorld(lab)
            let calls = LabClient.events(try await lab.events(since: 0), LabClient.methods)
            let export = try await lab.get("/trace/export?format=chrome")
            let events = try #require(export["traceEvents"]?.array)
            let slices = events.filter { $0["ph"] == "X" && $0["cat"] == "notifier" }
            #expect(slices.count == calls.count && !calls.isEmpty)
            #expect(slices.map { $0["args"]?["seq"]?.string } == calls.map { $0["seq"]?.int.map { String($0) } })
            #expect(slices.map { $0["name"]?.string } == calls.map { "\($0["call"]?.string ?? "") n\($0["notifier"]?.int ?? -1)" })
            #expect(slices.allSatisfy { ($0["dur"]?.int ?? 0) > 0 && $0["ts"]?.int != nil && $0["pid"] != nil && $0["tid"] != nil })
            let slicesTS = slices.compactMap { $0["ts"]?.int }
            #expect(slicesTS == slicesTS.sorted())
            // Each invalidate_range_start/end pair is also an async span: as many begins as ends, one per start.
            let begins = events.filter { $0["ph"] == "b" }
            let ends = events.filter { $0["ph"] == "e" }
            #expect(begins.count == calls.filter { $0["call"] == "invalidate_range_start" }.count && begins.count == ends.count)
            #expect(Set(begins.compactMap { $0["id"]?.string }) == Set(ends.compactMap { $0["id"]?.string }))
            // Without a format the export is the same Chrome trace.
            #expect(try await lab.get("/trace/export") == export)
        }
    }

    @Test("GET /trace/export?format=ladder is plain text of at most 100 columns: a column per task, a row per event of /trace, filtered alike")
    func ladderExport() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let world = try await self.buildWorld(lab)
            let answer = try await server.client.exchange(path: "/trace/export?format=ladder&mm=\(world.mm2)")
            #expect(answer.status == 200 && answer.header("Content-Type").first?.hasPrefix("text/plain") == true)
            let lines = String(decoding: answer.body, as: UTF8.self).split(separator: "\n").map(String.init)
            #expect(lines.allSatisfy { $0.count <= 100 })
            let events = try #require(try await lab.get("/trace?mm=\(world.mm2)")["events"]?.array)
            // The requests ran one after another: one lane, each task's turn opened by its title.
            func title(_ event: JSONValue) -> String { event["task"]?.int.map { "task \($0) \(event["op"]?.string ?? "")" } ?? "no task" }
            var turns: [String] = []
            for event in events where turns.last != title(event) { turns.append(title(event)) }
            #expect(!lines[0].contains("|") && lines[1] == String(repeating: "-", count: 100))
            #expect([lines[0].trimmingCharacters(in: .whitespaces)] + lines.filter { $0.hasPrefix(" == ") }.map { String($0.dropFirst(4)) } == turns)
            // Each event starts its own row with its call (a driver statement with its driver's
            // name), in seq order: the rows' first words are the calls.
            let starts = lines.dropFirst(2).compactMap { line -> String? in
                guard line.hasPrefix(" "), !line.hasPrefix("   "), !line.hasPrefix(" == ") else { return nil }
                return line.split(separator: " ").first.map(String.init)
            }
            #expect(starts == events.compactMap { $0["call"]?.string == "driver" ? $0["driver"]?.string : $0["call"]?.string })
            #expect(lines.contains { $0.contains("invalidate_range_start n\(world.kvm2) kvm") })
            let bad = try await lab.send("GET", "/trace/export?format=ladder&since=x")
            #expect(bad.status == 400 && bad.json["error"]?["code"] == "bad_request")
        }
    }
}
