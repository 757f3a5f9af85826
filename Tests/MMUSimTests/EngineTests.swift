import Foundation
import Testing

@testable import MMUSim

/// The engine's two ways of running a task: `run` without a pause point goes through the
/// task's steps in one loop (`runUnpaused`); `step` takes them one at a time. Both must leave
/// the same world: the same events, result, steps counted, locks and status.
@Suite("The engine: a task run in one loop is the task stepped one step at a time")
struct EngineTests {
    /// A world with a page written and kvm and gru registered on it: the fault bench's setup.
    static func faultWorld() -> (lab: Lab, addr: UInt64, kvm: Int, gru: Int) {
        var lab = Lab()
        let addr = lab.mmap(2)
        lab.write(addr, pages: 2, value: 3)
        let kvm = lab.register("kvm")
        let gru = lab.register("gru")
        return (lab, addr, kvm, gru)
    }

    /// kvm's fault (v17's kvm_mmu_page_fault path, gfn_to_pfn's get_user_pages under
    /// mmap_sem, the spte set under mmu_lock), then gru's (gru_try_dropin): run, and stepped.
    @Test("a kvm fault and a gru fault run in one loop: the events, result and steps of the same faults stepped")
    func runEqualsStepped() throws {
        let (lab, addr, kvm, gru) = Self.faultWorld()
        var ran = lab.world
        var stepped = lab.world
        for node in [kvm, gru] {
            let fault = Operation.fault(mm: lab.mm, notifier: node, address: addr, write: true)
            let seq = ran.lastSeq
            let one = ran.start(fault)
            #expect(ran.run(one) == .done)
            let other = stepped.start(fault)
            var outcomes: [StepOutcome] = []
            while stepped.task(other)?.status != .done, outcomes.count < 100 { outcomes.append(stepped.step(other)) }
            #expect(outcomes.allSatisfy { if case .ran = $0 { true } else { $0 == .done } })
            let (a, b) = (try #require(ran.task(one)), try #require(stepped.task(other)))
            #expect(a.result == b.result && a.stepsRun == b.stepsRun && a.status == .done && b.status == .done)
            #expect(a.result.ret == 0 && a.result.spte?.writable == true && a.locks.isEmpty && b.locks.isEmpty)
            // Every event the same but its task id (the two worlds numbered their tasks alike).
            let (x, y) = (ran.trace.events(after: seq), stepped.trace.events(after: seq))
            #expect(x == y && !x.isEmpty, "\(x.count) events against \(y.count)")
            // The statements each a step: 8 for kvm's fault, 9 for gru's, with the gup's 3.
            #expect(a.stepsRun == x.filter { $0.call == .driver }.count + 3, "\(a.stepsRun) steps")
            ran.collect(one)
            stepped.collect(other)
        }
        #expect(ran.violations.isEmpty && stepped.violations.isEmpty)
        #expect(ran.notifiers == stepped.notifiers && ran.frames == stepped.frames)
    }

    /// A kvm fault whose `lock mmu_lock` finds the lock held by another kvm fault, paused
    /// before its install (under mmu_lock, as kvm_mmu_page_fault sets the spte): run stops
    /// there blocked, the lock step back on the program (after 5 steps: the wait, the sample and
    /// the gup's mmap_sem, fault and release), and finishes once the other has.
    @Test("a task run in one loop stops blocked at a held lock, with that step still to run, and finishes later")
    func runBlocks() throws {
        var (lab, addr, kvm, _) = Self.faultWorld()
        let first = lab.world.start(.fault(mm: lab.mm, notifier: kvm, address: addr, write: true), pauseAt: "driver:kvm:/fault/5")
        #expect(lab.world.run(first) == .paused)
        #expect(lab.world.task(first)?.locks.map(\.label) == ["mmu_lock:\(kvm)"])
        let second = lab.world.start(.fault(mm: lab.mm, notifier: kvm, address: addr + pageSize, write: true))
        #expect(lab.world.run(second) == .blocked)
        let blocked = try #require(lab.world.task(second))
        #expect(blocked.status == .blocked && blocked.blockedOn == "mmu_lock:\(kvm) held by task \(first)")
        #expect(blocked.nextStep == "driver:kvm:/fault/3" && blocked.locks.isEmpty && blocked.stepsRun == 5)
        #expect(lab.world.resume(first) == .done)
        let done = try #require(lab.world.task(second))
        #expect(done.status == .done && done.result.ret == 0 && done.result.spte?.writable == true && done.locks.isEmpty)
        #expect(lab.world.violations.isEmpty)
    }

    /// `perform` keeps the task it hands back for the next task to reuse: a task its caller
    /// still holds is never written again, and a reused one starts as a new task would.
    @Test("a task perform handed back stays as it was while its caller holds it; the next task starts anew either way")
    func spareTask() throws {
        var (lab, addr, kvm, gru) = Self.faultWorld()
        let first = lab.world.perform(.fault(mm: lab.mm, notifier: kvm, address: addr, write: true))
        let kept = first
        // The caller holds `first`: the next fault's task must not be written into its state.
        let second = lab.world.perform(.fault(mm: lab.mm, notifier: gru, address: addr, write: false))
        #expect(first == kept && first.id != second.id && first.stepsRun == kept.stepsRun)
        #expect(first.op == "fault" && first.result.spte?.writable == true && first.status == .done)
        #expect(second.result.spte?.writable == false && second.status == .done && second.result.ret == 0)
        // Faults whose tasks nobody keeps: each runs in the last one's state, each as a new task.
        var ids: Set<Int> = []
        for page in 0..<2 {
            for node in [kvm, gru] {
                let task = lab.world.perform(.fault(mm: lab.mm, notifier: node, address: addr + UInt64(page) * pageSize, write: true))
                #expect(task.status == .done && task.result.ret == 0 && task.locks.isEmpty && task.result.retries == 0)
                #expect(task.mm == lab.mm && !task.isWorker && task.stepsRun > 0)
                ids.insert(task.id)
            }
        }
        #expect(ids.count == 4 && lab.world.tasks.isEmpty && lab.world.violations.isEmpty)
        // A reused task's state is a new one's: the munmap after the faults runs as on a world
        // that reused nothing (its result, steps and events).
        var fresh = lab.world
        fresh.spareTask = SpareTask()
        let seq = lab.world.lastSeq
        let a = lab.world.perform(.munmap(mm: lab.mm, addr: addr, length: 2 * pageSize))
        let b = fresh.perform(.munmap(mm: lab.mm, addr: addr, length: 2 * pageSize))
        #expect(a == b && a.result.ret == 0 && lab.world.trace.events(after: seq) == fresh.trace.events(after: seq))
    }

    /// The world's SpareTask itself: the task `perform` handed back is not reused while its
    /// caller holds it (and is then dropped); once the caller let it go, it comes back as a new
    /// task, equal to one made anew, its program's room kept.
    @Test("a kept task is reused only when no one else holds its state, and then equals a new task")
    func spareTaskTake() throws {
        let (lab, addr, kvm, _) = Self.faultWorld()
        var world = lab.world
        let fault = Operation.fault(mm: lab.mm, notifier: kvm, address: addr, write: true)
        let munmap = Operation.munmap(mm: lab.mm, addr: addr, length: pageSize)
        #expect(world.spareTask.take(id: 50, operation: munmap) == nil, "nothing kept yet")
        let held = world.perform(fault)
        #expect(world.spareTask.take(id: 50, operation: munmap) == nil, "its state is shared with `held`")
        #expect(world.spareTask.take(id: 50, operation: munmap) == nil, "a refused task is not kept")
        _ = world.perform(fault)
        let taken = world.spareTask.take(id: 51, operation: munmap)
        let reused = try #require(taken)
        #expect(reused == TaskStruct(id: 51, operation: munmap, program: []))
        #expect(reused.id == 51 && reused.op == "munmap" && reused.stepsRun == 0 && reused.status == .runnable)
        #expect(reused.program.isEmpty && reused.program.capacity >= 16 && reused.locks.isEmpty && reused.result == OpResult())
        #expect(held.status == .done && held.result.spte?.writable == true && held.op == "fault")
    }

    /// A driver frame's locals, kept inline for the first four: as many as up to the highest
    /// slot set, 0 until set, compared and encoded as the array they stand for.
    @Test("a frame's locals: 0 until set, counted up to the highest slot set, equal and encoded as their array")
    func frameLocals() throws {
        var locals = FrameLocals()
        #expect(locals.count == 0 && locals[0] == 0 && locals[7] == 0 && locals.values == [])
        locals.set(2, 5)
        #expect(locals.values == [0, 0, 5] && locals[2] == 5 && locals[3] == 0)
        locals.set(6, -1)
        #expect(locals.values == [0, 0, 5, 0, 0, 0, -1] && locals[6] == -1 && locals[5] == 0)
        locals.set(4, 9)
        #expect(locals.values == [0, 0, 5, 0, 9, 0, -1])
        #expect(locals == FrameLocals([0, 0, 5, 0, 9, 0, -1]) && locals.hashValue == FrameLocals(locals.values).hashValue)
        // A slot set to 0 is not a slot never set: two frames that differ so are two states.
        var zero = FrameLocals()
        zero.set(0, 0)
        #expect(zero != FrameLocals() && zero.values == [0])
        let json = try JSONEncoder().encode(locals)
        #expect(String(decoding: json, as: UTF8.self) == "[0,0,5,0,9,0,-1]")
        #expect(try JSONDecoder().decode(FrameLocals.self, from: json) == locals)
    }

    /// A secondary fault is planned without an array (`World.planned`): its refusals are
    /// `plan`'s, the same errno and nothing run, and an accepted fault's one step runs after the
    /// mm's user reference is taken (its program: the fault, then dropUser).
    @Test("a fault's one step: planned as plan plans it, refused with plan's errno, the mm's user reference dropped last")
    func faultPlannedAlone() throws {
        var (lab, addr, kvm, gru) = Self.faultWorld()
        let faults: [(MMUSim.Operation, Errno?)] = [
            (.fault(mm: lab.mm, notifier: kvm, address: addr, write: true), nil),
            (.fault(mm: lab.mm, notifier: 9, address: addr, write: true), .ENOENT),
            (.fault(mm: lab.mm + 1, notifier: kvm, address: addr, write: true), .ENOENT),
            (.fault(mm: lab.mm, notifier: gru, address: taskSize, write: false), .EFAULT),
        ]
        for (fault, refused) in faults {
            let steps = try? lab.world.plan(fault).get()
            let id = lab.world.start(fault)
            let task = try #require(lab.world.task(id))
            if let refused {
                #expect(steps == nil && task.status == .done && task.result.errno == refused && task.program.isEmpty)
            } else {
                #expect(steps?.count == 1)
                #expect(Array(task.program) == [.dropUser(mm: lab.mm)] + steps!)
                #expect(lab.world.run(id) == .done && lab.world.task(id)?.result.errno == nil)
            }
            lab.world.collect(id)
        }
        // An unregistered notifier's fault: EFAULT, as plan says.
        lab.run(.unregister(mm: lab.mm, notifier: gru))
        let late = MMUSim.Operation.fault(mm: lab.mm, notifier: gru, address: addr, write: true)
        let refused = lab.world.plan(late)
        let id = lab.world.start(late)
        #expect(refused == .failure(.EFAULT) && lab.world.task(id)?.result.errno == .EFAULT)
        #expect(lab.world.violations.isEmpty)
    }

    /// The running task's state is written in place through its box's writer (`World.claim`):
    /// the box is made unique first, so a copy of the world taken between two steps (as the
    /// explorer takes one at every step) keeps the task as it was while the original runs on,
    /// stepped or in one loop; and no writer outlives a step (`running` holds none after).
    @Test("a world copied between two steps keeps its task as it was while the original runs it on")
    func copyBetweenStepsKeepsItsTask() throws {
        let (lab, addr, kvm, _) = Self.faultWorld()
        var world = lab.world
        let id = world.start(.fault(mm: lab.mm, notifier: kvm, address: addr, write: true))
        _ = world.step(id)
        _ = world.step(id)
        let copy = world
        // The task's values, not the task (a task compares its state's box first).
        let before = try #require(copy.task(id))
        let (program, locks, frames, result) = (before.program, before.locks, before.scratch.driverFrames, before.result)
        #expect(world.step(id) != .done)
        #expect(world.run(id) == .done)
        let after = try #require(copy.task(id))
        #expect(after.status == .runnable && after.stepsRun == 2 && after.result == result && result.spte == nil)
        #expect(after.program == program && after.locks == locks && after.scratch.driverFrames == frames && !program.isEmpty)
        #expect(world.task(id)?.status == .done && world.task(id)!.stepsRun > 2)
        #expect(!world.hasRunningTask && !copy.hasRunningTask)
        // The copy, run on by itself, ends as the original did.
        var rest = copy
        #expect(rest.run(id) == .done)
        #expect(rest.task(id)?.result == world.task(id)?.result && rest.task(id)?.stepsRun == world.task(id)?.stepsRun)
    }

    /// The fields kept for speed alone (`NotPartOfValue`: the spare task, the running task's
    /// writer, the invariants' cache) leave the value that holds them as it would be without them.
    @Test("a field that is no part of a value compares equal, hashes as nothing, encodes as null and decodes as new")
    func notPartOfValue() throws {
        var held = InvariantsHeld()
        held.held = true
        #expect(held == InvariantsHeld())
        var (one, other) = (Hasher(), Hasher())
        one.combine(held)
        other.combine(InvariantsHeld())
        #expect(one.finalize() == other.finalize())
        let data = try JSONEncoder().encode([held])
        #expect(String(decoding: data, as: UTF8.self) == "[null]")
        #expect(try JSONDecoder().decode([InvariantsHeld].self, from: data).first?.held == false)
        // A world that keeps a spare task (the fault's, handed back) is the world without it.
        let (lab, addr, kvm, _) = Self.faultWorld()
        var kept = lab.world
        _ = kept.perform(.fault(mm: lab.mm, notifier: kvm, address: addr, write: true))
        var without = kept
        without.spareTask = SpareTask()
        #expect(kept == without && kept.hashValue == without.hashValue)
        // (It did keep one: once the copy let it go, the task is there to take.)
        #expect(kept.spareTask.take(id: 99, operation: .exit(mm: lab.mm)) != nil)
    }

    /// `Scratch.reset` clears field by field, in place: every field is set here to something
    /// other than a new task's, and the reset leaves a new task's values. The count of fields
    /// makes a field added to `Scratch` fail here until reset and this test name it.
    @Test("a task's scratch values reset field by field equal a new task's, every field named")
    func scratchReset() {
        #expect(Mirror(reflecting: Scratch()).children.count == 20)
        var scratch = Scratch()
        scratch.pendingFree = [1]
        scratch.zapWork = 1
        (scratch.flushMM, scratch.flushStart, scratch.flushEnd) = (1, 1, 1)
        scratch.hugePages = [1]
        scratch.young = true
        scratch.pfn = 1
        scratch.writable = true
        scratch.child = 1
        scratch.candidates = [1]
        scratch.mappings = [Mapping(mm: 1, address: 0, write: true)]
        scratch.exitMmap = 1
        scratch.lookedUp = 1
        scratch.fromHMM = true
        scratch.migrationFailed = true
        scratch.rangeFailed = true
        scratch.intervalAnswer = false
        scratch.reapFailed = true
        scratch.driverFrames = [DriverFrame(notifier: 1, callback: nil, start: 0, end: pageSize, address: 0, write: true)]
        // Every field differs from a new task's.
        let fresh = Mirror(reflecting: Scratch()).children.map { String(describing: $0.value) }
        let changed = Mirror(reflecting: scratch).children.map { String(describing: $0.value) }
        #expect(zip(fresh, changed).allSatisfy { $0 != $1 })
        let room = scratch.driverFrames.capacity
        scratch.reset()
        #expect(scratch == Scratch() && scratch.driverFrames.capacity == room)
    }

    /// A release drops the last hold of its lock: from the end when it was the last taken, from
    /// the middle otherwise (locks released out of order), and nothing for a lock not held.
    @Test("a lock released: its last hold dropped, from the end or the middle; one not held changes nothing")
    func lockDrop() {
        let mmap = Lock.mmapSem(mm: 1, write: false)
        let table = Lock.pageTable(mm: 1)
        let mmu = Lock.driver(notifier: 1, name: "mmu_lock", spin: true)
        var locks = [mmap, table, mmu]
        locks.drop(mmu)
        #expect(locks == [mmap, table])
        locks.drop(mmap)
        #expect(locks == [table])
        locks.drop(mmu)
        #expect(locks == [table])
        var twice = [mmap, table, mmap]
        twice.drop(mmap)
        #expect(twice == [mmap, table])
    }
}
