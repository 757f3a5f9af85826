import Testing

@testable import MMUSim

/// GRU's TLB dropin as gru_try_dropin (drivers/misc/sgi-gru/grufault.c, 2.6.27) runs it: read
/// the TFH and check `ms_range_active`, look the pte up atomically, then `tfh_write_restart`,
/// which the hardware ignores when a TLB invalidate came after the TFH was read.
@Suite("GRU dropin: the ms_range_active check, the pte lookup and the hardware's ignored dropin")
struct GRUDropinTests {
    /// One written page, a gru notifier (with `bugs`), and a madvise(DONTNEED) paused inside its
    /// invalidate_range_start/end, before zap_pte_range.
    private func windowOpen(bugs: [String] = []) -> (lab: Lab, address: UInt64, gru: Int, madvise: Int) {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        let gru = lab.register("gru", bugs: bugs)
        let madvise = lab.world.perform(.madviseDontneed(mm: lab.mm, addr: a, length: pageSize), pauseAt: "zap_pte_range")
        #expect(madvise.status == .paused && lab.world.variable("count", of: gru) == 1)
        return (lab, a, gru, madvise.id)
    }

    @Test("a dropin whose TFH was read before invalidate_range_start's flush is ignored by the hardware, though the pte is still there")
    func hardwareIgnoresALateDropin() {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        let gru = lab.register("gru")
        let fault = lab.world.perform(.fault(mm: lab.mm, notifier: gru, address: a, write: false), pauseAt: "atomic_pte_lookup")
        #expect(fault.status == .paused)
        let madvise = lab.world.perform(.madviseDontneed(mm: lab.mm, addr: a, length: pageSize), pauseAt: "zap_pte_range")
        #expect(madvise.status == .paused && lab.pte(a).isPresent)
        lab.world.resume(fault.id)
        let done = lab.world.task(fault.id)!
        #expect(done.result.errno == .EAGAIN && done.result.retries == 1)
        #expect(lab.world.notifier(gru)!.tlb.count == 0)
        lab.world.resume(madvise.id)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("inside an open range the ms_range_active check refuses the dropin")
    func rangeActiveRefuses() {
        var (lab, a, gru, madvise) = windowOpen()
        let fault = lab.fault(gru, a)
        #expect(fault.errno == .EAGAIN && lab.world.notifier(gru)!.tlb.count == 0)
        lab.world.resume(madvise)
        #expect(lab.world.violations.isEmpty)
    }

    @Test("a GRU that skips the ms_range_active check drops a translation in inside the window; after the zap it is stale")
    func skippedCheckLeavesAStaleTLBEntry() {
        var (lab, a, gru, madvise) = windowOpen(bugs: ["skip_retry_check"])
        let fault = lab.fault(gru, a)
        #expect(fault.ret == 0 && lab.world.notifier(gru)!.tlb.count == 1)
        #expect(lab.invariantsBroken == [.noSpteInInvalidateWindow])
        lab.world.resume(madvise)
        #expect(lab.pte(a).isNone && lab.world.notifier(gru)!.tlb.count == 1)
        #expect(lab.invariantsBroken.contains(.noStaleSpte))
    }
}
