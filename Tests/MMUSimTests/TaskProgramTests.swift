import Foundation
import Testing

@testable import MMUSim

@Suite("A task's program is a value: copies keep their steps")
struct TaskProgramTests {
    @Test("pushes and pops change the program they are made on, never a copy of it; the first of several pushed runs next")
    func copiesKeepTheirSteps() {
        var program: TaskProgram = [.rcuReadLock, .rcuReadUnlock]
        let copy = program
        program.append(.synchronizeRCU)
        #expect(copy.count == 2 && program.count == 3 && program.last == .synchronizeRCU)
        var popped = program
        #expect(popped.popLast() == .synchronizeRCU && popped.last == .rcuReadUnlock)
        #expect(program.count == 3 && program.last == .synchronizeRCU)
        program.push([.tlbFinishMMU, .putHugePages])
        #expect(Array(program) == [.rcuReadLock, .rcuReadUnlock, .synchronizeRCU, .putHugePages, .tlbFinishMMU])
        #expect(program.removeLast() == .tlbFinishMMU && program.count == 4 && copy == [.rcuReadLock, .rcuReadUnlock])
        // Growing past the room it has keeps every step, in order.
        var long = TaskProgram()
        for mm in 1...40 { long.append(.dropUser(mm: mm)) }
        #expect(long.count == 40 && long.capacity >= 40 && long.enumerated().allSatisfy { $0.element == .dropUser(mm: $0.offset + 1) })
    }

    @Test("the claimed pushes and pops (no uniqueness check) act on storage makeUnique made the program's own, an emptied one included")
    func claimedOperationsAfterMakeUnique() {
        let original: TaskProgram = [.rcuReadLock, .rcuReadUnlock]
        var running = original
        running.makeUnique()
        running.appendClaimed(.synchronizeRCU)
        #expect(running.popClaimed() == .synchronizeRCU && running.popClaimed() == .rcuReadUnlock)
        #expect(original == [.rcuReadLock, .rcuReadUnlock] && running == [.rcuReadLock])
        // An empty program that kept its room, shared: a claimed push must not reach the other.
        var emptied: TaskProgram = [.rcuReadLock]
        emptied.removeAll(keepingCapacity: true)
        #expect(emptied.isEmpty && emptied.capacity >= 1)
        var other = emptied
        other.makeUnique()
        other.appendClaimed(.putHugePages)
        #expect(emptied.isEmpty && other == [.putHugePages])
        // A program that never held a step gets storage of its own at its first claimed push.
        var fresh = TaskProgram()
        let alsoFresh = fresh
        fresh.makeUnique()
        fresh.appendClaimed(.tlbFinishMMU)
        #expect(fresh == [.tlbFinishMMU] && alsoFresh.isEmpty && fresh.popClaimed() == .tlbFinishMMU && fresh.popClaimed() == nil)
    }

    @Test("a program compares, hashes and encodes as the array of its steps")
    func valueOfItsSteps() throws {
        let steps: [Step] = [.dropUser(mm: 1), .secondaryFault(notifier: 2, address: 0x1000, write: true)]
        let program = TaskProgram(steps)
        var built = TaskProgram()
        built.append(steps[0])
        built.append(steps[1])
        #expect(program == built && program.hashValue == built.hashValue)
        #expect(program != TaskProgram([steps[0]]) && TaskProgram() == [])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let encoded = try encoder.encode(program)
        #expect(encoded == (try encoder.encode(steps)))
        #expect(try JSONDecoder().decode(TaskProgram.self, from: encoded) == program)
        #expect(try JSONDecoder().decode(TaskProgram.self, from: Data("[]".utf8)).isEmpty)
    }

    @Test("a world copied while a kvm fault is paused inside its program runs on as the original would, and the original keeps its steps")
    func pausedFaultCopied() throws {
        var lab = Lab()
        let base = lab.mmap(1)
        _ = lab.write(base)
        let kvm = lab.register("kvm")
        let id = lab.world.start(.fault(mm: lab.mm, notifier: kvm, address: base, write: true), pauseAt: "driver:kvm:/fault/3")
        #expect(lab.world.run(id) == .paused)
        let paused = lab.world
        let index = try #require(paused.tasks.firstIndex { $0.id == id })
        let steps = Array(paused.tasks[index].program)
        var copy = paused
        #expect(copy.resume(id) == .done)
        #expect(Array(paused.tasks[index].program) == steps && paused.tasks[index].status == .paused)
        var original = paused
        #expect(original.resume(id) == .done && original.sameState(copy))
    }
}
