import Foundation
import Testing

/// The world's kernel over HTTP: POST /reset with `kernel`, GET /version, drivers of the
/// other kernel refused, a modern trace's ranges with their event (../shared/MODERN.md).
@Suite("Modern mode over HTTP: the kernel option, ranges with events, drivers of the world's kernel")
struct ModernModeTests {
    @Test("reset to modern: the fixed core, GET /version says so; the seed's core bugs are a 422; back to v17 gives the seed's core")
    func reset() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            #expect(try await lab.get("/version")["kernel"] == "v17")
            let modern = try await lab.post("/reset", ["kernel": "modern"])
            #expect(modern["kernel"] == "modern" && modern["release_order"] == "fixed" && modern["core_bugs"]?.array?.isEmpty == true)
            #expect(try await lab.get("/version")["kernel"] == "modern")
            let bad = try await lab.send("POST", "/reset", ["core_bugs": ["hugetlb_fork_no_notifier"]])
            #expect(bad.status == 422 && bad.json["error"]?["code"] == "kernel_mismatch")
            #expect(try await lab.get("/version")["kernel"] == "modern")
            let unknown = try await lab.send("POST", "/reset", ["kernel": "v18"])
            #expect(unknown.status == 422 && unknown.json["error"]?["code"] == "invalid_value")
            let seed = try await lab.post("/reset", ["kernel": "v17"])
            #expect(seed["kernel"] == "v17" && seed["release_order"] == "v17" && (seed["core_bugs"]?.array?.count ?? 0) >= 3)
        }
    }

    @Test(
        "in a modern world: v17's kvm is a 422 naming /kernel; a modern policy registers; munmap's ranges carry UNMAP under srcu_read_lock; apply_to_page_range is a 422"
    )
    func modernWorld() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            _ = try await lab.post("/reset", ["kernel": "modern"])
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 1)
            _ = try await lab.write(mm: mm, a, value: 1)
            let kvm = try await lab.send("POST", "/mms/\(mm)/notifiers", ["kind": "kvm"])
            #expect(kvm.status == 422 && kvm.json["error"]?["code"] == "kernel_mismatch" && kvm.json["error"]?["pointer"] == "/kernel")
            let policy = """
                {"policy": {"name": "mine", "kernel": "modern", "subscribe": "classic",
                 "callbacks": {"invalidate_range_start": [{"sleep": true}, {"zap": "range"}]},
                 "fault": [{"gup": {"write": false}}, {"install": {"writable": false}}, {"put_page": true}]}}
                """
            let registered = try await DriverPolicyTests.post(lab, "/mms/\(mm)/notifiers", text: policy)
            #expect(registered.status == 200 && registered.json["ret"] == 0)
            _ = try await lab.fault(mm: mm, 1, a)
            let munmap = try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(LabClient.page)])
            let start = try #require(munmap["trace"]?.array?.first { $0["call"] == "invalidate_range_start" })
            #expect(start["event"] == "UNMAP" && start["blockable"] == true && start["atomic"] == false)
            #expect(start["locks"]?.array?.contains("srcu_read_lock") == true)
            #expect(try await lab.get("/invariants")["ok"] == true)
            let remap = try await lab.send("POST", "/mms/\(mm)/apply_to_page_range", ["addr": .address(a), "length": .number(LabClient.page)])
            #expect(remap.status == 422 && remap.json["error"]?["code"] == "not_modelled")
        }
    }

    @Test(
        "dmirror over HTTP: an interval over start/length, its seq and the mm's in the answers, munmap's round, the OOM reaper's non-blockable range, DELETE removes it; v17 has no reaper"
    )
    func intervalAndReaper() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let v17 = try await lab.createMM()
            let none = try await lab.send("POST", "/mms/\(v17)/oom_reap", [:])
            #expect(none.status == 422 && none.json["error"]?["code"] == "not_modelled")
            _ = try await lab.post("/reset", ["kernel": "modern"])
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 4)
            _ = try await lab.write(mm: mm, a, pages: 4, value: 5)
            // start/length are an interval driver's.
            let wrong = try await lab.send("POST", "/mms/\(mm)/notifiers", ["kind": "kvm-modern", "start": .address(a), "length": 4096])
            #expect(wrong.status == 422)
            let registered = try await lab.post(
                "/mms/\(mm)/notifiers",
                ["kind": "dmirror", "start": .address(a), "length": .number(3 * LabClient.page)]
            )
            #expect(registered["ret"] == 0 && registered["id"] == 1)
            let notifier = try await lab.get("/mms/\(mm)/notifiers/1")
            #expect(notifier["subscribe"] == "interval" && notifier["interval"]?["start"] == .string(hexAddress(a)))
            #expect(notifier["interval"]?["end"] == .string(hexAddress(a + 3 * LabClient.page)) && notifier["interval"]?["invalidate_seq"] == 1)
            _ = try await lab.fault(mm: mm, 1, a, write: true)
            let munmap = try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(LabClient.page)])
            let invalidate = try #require(munmap["trace"]?.array?.first { $0["call"] == "invalidate" })
            #expect(invalidate["event"] == "UNMAP" && invalidate["blockable"] == true && invalidate["ret"] == 3)
            let intervals = try await lab.get("/mms/\(mm)")["intervals"]
            #expect(intervals?["invalidate_seq"] == 4 && intervals?["itree"] == [1] && intervals?["active_invalidate_ranges"] == 0)
            #expect(try await lab.get("/mms/\(mm)/notifiers/1")["interval"]?["invalidate_seq"] == 3)
            let reap = try await lab.post("/mms/\(mm)/oom_reap", [:])
            #expect(reap["ret"] == 0 && reap["attempts"] == 1)
            let reaped = try #require(reap["trace"]?.array?.first { $0["call"] == "invalidate" })
            #expect(reaped["event"] == "UNMAP" && reaped["blockable"] == false)
            let detail = try await lab.get("/mms/\(mm)")
            #expect(detail["unstable"] == true && detail["oom_skip"] == true)
            let removed = try await lab.send("DELETE", "/mms/\(mm)/notifiers/1", nil)
            #expect(removed.status == 200 && removed.json["ret"] == 0)
            #expect(try await lab.get("/mms/\(mm)")["intervals"]?["itree"] == [])
            #expect(try await lab.get("/invariants")["ok"] == true)
        }
    }
}
