import Foundation
import Testing

@testable import MMUSim

/// The statements of DRIVERS.md beyond the built-in kinds' own: a gup's `else`, `call`,
/// `queue_work` with its work items, `mmap_lock`/`mmap_unlock` and an install's `prefetch`.
@Suite("Driver statements: gup else, call, queue_work, mmap_lock, prefetch")
struct StatementTests {
    /// A world with `pages` written pages and the policy registered as notifier 1.
    static func lab(_ text: String, pages: UInt64 = 1) throws -> (lab: Lab, a: UInt64) {
        var lab = Lab()
        let a = lab.mmap(pages)
        lab.write(a, pages: pages, value: 1)
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: text), signalPending: false, mmapSemHeld: false))
        return (lab, a)
    }

    @Test("gup's else runs on a failure with local ret the -errno, the gup's locks gone; without else the fault ends with it")
    func gupElse() throws {
        let text = """
            {"name": "careful", "vars": {"failed": 0, "errno": 0},
             "fault": [{"gup": {"write": {"arg": "write"}}, "else": [{"inc": "failed"}, {"set": "errno", "to": {"local": "ret"}}, {"return": 0}]},
                       {"install": {"writable": {"arg": "write"}}}, {"put_page": true}]}
            """
        var (lab, a) = try Self.lab(text)
        // get_user_pages on an address with no vma: -EFAULT (find_extend_vma fails).
        let hole = a + 64 * pageSize
        let fault = lab.fault(1, hole, write: false)
        #expect(fault.ret == 0)
        #expect(lab.world.variable("failed", of: 1) == 1 && lab.world.variable("errno", of: 1) == -Errno.EFAULT.number)
        #expect(lab.world.tasks.allSatisfy { $0.locks.isEmpty })
        // A write to a read-only mapping: gup fails (no VM_WRITE), the else again; the page is
        // neither mapped nor held.
        lab.run(.mprotect(mm: lab.mm, addr: a, length: pageSize, prot: [.read]))
        let refcount = lab.frame(at: a).refcount
        #expect(lab.fault(1, a, write: true).ret == 0 && lab.world.variable("failed", of: 1) == 2)
        #expect(lab.world.notifier(1)!.sptes.count == 0 && lab.frame(at: a).refcount == refcount)
        // Without else, the failure ends the fault with its errno.
        let otherwise = #", "else": [{"inc": "failed"}, {"set": "errno", "to": {"local": "ret"}}, {"return": 0}]"#
        let plain = text.replacingOccurrences(of: otherwise, with: "")
        var (other, _) = try Self.lab(plain)
        #expect(other.fault(1, hole, write: false).errno == .EFAULT)
    }

    @Test("call runs an mm operation on the driver's own mm; one that needs the driver's own lock again deadlocks its task")
    func call() throws {
        let text = """
            {"name": "shrinker", "locks": {"m": "mutex"},
             "callbacks": {"invalidate_range_start": [{"lock": "m"}, {"zap": "range"}, {"unlock": "m"}]},
             "fault": [{"gup": {"write": false}}, {"install": {"writable": false}}, {"put_page": true}],
             "entries": {"drop": [{"call": "munmap", "addr": "address", "length": 4096}],
                         "drop_locked": [{"lock": "m"}, {"call": "munmap", "addr": "address", "length": 4096}, {"unlock": "m"}]}}
            """
        var (lab, a) = try Self.lab(text, pages: 2)
        lab.fault(1, a)
        // The entry's munmap: the core's steps inside the entry's task, the driver's own
        // invalidate_range_start among them.
        let seq = lab.world.lastSeq
        let drop = lab.run(.entry(mm: lab.mm, notifier: 1, name: "drop", address: a, write: false))
        #expect(drop.ret == 0 && lab.pte(a).isNone && !lab.pte(a + pageSize).isNone)
        #expect(lab.world.notifier(1)!.sptes.count == 0)
        let calls = lab.events(since: seq, ["vma_detach", "invalidate_range_start", "spte_zap"]).map { "\($0.call.rawValue) \($0.op ?? "")" }
        #expect(calls == ["vma_detach entry", "invalidate_range_start entry", "spte_zap entry"])
        // Holding its mutex, the driver's munmap calls its own invalidate_range_start, which
        // takes the mutex again: the task blocks for good.
        let task = lab.world.perform(.entry(mm: lab.mm, notifier: 1, name: "drop_locked", address: a + pageSize, write: false))
        #expect(task.status == .blocked && task.blockedOn?.contains("m:1") == true)
    }

    @Test("queue_work runs the work item on a worker task after the request; a pending item is not queued twice")
    func queueWork() throws {
        let text = """
            {"name": "deferred", "vars": {"runs": 0, "queued": 0},
             "callbacks": {"invalidate_range_start": [{"inc": "queued"}, {"queue_work": "flush"}]},
             "fault": [{"gup": {"write": false}}, {"install": {"writable": false}}, {"put_page": true}],
             "work": {"flush": [{"inc": "runs"}, {"zap": "all"}]}}
            """
        var (lab, a) = try Self.lab(text, pages: 2)
        lab.fault(1, a)
        // mprotect of the page: one invalidate_range_start, the item queued, the worker runs
        // after the request (its zap is the worker's).
        let seq = lab.world.lastSeq
        lab.run(.mprotect(mm: lab.mm, addr: a, length: pageSize, prot: [.read]))
        #expect(lab.world.variable("queued", of: 1) == 1 && lab.world.variable("runs", of: 1) == 1)
        #expect(lab.world.notifier(1)!.sptes.count == 0)
        let events = lab.world.trace.events(after: seq)
        let lastMprotect = try #require(events.last { $0.op == "mprotect" }).seq
        #expect(events.contains { $0.op == "work" && $0.call == .spteZap } && events.filter { $0.op == "work" }.allSatisfy { $0.seq > lastMprotect })
        // mprotect over both pages, now two vmas: mprotect_fixup and its start per vma. The item
        // the first start queued is still pending at the second: queued twice, run once.
        lab.fault(1, a + pageSize)
        lab.run(.mprotect(mm: lab.mm, addr: a, length: 2 * pageSize, prot: [.read, .exec]))
        #expect(lab.world.variable("queued", of: 1) == 3 && lab.world.variable("runs", of: 1) == 2)
        #expect(lab.world.tasks.allSatisfy { $0.status == .done || !$0.isWorker })
    }

    @Test("a driver that defers its invalidation to a work item leaves a freed page mapped: the explorer finds it")
    func deferredInvalidation() throws {
        let text = """
            {"name": "deferred",
             "callbacks": {"invalidate_range_start": [{"queue_work": "flush"}]},
             "fault": [{"gup": {"write": false}}, {"install": {"writable": false}}, {"put_page": true}],
             "work": {"flush": [{"zap": "all"}]}}
            """
        var (lab, a) = try Self.lab(text)
        lab.fault(1, a)
        let explorer = Explorer(spec: ExploreSpec(setup: [], tasks: []), world: lab.world, tasks: [.munmap(mm: lab.mm, addr: a, length: pageSize)])
        let result = explorer.run()
        #expect(!result.truncated && result.violations["no-stale-spte"] != nil)
        // The counterexample's worker runs after the free.
        let trace = try #require(result.counterexample?.trace)
        let free = try #require(trace.firstIndex { $0.call == .frameFree })
        #expect(!trace[..<free].contains { $0.op == "work" && $0.call == .spteZap })
    }

    @Test("mmap_lock holds mmap_sem across statements: a fault holding its mutex across it deadlocks against mprotect")
    func mmapLock() throws {
        let text = """
            {"name": "inverted", "locks": {"m": "mutex"},
             "callbacks": {"invalidate_range_start": [{"lock": "m"}, {"zap": "range"}, {"unlock": "m"}]},
             "fault": [{"lock": "m"}, {"mmap_lock": "read"}, {"lookup_pte": {"write": false}, "else": [{"mmap_unlock": "read"}, {"unlock": "m"}, {"return": {"errno": "EFAULT"}}]},
                       {"install": {"writable": false}}, {"mmap_unlock": "read"}, {"unlock": "m"}]}
            """
        var (lab, a) = try Self.lab(text)
        #expect(lab.fault(1, a).ret == 0 && lab.world.notifier(1)!.sptes.count == 1)
        let explorer = Explorer(
            spec: ExploreSpec(setup: [], tasks: []),
            world: lab.world,
            tasks: [.fault(mm: lab.mm, notifier: 1, address: a, write: false), .mprotect(mm: lab.mm, addr: a, length: pageSize, prot: [.read])]
        )
        let result = explorer.run()
        // mprotect holds mmap_sem for write and its invalidate_range_start waits for the mutex;
        // the fault holds the mutex and waits for mmap_sem.
        #expect(!result.truncated && result.deadlocks > 0)
    }

    @Test("install's prefetch maps the following pages whose ptes are present, holding no reference")
    func prefetch() throws {
        let text = """
            {"name": "prefetcher",
             "callbacks": {"invalidate_range_start": [{"zap": "range"}]},
             "fault": [{"gup": {"write": false}}, {"install": {"writable": false, "prefetch": 3}}, {"put_page": true}]}
            """
        var lab = Lab()
        let a = lab.mmap(4)
        lab.write(a, pages: 2, value: 1)  // pages 0 and 1 present; 2 and 3 not
        lab.run(.registerPolicy(mm: lab.mm, policy: try Policy.load(text: text), signalPending: false, mmapSemHeld: false))
        lab.fault(1, a)
        let notifier = try #require(lab.world.notifier(1))
        #expect(notifier.sptes.count == 2 && notifier.sptes.pte(at: a + pageSize).pfn == lab.pte(a + pageSize).pfn)
        #expect(lab.frame(at: a + pageSize).secondaryMaps == 1 && lab.frame(at: a + pageSize).refcount == 1)
        lab.run(.munmap(mm: lab.mm, addr: a, length: 4 * pageSize))
        #expect(lab.world.violations.isEmpty && lab.world.notifier(1)!.sptes.count == 0)
    }
}
