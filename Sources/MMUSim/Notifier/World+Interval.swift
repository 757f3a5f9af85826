/// The modern notifier core's interval tree and get/put (mm/mmu_notifier.c, read in a 6.17
/// tree): `mn_itree_invalidate` before the classic walk, `mn_itree_inv_end` with its deferred
/// list, `mmu_interval_notifier_insert`/`_remove`, `mmu_interval_read_begin`, the failed
/// non-blocking start (`mn_hlist_invalidate_range_start`), and `mmu_notifier_get`/`put`.
/// `subscriptions->lock` is the model's `notifierList` lock of the mm.
extension World {
    // MARK: Starts and ends with an interval tree

    /// The interval pass that comes first in `__mmu_notifier_invalidate_range_start`,
    /// `__mmu_notifier_invalidate_range_end` and `__mmu_notifier_release`, if the mm has an
    /// interval tree; nil when there is none (or it is done), and the classic walk goes on.
    mutating func itreePass(_ call: NotifyCall) -> [Step]? {
        guard call.srcu, !call.itreeDone, mms[call.mm - 1].hasItree else { return nil }
        switch call.kind {
        case .invalidateRangeStart: return [.itreeStart(call)]
        case .invalidateRangeEnd: return [.itreeInvEnd(mm: call.mm), .notify(classic(call))]
        case .release:
            // mn_itree_release: a blockable RELEASE range over the whole address space.
            let range = NotifyCall(kind: .release, mm: call.mm, start: 0, end: UInt64.max, event: .release, blockable: true, srcu: true)
            return [.itreeStart(range)]
        default: return nil
        }
    }

    /// The classic walk that follows the interval pass.
    func classic(_ call: NotifyCall) -> NotifyCall {
        var next = call
        if call.kind == .release { next = NotifyCall(kind: .release, mm: call.mm, start: 0, end: 0, srcu: true) }
        next.itreeDone = true
        return next
    }

    /// `mn_itree_inv_start_range` under the subscriptions lock: one more active range; one that
    /// overlaps a subscription makes the seq odd (a round is on); `cur_seq` is the seq now.
    mutating func itreeStart(_ call: NotifyCall) -> Exec {
        let mm = call.mm
        if let reason = waitReason(for: .notifierList(mm: mm)) { return .blocked(reason) }
        mms[mm - 1].activeInvalidateRanges += 1
        let nodes = mms[mm - 1].itree.filter { notifiers[$0 - 1].intervalStart < call.end && call.start < notifiers[$0 - 1].intervalEnd }
            .sorted { (notifiers[$0 - 1].intervalStart, $0) < (notifiers[$1 - 1].intervalStart, $1) }
        if !nodes.isEmpty, mms[mm - 1].invalidateSeq & 1 == 0 {
            mms[mm - 1].invalidateSeq |= 1
            emit(EventInfo(.invalidateSeq, mm: mm, ret: mms[mm - 1].invalidateSeq))
        }
        push([.itreeInvalidate(call, nodes: nodes, curSeq: mms[mm - 1].invalidateSeq)])
        return .ran
    }

    /// `mn_itree_invalidate`'s loop: each overlapping subscription's ->invalidate, then (for a
    /// start) the classic walk, or (for release) the round's end and the classic release.
    mutating func itreeInvalidate(_ call: NotifyCall, nodes: [Int], curSeq: Int) -> Exec {
        guard let node = nodes.first else {
            push(call.kind == .release ? [.itreeInvEnd(mm: call.mm), .notify(classic(call))] : [.notify(classic(call))])
            return .expanded
        }
        push([.itreeCallback(call, node: node, curSeq: curSeq), .itreeResult(call, rest: Array(nodes.dropFirst()), curSeq: curSeq)])
        return .expanded
    }

