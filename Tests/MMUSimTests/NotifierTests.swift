import Testing

@testable import MMUSim

@Suite("MMU notifiers: where the VM calls them and what secondary MMUs do")
struct NotifierTests {
    private func range(_ call: String, _ notifier: Int, _ start: UInt64, _ end: UInt64) -> String {
        "\(call) n\(notifier) \(hex(start))-\(hex(end))"
    }

    private func page(_ call: String, _ notifier: Int, _ address: UInt64) -> String {
        "\(call) n\(notifier) @\(hex(address))"
    }

    @Test("register takes mmap_sem and one lock per anon_vma and file, pins mm_count, and lists the notifier")
    func register() {
        var lab = Lab()
        let a = lab.mmap(2)
        let b = lab.mmap(2, prot: [.read, .write, .exec])
        let f = lab.mmap(1, shared: true, file: "f")
        _ = lab.mmap(1, prot: [.read], shared: true, file: "f")
        lab.write(a)
        lab.write(b)
        _ = lab.read(f)
        #expect(!lab.world.mm(lab.mm)!.hasNotifiers)
        let seq = lab.world.lastSeq
        let result = lab.run(.register(mm: lab.mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false))
        #expect(result.ret == 0 && result.locksTaken == 3)
        let event = lab.events(since: seq, ["register"]).first!
        #expect(Set(event.locks) == ["mmap_sem:w", "mm_all_locks_mutex", "anon_vma:1", "anon_vma:2", "i_mmap_lock:0", "mmu_notifier_mm.lock"])
        let mm = lab.world.mm(lab.mm)!
        #expect(mm.count == 2 && mm.users == 1)
        #expect(mm.notifierList == [result.notifier!])
        #expect(lab.world.notifier(result.notifier!)?.state == .listed)
        #expect(lab.world.tasks.isEmpty)
    }

    @Test("register with a signal pending fails with EINTR and leaves nothing behind")
    func registerInterrupted() {
        var lab = Lab()
        lab.write(lab.mmap(1))
        let before = lab.world
        let seq = lab.world.lastSeq
        let result = lab.run(.register(mm: lab.mm, kind: "kvm", bugs: [], signalPending: true, mmapSemHeld: false))
        #expect(result.ret == -4 && result.errno == .EINTR && result.notifier == nil)
        #expect(lab.world.mms == before.mms && lab.world.notifiers.isEmpty)
        #expect(!lab.world.mm(lab.mm)!.hasNotifiers)
        #expect(lab.events(since: seq, ["signal_pending"]).count == 1)
        // No lock is left held: the next registration goes through.
        #expect(lab.register("kvm") == 1)
    }

