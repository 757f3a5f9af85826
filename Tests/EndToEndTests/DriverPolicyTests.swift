import Foundation
import Testing

/// POST /drivers and registration by a loaded driver's name, over HTTP (DRIVERS.md).
@Suite("Driver policies over HTTP: load, list, register, run, reset")
struct DriverPolicyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// drivers/kvm.json under another name (a loaded driver may not take a built-in's).
    static func kvmPolicy(named name: String) throws -> String {
        let text = try String(contentsOf: root.appendingPathComponent("drivers/kvm.json"), encoding: .utf8)
        return text.replacingOccurrences(of: "\"name\": \"kvm\"", with: "\"name\": \"\(name)\"")
    }

    /// POSTs raw text.
    static func post(_ lab: LabClient, _ path: String, text: String) async throws -> (status: Int, json: JSONValue) {
        let answer = try await lab.client.request(method: "POST", path: path, body: Array(text.utf8), headers: ["Content-Type: application/json"])
        return (answer.status, try JSONValue.parse(answer.body))
    }

    /// A small valid policy to break one place at a time, and what each break must name.
    static let base = """
        {"name": "mine", "locks": {"pt": "spinlock"}, "vars": {"seq": 0},
         "callbacks": {"invalidate_range_start": [{"lock": "pt"}, {"zap": "range"}, {"unlock": "pt"}]},
         "fault": [{"sample": "s", "from": "seq"}, {"gup": {"write": {"arg": "write"}}}, {"lock": "pt"},
                   {"if": {"ne": [{"var": "seq"}, {"local": "s"}]}, "then": [{"unlock": "pt"}, {"put_page": true}, {"retry": true}]},
                   {"install": {"writable": {"arg": "write"}}}, {"unlock": "pt"}, {"put_page": true}]}
        """

    static let invalid: [(text: String, pointer: String)] = [
        ("[]", ""),
        ("{\"name\": ", ""),
        (base.replacingOccurrences(of: "{\"lock\": \"pt\"}, {\"zap\"", with: "{\"frob\": 1}, {\"zap\""), "/callbacks/invalidate_range_start/0"),
        (
            base.replacingOccurrences(of: "{\"zap\": \"range\"}, {\"unlock\": \"pt\"}", with: "{\"zap\": \"range\"}"),
            "/callbacks/invalidate_range_start/1"
        ),
        (base.replacingOccurrences(of: "\"invalidate_range_start\"", with: "\"invalidate\""), "/callbacks/invalidate"),
        (base.replacingOccurrences(of: "{\"zap\": \"range\"}", with: "{\"zap\": \"page\"}"), "/callbacks/invalidate_range_start/1/zap"),
        (base.replacingOccurrences(of: "{\"zap\": \"range\"}", with: "{\"retry\": true}"), "/callbacks/invalidate_range_start/1"),
        (base.replacingOccurrences(of: "{\"zap\": \"range\"}", with: "{\"put_page\": true}"), "/callbacks/invalidate_range_start/1"),
        (base.replacingOccurrences(of: "{\"var\": \"seq\"}", with: "{\"var\": \"sequence\"}"), "/fault/3/if/ne/0/var"),
        (base.replacingOccurrences(of: "{\"local\": \"s\"}", with: "{\"local\": \"t\"}"), "/fault/3/if/ne/1/local"),
        (base.replacingOccurrences(of: "\"from\": \"seq\"", with: "\"from\": \"s\""), "/fault/0/from"),
        (
            base.replacingOccurrences(of: "{\"unlock\": \"pt\"}, {\"put_page\": true}, {\"retry\"", with: "{\"put_page\": true}, {\"retry\""),
            "/fault/3/then/1"
        ),
        (base.replacingOccurrences(of: "\"spinlock\"", with: "\"rwlock\""), "/locks/pt"),
        (base.replacingOccurrences(of: "\"seq\": 0", with: "\"seq\": \"zero\""), "/vars/seq"),
        (base.replacingOccurrences(of: "\"mine\"", with: "\"My Driver\""), "/name"),
        (base.replacingOccurrences(of: "{\"name\": \"mine\",", with: "{\"name\": \"mine\", \"kernel\": \"v18\","), "/kernel"),
        (base.replacingOccurrences(of: "{\"name\": \"mine\",", with: "{\"name\": \"mine\", \"subscribe\": \"interval\","), "/subscribe"),
        (base.replacingOccurrences(of: "{\"name\": \"mine\",", with: "{\"name\": \"mine\", \"colour\": 1,"), "/colour"),
        (base.replacingOccurrences(of: "{\"ne\": [", with: "{\"xor\": ["), "/fault/3/if/xor"),
        (
            base.replacingOccurrences(
                of: "{\"sample\": \"s\", \"from\": \"seq\"}",
                with: "{\"return\": {\"errno\": \"EWHAT\"}}, {\"sample\": \"s\", \"from\": \"seq\"}"
            ), "/fault/0/return/errno"
        ),
        (base.replacingOccurrences(of: "{\"lock\": \"pt\"},\n", with: "{\"lock\": \"pt\"}, {\"lock\": \"pt\"},\n"), "/fault/3"),
        (
            base.replacingOccurrences(
                of: "{\"sample\": \"s\", \"from\": \"seq\"}",
                with: "{\"wait\": \"start\"}, {\"sample\": \"s\", \"from\": \"seq\"}"
            ), "/fault/0/wait"
        ),
        (
            base.replacingOccurrences(
                of: "{\"sample\": \"s\", \"from\": \"seq\"}",
                with: "{\"queue_work\": \"w\"}, {\"sample\": \"s\", \"from\": \"seq\"}"
            ), "/fault/0/queue_work"
        ),
        (
            base.replacingOccurrences(
                of: "{\"name\": \"mine\",",
                with: "{\"name\": \"mine\", \"variants\": {\"bad\": [{\"op\": \"remove\", \"path\": \"/nope\"}]},"
            ), "/variants/bad/0"
        ),
        (
            base.replacingOccurrences(
                of: "{\"sample\": \"s\", \"from\": \"seq\"}",
                with: "{\"synchronize\": \"srcu\"}, {\"sample\": \"s\", \"from\": \"seq\"}"
            ), "/fault/0"
        ),
    ]

    @Test("each invalid policy answers 422 naming its JSON pointer, and leaves the driver list as it was")
    func invalidPolicies() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let before = try await lab.get("/drivers")
            #expect(Self.invalid.count >= 20)
            #expect(try await Self.post(lab, "/drivers", text: Self.base).status == 200)
            let loaded = try await lab.get("/drivers")
            for (text, pointer) in Self.invalid {
                let answer = try await Self.post(lab, "/drivers", text: text)
                #expect(answer.status == 422, "\(pointer): \(answer.json)")
                #expect(answer.json["error"]?["pointer"]?.string == pointer, "\(answer.json)")
                #expect(answer.json["error"]?["message"]?.string?.hasPrefix(pointer.isEmpty ? "the document" : pointer) == true)
                #expect(try await lab.get("/drivers") == loaded)
            }
            #expect(loaded["drivers"]?.array?.count == (before["drivers"]?.array?.count ?? 0) + 1)
            // A built-in kind's name is refused whole.
            let clash = try await Self.post(lab, "/drivers", text: try Self.kvmPolicy(named: "kvm"))
            #expect(clash.status == 409 && clash.json["error"]?["code"] == "builtin_driver")
        }
    }

    @Test("a loaded kvm policy registers by name with its variants, pauses at a statement, shows its vars, and survives a reset")
    func registerAndRun() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let loaded = try await Self.post(lab, "/drivers", text: try Self.kvmPolicy(named: "mykvm"))
            #expect(loaded.status == 200 && loaded.json["builtin"] == false && loaded.json["notifier"] == true)
            let listed = try await lab.get("/drivers")["drivers"]?.array ?? []
            #expect(listed.contains { $0["name"] == "mykvm" && $0["builtin"] == false })
            let shown = try await lab.get("/drivers/mykvm")
            #expect(shown["policy"]?["callbacks"]?["invalidate_range_start"]?.array?.count == 4)
            #expect(shown["policy"]?["locks"]?["mmu_lock"] == "spinlock")

            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 1)
            try await lab.write(mm: mm, a)
            let unknown = try await lab.send("POST", "/mms/\(mm)/notifiers", ["kind": "mykvm", "bugs": ["no_such_variant"]])
            #expect(unknown.status == 422 && unknown.json["error"]?["pointer"] == "/variants")
            let id = try await lab.register(mm: mm, "mykvm", bugs: ["skip_retry_check"])
            let notifier = try await lab.notifier(mm: mm, id)
            #expect(notifier["kind"] == "mykvm" && notifier["bugs"] == ["skip_retry_check"] && notifier["vars"] == ["count": 0, "seq": 0])

            // Paused before the gup (skip_retry_check also dropped the wait: the gup is /fault/1).
            let paused = try await lab.fault(mm: mm, id, a, write: true, pauseAt: "driver:mykvm:/fault/1")
            #expect(paused["status"] == "paused" && paused["next_step"] == "driver:mykvm:/fault/1")
            let sample = LabClient.events(paused["trace"]?.array ?? [], ["driver"])
            #expect(sample.map { $0["statement"] } == ["/fault/0"] && sample.first?["driver"] == "mykvm")
            let task = try LabClient.int(paused["task"], "task")
            let done = try await lab.post("/tasks/\(task)/resume")
            #expect(done["status"] == "done" && done["ret"] == 0)
            let statements = LabClient.events(done["trace"]?.array ?? [], ["driver"]).compactMap { $0["statement"]?.string }
            #expect(statements == ["/fault/1", "/fault/2", "/fault/3", "/fault/4", "/fault/5"])
            #expect(LabClient.events(done["trace"]?.array ?? [], ["spte_set"]).count == 1)

            // munmap runs the callbacks: the seq moves, the count comes back to 0.
            try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(LabClient.page)])
            #expect(try await lab.notifier(mm: mm, id)["vars"] == ["count": 0, "seq": 1])
            #expect(try await lab.get("/invariants")["ok"] == true)

            // The reset keeps the loaded definition, not the notifier.
            try await lab.post("/reset")
            #expect((try await lab.get("/drivers")["drivers"]?.array ?? []).contains { $0["name"] == "mykvm" })
        }
    }

    @Test("an entry point runs as a task of its own: the gpc refresh validates the cache; an unknown entry is a 404")
    func entry() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let text = try String(contentsOf: Self.root.appendingPathComponent("examples/drivers/gpc-refresh-after.json"), encoding: .utf8)
            #expect(try await Self.post(lab, "/drivers", text: text).status == 200)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 1)
            try await lab.write(mm: mm, a)
            let id = try await lab.register(mm: mm, "gpc")
            let answer = try await lab.post("/mms/\(mm)/notifiers/\(id)/entries/refresh", ["address": .address(a), "write": true])
            #expect(answer["status"] == "done" && answer["ret"] == 0)
            let statements = LabClient.events(answer["trace"]?.array ?? [], ["driver"]).compactMap { $0["statement"]?.string }
            // Every statement once, in order: the retry check (3) is false, its branch does not run.
            #expect(statements == (0...6).map { "/entries/refresh/\($0)" })
            #expect(try await lab.notifier(mm: mm, id)["sptes"] == 1)
            let missing = try await lab.send("POST", "/mms/\(mm)/notifiers/\(id)/entries/flush", [:])
            #expect(missing.status == 404 && missing.json["error"]?["code"] == "unknown_entry")
        }
    }

    @Test("POST /drivers/check: a verdict a workload, a ladder for a failing one, nothing loaded")
    func check() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let before = try await lab.get("/drivers")
            let text = try String(contentsOf: Self.root.appendingPathComponent("examples/drivers/gpc-refresh-before.json"), encoding: .utf8)
            let answer = try await Self.post(lab, "/drivers/check?workloads=entry-refresh-vs-munmap,entry-refresh-vs-reclaim", text: text)
            #expect(answer.status == 200 && answer.json["clean"] == false && answer.json["name"] == "gpc")
            let verdicts = answer.json["verdicts"]?.array ?? []
            #expect(verdicts.compactMap { $0["workload"]?.string } == ["entry-refresh-vs-munmap", "entry-refresh-vs-reclaim"])
            #expect(verdicts.last?["clean"] == true && verdicts.last?["ladder"] == nil)
            let refresh = verdicts.first
            #expect(refresh?["clean"] == false && refresh?["violations"]?.array?.contains("no-stale-spte") == true)
            // The ladder is the shortest counterexample: the refresh maps inside munmap's window
            // (what 58cd407ca4c6 fixed), before the frame is freed under it.
            #expect(refresh?["ladder"]?.string?.contains("^-- no-spte-in-invalidate-window") == true)
            let kvm = try await Self.post(lab, "/drivers/check", text: try Self.kvmPolicy(named: "kvm"))
            #expect(kvm.status == 200 && kvm.json["clean"] == true && (kvm.json["verdicts"]?.array?.count ?? 0) >= 14)
            let skip = try await Self.post(
                lab,
                "/drivers/check?variants=skip_retry_check&workloads=fault-vs-munmap",
                text: try Self.kvmPolicy(named: "kvm")
            )
            #expect(skip.json["clean"] == false && skip.json["variants"] == ["skip_retry_check"])
            let unknown = try await Self.post(lab, "/drivers/check?workloads=nope", text: try Self.kvmPolicy(named: "kvm"))
            #expect(unknown.status == 422)
            #expect(try await lab.get("/drivers") == before)
        }
    }

    @Test("registration with an inline policy: its variants applied, its errors pointed from the body's root")
    func inlinePolicy() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 1)
            try await lab.write(mm: mm, a)
            let policy = try Self.kvmPolicy(named: "inline")
            let answer = try await Self.post(lab, "/mms/\(mm)/notifiers", text: #"{"bugs": ["skip_retry_check"], "policy": "# + policy + "}")
            #expect(answer.status == 200 && answer.json["ret"] == 0, "\(answer.json)")
            let id = try LabClient.int(answer.json["id"], "id")
            let notifier = try await lab.notifier(mm: mm, id)
            #expect(notifier["kind"] == "inline" && notifier["bugs"] == ["skip_retry_check"])
            let fault = try await lab.fault(mm: mm, id, a, write: true)
            #expect(LabClient.events(fault["trace"]?.array ?? [], ["driver"]).first?["driver"] == "inline")
            // Nothing was loaded: the driver is not listed.
            #expect(!(try await lab.get("/drivers")["drivers"]?.array ?? []).contains { $0["name"] == "inline" })
            let broken = policy.replacingOccurrences(of: "{\"lock\": \"mmu_lock\"}, {\"inc\": \"count\"}", with: "{\"inc\": \"count\"}")
            let refused = try await Self.post(lab, "/mms/\(mm)/notifiers", text: #"{"policy": "# + broken + "}")
            #expect(refused.status == 422 && refused.json["error"]?["pointer"] == "/policy/callbacks/invalidate_range_start/2", "\(refused.json)")
            let both = try await lab.send("POST", "/mms/\(mm)/notifiers", ["kind": "kvm", "policy": [:]])
            #expect(both.status == 422)
            let neither = try await lab.send("POST", "/mms/\(mm)/notifiers", [:])
            #expect(neither.status == 400 && neither.json["error"]?["code"] == "bad_request")
        }
    }
}