    /// `interval_sub->ops->invalidate(interval_sub, range, cur_seq)`: the driver's program (not
    /// under SRCU: the seq protocol covers it).
    mutating func itreeCallback(_ call: NotifyCall, node: Int, curSeq: Int) -> Exec {
        checkCallbackTarget(call, node)
        scratch.intervalAnswer = true
        // The RELEASE invalidation is an interval subscription's release.
        if call.event == .release { notifiers[node - 1].releaseDone = true }
        notifiers[node - 1].counters.invalidate = (notifiers[node - 1].counters.invalidate ?? 0) + 1
        emit(
            EventInfo(
                .invalidate,
                mm: call.mm,
                notifier: node,
                start: call.start,
                end: min(call.end, taskSize),
                ret: curSeq,
                event: call.event,
                blockable: call.blockable
            )
        )
        let loaded = policies[notifiers[node - 1].policy]
        guard !notifiers[node - 1].freed, let program = loaded.callbackPrograms[.invalidate], !program.isEmpty else {
            return .ran
        }
        var frame = DriverFrame(
            notifier: node,
            callback: .invalidate,
            start: call.start,
            end: min(call.end, taskSize),
            address: call.start,
            write: false
        )
        frame.event = call.event
        frame.blockable = call.blockable
        frame.curSeq = curSeq
        enterProgram(node, program, frame)
        return .ran
    }

    /// What the ->invalidate answered: false in a non-blockable range ends the round here and
    /// fails the start (-EAGAIN, before any classic start); false in a blockable one is a
    /// WARN_ON and the loop goes on.
    mutating func itreeResult(_ call: NotifyCall, rest: [Int], curSeq: Int) -> Exec {
        if !scratch.intervalAnswer {
            scratch.intervalAnswer = true
            if call.blockable {
                checkFailedBlockable(call, answer: "false")
            } else {
                scratch.rangeFailed = true
                push([.itreeInvEnd(mm: call.mm)])
                return .expanded
            }
        }
        push([.itreeInvalidate(call, nodes: rest, curSeq: curSeq)])
        return .expanded
    }

    /// `mn_itree_inv_end`: one active range less under the subscriptions lock; the last one of
    /// a round makes the seq even and, still holding the lock, goes on to the deferred list.
    /// The subscriptions this task invalidated are out of its window.
    mutating func itreeInvEnd(mm: Int) -> Exec {
        if let reason = waitReason(for: .notifierList(mm: mm)) { return .blocked(reason) }
        for node in notifiers.indices where notifiers[node].mm == mm && notifiers[node].subscribe == .interval {
            notifiers[node].activeRanges.removeAll { $0.task == current }
        }
        mms[mm - 1].activeInvalidateRanges -= 1
        guard mms[mm - 1].activeInvalidateRanges == 0, mms[mm - 1].invalidateSeq & 1 == 1 else { return .ran }
        mms[mm - 1].invalidateSeq += 1
        emit(EventInfo(.invalidateSeq, mm: mm, ret: mms[mm - 1].invalidateSeq))
        me.locks.append(.notifierList(mm: mm))
        push([.itreeApplyDeferred(mm: mm)])
        return .ran
    }

    /// The rest of `mn_itree_inv_end` under the lock: each deferred subscription goes into the
    /// tree (an insert) or out of it (a remove); then the unlock and `wake_up_all`.
    mutating func itreeApplyDeferred(mm: Int) -> Exec {
        for node in mms[mm - 1].deferredItree {
            if notifiers[node - 1].freed {
                report(
                    .notifierUseAfterFree,
                    mm: mm,
                    notifier: node,
                    address: nil,
                    "mn_itree_inv_end took subscription \(node) off its deferred list after its driver freed it: "
                        + "mmu_interval_notifier_remove returned before the round ended"
                )
            }
            if let index = mms[mm - 1].itree.firstIndex(of: node) {
                mms[mm - 1].itree.remove(at: index)
                emit(EventInfo(.intervalRemove, mm: mm, notifier: node))
            } else {
                mms[mm - 1].itree.append(node)
                emit(EventInfo(.intervalInsert, mm: mm, notifier: node, ret: notifiers[node - 1].invalidateSeq))
            }
        }
        mms[mm - 1].deferredItree = []
        if let index = me.locks.lastIndex(of: .notifierList(mm: mm)) { me.locks.remove(at: index) }
        return .ran
    }

    /// After a modern start's classic walk, inside its SRCU section: if a start failed,
    /// `invalidate_range_end` on every classic subscriber that has one (c2655835fd8c; not with
    /// `unpaired_end_on_eagain`).
    mutating func rangeStartDone(_ call: NotifyCall) -> Exec {
        var ends: [Step] = []
        if scratch.rangeFailed, !config.has(.unpairedEndOnEagain), let first = firstWithEnd(mms[call.mm - 1].notifierList ?? [], from: 0) {
            var end = call
            end.kind = .invalidateRangeEnd
            end.afterFailure = true
            ends = [.callback(end, node: first)]
        }
        push(ends.isEmpty ? [.srcuReadUnlock] : ends)
        return .expanded
    }