    @Test("the newest notifier is called first (hlist_add_head)")
    func newestFirst() {
        var lab = Lab()
        let a = lab.mmap(2)
        let first = lab.register("kvm")
        let second = lab.register("gru")
        #expect(lab.world.mm(lab.mm)!.notifierList == [second, first])
        let seq = lab.world.lastSeq
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        #expect(
            lab.calls(since: seq) == [
                range("invalidate_range_start", second, a, a + pageSize), range("invalidate_range_start", first, a, a + pageSize),
                range("invalidate_range_end", second, a, a + pageSize), range("invalidate_range_end", first, a, a + pageSize),
            ]
        )
    }

    @Test("munmap of 4 pages, 2 in kvm: start, end, then tlb_finish_mmu frees the frames (unmap_region, 2.6.26); no sptes left")
    func munmapKVM() {
        var lab = Lab()
        let a = lab.mmap(4)
        lab.write(a, pages: 4, value: 1)
        let kvm = lab.register("kvm")
        #expect(lab.fault(kvm, a).spte?.pfn == lab.pte(a).pfn)
        #expect(lab.fault(kvm, a + 2 * pageSize, write: true).spte?.writable == true)
        #expect(lab.world.notifier(kvm)!.sptes.count == 2)
        let seqBefore = lab.world.variable("seq", of: kvm)
        let mark = lab.world.lastSeq
        #expect(lab.run(.munmap(mm: lab.mm, addr: a, length: 4 * pageSize)).ret == 0)
        let events = lab.events(since: mark, ["invalidate_range_start", "frame_free", "invalidate_range_end", "spte_zap"])
        // unmap_vmas ends the range; its caller unmap_region then calls tlb_finish_mmu, which frees
        // the gather's last batch: after invalidate_range_end.
        #expect(events.map(\.call.rawValue) == ["invalidate_range_start", "spte_zap", "invalidate_range_end", "frame_free"])
        #expect(events[0].start == a && events[0].end == a + 4 * pageSize && events[2].start == a && events[2].end == a + 4 * pageSize)
        #expect(events[3].pages == 4 && !events[3].locks.contains("page_table_lock"))
        #expect(events[0].locks == ["mmap_sem:w", "rcu_read_lock"] && events[0].atomic)
        let n = lab.world.notifier(kvm)!
        #expect(n.sptes.count == 0 && lab.world.variable("count", of: kvm) == 0 && lab.world.variable("seq", of: kvm) == seqBefore.map { $0 + 1 })
        #expect(n.counters.invalidateRangeStart == 1 && n.counters.invalidateRangeEnd == 1)
        #expect(lab.world.framesInUse == 1)
        #expect(lab.world.violations.isEmpty)
    }

    /// The pages freed inside and after the invalidate window of a munmap of `pages` pages: x86-64
    /// SMP without CONFIG_PREEMPT (FREE_PTE_NR 506, ZAP_BLOCK_SIZE 1,024 pages), mm/memory.c 2.6.26.
    private func freedAroundWindow(pages: UInt64) -> (inside: [Int], after: [Int], insideUnderPTL: [Bool]) {
        var lab = Lab(frames: 2200)
        let a = lab.mmap(pages)
        lab.write(a, pages: pages, value: 1)
        _ = lab.register("kvm")
        let mark = lab.world.lastSeq
        #expect(lab.run(.munmap(mm: lab.mm, addr: a, length: pages * pageSize)).ret == 0)
        let events = lab.events(since: mark, ["frame_free", "invalidate_range_end"])
        let end = events.firstIndex { $0.call.rawValue == "invalidate_range_end" } ?? events.count
        #expect(lab.world.framesInUse == 1)
        #expect(lab.world.violations.isEmpty)
        return (
            events[..<end].map { $0.pages ?? 1 }, events[end...].dropFirst().map { $0.pages ?? 1 },
            events[..<end].map { $0.locks.contains("page_table_lock") }
        )
    }

    @Test("the mmu_gather: 4 pages are freed after invalidate_range_end, by the caller's tlb_finish_mmu")
    func gatherSmallAfterEnd() {
        let freed = freedAroundWindow(pages: 4)
        #expect(freed.inside == [] && freed.after == [4])
    }

    @Test("the mmu_gather: 1,000 pages free one full batch of FREE_PTE_NR (506) inside the window, under the PTL, and 494 after")
    func gatherFullBatchInside() {
        let freed = freedAroundWindow(pages: 1000)
        #expect(freed.inside == [506] && freed.after == [494])
        #expect(freed.insideUnderPTL == [true])
    }

    @Test("the mmu_gather: 1,024 pages use up ZAP_BLOCK_SIZE, so unmap_vmas' own tlb_finish_mmu frees them all inside")
    func gatherZapBlockInside() {
        let freed = freedAroundWindow(pages: 1024)
        // Two full gathers (tlb_remove_page under the page-table lock), then the block's end:
        // tlb_finish_mmu in unmap_vmas, outside the lock, puts the last 12.
        #expect(freed.inside == [506, 506, 12] && freed.after == [])
        #expect(freed.insideUnderPTL == [true, true, false])
    }

    @Test("the mmu_gather: 1,500 pages free a whole block inside, then the second block's 476 after the end")
    func gatherBlockThenRest() {
        let freed = freedAroundWindow(pages: 1500)
        #expect(freed.inside == [506, 506, 12] && freed.after == [476])
    }

    @Test("munmap across two VMAs sends one start/end pair over the union")
    func munmapUnion() {
        var lab = Lab()
        let a = lab.mmap(2)
        _ = lab.mmap(2, prot: [.read])
        #expect(lab.world.mm(lab.mm)!.vmas.count == 2)
        let kvm = lab.register("kvm")
        let seq = lab.world.lastSeq
        lab.run(.munmap(mm: lab.mm, addr: a, length: 4 * pageSize))
        #expect(
            lab.calls(since: seq) == [
                range("invalidate_range_start", kvm, a, a + 4 * pageSize), range("invalidate_range_end", kvm, a, a + 4 * pageSize),
            ]
        )
    }

    @Test("mprotect rw to r: one pair, no writable spte left; a secondary write fault then fails, a read fault maps read-only")
    func mprotectDowngrade() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a, write: true)
        lab.fault(kvm, a + pageSize, write: true)
        let seq = lab.world.lastSeq
        lab.run(.mprotect(mm: lab.mm, addr: a, length: 2 * pageSize, prot: [.read]))
        #expect(
            lab.calls(since: seq) == [
                range("invalidate_range_start", kvm, a, a + 2 * pageSize), range("invalidate_range_end", kvm, a, a + 2 * pageSize),
            ]
        )
        #expect(lab.world.notifier(kvm)!.sptes.entries(from: 0, to: 1 << 36).allSatisfy { !PTE(raw: $0.entry).write })
        #expect(lab.fault(kvm, a, write: true).errno == .EPERM)
        let read = lab.fault(kvm, a)
        #expect(read.ret == 0 && read.spte?.writable == false && read.spte?.pfn == lab.pte(a).pfn)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("a protection downgrade then a secondary write fault sets up a writable spte on the COW-copied page")
    func downgradeThenWriteFault() {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 5)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a, write: true)
        let child = lab.run(.fork(mm: lab.mm)).child!
        let shared = lab.pte(a).pfn
        #expect(lab.world.notifier(kvm)!.sptes.count == 0)
        let result = lab.fault(kvm, a, write: true)
        #expect(result.spte?.writable == true && result.spte?.pfn != shared)
        #expect(result.spte?.pfn == lab.pte(a).pfn)
        // The COW break inside get_user_pages sent invalidate_page to kvm itself, so the
        // fault retried once.
        #expect(result.retries == 1)
        #expect(lab.read(a, mm: child) == [5])
        #expect(lab.world.violations.isEmpty)
    }

    @Test("mremap move: a pair on the old range only; a new secondary fault maps the same frame")
    func mremapMove() {
        var lab = Lab()
        let a = lab.mmap(2)
        _ = lab.mmap(1, prot: [.read])
        lab.write(a, pages: 2, value: 3)
        let pfn = lab.pte(a).pfn
        let kvm = lab.register("kvm")
        lab.fault(kvm, a)
        let seq = lab.world.lastSeq
        let b = lab.run(.mremap(mm: lab.mm, oldAddr: a, oldLength: 2 * pageSize, newLength: 4 * pageSize, mayMove: true, fixed: false, newAddr: nil))
            .addr!
        let calls = lab.calls(since: seq)
        // move_ptes' pair on the old chunk, then do_munmap's pair on the old range.
        #expect(
            calls == [
                range("invalidate_range_start", kvm, a, a + 2 * pageSize), range("invalidate_range_end", kvm, a, a + 2 * pageSize),
                range("invalidate_range_start", kvm, a, a + 2 * pageSize), range("invalidate_range_end", kvm, a, a + 2 * pageSize),
            ]
        )
        #expect(lab.world.notifier(kvm)!.sptes.count == 0)
        #expect(lab.fault(kvm, b).spte?.pfn == pfn)
    }

    @Test(
        "fork of a private mapping: a pair on the parent, parent ptes write-protected, the child without notifiers; a parent write sends invalidate_page"
    )
    func forkPrivate() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a, write: true)
        let seq = lab.world.lastSeq
        let child = lab.run(.fork(mm: lab.mm)).child!
        #expect(
            lab.calls(since: seq) == [
                range("invalidate_range_start", kvm, a, a + 2 * pageSize), range("invalidate_range_end", kvm, a, a + 2 * pageSize),
            ]
        )
        #expect(!lab.pte(a).write && !lab.pte(a + pageSize).write)
        #expect(!lab.world.mm(child)!.hasNotifiers)
        let mark = lab.world.lastSeq
        lab.write(a + pageSize, value: 1)
        #expect(lab.calls(since: mark) == [page("invalidate_page", kvm, a + pageSize)])
        let clear = lab.events(since: mark, ["pte_clear", "invalidate_page"])
        #expect(clear.map(\.call.rawValue) == ["pte_clear", "invalidate_page"])
        #expect(clear[1].locks.contains("page_table_lock") && clear[1].atomic)
        // The child's writes send nothing: it has no notifiers.
        let childMark = lab.world.lastSeq
        lab.write(a, value: 2, mm: child)
        #expect(lab.calls(since: childMark).isEmpty)
    }

    @Test("fork of a shared mapping sends no notifier call")
    func forkShared() {
        var lab = Lab()
        let a = lab.mmap(2, shared: true)
        lab.write(a, pages: 2, value: 4)
        _ = lab.register("kvm")
        let seq = lab.world.lastSeq
        let child = lab.run(.fork(mm: lab.mm)).child!
        #expect(lab.calls(since: seq).isEmpty)
        #expect(lab.read(a, mm: child) == [4])
        lab.write(a, value: 5, mm: child)
        #expect(lab.read(a) == [5])
    }

    @Test("reclaim: clear_flush_young keeps a young page; the next pass sends invalidate_page before the frame is freed")
    func reclaimWithKVM() {
        var lab = Lab()
        let a = lab.mmap(1)
        let kvm = lab.register("kvm")
        #expect(lab.fault(kvm, a, write: true).ret == 0)
        #expect(lab.run(.access(mm: lab.mm, notifier: kvm, address: a, write: true, value: 0x77)).tlbHit == true)
        // Only the secondary MMU used the page lately: the pte is old, the spte young.
        _ = lab.run(.reclaim(mm: lab.mm, addr: a, length: pageSize, pages: nil))
        _ = lab.run(.access(mm: lab.mm, notifier: kvm, address: a, write: false, value: nil))
        var pte = lab.pte(a)
        pte.young = false
        lab.world.mms[lab.mm - 1].pageTable.setPTE(pte, at: a)
        let seq = lab.world.lastSeq
        let kept = lab.run(.reclaim(mm: lab.mm, addr: a, length: pageSize, pages: nil))
        #expect(kept.referenced == 1 && kept.swappedOut == 0)
        #expect(lab.calls(since: seq) == [page("clear_flush_young", kvm, a)])
        #expect(lab.events(since: seq, ["clear_flush_young"]).first?.ret == 1)

        let mark = lab.world.lastSeq
        let out = lab.run(.reclaim(mm: lab.mm, addr: a, length: pageSize, pages: nil))
        #expect(out.swappedOut == 1)
        let events = lab.events(since: mark, ["clear_flush_young", "pte_clear", "invalidate_page", "spte_zap", "frame_free"])
        #expect(events.map(\.call.rawValue) == ["clear_flush_young", "clear_flush_young", "pte_clear", "invalidate_page", "spte_zap", "frame_free"])
        #expect(lab.pte(a).isSwap)
        // The content written through kvm survives swap-out and swap-in.
        #expect(lab.read(a) == [0x77])
        #expect(lab.world.violations.isEmpty)
    }

    @Test(
        "a write through kvm to a clean shmem page survives reclaim, even with no_set_page_dirty: follow_page dirties the page for FOLL_WRITE (mm/memory.c, 2.6.26); lost only without that too"
    )
    func setPageDirty() {
        for (driverBug, coreBug) in [(false, false), (true, false), (false, true), (true, true)] {
            var lab = Lab(coreBugs: coreBug ? CoreBug.v17.union([.followPageNoSetPageDirty]) : nil)
            let a = lab.mmap(1, shared: true)
            #expect(lab.read(a) == [0])
            #expect(lab.pte(a).write && !lab.pte(a).dirty)
            let kvm = lab.register("kvm", bugs: driverBug ? ["no_set_page_dirty"] : [])
            lab.fault(kvm, a, write: true)
            // get_user_pages(write) on a writable, clean pte: follow_page's set_page_dirty.
            #expect(lab.frame(at: a).dirty == !coreBug)
            lab.run(.access(mm: lab.mm, notifier: kvm, address: a, write: true, value: 0x99))
            _ = lab.run(.reclaim(mm: lab.mm, addr: a, length: pageSize, pages: nil))
            let out = lab.run(.reclaim(mm: lab.mm, addr: a, length: pageSize, pages: nil))
            #expect(out.swappedOut == 1)
            let lost = driverBug && coreBug
            #expect(lab.read(a) == [lost ? 0 : 0x99])
            #expect(lab.invariantsBroken == (lost ? [.dataIntegrity] : []))
        }
    }

    @Test("exit: release once per notifier before any frame is freed; unregister later calls no second release; then mm_count reaches 0")
    func exitRelease() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2)
        let kvm = lab.register("kvm")
        let gru = lab.register("gru")
        lab.fault(kvm, a)
        #expect(lab.world.mm(lab.mm)!.count == 3)
        let seq = lab.world.lastSeq
        lab.run(.exit(mm: lab.mm))
        let events = lab.events(since: seq, ["release", "frame_free", "invalidate_range_start", "invalidate_range_end", "grace_period"])
        #expect(events.map(\.call.rawValue) == ["release", "release", "grace_period", "frame_free"])
        #expect(events.prefix(2).map(\.notifier) == [gru, kvm])
        #expect(lab.world.notifier(kvm)!.sptes.count == 0 && lab.world.notifier(kvm)!.frozen)
        #expect(lab.world.mm(lab.mm)!.count == 2 && lab.world.mm(lab.mm)!.hasNotifiers)
        #expect(lab.world.notifier(kvm)!.state == .released)
        let mark = lab.world.lastSeq
        lab.run(.unregister(mm: lab.mm, notifier: kvm))
        lab.run(.unregister(mm: lab.mm, notifier: gru))
        #expect(lab.calls(since: mark).isEmpty)
        #expect(lab.world.notifier(kvm)!.counters.release == 1 && lab.world.notifier(gru)!.counters.release == 1)
        #expect(lab.world.mm(lab.mm)!.count == 0 && !lab.world.mm(lab.mm)!.hasNotifiers)
        #expect(lab.events(since: mark, ["mm_free"]).count == 1)
        #expect(lab.world.violations.isEmpty)
        #expect(lab.run(.unregister(mm: lab.mm, notifier: kvm)).errno == .EINVAL)
    }

    @Test("a gru dropin fails inside an open start/end and succeeds after; a kvm fault inside it retries")
    func faultsInsideTheWindow() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2, value: 1)
        let kvm = lab.register("kvm")
        let gru = lab.register("gru")
        let madvise = lab.world.perform(.madviseDontneed(mm: lab.mm, addr: a, length: pageSize), pauseAt: "zap_pte_range")
        #expect(madvise.status == .paused)
        #expect(lab.world.variable("count", of: kvm) == 1 && lab.world.variable("count", of: gru) == 1)
        let dropin = lab.fault(gru, a)
        #expect(dropin.errno == .EAGAIN && dropin.retries == 1)
        #expect(lab.world.notifier(gru)!.tlb.count == 0)
        let fault = lab.world.perform(.fault(mm: lab.mm, notifier: kvm, address: a, write: false))
        #expect(fault.status == .blocked && fault.result.retries == 1)
        #expect(lab.world.notifier(kvm)!.sptes.count == 0)
        lab.world.resume(madvise.id)
        let done = lab.world.task(fault.id)!
        #expect(done.status == .done && done.result.ret == 0 && done.result.retries == 1)
        #expect(done.result.spte?.pfn == World.zeroPfn)
        #expect(lab.fault(gru, a).ret == 0)
        #expect(lab.world.violations.isEmpty)
    }

    /// The fault/munmap race stepped by hand: the fault gets its page, munmap runs whole,
    /// then the fault takes mmu_lock and decides.
    private func faultMunmapRace(bugs: [String]) -> Lab {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        let kvm = lab.register("kvm", bugs: bugs)
        let fault = lab.world.start(.fault(mm: lab.mm, notifier: kvm, address: a, write: true))
        var steps: [String] = []
        while true {
            guard case .ran(let name) = lab.world.step(fault) else { break }
            steps.append(name)
            if name == "unlock:mmap_sem" { break }
        }
        // kvm.json's fault: its first statements (the wait after a retry, unless skip_retry_check
        // removed it, and the sample of mmu_notifier_seq), then gup's own steps.
        #expect(steps.suffix(3) == ["lock:mmap_sem", "handle_mm_fault", "unlock:mmap_sem"])
        #expect(steps.dropLast(3) == (bugs.contains("skip_retry_check") ? ["driver:kvm:/fault/0"] : ["driver:kvm:/fault/0", "driver:kvm:/fault/1"]))
        #expect(lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize)).ret == 0)
        while case .ran = lab.world.step(fault) {}
        return lab
    }

    @Test("skip_retry_check: the fault/munmap race leaves a stale spte and no-stale-spte fires; without the bug it is clean")
    func faultMunmapRace() {
        let buggy = faultMunmapRace(bugs: ["skip_retry_check"])
        #expect(buggy.world.notifier(1)!.sptes.count == 1)
        #expect(buggy.invariantsBroken.contains(.noStaleSpte))
        let correct = faultMunmapRace(bugs: [])
        #expect(correct.world.notifier(1)!.sptes.count == 0)
        #expect(correct.world.notifier(1)!.counters.retries == 1)
        #expect(correct.world.violations.isEmpty)
    }

    @Test("pinning: reclaim unmaps its pages but frees none (they stay in the swap cache); munmap leaves them allocated until unregister")
    func pinning() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2, value: 2)
        let pin = lab.register("pinning")
        #expect(lab.world.notifier(pin)!.state == .attached && !lab.world.mm(lab.mm)!.hasNotifiers)
        lab.fault(pin, a, write: true)
        lab.fault(pin, a + pageSize, write: true)
        let pfn = lab.pte(a).pfn
        #expect(lab.world.frames[pfn].refcount == 2)
        // The first pass finds the pages young and keeps them active.
        let young = lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil))
        #expect(young.referenced == 2 && young.swappedOut == 0 && young.kept == 0)
        // shrink_page_list (mm/vmscan.c, 2.6.26) does not skip a page that someone holds: it unmaps
        // it and writes it to swap; __remove_mapping's page_count check then refuses to free it,
        // so it stays in the swap cache, still the frame the pinning driver maps.
        let kept = lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil))
        #expect(kept.swappedOut == 0 && kept.kept == 2 && kept.failed == 0)
        #expect(lab.pte(a).isSwap && lab.world.frames[pfn].isAllocated && lab.world.frames[pfn].mapcount == 0)
        #expect(lab.world.frames[pfn].refcount == 1 && lab.world.frames[pfn].swapSlot >= 0)
        #expect(lab.world.violations.isEmpty)
        let seq = lab.world.lastSeq
        lab.run(.munmap(mm: lab.mm, addr: a, length: 2 * pageSize))
        #expect(lab.calls(since: seq).isEmpty)
        #expect(lab.world.framesInUse == 3 && lab.world.frames[pfn].refcount == 1 && lab.world.frames[pfn].mapcount == 0)
        lab.run(.unregister(mm: lab.mm, notifier: pin))
        #expect(lab.world.framesInUse == 1)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("unsafe: munmap leaves a stale spte, the checker reports it, and a later access reads the reused frame")
    func unsafe() {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 0x5ec)
        let bad = lab.register("unsafe")
        lab.fault(bad, a)
        let pfn = lab.pte(a).pfn
        lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
        #expect(!lab.world.frames[pfn].isAllocated)
        #expect(lab.invariantsBroken == [.noStaleSpte])
        #expect(lab.world.violations[0].notifier == bad && lab.world.violations[0].address == a)
        // The violation points at the event that shows it: the frame freed under the spte.
        let shown = lab.world.trace.events.first { $0.seq == lab.world.violations[0].seq }
        #expect(shown?.call.rawValue == "frame_free" && shown?.pfn == pfn)
        let other = lab.mmap(1)
        lab.write(other, value: 0xbad)
        #expect(lab.pte(other).pfn == pfn)
        #expect(lab.run(.access(mm: lab.mm, notifier: bad, address: a, write: false, value: nil)).value == 0xbad)
    }

    /// exit paused at its first ->release, a reclaim of a page kvm maps, then exit resumes.
    private func releaseRace(_ order: ReleaseOrder) -> Lab {
        var lab = Lab(releaseOrder: order)
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        let kvm = lab.register("kvm")
        lab.fault(kvm, a)
        // Age the page once so that the next pass reclaims it.
        _ = lab.run(.reclaim(mm: lab.mm, addr: a, length: pageSize, pages: nil))
        let exit = lab.world.perform(.exit(mm: lab.mm), pauseAt: "release")
        #expect(exit.status == .paused)
        let reclaim = lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil))
        #expect(reclaim.swappedOut == 1)
        lab.world.resume(exit.id)
        #expect(lab.world.task(exit.id)?.status == .done)
        return lab
    }

    @Test("v17 release ordering: a reclaim between unlink and ->release frees a frame kvm still maps; fixed ordering is clean")
    func releaseOrdering() {
        let v17 = releaseRace(.v17)
        #expect(v17.invariantsBroken == [.noStaleSpte])
        #expect(v17.world.violations[0].message.contains("freed while notifier 1 (kvm) still maps it"))
        let fixed = releaseRace(.fixed)
        #expect(fixed.world.violations.isEmpty)
        #expect(fixed.world.notifier(1)!.counters.invalidatePage == 1)
    }

    @Test("xpmem sleeps in invalidate_page under the page-table lock, which v17 forbids")
    func xpmemSleeps() {
        var lab = Lab()
        let a = lab.mmap(1, shared: true, file: "f")
        lab.write(a)
        let xp = lab.register("xpmem")
        lab.fault(xp, a, write: true)
        #expect(lab.frame(at: a).refcount == 3)
        // writeback's page_mkclean_one: ptep_clear_flush_notify under the page-table lock.
        let mark = lab.world.lastSeq
        _ = lab.run(.writeback(file: "f"))
        let call = lab.events(since: mark, ["invalidate_page"]).first
        #expect(call?.locks.contains("page_table_lock") == true && call?.atomic == true)
        #expect(lab.invariantsBroken == [.noSleepInAtomic])
        #expect(lab.world.violations[0].message.contains("page_table_lock"))
        #expect(lab.world.notifier(xp)!.sptes.count == 0 && lab.frame(at: a).refcount == 2)
    }

    @Test(
        "the quiescent check holds xpmem's pinned attachments to the pte too: one that ignores invalidate_page keeps a writable spte after page_mkclean"
    )
    func xpmemQuiescentCheck() {
        for bug in [false, true] {
            var lab = Lab()
            let a = lab.mmap(1, shared: true, file: "f")
            lab.write(a)
            let xp = lab.register("xpmem", bugs: bug ? ["ignore_invalidate_page"] : [])
            lab.fault(xp, a, write: true)
            _ = lab.run(.writeback(file: "f"))
            #expect(!lab.pte(a).write)
            #expect(Set(lab.invariantsBroken) == (bug ? [.noSleepInAtomic, .noStaleWrite] : [.noSleepInAtomic]))
        }
    }

    @Test("unregister against a running invalidate_range_start: free_in_release is a use-after-free; without the bug the grace period waits")
    func unregisterDuringWalk() {
        for bug in [true, false] {
            var lab = Lab()
            let a = lab.mmap(1)
            let victim = lab.register("gru", bugs: bug ? ["free_in_release"] : [])
            let other = lab.register("gru")
            let munmap = lab.world.perform(.munmap(mm: lab.mm, addr: a, length: pageSize), pauseAt: "invalidate_range_start")
            // Call the first notifier (the newer, `other`); the walker now stands on `victim`.
            #expect(lab.world.step(munmap.id) == .ran("invalidate_range_start"))
            let unregister = lab.world.perform(.unregister(mm: lab.mm, notifier: victim))
            #expect(unregister.status == .blocked)
            #expect(lab.world.notifier(victim)!.state == .released)
            lab.world.resume(munmap.id)
            #expect(lab.world.task(unregister.id)?.status == .done)
            #expect(lab.world.notifier(other)!.counters.invalidateRangeEnd == 1)
            #expect(lab.invariantsBroken == (bug ? [.notifierUseAfterFree] : []))
        }
    }
}
