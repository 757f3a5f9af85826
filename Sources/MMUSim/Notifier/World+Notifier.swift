/// The notifier core of mm/mmu_notifier.c (v17): the list walk, registration with
/// mm_take_all_locks, unregister, and __mmu_notifier_release in both orderings.
extension World {
    // MARK: The list walk

    /// An invalidate_range_start or _end over `[start, end)`, as the world's kernel makes it:
    /// in a modern world a `struct mmu_notifier_range` with its event, blockable, walked under
    /// SRCU (`mmu_notifier_range_init`).
    func rangeCall(_ kind: NotifyCall.Kind, mm: Int, start: UInt64, end: UInt64, _ event: RangeEvent, blockable: Bool = true) -> NotifyCall {
        guard config.kernel == .modern else { return NotifyCall(kind: kind, mm: mm, start: start, end: end) }
        return NotifyCall(kind: kind, mm: mm, start: start, end: end, event: event, blockable: blockable, srcu: true)
    }

    /// A clear_flush_young (or modern clear_young, test_young) over the page at `address`: in a
    /// modern world walked under SRCU (`__mmu_notifier_clear_flush_young`), with the page-table
    /// lock held by the caller.
    func youngCall(_ kind: NotifyCall.Kind = .clearFlushYoung, mm: Int, address: UInt64) -> NotifyCall {
        var call = NotifyCall.page(kind, mm: mm, address: address)
        call.srcu = config.kernel == .modern
        return call
    }

    /// Modern (6.6): `mmu_notifier_arch_invalidate_secondary_tlbs`, which the architecture's
    /// TLB flush calls over the range it flushed; nothing unless a listed subscriber has the
    /// method (the walk of the others calls nothing and is not shown).
    mutating func secondaryTLBs(mm: Int, start: UInt64, end: UInt64) -> [Step] {
        guard config.kernel == .modern, hasArchSubscriber(mm) else { return [] }
        return [.notify(NotifyCall(kind: .archInvalidateSecondaryTLBs, mm: mm, start: start, end: min(end, taskSize), srcu: true))]
    }

    /// True when a notifier on `mm`'s list has arch_invalidate_secondary_tlbs.
    mutating func hasArchSubscriber(_ mm: Int) -> Bool {
        guard let list = mms[mm - 1].notifierList else { return false }
        return list.contains { policies[notifiers[$0 - 1].policy].policy.callbacks[.archInvalidateSecondaryTLBs] != nil }
    }

    /// `__mmu_notifier_<method>`: rcu_read_lock, then one step per notifier on the list.
    /// The mm_has_notifiers() test is inline and free: without a list there is no step.
    mutating func notifyBegin(_ call: NotifyCall) -> Exec {
        // A modern start's failure (-EAGAIN, false) is this walk's alone.
        if call.srcu, call.kind == .invalidateRangeStart, !call.itreeDone { scratch.rangeFailed = false }
        guard let list = mms[call.mm - 1].notifierList else { return .expanded }
        // Modern: the interval subscriptions first; then the classic list, if it is not empty
        // (`if (!hlist_empty(&subscriptions->list))`).
        if let steps = itreePass(call) {
            push(steps)
            return .expanded
        }
        if call.srcu, list.isEmpty, call.kind != .clearFlushYoung { return .expanded }
        if call.kind == .archInvalidateSecondaryTLBs, !hasArchSubscriber(call.mm) { return .expanded }
        // Modern: srcu_read_lock(&srcu) (mm/mmu_notifier.c, 6.x): the callbacks may sleep.
        if call.srcu {
            me.srcuDepth += 1
        } else {
            me.rcuDepth += 1
        }
        if let head = list.first {
            push([.callback(call, node: head)])
        } else {
            push([call.srcu ? .srcuReadUnlock : .rcuReadUnlock])
        }
        return .ran
    }