    /// The first notifier of `list` from `index` on whose driver has an invalidate_range_end.
    func firstWithEnd(_ list: [Int], from index: Int) -> Int? {
        list[min(index, list.count)...].first { policies[notifiers[$0 - 1].policy].policy.callbacks[.invalidateRangeEnd] != nil }
    }

    /// A start that failed a blockable range (`WARN_ON(mmu_notifier_range_blockable(range))`).
    mutating func checkFailedBlockable(_ call: NotifyCall, answer: String) {
        report(
            .notifierContract,
            mm: call.mm,
            notifier: nil,
            address: call.start,
            "a subscriber answered \(answer) to a blockable \(call.event?.rawValue ?? "") range: only a non-blockable one may fail (WARN_ON)"
        )
    }

    // MARK: Interval subscriptions

    /// `mmu_interval_notifier_insert`'s `mmu_notifier_register(NULL, mm)` for the mm's first
    /// interval subscription: mmap_lock for write and every lock, to set `has_itree`.
    mutating func itreeRegister(mm: Int) -> Exec {
        guard !mms[mm - 1].hasItree else { return .expanded }
        push([
            .acquire(.mmapSem(mm: mm, write: true)), .takeAllLocks(mm: mm, signalPending: false), .setHasItree(mm: mm), .dropAllLocks,
            .release(.mmapSem(mm: mm, write: true)),
        ])
        return .expanded
    }

    /// `subscriptions->has_itree = true` (the subscriptions allocated if need be).
    mutating func setHasItree(mm: Int) -> Exec {
        if mms[mm - 1].notifierList == nil { mms[mm - 1].notifierList = [] }
        mms[mm - 1].hasItree = true
        return .ran
    }

    /// `__mmu_interval_notifier_insert` under the subscriptions lock: with a round on, the
    /// subscription waits on the deferred list; with ranges active but no round, it makes one
    /// (the seq odd) and goes in; otherwise it goes in with a seq just below the mm's.
    mutating func intervalInsert(mm: Int, policy: Int, start: UInt64, end: UInt64) -> Exec {
        if let reason = waitReason(for: .notifierList(mm: mm)) { return .blocked(reason) }
        let id = notifiers.count + 1
        var notifier = Notifier(id: id, mm: mm, policy: policy, loaded: policies[policy], state: .listed)
        notifier.intervalStart = start
        notifier.intervalEnd = end
        mms[mm - 1].count += 1
        var deferred = false
        if mms[mm - 1].activeInvalidateRanges > 0 {
            if mms[mm - 1].invalidateSeq & 1 == 1 {
                mms[mm - 1].deferredItree.append(id)
                deferred = true
            } else {
                mms[mm - 1].invalidateSeq |= 1
                mms[mm - 1].itree.append(id)
                emit(EventInfo(.invalidateSeq, mm: mm, ret: mms[mm - 1].invalidateSeq))
            }
            notifier.invalidateSeq = mms[mm - 1].invalidateSeq
        } else {
            notifier.invalidateSeq = mms[mm - 1].invalidateSeq - 1
            mms[mm - 1].itree.append(id)
        }
        notifiers.append(notifier)
        updateResult { $0.notifier = id }
        emit(EventInfo(.register, mm: mm, notifier: id, ret: 0))
        emit(EventInfo(.intervalInsert, mm: mm, notifier: id, start: start, end: end, ret: deferred ? nil : notifier.invalidateSeq))
        return .ran
    }

    /// `mmu_interval_notifier_remove` under the lock: during a round a subscription in the tree
    /// is deferred (and the remove waits for the round's end), one still waiting to go in just
    /// leaves the deferred list; otherwise it leaves the tree.
    mutating func intervalRemove(_ node: Int) -> Exec {
        let mm = notifiers[node - 1].mm
        if let reason = waitReason(for: .notifierList(mm: mm)) { return .blocked(reason) }
        var seq = 0
        if mms[mm - 1].invalidateSeq & 1 == 1 {
            if mms[mm - 1].itree.contains(node) {
                mms[mm - 1].deferredItree.append(node)
                seq = mms[mm - 1].invalidateSeq
            } else {
                mms[mm - 1].deferredItree.removeAll { $0 == node }
            }
        } else {
            mms[mm - 1].itree.removeAll { $0 == node }
        }
        notifiers[node - 1].state = .released
        emit(EventInfo(.intervalRemove, mm: mm, notifier: node, ret: seq == 0 ? nil : seq))
        push(seq == 0 ? [] : [.intervalRemoveWait(notifier: node, seq: seq)])
        return .ran
    }

