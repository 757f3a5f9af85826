import Testing

/// The twelve notifier scenarios of the model's own tests, run again against a live server: each request through
/// libcurl, each answer and each `trace` parsed by json-c.
@Suite("Notifier scenarios over HTTP")
struct NotifierScenarioTests {
    private static let page = LabClient.page

    private func range(_ call: String, _ notifier: Int, _ start: UInt64, _ end: UInt64) -> String {
        LabClient.range(call, notifier, start, end)
    }

    @Test("register takes mmap_sem and one lock per anon_vma and file, pins mm_count, and lists the notifier")
    func register() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2)
            let b = try await lab.mmap(mm: mm, pages: 2, prot: "rwx")
            let f = try await lab.mmap(mm: mm, pages: 1, shared: true, file: "f")
            _ = try await lab.mmap(mm: mm, pages: 1, prot: "r", shared: true, file: "f")
            try await lab.write(mm: mm, a)
            try await lab.write(mm: mm, b)
            _ = try await lab.read(mm: mm, f)
            #expect(try await lab.get("/mms/\(mm)")["has_notifiers"] == false)

            let answer = try await lab.post("/mms/\(mm)/notifiers", ["kind": "kvm"])
            #expect(answer["ret"] == 0 && answer["locks_taken"] == 3)
            let id = try LabClient.int(answer["id"], "id")
            let event = LabClient.events(answer["trace"]?.array ?? [], ["register"]).first
            let locks = Set(event?["locks"]?.array?.compactMap(\.string) ?? [])
            #expect(locks == ["mmap_sem:w", "mm_all_locks_mutex", "anon_vma:1", "anon_vma:2", "i_mmap_lock:0", "mmu_notifier_mm.lock"])
            let state = try await lab.get("/mms/\(mm)")
            #expect(state["count"] == 2 && state["users"] == 1 && state["has_notifiers"] == true)
            #expect(state["notifiers"] == [.int(Int64(id))])
            #expect(try await lab.notifier(mm: mm, id)["state"] == "listed")
            #expect(try await lab.get("/tasks")["tasks"] == [])
        }
    }

    @Test("register with a signal pending answers ret -4 EINTR and leaves the mm, its notifiers and the frames as they were")
    func registerInterrupted() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            try await lab.write(mm: mm, try await lab.mmap(mm: mm, pages: 1))
            let mmBefore = try await lab.get("/mms/\(mm)")
            let framesBefore = try await lab.get("/frames")

            let answer = try await lab.post("/mms/\(mm)/notifiers", ["kind": "kvm", "signal_pending": true])
            #expect(answer["ret"] == -4 && answer["errno"] == "EINTR" && answer["id"] == nil)
            #expect(LabClient.events(answer["trace"]?.array ?? [], ["signal_pending"]).count == 1)
            #expect(LabClient.calls(in: answer).isEmpty)
            #expect(try await lab.get("/mms/\(mm)") == mmBefore)
            #expect(try await lab.get("/mms/\(mm)")["has_notifiers"] == false)
            #expect(try await lab.get("/mms/\(mm)/notifiers")["notifiers"] == [])
            #expect(try await lab.get("/frames") == framesBefore)
            // No lock is left held: the next registration goes through, as notifier 1.
            #expect(try await lab.register(mm: mm, "kvm") == 1)
        }
    }

    @Test("munmap of 4 pages, 2 in kvm: start, the sptes zapped, end, then tlb_finish_mmu frees the frames; no sptes left; seq and count idle")
    func munmapKVM() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 4)
            try await lab.write(mm: mm, a, pages: 4, value: 1)
            let kvm = try await lab.register(mm: mm, "kvm")
            let pfn = try await lab.pte(mm: mm, a)?["pfn"]
            #expect(try await lab.fault(mm: mm, kvm, a)["spte"]?["pfn"] == pfn)
            #expect(try await lab.fault(mm: mm, kvm, a + 2 * Self.page, write: true)["spte"]?["writable"] == true)
            #expect(try await lab.sptes(mm: mm, kvm).count == 2)
            let seqBefore = try await lab.notifier(mm: mm, kvm)["seq"]?.int ?? -1

            let answer = try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(4 * Self.page)])
            #expect(answer["ret"] == 0)
            let events = LabClient.events(
                answer["trace"]?.array ?? [],
                ["invalidate_range_start", "frame_free", "invalidate_range_end", "spte_zap"]
            )
            try #require(events.count == 4)
            // unmap_region's tlb_finish_mmu frees the gather's last batch after unmap_vmas' invalidate_range_end.
            #expect(events.map { $0["call"]?.string } == ["invalidate_range_start", "spte_zap", "invalidate_range_end", "frame_free"])
            #expect(LabClient.describe(events[0]) == self.range("invalidate_range_start", kvm, a, a + 4 * Self.page))
            #expect(LabClient.describe(events[2]) == self.range("invalidate_range_end", kvm, a, a + 4 * Self.page))
            #expect(events[3]["pages"] == 4)
            #expect(events[0]["locks"] == ["mmap_sem:w", "rcu_read_lock"] && events[0]["atomic"] == true)

            let n = try await lab.notifier(mm: mm, kvm)
            #expect(n["sptes"] == 0 && n["count"] == 0 && n["seq"]?.int == seqBefore + 1)
            #expect(n["counters"]?["invalidate_range_start"] == 1 && n["counters"]?["invalidate_range_end"] == 1)
            #expect(try await lab.sptes(mm: mm, kvm).isEmpty)
            let frames = try await lab.get("/frames")
            #expect(frames["frames"]?.array?.count == 1 && frames["free"]?.int == (frames["total"]?.int ?? 0) - 1)
            #expect(try await lab.brokenInvariants().isEmpty)
        }
    }

    @Test("munmap across two VMAs sends one start/end pair over the union")
    func munmapUnion() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2)
            _ = try await lab.mmap(mm: mm, pages: 2, prot: "r")
            #expect(try await lab.get("/mms/\(mm)/vmas")["vmas"]?.array?.count == 2)
            let kvm = try await lab.register(mm: mm, "kvm")
            let seq = try await lab.traceNext()
            let answer = try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(4 * Self.page)])
            let expected = [
                self.range("invalidate_range_start", kvm, a, a + 4 * Self.page), self.range("invalidate_range_end", kvm, a, a + 4 * Self.page),
            ]
            #expect(LabClient.calls(in: answer) == expected)
            // GET /trace?since= gives the same calls as the answer's own trace.
            #expect(LabClient.calls(try await lab.events(since: seq)) == expected)
            #expect(try await lab.get("/mms/\(mm)/vmas")["vmas"] == [])
        }
    }

    @Test("with two notifiers the newest registered is called first (hlist_add_head), for start and for end")
    func newestFirst() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2)
            let first = try await lab.register(mm: mm, "kvm")
            let second = try await lab.register(mm: mm, "gru")
            #expect(try await lab.get("/mms/\(mm)")["notifiers"]?.array?.count == 2)
            let answer = try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(Self.page)])
            #expect(
                LabClient.calls(in: answer) == [
                    self.range("invalidate_range_start", second, a, a + Self.page), self.range("invalidate_range_start", first, a, a + Self.page),
                    self.range("invalidate_range_end", second, a, a + Self.page), self.range("invalidate_range_end", first, a, a + Self.page),
                ]
            )
        }
    }

    @Test("mprotect rw to r: one pair, no writable spte left; a secondary write fault then fails EPERM, a read fault maps read-only")
    func mprotectDowngrade() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2)
            try await lab.write(mm: mm, a, pages: 2)
            let kvm = try await lab.register(mm: mm, "kvm")
            try await lab.fault(mm: mm, kvm, a, write: true)
            try await lab.fault(mm: mm, kvm, a + Self.page, write: true)
            #expect(try await lab.sptes(mm: mm, kvm).map { $0["writable"] } == [true, true])

            let answer = try await lab.post("/mms/\(mm)/mprotect", ["addr": .address(a), "length": .number(2 * Self.page), "prot": "r"])
            #expect(answer["ret"] == 0)
            #expect(
                LabClient.calls(in: answer) == [
                    self.range("invalidate_range_start", kvm, a, a + 2 * Self.page), self.range("invalidate_range_end", kvm, a, a + 2 * Self.page),
                ]
            )
            #expect(try await lab.sptes(mm: mm, kvm).allSatisfy { $0["writable"] == false })
            #expect(try await lab.fault(mm: mm, kvm, a, write: true)["errno"] == "EPERM")
            let read = try await lab.fault(mm: mm, kvm, a)
            #expect(read["ret"] == 0 && read["spte"]?["writable"] == false)
            #expect(read["spte"]?["pfn"] == (try await lab.pte(mm: mm, a))?["pfn"])
            #expect(try await lab.get("/mms/\(mm)/vmas")["vmas"]?[0]?["prot"] == "r")
            #expect(try await lab.brokenInvariants().isEmpty)
        }
    }

    @Test("mremap move: a pair on the old range for move_ptes and one for do_munmap; a new secondary fault maps the same frame")
    func mremapMove() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2)
            _ = try await lab.mmap(mm: mm, pages: 1, prot: "r")
            try await lab.write(mm: mm, a, pages: 2, value: 3)
            let pfn = try await lab.pte(mm: mm, a)?["pfn"]
            let kvm = try await lab.register(mm: mm, "kvm")
            try await lab.fault(mm: mm, kvm, a)

            let answer = try await lab.post(
                "/mms/\(mm)/mremap",
                ["old_addr": .address(a), "old_length": .number(2 * Self.page), "new_length": .number(4 * Self.page), "flags": ["maymove"]]
            )
            #expect(answer["ret"] == 0)
            let b = try #require(answer["addr"]?.address)
            #expect(b != a)
            let pair = [
                self.range("invalidate_range_start", kvm, a, a + 2 * Self.page), self.range("invalidate_range_end", kvm, a, a + 2 * Self.page),
            ]
            #expect(LabClient.calls(in: answer) == pair + pair)
            #expect(try await lab.sptes(mm: mm, kvm).isEmpty)
            #expect(try await lab.pte(mm: mm, a) == nil)
            #expect(try await lab.pte(mm: mm, b)?["pfn"] == pfn)
            #expect(try await lab.fault(mm: mm, kvm, b)["spte"]?["pfn"] == pfn)
            #expect(try await lab.read(mm: mm, b, pages: 2) == [3, 3])
        }
    }

    @Test(
        "fork of a private mapping: a pair on the parent, parent ptes write-protected, the child without notifiers; a parent write sends invalidate_page"
    )
    func forkPrivate() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2)
            try await lab.write(mm: mm, a, pages: 2)
            let kvm = try await lab.register(mm: mm, "kvm")
            try await lab.fault(mm: mm, kvm, a, write: true)

            let fork = try await lab.post("/mms/\(mm)/fork")
            #expect(fork["ret"] == 0)
            let child = try LabClient.int(fork["child"], "child")
            #expect(
                LabClient.calls(in: fork) == [
                    self.range("invalidate_range_start", kvm, a, a + 2 * Self.page), self.range("invalidate_range_end", kvm, a, a + 2 * Self.page),
                ]
            )
            #expect(try await lab.pte(mm: mm, a)?["write"] == false)
            #expect(try await lab.pte(mm: mm, a + Self.page)?["write"] == false)
            #expect(try await lab.get("/mms/\(child)")["has_notifiers"] == false)

            let write = try await lab.write(mm: mm, a + Self.page, value: 1)
            #expect(LabClient.calls(in: write) == [LabClient.page("invalidate_page", kvm, a + Self.page)])
            let clear = LabClient.events(write["trace"]?.array ?? [], ["pte_clear", "invalidate_page"])
            #expect(clear.map { $0["call"]?.string } == ["pte_clear", "invalidate_page"])
            #expect(clear.last?["locks"]?.array?.contains("page_table_lock") == true && clear.last?["atomic"] == true)
            // The child's writes send nothing: it has no notifiers.
            let childWrite = try await lab.write(mm: child, a, value: 2)
            #expect(childWrite["ret"] == 0 && LabClient.calls(in: childWrite).isEmpty)
            #expect(try await lab.read(mm: mm, a, pages: 2) != [2, 1])
            #expect(try await lab.read(mm: mm, a + Self.page) == [1])
        }
    }

    @Test("fork of a shared mapping sends no notifier call, and parent and child see each other's writes")
    func forkShared() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2, shared: true)
            try await lab.write(mm: mm, a, pages: 2, value: 4)
            _ = try await lab.register(mm: mm, "kvm")
            let seq = try await lab.traceNext()
            let fork = try await lab.post("/mms/\(mm)/fork")
            let child = try LabClient.int(fork["child"], "child")
            #expect(LabClient.calls(in: fork).isEmpty)
            #expect(LabClient.calls(try await lab.events(since: seq)).isEmpty)
            #expect(try await lab.read(mm: child, a) == [4])
            try await lab.write(mm: child, a, value: 5)
            #expect(try await lab.read(mm: mm, a) == [5])
        }
    }

    @Test("reclaim: clear_flush_young keeps a page only kvm used; the next pass sends invalidate_page before the frame is freed; content survives")
    func reclaimWithKVM() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 1)
            let kvm = try await lab.register(mm: mm, "kvm")
            #expect(try await lab.fault(mm: mm, kvm, a, write: true)["ret"] == 0)
            #expect(try await lab.access(mm: mm, kvm, a, write: true, value: 0x77)["tlb_hit"] == true)
            // The first pass ages both the pte and the spte; then only the secondary MMU uses the page.
            _ = try await lab.reclaim(mm: mm, a)
            try await lab.access(mm: mm, kvm, a, write: false)
            #expect(try await lab.pte(mm: mm, a)?["young"] == false)
            #expect(try await lab.sptes(mm: mm, kvm).first?["young"] == true)

            let kept = try await lab.reclaim(mm: mm, a)
            #expect(kept["referenced"] == 1 && kept["swapped_out"] == 0)
            #expect(LabClient.calls(in: kept) == [LabClient.page("clear_flush_young", kvm, a)])
            #expect(LabClient.events(kept["trace"]?.array ?? [], ["clear_flush_young"]).first?["ret"] == 1)

            let out = try await lab.reclaim(mm: mm, a)
            #expect(out["swapped_out"] == 1)
            let events = LabClient.events(out["trace"]?.array ?? [], ["clear_flush_young", "pte_clear", "invalidate_page", "spte_zap", "frame_free"])
            #expect(
                events.map { $0["call"]?.string } == [
                    "clear_flush_young", "clear_flush_young", "pte_clear", "invalidate_page", "spte_zap", "frame_free",
                ]
            )
            #expect(try await lab.pte(mm: mm, a)?["state"] == "swap")
            #expect(try await lab.sptes(mm: mm, kvm).isEmpty)
            // The content written through kvm survives swap-out and swap-in.
            #expect(try await lab.read(mm: mm, a) == [0x77])
            #expect(try await lab.pte(mm: mm, a)?["state"] == "present")
            #expect(try await lab.brokenInvariants().isEmpty)
        }
    }

    @Test(
        "a write through kvm to a clean shared anonymous page survives reclaim, with no_set_page_dirty too (follow_page's set_page_dirty); lost only with the core bug follow_page_no_set_page_dirty as well",
        arguments: [false, true],
        [false, true]
    )
    func setPageDirty(bug: Bool, coreBug: Bool) async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            if coreBug {
                try await lab.post(
                    "/reset",
                    ["core_bugs": ["v17_release_order", "hugetlb_fork_no_notifier", "hugetlb_cow_no_notifier", "follow_page_no_set_page_dirty"]]
                )
            }
            let lost = bug && coreBug
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 1, shared: true)
            #expect(try await lab.read(mm: mm, a) == [0])
            let pte = try await lab.pte(mm: mm, a)
            #expect(pte?["write"] == true && pte?["dirty"] == false)
            let kvm = try await lab.register(mm: mm, "kvm", bugs: bug ? ["no_set_page_dirty"] : [])
            try await lab.fault(mm: mm, kvm, a, write: true)
            try await lab.access(mm: mm, kvm, a, write: true, value: 0x99)
            let pfn = pte?["pfn"]
            #expect(try await lab.get("/frames")["frames"]?.array?.first { $0["pfn"] == pfn }?["dirty"] == .bool(!coreBug))
            _ = try await lab.reclaim(mm: mm, a)
            #expect(try await lab.reclaim(mm: mm, a)["swapped_out"] == 1)
            #expect(try await lab.read(mm: mm, a) == [lost ? 0 : 0x99])
            #expect(try await lab.brokenInvariants() == (lost ? ["data-integrity"] : []))
        }
    }

    @Test("exit: release once per notifier before any frame is freed; unregister later calls no second release; then mm_count reaches 0")
    func exitRelease() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2)
            try await lab.write(mm: mm, a, pages: 2)
            let kvm = try await lab.register(mm: mm, "kvm")
            let gru = try await lab.register(mm: mm, "gru")
            try await lab.fault(mm: mm, kvm, a)
            #expect(try await lab.get("/mms/\(mm)")["count"] == 3)

            let exit = try await lab.post("/mms/\(mm)/exit")
            #expect(exit["ret"] == 0)
            let events = LabClient.events(
                exit["trace"]?.array ?? [],
                ["release", "frame_free", "invalidate_range_start", "invalidate_range_end", "grace_period"]
            )
            #expect(events.map { $0["call"]?.string } == ["release", "release", "grace_period", "frame_free"])
            #expect(events.prefix(2).map { $0["notifier"] } == [.int(Int64(gru)), .int(Int64(kvm))])
            let released = try await lab.notifier(mm: mm, kvm)
            #expect(released["sptes"] == 0 && released["frozen"] == true && released["state"] == "released")
            let exited = try await lab.get("/mms/\(mm)")
            #expect(exited["count"] == 2 && exited["has_notifiers"] == true)

            let seq = try await lab.traceNext()
            #expect(try await lab.ok("DELETE", "/mms/\(mm)/notifiers/\(kvm)")["ret"] == 0)
            #expect(try await lab.ok("DELETE", "/mms/\(mm)/notifiers/\(gru)")["ret"] == 0)
            let after = try await lab.events(since: seq)
            #expect(LabClient.calls(after).isEmpty)
            #expect(LabClient.events(after, ["mm_free"]).count == 1)
            #expect(try await lab.notifier(mm: mm, kvm)["counters"]?["release"] == 1)
            #expect(try await lab.notifier(mm: mm, gru)["counters"]?["release"] == 1)
            let freed = try await lab.get("/mms/\(mm)")
            #expect(freed["count"] == 0 && freed["has_notifiers"] == false && freed["state"] == "freed")
            #expect(try await lab.brokenInvariants().isEmpty)
            #expect(try await lab.ok("DELETE", "/mms/\(mm)/notifiers/\(kvm)")["errno"] == "EINVAL")
        }
    }

    @Test("inside a madvise paused after invalidate_range_start a gru dropin fails EAGAIN and a kvm fault retries; both succeed after resume")
    func faultsInsideTheWindow() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2)
            try await lab.write(mm: mm, a, pages: 2, value: 1)
            let kvm = try await lab.register(mm: mm, "kvm")
            let gru = try await lab.register(mm: mm, "gru")

            let madvise = try await lab.post(
                "/mms/\(mm)/madvise",
                ["addr": .address(a), "length": .number(Self.page), "advice": "dontneed", "pause_at": "zap_pte_range"]
            )
            #expect(madvise["status"] == "paused" && madvise["next_step"] == "zap_pte_range")
            let madviseTask = try LabClient.int(madvise["task"], "task")
            #expect(try await lab.notifier(mm: mm, kvm)["count"] == 1)
            #expect(try await lab.notifier(mm: mm, gru)["count"] == 1)

            let dropin = try await lab.fault(mm: mm, gru, a)
            #expect(dropin["errno"] == "EAGAIN" && dropin["retries"] == 1)
            #expect(try await lab.get("/mms/\(mm)/notifiers/\(gru)/tlb")["entries"] == [])
            let fault = try await lab.fault(mm: mm, kvm, a)
            #expect(fault["status"] == "blocked" && fault["retries"] == 1)
            let faultTask = try LabClient.int(fault["task"], "task")
            #expect(try await lab.sptes(mm: mm, kvm).isEmpty)

            let resumed = try await lab.post("/tasks/\(madviseTask)/resume")
            #expect(resumed["status"] == "done" && resumed["ret"] == 0)
            let done = try await lab.get("/tasks/\(faultTask)")
            #expect(done["status"] == "done" && done["ret"] == 0)
            let sptes = try await lab.sptes(mm: mm, kvm)
            // The page was zapped: the retried fault maps the zero page.
            #expect(sptes.count == 1 && sptes.first?["address"]?.address == a && sptes.first?["pfn"] == 0)
            #expect(try await lab.notifier(mm: mm, kvm)["counters"]?["retries"] == 1)
            #expect(try await lab.fault(mm: mm, gru, a)["ret"] == 0)
            #expect(try await lab.brokenInvariants().isEmpty)
        }
    }

    /// The fault/munmap race stepped by hand: the fault gets its page and drops mmap_sem, munmap runs whole, then
    /// the fault takes mmu_lock and decides. Returns the client, the mm and the notifier.
    private func faultMunmapRace(_ lab: LabClient, bugs: [String]) async throws -> (mm: Int, kvm: Int) {
        let mm = try await lab.createMM()
        let a = try await lab.mmap(mm: mm, pages: 1)
        try await lab.write(mm: mm, a, value: 1)
        let kvm = try await lab.register(mm: mm, "kvm", bugs: bugs)
        let fault = try await lab.fault(mm: mm, kvm, a, write: true, pauseAt: "mmu_notifier_seq")
        #expect(fault["status"] == "paused")
        let task = try LabClient.int(fault["task"], "task")
        var steps: [String] = []
        var next = fault["next_step"]?.string
        while let name = next, steps.count < 10 {
            let answer = try await lab.post("/tasks/\(task)/step")
            steps.append(name)
            next = answer["next_step"]?.string
            if name == "unlock:mmap_sem" { break }
        }
        // pause_at's old name stops before kvm.json's sample of mmu_notifier_seq (after its wait,
        // which skip_retry_check removes); then its gup, whose own steps follow.
        let sample = bugs.contains("skip_retry_check") ? 0 : 1
        #expect(steps == ["driver:kvm:/fault/\(sample)", "driver:kvm:/fault/\(sample + 1)", "handle_mm_fault", "unlock:mmap_sem"])
        #expect(try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(Self.page)])["ret"] == 0)
        let resumed = try await lab.post("/tasks/\(task)/resume")
        #expect(resumed["status"] == "done")
        return (mm, kvm)
    }

    @Test("skip_retry_check: the fault/munmap race stepped by hand leaves a stale spte and no-stale-spte fires")
    func faultMunmapRaceBuggy() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let (mm, kvm) = try await self.faultMunmapRace(lab, bugs: ["skip_retry_check"])
            #expect(try await lab.sptes(mm: mm, kvm).count == 1)
            #expect(try await lab.brokenInvariants().contains("no-stale-spte"))
        }
    }

    @Test("without skip_retry_check the fault/munmap race retries, installs no spte and is clean")
    func faultMunmapRaceCorrect() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let (mm, kvm) = try await self.faultMunmapRace(lab, bugs: [])
            #expect(try await lab.sptes(mm: mm, kvm).isEmpty)
            #expect(try await lab.notifier(mm: mm, kvm)["counters"]?["retries"] == 1)
            #expect(try await lab.brokenInvariants().isEmpty)
        }
    }

    @Test("pinning: reclaim unmaps its pages but frees none, and munmap leaves them allocated, with no notifier call, until unregister")
    func pinning() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 2)
            try await lab.write(mm: mm, a, pages: 2, value: 2)
            let pin = try await lab.register(mm: mm, "pinning")
            #expect(try await lab.notifier(mm: mm, pin)["state"] == "attached")
            #expect(try await lab.get("/mms/\(mm)")["has_notifiers"] == false)
            try await lab.fault(mm: mm, pin, a, write: true)
            try await lab.fault(mm: mm, pin, a + Self.page, write: true)
            let pfn = try #require(try await lab.pte(mm: mm, a)?["pfn"])
            func frame() async throws -> JSONValue? {
                try await lab.get("/frames")["frames"]?.array?.first { $0["pfn"] == pfn }
            }
            #expect(try await frame()?["refcount"] == 2)
            let young = try await lab.post("/reclaim", ["mm": .int(Int64(mm))])
            #expect(young["referenced"] == 2 && young["swapped_out"] == 0)
            // shrink_page_list unmaps a held page all the same; __remove_mapping cannot free it (2.6.26).
            let kept = try await lab.post("/reclaim", ["mm": .int(Int64(mm))])
            #expect(kept["swapped_out"] == 0 && kept["kept"] == 2 && kept["failed"] == 0)
            #expect(try await lab.pte(mm: mm, a)?["state"] == "swap")
            #expect(try await frame()?["refcount"] == 1)
            let munmap = try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(2 * Self.page)])
            #expect(LabClient.calls(in: munmap).isEmpty)
            #expect(try await lab.get("/frames")["frames"]?.array?.count == 3)
            let unmapped = try await frame()
            #expect(unmapped?["refcount"] == 1 && unmapped?["mapcount"] == 0)
            try await lab.ok("DELETE", "/mms/\(mm)/notifiers/\(pin)")
            #expect(try await lab.get("/frames")["frames"]?.array?.count == 1)
            #expect(try await lab.brokenInvariants().isEmpty)
        }
    }

    @Test("unsafe: munmap leaves a stale spte, the checker reports it, and a later access reads the reused frame")
    func unsafe() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 1)
            try await lab.write(mm: mm, a, value: 0x5ec)
            let bad = try await lab.register(mm: mm, "unsafe")
            try await lab.fault(mm: mm, bad, a)
            let pfn = try #require(try await lab.pte(mm: mm, a)?["pfn"])
            try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": .number(Self.page)])
            #expect(try await lab.get("/frames")["frames"]?.array?.contains { $0["pfn"] == pfn } == false)
            let violations = try await lab.get("/invariants")
            #expect(violations["ok"] == false)
            #expect(violations["violations"]?.array?.compactMap { $0["invariant"]?.string } == ["no-stale-spte"])
            #expect(violations["violations"]?[0]?["notifier"] == .int(Int64(bad)))
            #expect(violations["violations"]?[0]?["address"]?.address == a)
            #expect(try await lab.sptes(mm: mm, bad).first?["valid"] == false)

            let other = try await lab.mmap(mm: mm, pages: 1)
            try await lab.write(mm: mm, other, value: 0xbad)
            #expect(try await lab.pte(mm: mm, other)?["pfn"] == pfn)
            #expect(try await lab.access(mm: mm, bad, a, write: false)["value"] == 0xbad)
        }
    }

    /// exit paused at its first ->release, a reclaim of a page kvm maps, then exit resumes.
    private func releaseRace(_ lab: LabClient, order: String) async throws -> Int {
        #expect(try await lab.post("/reset", ["release_order": .string(order)])["release_order"] == .string(order))
        let mm = try await lab.createMM()
        let a = try await lab.mmap(mm: mm, pages: 1)
        try await lab.write(mm: mm, a, value: 1)
        let kvm = try await lab.register(mm: mm, "kvm")
        try await lab.fault(mm: mm, kvm, a)
        // Age the page once so that the next pass reclaims it.
        _ = try await lab.reclaim(mm: mm, a)
        let exit = try await lab.post("/mms/\(mm)/exit", ["pause_at": "release"])
        #expect(exit["status"] == "paused")
        let reclaim = try await lab.post("/reclaim")
        #expect(reclaim["swapped_out"] == 1)
        let resumed = try await lab.post("/tasks/\(try LabClient.int(exit["task"], "task"))/resume")
        #expect(resumed["status"] == "done")
        return kvm
    }

    @Test("v17 release ordering: a reclaim between unlink and ->release frees a frame kvm still maps, and no-stale-spte fires")
    func releaseOrderingV17() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            _ = try await self.releaseRace(lab, order: "v17")
            let invariants = try await lab.get("/invariants")
            #expect(invariants["violations"]?.array?.compactMap { $0["invariant"]?.string } == ["no-stale-spte"])
            #expect(invariants["violations"]?[0]?["message"]?.string?.contains("freed while notifier 1 (kvm) still maps it") == true)
        }
    }

    @Test("fixed release ordering: the same reclaim sends kvm invalidate_page and the world stays clean")
    func releaseOrderingFixed() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let kvm = try await self.releaseRace(lab, order: "fixed")
            #expect(try await lab.get("/invariants")["ok"] == true)
            #expect(try await lab.notifier(mm: 1, kvm)["counters"]?["invalidate_page"] == 1)
        }
    }

    @Test("hugetlb over the API: GET /mms/{mm}/ptes lists one huge pte with the head pfn; GET /frames gives each of its frames the head")
    func hugetlbOverTheAPI() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            try await lab.post("/reset", ["frames": 1024])
            let mm = try await lab.createMM()
            let answer = try await lab.post(
                "/mms/\(mm)/mmap",
                ["length": .number(2 << 20), "prot": "rw", "flags": ["private", "anonymous", "hugetlb"]]
            )
            let a = try #require(answer["addr"]?.address)
            try await lab.write(mm: mm, a + LabClient.page, value: 6)
            let ptes = try await lab.get("/mms/\(mm)/ptes?addr=\(hexAddress(a + LabClient.page))&length=4096")["ptes"]?.array ?? []
            #expect(ptes.count == 1 && ptes.first?["huge"] == true && ptes.first?["address"]?.address == a)
            let head = try #require(ptes.first?["pfn"]?.int)
            #expect(head % 512 == 0)
            let frames = try await lab.get("/frames?from=\(head)&limit=2")["frames"]?.array ?? []
            #expect(frames.map { $0["head"]?.int } == [head, head] && frames.last?["content"] == 6)
            #expect(try await lab.read(mm: mm, a + LabClient.page) == [6])
        }
    }

    @Test("xip over the API: a shared mapping's write fills a hole and __xip_unmap sends invalidate_page to the mm that read it")
    func xipOverTheAPI() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let reader = try await lab.createMM(name: "reader")
            let a = try #require(
                try await lab.post("/mms/\(reader)/mmap", ["length": 4096, "prot": "r", "flags": ["private"], "file": "rom", "xip": true])["addr"]?
                    .address
            )
            #expect(try await lab.read(mm: reader, a) == [0])
            let kvm = try await lab.register(mm: reader, "kvm")
            try await lab.fault(mm: reader, kvm, a)
            let writer = try await lab.createMM(name: "writer")
            let b = try #require(
                try await lab.post("/mms/\(writer)/mmap", ["length": 4096, "prot": "rw", "flags": ["shared"], "file": "rom", "xip": true])["addr"]?
                    .address
            )
            let seq = try await lab.traceNext()
            try await lab.write(mm: writer, b, value: 0x55)
            let calls = try await lab.events(since: seq).filter { LabClient.methods.contains($0["call"]?.string ?? "") }
            #expect(calls.map { $0["call"]?.string } == ["invalidate_page"] && calls.first?["mm"]?.int == Int64(reader))
            #expect(try await lab.sptes(mm: reader, kvm).isEmpty)
            #expect(try await lab.read(mm: reader, a) == [0x55])
            #expect(try await lab.get("/invariants")["ok"] == true)
        }
    }

    @Test("POST /scenarios/judge judges a step's expectations by the runner's rules, against the step's answer and the live world")
    func judgeAStep() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let mm = try await lab.createMM()
            let a = try await lab.mmap(mm: mm, pages: 1)
            try await lab.write(mm: mm, a, value: 5)
            let kvm = try await lab.register(mm: mm, "kvm")
            try await lab.fault(mm: mm, kvm, a, write: true)
            let answer = try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a), "length": 4096])
            let expect: JSONValue = [
                "ret": 0,
                "calls": [["call": "invalidate_range_start", "notifier": 1], ["call": "invalidate_range_end", "notifier": 1]],
                "sptes": [["address": .address(a), "present": false]],
                "invariants": "ok",
            ]
            let verdict = try await lab.post("/scenarios/judge", ["expect": expect, "answer": answer, "mm": .int(Int64(mm))])
            #expect(verdict["passed"] == true)
            #expect(verdict["checks"]?.array?.map { $0["key"]?.string } == ["calls", "invariants", "ret", "sptes"])
            let wrong = try await lab.post(
                "/scenarios/judge",
                ["expect": ["calls": [], "violations": ["no-stale-spte"]], "answer": answer, "violations_before": 0]
            )
            #expect(wrong["passed"] == false)
            #expect(wrong["checks"]?.array?.map { $0["passed"] } == [false, false])
            #expect(wrong["checks"]?.array?.first?["actual"]?.array?.count == 2)
        }
    }
}