    /// One iteration of `hlist_for_each_entry_rcu`: call the method on `node`, then follow
    /// its next pointer. A node unlinked meanwhile still leads on to the node that followed
    /// it when it was unlinked (hlist_del_init_rcu keeps ->next), so a walker standing on it
    /// finishes the walk; a node unlinked before the walker reached it is skipped.
    mutating func callbackStep(_ call: NotifyCall, node: Int) -> Exec {
        // The driver's callback runs as steps of its own before the walk moves on.
        let body = invoke(call, on: node)
        var next: Int?
        let list = mms[call.mm - 1].notifierList ?? []
        if let index = list.firstIndex(of: node) {
            next = index + 1 < list.count ? list[index + 1] : nil
            // The ends after a failed start skip the subscribers without one.
            if call.afterFailure { next = firstWithEnd(list, from: index + 1) }
        } else {
            next = notifiers[node - 1].unlinkedNext
        }
        // Modern: a start's walk ends with the ends a failed start owes, inside its SRCU section.
        let last: Step =
            call.srcu && call.kind == .invalidateRangeStart ? .rangeStartDone(call) : (call.srcu ? .srcuReadUnlock : .rcuReadUnlock)
        let after: Step = next.map { .callback(call, node: $0) } ?? last
        push(body + [after])
        return .ran
    }

    /// Calls one method of one notifier: the steps of its driver's callback. A notifier its
    /// driver freed runs nothing, but the call shows (the checker reports it).
    mutating func invoke(_ call: NotifyCall, on node: Int) -> [Step] {
        guard notifiers[node - 1].freed else { return invokePolicy(call, on: node) }
        checkCallbackTarget(call, node)
        emit(
            EventInfo(
                TraceCall(call.kind),
                mm: call.mm,
                notifier: node,
                start: call.start,
                end: call.end,
                event: call.event,
                blockable: call.event == nil ? nil : call.blockable
            )
        )
        return []
    }

    /// `rcu_read_unlock`.
    mutating func rcuReadUnlock() {
        precondition(me.rcuDepth > 0, "rcu_read_unlock without rcu_read_lock")
        me.rcuDepth -= 1
        if me.rcuDepth == 0 { me.rcuEpoch += 1 }
    }

    /// Modern: `srcu_read_unlock` of the notifier core's SRCU.
    mutating func srcuReadUnlock() {
        precondition(me.srcuDepth > 0, "srcu_read_unlock without srcu_read_lock")
        me.srcuDepth -= 1
        if me.srcuDepth == 0 { me.srcuEpoch += 1 }
    }

    /// `synchronize_rcu`, or in a modern core `synchronize_srcu(&srcu)`: note the readers
    /// inside that read side now; the next step waits until each has left it.
    mutating func synchronizeRCU(srcu: Bool = false) -> Exec {
        let readers = tasks.filter { $0.id != current && $0.readSide(srcu: srcu).depth > 0 && $0.status != .done }
            .map { ReaderMark(task: $0.id, epoch: $0.readSide(srcu: srcu).epoch) }
        push([srcu ? .waitSRCUReaders(readers) : .waitReaders(readers)])
        return .expanded
    }

    /// The wait of `synchronize_rcu` (or `synchronize_srcu`).
    mutating func waitReaders(_ readers: [ReaderMark], srcu: Bool = false) -> Exec {
        for reader in readers {
            guard let task = task(reader.task), task.status != .done else { continue }
            let side = task.readSide(srcu: srcu)
            if side.depth > 0, side.epoch == reader.epoch {
                return .blocked("\(srcu ? "SRCU " : "")grace period: task \(reader.task) is inside \(srcu ? "srcu" : "rcu")_read_lock")
            }
        }
        emit(EventInfo(.gracePeriod))
        return .ran
    }

    // MARK: Registration

    /// `mm_take_all_locks`: the all-locks mutex, then each distinct anon_vma and file
    /// mapping lock of the mm once, in VMA order, testing for a pending signal at each VMA.
    mutating func takeAllLocksPlan(mm: Int, signalPending: Bool) -> Exec {
        var steps: [Step] = [.acquire(.allLocksMutex)]
        var taken = Set<Lock>()
        // 6.x: the rmap locks are rwsems (anon_vma->rwsem, i_mmap_rwsem), which sleep.
        let sleeps = config.kernel == .modern
        for vma in mms[mm - 1].vmas {
            steps.append(.checkSignal(mm: mm, pending: signalPending))
            if signalPending { break }
            if let anon = vma.anonVMA, taken.insert(.anonVMA(anon, sleeps: sleeps)).inserted {
                steps.append(.acquire(.anonVMA(anon, sleeps: sleeps)))
            }
            if let file = vma.file, taken.insert(.iMmap(file: file, sleeps: sleeps)).inserted {
                steps.append(.acquire(.iMmap(file: file, sleeps: sleeps)))
            }
        }
        push(steps)
        return .expanded
    }

