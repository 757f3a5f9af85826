import Testing

@testable import MMUSim

/// `mm_users` under mmu_notifier_register and secondary faults. The task that registers (the
/// seed's `BUG_ON(atomic_read(&mm->mm_users) <= 0)`) or faults a secondary MMU uses the mm for
/// the whole call; the process's exit drops only its own reference, so exit_mmap runs at the
/// last `mmput` (kernel/fork.c), in that task; a registration that has not passed
/// mm_take_all_locks sees the exit's fatal signal there and fails with -EINTR.
@Suite("mm_users: exit_mmap runs at the last mmput, after a registration or fault in flight")
struct MMUsersTests {
    @Test("an exit under a registration past mm_take_all_locks: exit_mmap waits for the registration's mmput and releases the new notifier first")
    func exitWaitsForRegistration() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2, value: 3)
        let register = lab.world.perform(
            .register(mm: lab.mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false),
            pauseAt: "hlist_add_head"
        )
        #expect(register.status == .paused && lab.world.mm(lab.mm)!.users == 2)
        let exit = lab.run(.exit(mm: lab.mm))
        #expect(exit.ret == 0)
        // The process is gone, but the registering task still uses the mm: no exit_mmap yet.
        #expect(lab.world.mm(lab.mm)!.users == 1 && !lab.world.mm(lab.mm)!.exited && lab.world.mm(lab.mm)!.rss == 2)
        let mark = lab.world.lastSeq
        lab.world.resume(register.id)
        let done = lab.world.task(register.id)!
        #expect(done.status == .done && done.result.ret == 0)
        let calls = lab.world.trace.events(after: mark).map(\.call.rawValue).filter { ["register", "mmput", "release", "frame_free"].contains($0) }
        #expect(calls == ["register", "mmput", "release", "frame_free"])
        #expect(lab.world.mm(lab.mm)!.exited && lab.world.mm(lab.mm)!.users == 0)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("an exit before mm_take_all_locks' signal check: the registration fails with -EINTR, links nothing, and its mmput runs exit_mmap")
    func exitInterruptsRegistration() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2, value: 3)
        let register = lab.world.perform(
            .register(mm: lab.mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false),
            pauseAt: "signal_pending"
        )
        #expect(register.status == .paused)
        lab.run(.exit(mm: lab.mm))
        lab.world.resume(register.id)
        let done = lab.world.task(register.id)!
        #expect(done.status == .done && done.result.errno == .EINTR)
        #expect(!lab.world.mm(lab.mm)!.hasNotifiers && lab.world.notifiers.isEmpty)
        #expect(lab.world.mm(lab.mm)!.exited && lab.world.framesInUse == 1)
        #expect(lab.world.tasks.allSatisfy { $0.locks.isEmpty })
        #expect(lab.world.violations.isEmpty)
    }

    @Test("a kvm fault uses the mm: an exit during it runs exit_mmap at the fault's mmput, whose ->release drops the new spte")
    func exitWaitsForSecondaryFault() {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 5)
        let kvm = lab.register("kvm")
        let fault = lab.world.perform(.fault(mm: lab.mm, notifier: kvm, address: a, write: true), pauseAt: "lock:mmu_lock")
        #expect(fault.status == .paused && lab.world.mm(lab.mm)!.users == 2)
        lab.run(.exit(mm: lab.mm))
        #expect(!lab.world.mm(lab.mm)!.exited)
        lab.world.resume(fault.id)
        #expect(lab.world.notifier(kvm)!.counters.release == 1 && lab.world.notifier(kvm)!.sptes.count == 0)
        #expect(lab.world.mm(lab.mm)!.exited && lab.world.framesInUse == 1)
        #expect(lab.world.violations.isEmpty)
        // The exited mm takes no new call.
        #expect(lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize)).errno == .ESRCH)
    }
}