    /// The remove's `wait_event` until the round it was deferred in has ended: the seq read
    /// under the subscriptions lock (`mmu_interval_seq_released`, 319561669a59), or without it
    /// (`remove_reads_seq_unlocked`), which lets it return while mn_itree_inv_end is still on
    /// its deferred list.
    mutating func intervalRemoveWait(_ node: Int, seq: Int) -> Exec {
        let mm = notifiers[node - 1].mm
        if !config.has(.removeReadsSeqUnlocked), let reason = waitReason(for: .notifierList(mm: mm)) { return .blocked(reason) }
        if mms[mm - 1].invalidateSeq == seq { return .blocked("mmu_interval_notifier_remove waits for the round (seq \(seq)) to end") }
        return .ran
    }

    /// The end of the remove: `mmdrop`; then the driver frees the subscription with its device
    /// page table, as dmirror_fops_release's kfree does.
    mutating func intervalRemoveFinish(_ node: Int) -> Exec {
        let mm = notifiers[node - 1].mm
        zapPolicy(node, from: 0, to: taskSize, setDirty: true, put: true)
        markUnregistered(node)
        mmdrop(mm)
        notifiers[node - 1].freed = true
        emit(EventInfo(.notifierFree, mm: mm, notifier: node))
        return .ran
    }

    /// The wait in `mmu_interval_read_begin`: until the mm's seq is no longer the one the
    /// subscription had (READ_ONCE, no lock), that is until the round ends.
    mutating func readBeginWait(mm: Int, seq: Int) -> Exec {
        if mms[mm - 1].invalidateSeq == seq { return .blocked("mmu_interval_read_begin waits for the round (seq \(seq)) to end") }
        return .ran
    }

    /// hmm_range_fault's `mmu_interval_check_retry` before its walk: -EBUSY when the
    /// subscription was invalidated since the read_begin.
    mutating func hmmCheckRetry(_ node: Int) -> Exec {
        if notifiers[node - 1].invalidateSeq != frame.notifierSeq { abort(.EBUSY) }
        return .ran
    }

    // MARK: mmu_notifier_get and _put

    /// `mmu_notifier_get_locked` (mmap_lock held for write): the mm's listed subscription of
    /// the same driver gets one more user; else a new one registers (registerLink runs its
    /// `alloc_notifier` once it is linked).
    mutating func notifierGet(mm: Int, policy: Int) -> Exec {
        let found = mms[mm - 1].notifierList?.first { notifiers[$0 - 1].policy == policy && notifiers[$0 - 1].state == .listed }
        if let found {
            withLock(.notifierList(mm: mm)) { world in
                world.notifiers[found - 1].users += 1
                world.updateResult {
                    $0.notifier = found
                    $0.locksTaken = 0
                }
                world.emit(EventInfo(.register, mm: mm, notifier: found, ret: world.notifiers[found - 1].users))
            }
            return .ran
        }
        push([.takeAllLocks(mm: mm, signalPending: false), .registerLink(mm: mm, policy: policy), .dropAllLocks])
        return .expanded
    }

    /// `mmu_notifier_put` under the subscriptions lock: one user less; the last one unlinks the
    /// subscription and queues its free after an SRCU grace period (`call_srcu`).
    mutating func notifierPut(_ node: Int) -> Exec {
        let mm = notifiers[node - 1].mm
        if let reason = waitReason(for: .notifierList(mm: mm)) { return .blocked(reason) }
        notifiers[node - 1].users -= 1
        emit(EventInfo(.notifierPut, mm: mm, notifier: node, ret: notifiers[node - 1].users))
        guard notifiers[node - 1].users == 0 else { return .ran }
        withLock(.notifierList(mm: mm)) { $0.unlink(node) }
        _ = start(.srcuFree(mm: mm, notifier: node))
        return .ran
    }

    /// `mmu_notifier_free_rcu`: the driver's `free_notifier`, then the mm_count the
    /// registration took.
    mutating func freeNotifierCall(_ node: Int) -> Exec {
        let mm = notifiers[node - 1].mm
        markUnregistered(node)
        push([.callbackProgram(notifier: node, callback: .freeNotifier), .mmdrop(mm: mm)])
        return .ran
    }
}