    /// The signal test in mm_take_all_locks' loop, before each VMA: a signal asked for by the
    /// request, or the fatal one of a process that exited meanwhile; -EINTR drops every lock taken.
    mutating func checkSignal(mm: Int, pending: Bool) -> Exec {
        guard pending || mms[mm - 1].killed else { return .ran }
        emit(EventInfo(.signalPending, ret: -Errno.EINTR.number))
        abort(.EINTR)
        return .ran
    }

    /// The body of `do_mmu_notifier_register` under all the locks: allocate
    /// mm->mmu_notifier_mm if this is the first notifier, pin mm_count, and hlist_add_head.
    mutating func registerLink(mm: Int, policy: Int) -> Exec {
        let id = notifiers.count + 1
        notifiers.append(Notifier(id: id, mm: mm, policy: policy, loaded: policies[policy], state: .listed))
        if mms[mm - 1].notifierList == nil { mms[mm - 1].notifierList = [] }
        mms[mm - 1].count += 1
        withLock(.notifierList(mm: mm)) { world in
            world.mms[mm - 1].notifierList!.insert(id, at: 0)
            let locks = world.me.locks.filter {
                if case .anonVMA = $0 { return true }
                if case .iMmap = $0 { return true }
                return false
            }
            world.updateResult {
                $0.notifier = id
                $0.locksTaken = locks.count
            }
            world.emit(EventInfo(.register, mm: mm, notifier: id, ret: 0))
        }
        // mmu_notifier_get: the new subscription has one user; its driver's alloc_notifier made it.
        if policies[policy].policy.subscribe == .get {
            notifiers[id - 1].users = 1
            if policies[policy].policy.callbacks[.allocNotifier] != nil { push([.callbackProgram(notifier: id, callback: .allocNotifier)]) }
        }
        return .ran
    }

    /// `mm_drop_all_locks`.
    mutating func dropAllLocks() -> Exec {
        me.locks.removeAll {
            switch $0 {
            case .anonVMA, .iMmap, .allLocksMutex: true
            default: false
            }
        }
        return .ran
    }

    /// Attaches a driver that registers no notifier (`subscribe: none`: pinning, unsafe).
    mutating func attachSecondary(mm: Int, policy: Int) -> Exec {
        let id = notifiers.count + 1
        notifiers.append(Notifier(id: id, mm: mm, policy: policy, loaded: policies[policy], state: .attached))
        updateResult {
            $0.notifier = id
            $0.locksTaken = 0
        }
        emit(EventInfo(.register, mm: mm, notifier: id, ret: 0))
        return .ran
    }

    // MARK: Unregister and release

    /// Unlinks a notifier from its mm's list, remembering its successor for walkers on it.
    mutating func unlink(_ node: Int) {
        let mm = notifiers[node - 1].mm
        guard var list = mms[mm - 1].notifierList, let index = list.firstIndex(of: node) else { return }
        notifiers[node - 1].unlinkedNext = index + 1 < list.count ? list[index + 1] : nil
        list.remove(at: index)
        mms[mm - 1].notifierList = list
        notifiers[node - 1].state = .released
        emit(EventInfo(.unlink, mm: mm, notifier: node))
    }

    /// The first half of `mmu_notifier_unregister`: under the list lock, if the notifier is
    /// still hashed, unlink it and call ->release inside rcu_read_lock.
    mutating func unregisterUnlink(_ node: Int) -> Exec {
        let mm = notifiers[node - 1].mm
        withLock(.notifierList(mm: mm)) { world in
            guard world.notifiers[node - 1].state == .listed else { return }
            world.unlink(node)
            world.me.rcuDepth += 1
            world.push([.callRelease(node: node), .rcuReadUnlock])
        }
        return .ran
    }

