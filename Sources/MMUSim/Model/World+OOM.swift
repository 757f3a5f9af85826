/// The OOM reaper (mm/oom_kill.c, read in a 6.17 tree): `oom_reap_task` tries
/// `oom_reap_task_mm` up to MAX_OOM_REAP_RETRIES times, HZ/10 apart; each attempt takes
/// mmap_lock for read with a trylock and, in `__oom_reap_task_mm`, unmaps every anonymous or
/// private VMA (hugetlb and PFNMAP ones are skipped) inside a non-blockable UNMAP range, which
/// `mmu_notifier_invalidate_range_start_nonblock` may refuse with -EAGAIN: that VMA is skipped
/// and the attempt failed. After the last attempt, or a whole one, `MMF_OOM_SKIP` is set.
extension World {
    /// `MAX_OOM_REAP_RETRIES`.
    static let maxOOMReapRetries = 10

    /// One attempt: `mmap_read_trylock` (a failure is a failed attempt), `MMF_OOM_SKIP` ends
    /// it at once, else `MMF_UNSTABLE` and each VMA the reaper can unmap.
    mutating func oomReapAttempt(mm: Int, attempt: Int) -> Exec {
        updateResult { $0.attempts = attempt }
        let lock = Lock.mmapSem(mm: mm, write: false)
        guard waitReason(for: lock) == nil else {
            emit(EventInfo(.oomReap, mm: mm, ret: -Errno.EBUSY.number))
            push(attempt < Self.maxOOMReapRetries ? [.oomReapAttempt(mm: mm, attempt: attempt + 1)] : [.oomReapFinish(mm: mm, attempt: attempt)])
            return .ran
        }
        me.locks.append(lock)
        if mms[mm - 1].oomSkip {
            push([.release(lock)])
            return .ran
        }
        mms[mm - 1].unstable = true
        scratch.reapFailed = false
        let vmas = mms[mm - 1].vmas.filter { !$0.hugetlb && !$0.shared }
        push(vmas.map { .oomReapVMA(mm: mm, start: $0.start, end: $0.end) } + [.oomReapFinish(mm: mm, attempt: attempt)])
        return .ran
    }

    /// One VMA: `mmu_notifier_invalidate_range_start_nonblock` over it, then the unmap.
    mutating func oomReapVMA(mm: Int, start: UInt64, end: UInt64) -> Exec {
        push([
            .notify(rangeCall(.invalidateRangeStart, mm: mm, start: start, end: end, .unmap, blockable: false)),
            .oomReapUnmap(mm: mm, start: start, end: end),
        ])
        return .expanded
    }

    /// `unmap_page_range` and the range's end, unless the start failed: then "ret = false;
    /// continue" (the VMA is skipped, and no end is called).
    mutating func oomReapUnmap(mm: Int, start: UInt64, end: UInt64) -> Exec {
        if scratch.rangeFailed {
            scratch.rangeFailed = false
            scratch.reapFailed = true
            emit(EventInfo(.oomReap, mm: mm, start: start, end: end, ret: -Errno.EAGAIN.number))
            return .ran
        }
        // No ZAP_BLOCK_SIZE batching in a 6.x unmap_page_range: the gather frees when it fills.
        scratch.zapWork = Int.max / 2
        push([
            .zapPTEs(mm: mm, start: start, end: end),
            .notify(rangeCall(.invalidateRangeEnd, mm: mm, start: start, end: end, .unmap, blockable: false)), .tlbFinishMMU,
        ])
        return .ran
    }

    /// The end of an attempt: mmap_read_unlock; after a failed one, the next attempt (the
    /// reaper's `schedule_timeout_idle(HZ/10)` is a point where others run); after the last
    /// or a whole one, `MMF_OOM_SKIP`.
    mutating func oomReapFinish(mm: Int, attempt: Int) -> Exec {
        let lock = Lock.mmapSem(mm: mm, write: false)
        let held = me.locks.lastIndex(of: lock)
        if let held { me.locks.remove(at: held) }
        let failed = held == nil || scratch.reapFailed
        if held != nil { emit(EventInfo(.oomReap, mm: mm, ret: failed ? -Errno.EAGAIN.number : 0)) }
        if failed, attempt < Self.maxOOMReapRetries {
            push([.oomReapAttempt(mm: mm, attempt: attempt + 1)])
            return .ran
        }
        mms[mm - 1].oomSkip = true
        return .ran
    }

    /// `mmap_write_downgrade`: the task's write hold on mmap_lock becomes a read hold.
    mutating func mmapDowngrade(mm: Int) -> Exec {
        if let index = me.locks.lastIndex(of: .mmapSem(mm: mm, write: true)) {
            me.locks[index] = .mmapSem(mm: mm, write: false)
        }
        return .ran
    }
}
