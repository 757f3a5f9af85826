import Foundation
import Testing

@testable import MMUSim

/// The trace ring keeps events as records with their strings and lock sets coded in tables of
/// its own: what it gives back must be what happened, event for event.
@Suite("The trace ring: events as they happened, through codes and a full ring")
struct TraceLogTests {
    /// A kvm fault (v17's kvm_mmu_page_fault path in the policy): the statements under
    /// mmu_lock show it held, those before and after show no lock, although the task's lock
    /// array changed after each event; gru's fault after it shows its own tfh.
    @Test("each event shows the locks held when it happened, not the task's locks later")
    func locksAsTheyWere() {
        var lab = Lab()
        let addr = lab.mmap(1)
        lab.write(addr, value: 7)
        let kvm = lab.register("kvm")
        let gru = lab.register("gru")
        let seq = lab.world.lastSeq
        lab.fault(kvm, addr, write: true)
        lab.fault(gru, addr, write: true)
        let statements = lab.world.trace.events(after: seq).filter { $0.call == .driver }
        let shown = statements.map { "\($0.driver!)\($0.statement!) \($0.locks.joined(separator: ","))" }
        #expect(
            shown == [
                "kvm/fault/0 ", "kvm/fault/1 ", "kvm/fault/2 ", "kvm/fault/3 ",
                "kvm/fault/4 mmu_lock:\(kvm)", "kvm/fault/5 mmu_lock:\(kvm)", "kvm/fault/6 mmu_lock:\(kvm)", "kvm/fault/7 ",
                "gru/fault/0 ", "gru/fault/1 ", "gru/fault/2 ", "gru/fault/3 ", "gru/fault/4 ",
                "gru/fault/5 tfh:\(gru)", "gru/fault/6 tfh:\(gru)", "gru/fault/7 tfh:\(gru)", "gru/fault/8 ",
            ]
        )
        #expect(statements.allSatisfy { $0.op == "fault" && $0.atomic == !$0.heldLocks.isEmpty })
    }

    /// Two written pages, kvm and gru registered on their mm, and the last event's seq.
    private static func twoPagesUnderKVMAndGRU() -> (lab: Lab, addr: UInt64, kvm: Int, gru: Int, seq: Int) {
        var lab = Lab()
        let addr = lab.mmap(2)
        lab.write(addr, pages: 2, value: 7)
        let kvm = lab.register("kvm")
        let gru = lab.register("gru")
        return (lab, addr, kvm, gru, lab.world.lastSeq)
    }

    /// Faults of kvm and gru in turn: each lock set comes back after the other's (the log finds
    /// the last two sets looked up without searching its tables), and each event still shows
    /// its own.
    @Test("lock sets that alternate show as they were, each time")
    func alternatingLockSets() {
        var (lab, addr, kvm, gru, seq) = Self.twoPagesUnderKVMAndGRU()
        for page in 0..<2 {
            lab.fault(kvm, addr + UInt64(page) * pageSize, write: true)
            lab.fault(gru, addr + UInt64(page) * pageSize, write: true)
        }
        let events = lab.world.trace.events(after: seq)
        let kvmFault = ["", "", "", "", "mmu_lock:\(kvm)", "mmu_lock:\(kvm)", "mmu_lock:\(kvm)", ""]
        let gruFault = ["", "", "", "", "", "tfh:\(gru)", "tfh:\(gru)", "tfh:\(gru)", ""]
        let statements = events.filter { $0.call == .driver }
        #expect(statements.map { $0.locks.joined(separator: ",") } == kvmFault + gruFault + kvmFault + gruFault)
        // Each install shows its driver's lock, held around it.
        let installs = events.filter { $0.call == .spteSet || $0.call == .tlbDropin }.map { "\($0.call) \($0.locks.joined())" }
        #expect(installs == ["spteSet mmu_lock:\(kvm)", "tlbDropin tfh:\(gru)", "spteSet mmu_lock:\(kvm)", "tlbDropin tfh:\(gru)"])
    }

    /// A task keeps the codes its events take from the trace's tables (`EventCodes`), for the
    /// tables they were looked up in: a kvm fault paused under mmu_lock, its world's log then
    /// replaced by a new one (whose tables number the sets anew: gru's tfh came first in the
    /// old), shows mmu_lock in the events it makes in the new log, and none once it let go; a
    /// task made in a finished fault's state (`SpareTask`) names its own operation, not the fault.
    @Test("a task's kept lock-set code is looked up again in another log's tables")
    func eventCodesFollowTheTables() {
        var (lab, addr, kvm, gru, _) = Self.twoPagesUnderKVMAndGRU()
        lab.fault(gru, addr, write: true)
        var world = lab.world
        let id = world.start(.fault(mm: lab.mm, notifier: kvm, address: addr, write: true), pauseAt: "driver:kvm:/fault/5")
        #expect(world.run(id) == .paused)
        let kept = world.tasks.first { $0.id == id }!.state.eventCodes
        #expect(kept.serial == world.trace.codesSerial && kept.locks > 1, "mmu_lock's set came after tfh's")
        world.trace = TraceLog(capacity: 100)
        let before = world.lastSeq
        world.resume(id)
        let shown = world.trace.events(after: before).map { "\($0.call)\($0.statement ?? "") \($0.locks.joined())" }
        #expect(shown == ["driver/fault/5 mmu_lock:\(kvm)", "spteSet mmu_lock:\(kvm)", "driver/fault/6 mmu_lock:\(kvm)", "driver/fault/7 "])
        // A task made in a finished fault's state (`SpareTask`) names its own operation.
        _ = world.perform(.fault(mm: lab.mm, notifier: gru, address: addr + pageSize, write: true))
        let seq = world.lastSeq
        _ = world.perform(.munmap(mm: lab.mm, addr: addr, length: 2 * pageSize))
        let ops = Set(world.trace.events(after: seq).compactMap(\.op))
        #expect(ops == ["munmap"])
    }

    /// An event's atomic flag comes from its lock set (a spinlock held) and rcu_read_lock: kvm's
    /// mmu_lock is a spinlock, dmirror's mutex sleeps (lib/test_hmm.c's dmirror->mutex), and a
    /// set seen again keeps what it said the first time.
    @Test("an event is atomic under a spinlock or rcu_read_lock, not under a mutex alone")
    func atomicFromLockSet() throws {
        var (lab, a) = try ModernCoreTests.lab("dmirror")
        let seq = lab.world.lastSeq
        lab.fault(1, a + pageSize, write: true)
        lab.fault(1, a, write: true)
        let events = lab.world.trace.events(after: seq)
        let underMutex = events.filter { $0.heldLocks.contains { $0.name == "mutex" } }
        #expect(underMutex.count >= 4 && underMutex.allSatisfy { !$0.atomic && !$0.inRCU })
        var (kvmLab, addr, kvm, _, kvmSeq) = Self.twoPagesUnderKVMAndGRU()
        lab.run(.munmap(mm: lab.mm, addr: a, length: 2 * pageSize))
        kvmLab.fault(kvm, addr, write: true)
        kvmLab.run(.munmap(mm: kvmLab.mm, addr: addr, length: 2 * pageSize))
        let kvmEvents = kvmLab.world.trace.events(after: kvmSeq)
        #expect(kvmEvents.contains { $0.heldLocks.contains { $0.isSpinlock } })
        #expect(kvmEvents.contains { $0.inRCU })
        #expect(kvmEvents.allSatisfy { $0.atomic == ($0.inRCU || $0.heldLocks.contains { $0.isSpinlock }) })
        #expect(lab.world.trace.events(after: seq).allSatisfy { $0.atomic == ($0.inRCU || $0.heldLocks.contains { $0.isSpinlock }) })
    }

    /// Two copies of a world share their trace's tables until one adds to them: each then
    /// shows its own events with its own strings and locks, whatever the other added.
    @Test("copies of a world each keep their own events after they part")
    func copiesPart() {
        var (lab, addr, kvm, gru, seq) = Self.twoPagesUnderKVMAndGRU()
        var other = lab.world
        lab.fault(kvm, addr, write: true)
        _ = other.perform(.fault(mm: lab.mm, notifier: gru, address: addr + pageSize, write: false))
        _ = other.perform(.fault(mm: lab.mm, notifier: kvm, address: addr + pageSize, write: false))
        let mine = lab.world.trace.events(after: seq).filter { $0.call == .driver }
        let theirs = other.trace.events(after: seq).filter { $0.call == .driver }
        #expect(mine.map(\.driver) == Array(repeating: "kvm", count: 8))
        #expect(mine.map { $0.locks.joined() } == ["", "", "", "", "mmu_lock:\(kvm)", "mmu_lock:\(kvm)", "mmu_lock:\(kvm)", ""])
        #expect(theirs.map(\.driver) == Array(repeating: "gru", count: 9) + Array(repeating: "kvm", count: 8))
        #expect(theirs[5].locks == ["tfh:\(gru)"] && theirs[9 + 4].locks == ["mmu_lock:\(kvm)"])
        #expect(lab.world.trace.events.map(\.seq) == Array(1...lab.world.lastSeq))
    }

    /// A ring smaller than what ran keeps the newest events in order, counts the rest, and
    /// its JSON gives the same log back.
    @Test("a full ring keeps the newest events in order and round-trips through JSON")
    func fullRing() throws {
        var world = World(WorldConfig(frames: 64, swapSlots: 0, traceCapacity: 5))
        let mm = world.createMM()
        _ = world.perform(.mmap(mm: mm, addr: nil, length: 4 * pageSize, prot: [.read, .write], flags: MmapFlags(), file: nil, offset: 0))
        _ = world.perform(.register(mm: mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false))
        _ = world.perform(.fault(mm: mm, notifier: 1, address: mmapBase, write: true))
        let events = world.trace.events
        #expect(events.count == 5)
        #expect(world.trace.dropped == world.lastSeq - 5)
        #expect(events.map(\.seq) == Array(world.lastSeq - 4...world.lastSeq))
        #expect(world.trace.events(after: world.lastSeq - 2).map(\.seq) == [world.lastSeq - 1, world.lastSeq])
        let decoded = try JSONDecoder().decode(TraceLog.self, from: JSONEncoder().encode(world.trace))
        #expect(decoded == world.trace)
        #expect(decoded.events == events)
        #expect(decoded.dropped == world.trace.dropped)
    }

    /// The ring keeps an event in 80 bytes: numbers the world bounds in 32 bits, the flags in
    /// bits, a statement's pointer and driver as one code. Every field comes back as it went in,
    /// at the edges of what each can hold (an address of all 64 bits, a ret of any sign, a
    /// pfn at the frame limit 2^28, a blockable false apart from none).
    @Test("a record keeps every field of an event, in 80 bytes")
    func compactRecord() throws {
        #expect(MemoryLayout<TraceRecord>.stride == 80)
        struct Log: Encodable {
            var capacity = 4
            var ring: [TraceEvent]
            var head = 0
            var dropped = 0
        }
        let full = TraceEvent(
            seq: 7,
            task: Int.max,
            mm: 3,
            op: "fault",
            call: .invalidateRangeStart,
            notifier: 2,
            start: 0,
            end: UInt64.max,
            address: UInt64.max - 4095,
            pfn: 1 << 28,
            pages: (1 << 28) + 5,
            heldLocks: [.driver(notifier: 2, name: "mmu_lock", spin: true)],
            inRCU: true,
            atomic: true,
            ret: Int.min,
            statement: "/fault/3",
            driver: "kvm",
            inSRCU: true,
            event: .clear,
            blockable: false
        )
        let bare = TraceEvent(
            seq: 8,
            task: nil,
            mm: nil,
            op: nil,
            call: .frameFree,
            notifier: nil,
            start: nil,
            end: nil,
            address: nil,
            pfn: nil,
            pages: nil,
            heldLocks: [],
            inRCU: false,
            atomic: false,
            ret: nil,
            statement: nil,
            driver: nil,
            event: nil,
            blockable: nil
        )
        // A pointer without a driver, and the same pointer under another driver: pairs of their own.
        let odd = [TraceEvent](
            [(9, "/fault/3", nil), (10, "/fault/3", "gru"), (11, nil, "kvm")].map { seq, pointer, driver in
                var event = bare
                (event.seq, event.statement, event.driver, event.blockable, event.ret) = (seq, pointer, driver, true, 0)
                return event
            }
        )
        let events = [full, bare] + odd
        let log = try JSONDecoder().decode(TraceLog.self, from: JSONEncoder().encode(Log(capacity: 8, ring: events)))
        #expect(log.events == events)
    }

    /// A driver lock's name is a number inside the model; its JSON is the name's text, as it
    /// was when the name was a string.
    @Test("a driver lock encodes its name as text")
    func lockJSON() throws {
        let lock = Lock.driver(notifier: 2, name: "mmu_lock", spin: true)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(lock)) as? [String: [String: Any]]
        #expect(json?["driver"]?["name"] as? String == "mmu_lock")
        #expect(json?["driver"]?["notifier"] as? Int == 2)
        #expect(try JSONDecoder().decode(Lock.self, from: JSONEncoder().encode(lock)) == lock)
        #expect(lock.label == "mmu_lock:2" && lock.name == "mmu_lock")
        #expect(LockName("mmu_lock") == "mmu_lock" && LockName("tfh") != "mmu_lock")
    }
}