    /// The first half of the fixed `mmu_notifier_unregister` (3ad3d901bbcf, d34883d4e35c): if the
    /// notifier is still hashed, call ->release inside the read-side section while it is still
    /// listed, so that invalidations keep reaching it until its mappings are gone; then unlink.
    mutating func unregisterReleaseFirst(_ node: Int) -> Exec {
        guard notifiers[node - 1].state == .listed else { return .ran }
        // Modern: the same, under the core's SRCU.
        if config.kernel == .modern {
            me.srcuDepth += 1
            push([.callRelease(node: node), .srcuReadUnlock, .unregisterDelInit(notifier: node)])
            return .ran
        }
        me.rcuDepth += 1
        push([.callRelease(node: node), .rcuReadUnlock, .unregisterDelInit(notifier: node)])
        return .ran
    }

    /// `hlist_del_init_rcu` under the list lock: a no-op when __mmu_notifier_release unlinked
    /// the notifier meanwhile.
    mutating func unregisterDelInit(_ node: Int) -> Exec {
        withLock(.notifierList(mm: notifiers[node - 1].mm)) { $0.unlink(node) }
        return .ran
    }

    /// The end of `mmu_notifier_unregister`, after the grace period: no method can run on
    /// the notifier any more; drop its mm_count pin. A driver without a notifier has run its
    /// `close` entry; whatever it still maps goes here (set_page_dirty, and its pins put).
    mutating func unregisterFinish(_ node: Int) -> Exec {
        let mm = notifiers[node - 1].mm
        if !notifiers[node - 1].usesNotifier { zapPolicy(node, from: 0, to: taskSize, setDirty: true, put: true) }
        markUnregistered(node)
        if notifiers[node - 1].usesNotifier { mmdrop(mm) }
        return .ran
    }

    /// The notifier is gone from the core: no method runs on it again (mmu_notifier_unregister
    /// has returned, an interval subscription is removed, a get subscription's SRCU free came).
    mutating func markUnregistered(_ node: Int) {
        notifiers[node - 1].state = .unregistered
        notifiers[node - 1].releaseDone = true
        emit(EventInfo(.unregister, mm: notifiers[node - 1].mm, notifier: node))
    }

    /// One ->release call, made by unregister or by the v17 release loop.
    mutating func callRelease(_ node: Int) -> Exec {
        push(invoke(NotifyCall(kind: .release, mm: notifiers[node - 1].mm, start: 0, end: 0), on: node))
        return .ran
    }

    /// One turn of the seed's `__mmu_notifier_release` loop: under the list lock take the
    /// first notifier, unlink it (hlist_del_init_rcu), enter rcu_read_lock, drop the lock,
    /// then call its ->release. The window between the unlink and the ->release is the race
    /// fixed upstream: a notifier already off the list misses invalidate_page from reclaim.
    mutating func releaseV17Next(mm: Int) -> Exec {
        withLock(.notifierList(mm: mm)) { world in
            guard let head = world.mms[mm - 1].notifierList?.first else {
                world.push([.synchronizeRCU])
                return
            }
            world.unlink(head)
            world.me.rcuDepth += 1
            world.push([.callRelease(node: head), .rcuReadUnlock, .releaseV17Next(mm: mm)])
        }
        return .ran
    }

    /// The second half of the fixed `__mmu_notifier_release`: after every ->release ran,
    /// unlink them all under the list lock.
    mutating func unlinkAll(mm: Int) -> Exec {
        withLock(.notifierList(mm: mm)) { world in
            while let head = world.mms[mm - 1].notifierList?.first { world.unlink(head) }
        }
        return .ran
    }

    /// `mmdrop`: drop one mm_count; at zero the mm and its mmu_notifier_mm are freed.
    mutating func mmdrop(_ mm: Int) {
        mms[mm - 1].count -= 1
        precondition(mms[mm - 1].count >= 0, "mm_count below zero")
        if mms[mm - 1].count == 0 {
            mms[mm - 1].notifierList = nil
            emit(EventInfo(.mmFree, mm: mm))
        }
    }
}
