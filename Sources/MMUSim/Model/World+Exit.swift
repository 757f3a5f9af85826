/// exit: mmput, exit_mmap, mmdrop.
extension World {
    /// The process's `mmput`: the last user gone, exit_mmap tears the address space down. A
    /// task still in mmu_notifier_register or a secondary fault holds another user reference:
    /// it gets the fatal signal, and exit_mmap runs at its own mmput.
    mutating func exitMM(mm: Int) -> Exec {
        mms[mm - 1].users -= 1
        emit(EventInfo(.mmput, mm: mm, ret: mms[mm - 1].users))
        if mms[mm - 1].users == 0 {
            push([.exitMmap(mm: mm)])
        } else {
            mms[mm - 1].killed = true
        }
        return .ran
    }

    /// The `mmput` of a task that held a user reference for its call (register, a secondary
    /// fault): when it was the last, exit_mmap runs here, in this task.
    mutating func dropUser(mm: Int) -> Exec {
        mms[mm - 1].users -= 1
        guard mms[mm - 1].users == 0 else { return .ran }
        emit(EventInfo(.mmput, mm: mm, ret: 0))
        push([.exitMmap(mm: mm)])
        return .ran
    }

    /// `exit_mmap`: mmu_notifier_release first (in the world's ordering), then unmap_vmas over
    /// everything (0 to ULONG_MAX) and the VMAs go; then the users' mm_count is dropped.
    mutating func exitMmapPlan(mm: Int) -> Exec {
        scratch.exitMmap = mm
        var steps: [Step] = []
        if mms[mm - 1].hasNotifiers {
            switch config.releaseOrder {
            case .v17:
                steps.append(.releaseV17Next(mm: mm))
            case .fixed where config.kernel == .modern:
                // __mmu_notifier_release (6.x): every ->release under SRCU, unlink them all,
                // synchronize_srcu.
                steps += [.notify(NotifyCall(kind: .release, mm: mm, start: 0, end: 0, srcu: true)), .unlinkAll(mm: mm), .synchronizeSRCU]
            case .fixed:
                steps += [.notify(NotifyCall(kind: .release, mm: mm, start: 0, end: 0)), .unlinkAll(mm: mm), .synchronizeRCU]
            }
        }
        let ranges = mms[mm - 1].vmas.map { ZapRange(start: $0.start, end: $0.end, hugetlb: $0.hugetlb) }
        let unmap = Step.unmapVMAs(mm: mm, start: 0, end: UInt64.max, ranges: ranges)
        if config.has(.exitMmapUnmapsBeforeRelease) {
            steps.insert(unmap, at: 0)
        } else {
            steps.append(unmap)
        }
        steps += [.removeAllVMAs(mm: mm), .mmdrop(mm: mm)]
        push(steps)
        return .expanded
    }

    /// `remove_vma` for every VMA: the address space is empty.
    mutating func removeAllVMAs(mm: Int) -> Exec {
        mms[mm - 1].vmas.removeAll()
        mms[mm - 1].exited = true
        // Modern exit_mmap sets MMF_OOM_SKIP: the OOM reaper leaves the mm alone.
        if config.kernel == .modern { mms[mm - 1].oomSkip = true }
        emit(EventInfo(.exitMmap, mm: mm))
        return .ran
    }

    /// `mmdrop` as a step.
    mutating func mmdropStep(mm: Int) -> Exec {
        mmdrop(mm)
        return .ran
    }
}
