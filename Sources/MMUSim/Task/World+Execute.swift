extension World {
    /// Runs one step (or expands one macro) for the running task, the step popped off its
    /// program. A step that cannot run now changes nothing and goes back, to run next
    /// (`.blocked`).
    @inline(__always)
    mutating func execute(_ step: consuming Step) -> Exec {
        // A secondary fault's steps (the driver's statements, its gup's mmap_sem, fault and
        // end, the program's return) in a switch of their own: the one over every step was
        // a large part of a fault's cost. Each is taken apart, consumed: its payload is plain,
        // so it is dropped without `Step`'s destroy, which goes through the value witnesses of
        // an enum with indirect cases.
        switch consume step {
        case .driverStatement(let node, let statement, let name):
            return requeued(driverStatement(node, statement), .driverStatement(notifier: node, statement: statement, name: name))
        case .acquire(let lock):
            return requeued(acquire(lock), .acquire(lock))
        case .release(let lock):
            me.locks.drop(lock)
            return .ran
        case .handleFault(let mm, let address, let mode):
            return requeued(handleFault(mm: mm, address: address, mode: mode), .handleFault(mm: mm, address: address, mode: mode))
        case .driverGupDone(let node): return requeued(gupDone(node), .driverGupDone(notifier: node))
        case .driverReturn(let node): return requeued(driverReturn(node), .driverReturn(notifier: node))
        case .secondaryFault(let node, let address, let write):
            return requeued(policyFault(node, address: address, write: write), .secondaryFault(notifier: node, address: address, write: write))
        case .dropUser(let mm): return requeued(dropUser(mm: mm), .dropUser(mm: mm))
        case let other: return requeued(executeOther(other), other)
        }
    }

    /// `exec`, what a step did, with the step back on the program if it blocked.
    @inline(__always)
    private mutating func requeued(_ exec: Exec, _ step: @autoclosure () -> Step) -> Exec {
        if case .blocked = exec { me.program.appendClaimed(step()) }
        return exec
    }

    /// Takes `lock`, unless another task holds it.
    @inline(__always)
    private mutating func acquire(_ lock: Lock) -> Exec {
        if let reason = waitReason(for: lock) { return .blocked(reason) }
        me.locks.append(lock)
        return .ran
    }

    /// `execute` for every other step.
    @inline(never)
    private mutating func executeOther(_ step: Step) -> Exec {
        switch step {
        case .rcuReadLock:
            me.rcuDepth += 1
            return .ran
        case .rcuReadUnlock:
            rcuReadUnlock()
            return .ran
        case .synchronizeRCU: return synchronizeRCU()
        case .waitReaders(let readers): return waitReaders(readers)
        case .srcuReadUnlock:
            srcuReadUnlock()
            return .ran
        case .synchronizeSRCU: return synchronizeRCU(srcu: true)
        case .waitSRCUReaders(let readers): return waitReaders(readers, srcu: true)
        case .notify(let call): return notifyBegin(call)
        case .callback(let call, let node): return callbackStep(call, node: node)
        case .callRelease(let node): return callRelease(node)

        case .doMunmap(let mm, let start, let end): return doMunmapPlan(mm: mm, start: start, end: end)
        case .splitVMAs(let mm, let start, let end): return splitVMAs(mm: mm, start: start, end: end)
        case .detachVMAs(let mm, let start, let end): return detachVMAs(mm: mm, start: start, end: end)
        case .unmapVMAs(let mm, let start, let end, let ranges): return unmapVMAsPlan(mm: mm, start: start, end: end, ranges: ranges)
        case .zapPTEs(let mm, let start, let end): return zapPTEs(mm: mm, start: start, end: end)
        case .tlbFinishMMU: return tlbFinishMMU()
        case .zapHugePTEs(let mm, let start, let end): return zapHugePTEs(mm: mm, start: start, end: end)
        case .putHugePages: return putHugePages()
        case .madviseBody(let mm, let start, let end): return madvisePlan(mm: mm, start: start, end: end)

        case .mmapBody(let mm, let addr, let length, let prot, let flags, let file, let offset):
            return mmapPlan(mm: mm, addr: addr, length: length, prot: prot, flags: flags, file: file, offset: offset)
        case .mmapRegion(let mm, let vma): return mmapRegion(mm: mm, vma: vma)
        case .mprotectBody(let mm, let start, let end, let prot): return mprotectPlan(mm: mm, start: start, end: end, prot: prot)
        case .mprotectFixup(let mm, let start, let end, let prot): return mprotectFixup(mm: mm, start: start, end: end, prot: prot)
        case .changeProtection(let mm, let start, let end): return changeProtection(mm: mm, start: start, end: end)
        case .mremapBody(let mm, let oldAddr, let oldLength, let newLength, let mayMove, let newAddr):
            return mremapPlan(mm: mm, oldAddr: oldAddr, oldLength: oldLength, newLength: newLength, mayMove: mayMove, newAddr: newAddr)
        case .vmaAdjust(let mm, let start, let newEnd): return vmaAdjust(mm: mm, start: start, newEnd: newEnd)
        case .copyVMA(let mm, let oldStart, let newStart, let newLength):
            return copyVMA(mm: mm, oldStart: oldStart, newStart: newStart, newLength: newLength)
        case .movePTEs(let mm, let oldStart, let oldEnd, let newStart):
            return movePTEs(mm: mm, oldStart: oldStart, oldEnd: oldEnd, newStart: newStart)
        case .remapFileBody(let mm, let start, let end, let pgoff): return remapFilePlan(mm: mm, start: start, end: end, pgoff: pgoff)
        case .populateRange(let mm, let start, let end, let pgoff): return populateRange(mm: mm, start: start, end: end, pgoff: pgoff)
        case .applyPTEs(let mm, let start, let end): return applyPTEs(mm: mm, start: start, end: end)

        case .touchNext(let mm, let address, let end, let mode): return touchPlan(mm: mm, address: address, end: end, mode: mode)
        case .wpCopy(let mm, let address, let oldPfn, let mode): return wpCopy(mm: mm, address: address, oldPfn: oldPfn, mode: mode)
        case .wpClearFlush(let mm, let address, let oldPfn, let mode):
            return wpClearFlush(mm: mm, address: address, oldPfn: oldPfn, mode: mode)
        case .hugeClearFlush(let mm, let address, let oldPfn): return clearFlushPTE(mm: mm, address: address, oldPfn: oldPfn)
        case .wpSetPTE(let mm, let address, let oldPfn, let mode): return wpSetPTE(mm: mm, address: address, oldPfn: oldPfn, mode: mode)
        case .hugetlbCOWCopy(let mm, let address, let oldPfn, let mode):
            return hugetlbCOWCopy(mm: mm, address: address, oldPfn: oldPfn, mode: mode)
        case .hugetlbCOWBreak(let mm, let address, let oldPfn, let mode):
            return hugetlbCOWBreak(mm: mm, address: address, oldPfn: oldPfn, mode: mode)
        case .hugeSetPTE(let mm, let address, let oldPfn, let mode): return hugeSetPTE(mm: mm, address: address, oldPfn: oldPfn, mode: mode)
        case .xipUnmap(let mm, let address, let file, let pgoff, let mode):
            return xipUnmapPlan(mm: mm, address: address, file: file, pgoff: pgoff, mode: mode)
        case .xipUnmapOne(let mm, let address): return xipUnmapOne(mm: mm, address: address)
        case .xipInsert(let mm, let address, let mode): return xipInsert(mm: mm, address: address, mode: mode)
        case .putPage(let pfn): return putPageStep(pfn)

        case .dupMM(let mm): return dupMM(mm: mm)
        case .forkVMA(let parent, let index): return forkVMAPlan(parent: parent, index: index)
        case .dupVMA(let parent, let index): return dupVMA(parent: parent, index: index)
        case .copyPTEs(let parent, let start, let end): return copyPTEs(parent: parent, start: start, end: end)
        case .exitMM(let mm): return exitMM(mm: mm)
        case .exitMmap(let mm): return exitMmapPlan(mm: mm)
        case .releaseV17Next(let mm): return releaseV17Next(mm: mm)
        case .unlinkAll(let mm): return unlinkAll(mm: mm)
        case .removeAllVMAs(let mm): return removeAllVMAs(mm: mm)
        case .mmdrop(let mm): return mmdropStep(mm: mm)

        case .reclaimScan(let mm, let start, let end, let pages): return reclaimScan(mm: mm, start: start, end: end, pages: pages)
        case .reclaimNext(let index): return reclaimNext(index: index)
        case .reclaimPage(let pfn): return reclaimPagePlan(pfn: pfn)
        case .referencedOne(let mm, let address, let pfn, let fresh): return referencedOne(mm: mm, address: address, pfn: pfn, fresh: fresh)
        case .reclaimDecide(let pfn): return reclaimDecide(pfn: pfn)
        case .unmapOne(let mm, let address, let pfn, let migration): return unmapOne(mm: mm, address: address, pfn: pfn, migration: migration)
        case .setSwapPTE(let mm, let address, let pfn, let migration): return setSwapPTE(mm: mm, address: address, pfn: pfn, migration: migration)
        case .pageout(let pfn): return pageout(pfn: pfn)
        case .writebackScan(let file): return writebackScan(file: file)
        case .writebackNext(let index): return writebackNext(index: index)
        case .mkcleanOne(let mm, let address, let pfn): return mkcleanOne(mm: mm, address: address, pfn: pfn)
        case .mkcleanSet(let mm, let address, let pfn): return mkcleanSet(mm: mm, address: address, pfn: pfn)
        case .writepage(let pfn): return writepage(pfn: pfn)
        case .migrateScan(let mm, let start, let end): return migrateScan(mm: mm, start: start, end: end)
        case .migrateNext(let index): return migrateNext(index: index)
        case .migrateAlloc(let pfn): return migrateAlloc(pfn: pfn)
        case .migrateCopy(let oldPfn): return migrateCopy(oldPfn: oldPfn)
        case .removeMigrationPTEs(let oldPfn): return removeMigrationPTEs(oldPfn: oldPfn)

        case .takeAllLocks(let mm, let signalPending): return takeAllLocksPlan(mm: mm, signalPending: signalPending)
        case .checkSignal(let mm, let pending): return checkSignal(mm: mm, pending: pending)
        case .registerLink(let mm, let policy): return registerLink(mm: mm, policy: policy)
        case .dropAllLocks: return dropAllLocks()
        case .attachSecondary(let mm, let policy): return attachSecondary(mm: mm, policy: policy)
        case .unregisterUnlink(let node): return unregisterUnlink(node)
        case .unregisterReleaseFirst(let node): return unregisterReleaseFirst(node)
        case .unregisterDelInit(let node): return unregisterDelInit(node)
        case .unregisterFinish(let node): return unregisterFinish(node)

        case .driverEntry(let node, let name, let address, let write): return policyEntry(node, name: name, address: address, write: write)
        case .driverWork(let node, let name): return policyWork(node, name: name)
        case .hmmCheckRetry(let node): return hmmCheckRetry(node)
        case .readBeginWait(let mm, let seq): return readBeginWait(mm: mm, seq: seq)

        case .rangeStartDone(let call): return rangeStartDone(call)
        case .itreeStart(let call): return itreeStart(call)
        case .itreeInvalidate(let call, let nodes, let curSeq): return itreeInvalidate(call, nodes: nodes, curSeq: curSeq)
        case .itreeCallback(let call, let node, let curSeq): return itreeCallback(call, node: node, curSeq: curSeq)
        case .itreeResult(let call, let rest, let curSeq): return itreeResult(call, rest: rest, curSeq: curSeq)
        case .itreeInvEnd(let mm): return itreeInvEnd(mm: mm)
        case .itreeApplyDeferred(let mm): return itreeApplyDeferred(mm: mm)
        case .itreeRegister(let mm): return itreeRegister(mm: mm)
        case .setHasItree(let mm): return setHasItree(mm: mm)
        case .intervalInsert(let mm, let policy, let start, let end): return intervalInsert(mm: mm, policy: policy, start: start, end: end)
        case .intervalRemove(let node): return intervalRemove(node)
        case .intervalRemoveWait(let node, let seq): return intervalRemoveWait(node, seq: seq)
        case .intervalRemoveFinish(let node): return intervalRemoveFinish(node)
        case .notifierGet(let mm, let policy): return notifierGet(mm: mm, policy: policy)
        case .notifierPut(let node): return notifierPut(node)
        case .freeNotifierCall(let node): return freeNotifierCall(node)
        case .callbackProgram(let node, let callback): return callbackProgram(node, callback)
        case .oomReapAttempt(let mm, let attempt): return oomReapAttempt(mm: mm, attempt: attempt)
        case .oomReapVMA(let mm, let start, let end): return oomReapVMA(mm: mm, start: start, end: end)
        case .oomReapUnmap(let mm, let start, let end): return oomReapUnmap(mm: mm, start: start, end: end)
        case .oomReapFinish(let mm, let attempt): return oomReapFinish(mm: mm, attempt: attempt)
        case .mmapDowngrade(let mm): return mmapDowngrade(mm: mm)
        case .pageIdleNext(let mm, let address, let end, let mark): return pageIdleNext(mm: mm, address: address, end: end, mark: mark)
        case .pageIdleSet(let pfn, let mark): return pageIdleSet(pfn: pfn, mark: mark)
        case .khugepagedScanPTE(let mm, let address): return khugepagedScanPTE(mm: mm, address: address)
        case .khugepagedCount: return khugepagedCount()
        case .secondaryAccess(let node, let address, let write, let value):
            return secondaryAccess(node, address: address, write: write, value: value)
        case .driverStatement, .acquire, .release, .handleFault, .driverGupDone, .driverReturn, .secondaryFault, .dropUser:
            preconditionFailure("execute runs \(step.name) itself")
        }
    }
}
