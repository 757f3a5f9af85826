/// The secondary MMUs: what each kind of driver does in its notifier methods, its fault path
/// and an access through its translations.
extension World {
    // MARK: Notifier methods

    /// ->release: tear every secondary mapping down and freeze the secondary MMU.
    mutating func secondaryRelease(_ node: Int) {
        zapAllSecondary(node)
        notifiers[node - 1].frozen = true
        notifiers[node - 1].releaseDone = true
        if notifiers[node - 1].has(.freeInRelease) {
            // The bug: kfree(mn) right here instead of after the grace period that
            // mmu_notifier_unregister's synchronize_rcu provides.
            notifiers[node - 1].freed = true
            emit(EventInfo(.notifierFree, mm: notifiers[node - 1].mm, notifier: node))
        }
    }

    /// ->clear_flush_young (kvm only): test and clear the spte's young bit.
    mutating func secondaryClearFlushYoung(_ node: Int, address: UInt64) -> Bool {
        var spte = notifiers[node - 1].sptes.pte(at: address)
        guard spte.isPresent, spte.young else { return false }
        spte.young = false
        notifiers[node - 1].sptes.setPTE(spte, at: address)
        flushSecondaryTLB(node, from: address, to: address + pageSize)
        return true
    }

    /// ->invalidate_page: kvm bumps mmu_notifier_seq and zaps the spte; gru flushes the TLB
    /// entry; xpmem (sleeping) drops the remote attachment and its pin.
    mutating func secondaryInvalidatePage(_ node: Int, address: UInt64) {
        if notifiers[node - 1].kind == .kvm { notifiers[node - 1].seq += 1 }
        zapSecondary(node, from: address, to: address + pageSize)
    }

    /// ->invalidate_range_start: kvm counts the open range and zaps the sptes in it; gru
    /// raises ms_range_active and flushes; xpmem drops the attachments.
    mutating func secondaryRangeStart(_ node: Int, start: UInt64, end: UInt64) {
        notifiers[node - 1].count += 1
        zapSecondary(node, from: start, to: end)
    }

    /// ->invalidate_range_end: kvm bumps mmu_notifier_seq, then drops the count (the order
    /// that mmu_notifier_retry pairs with); gru lowers ms_range_active.
    mutating func secondaryRangeEnd(_ node: Int, start: UInt64, end: UInt64) {
        if notifiers[node - 1].kind == .kvm { notifiers[node - 1].seq += 1 }
        notifiers[node - 1].count -= 1
        checkCount(node, address: start)
    }

    // MARK: Zapping

    /// Removes the sptes and TLB entries of a notifier in `[start, end)`. A dirty spte is
    /// handed to set_page_dirty first (unless the driver has no_set_page_dirty); a pinning
    /// driver drops its page reference.
    mutating func zapSecondary(_ node: Int, from start: UInt64, to end: UInt64) {
        let zapped = removeSecondaryEntries(node, \.sptes, from: start, to: end) { world, spte in
            world.dropSecondaryEntry(node, spte, dirty: spte.dirty)
        }
        if zapped > 0 { emit(EventInfo(.spteZap, mm: notifiers[node - 1].mm, notifier: node, start: start, end: end, pages: zapped)) }
        flushSecondaryTLB(node, from: notifiers[node - 1].kind == .kvm ? 0 : start, to: notifiers[node - 1].kind == .kvm ? UInt64.max : end)
    }

    /// Flushes TLB entries in `[start, end)`; kvm_flush_remote_tlbs flushes them all.
    mutating func flushSecondaryTLB(_ node: Int, from start: UInt64, to end: UInt64) {
        if notifiers[node - 1].kind == .gru { notifiers[node - 1].flushes += 1 }
        let flushed = removeSecondaryEntries(node, \.tlb, from: start, to: end) { world, entry in
            world.dropSecondaryEntry(node, entry, dirty: entry.dirty)
        }
        if flushed > 0 {
            emit(EventInfo(.tlbFlush, mm: notifiers[node - 1].mm, notifier: node, start: start, end: min(end, taskSize), pages: flushed))
        }
    }

    /// Removes a notifier's entries of one table (sptes or TLB) in `[start, end)`, handing
    /// each to `drop`; returns how many went. The table is walked in place: taken out of the
    /// notifier while `drop` may change the world, then put back.
    mutating func removeSecondaryEntries(
        _ node: Int,
        _ table: WritableKeyPath<Notifier, RadixTable>,
        from start: UInt64,
        to end: UInt64,
        drop: (inout World, PTE) -> Void
    ) -> Int {
        guard notifiers[node - 1][keyPath: table].count > 0 else { return 0 }
        var entries = notifiers[node - 1][keyPath: table]
        notifiers[node - 1][keyPath: table] = RadixTable()
        var removed = 0
        entries.removeAll(from: start >> pageShift, to: (min(end, taskSize) - 1) >> pageShift + 1) { _, raw in
            drop(&self, PTE(raw: raw))
            removed += 1
        }
        notifiers[node - 1][keyPath: table] = entries
        return removed
    }

    /// Zaps everything a secondary MMU maps.
    mutating func zapAllSecondary(_ node: Int) {
        zapSecondary(node, from: 0, to: taskSize)
    }

    /// Drops one secondary entry's hold on its frame. Only an entry whose frame is still the
    /// one it was made for (same generation, still allocated) touches the frame.
    mutating func dropSecondaryEntry(_ node: Int, _ entry: PTE, dirty: Bool) {
        let pfn = entry.pfn
        guard frames[pfn].isAllocated, frames[pfn].generation == entry.generation else { return }
        if dirty && !notifiers[node - 1].has(.noSetPageDirty) { frames[pfn].dirty = true }
        if notifiers[node - 1].pins {
            putPage(pfn)
        } else {
            frames[pfn].secondaryMaps -= 1
        }
    }

    /// Installs an entry in a secondary table, checking the invalidate window first.
    private mutating func installSecondary(_ node: Int, tlb: Bool, address: UInt64, pfn: Int, write: Bool) {
        checkInstall(node, address: address)
        let entry = PTE.present(pfn: pfn, write: write, young: true, dirty: false, generation: frames[pfn].generation)
        let old = tlb ? notifiers[node - 1].tlb.pte(at: address) : notifiers[node - 1].sptes.pte(at: address)
        if old.isPresent { dropSecondaryEntry(node, old, dirty: old.dirty) }
        if tlb {
            notifiers[node - 1].tlb.setPTE(entry, at: address)
        } else {
            notifiers[node - 1].sptes.setPTE(entry, at: address)
        }
        if !notifiers[node - 1].pins { frames[pfn].secondaryMaps += 1 }
        markChanged(mm: notifiers[node - 1].mm, start: address, end: address + pageSize)
        emit(EventInfo(tlb ? .tlbDropin : .spteSet, mm: notifiers[node - 1].mm, notifier: node, address: address, pfn: pfn))
        updateResult { $0.spte = SpteInfo(address: address, pfn: pfn, writable: write, young: true, dirty: false) }
    }

    // MARK: Fault path

    /// The secondary MMU's page fault, by kind:
    /// - kvm: sample mmu_notifier_seq, get_user_pages, take mmu_lock, retry if a range is
    ///   open or the seq moved, else install the spte; drop the gup reference.
    /// - gru: get_user_pages, then a TLB dropin that fails while ms_range_active is raised.
    /// - xpmem, pinning: get_user_pages and keep the reference as a pin.
    /// - unsafe: get_user_pages, map, and drop the reference.
    mutating func secondaryFaultPlan(_ node: Int, address: UInt64, write: Bool) -> Exec {
        notifiers[node - 1].counters.faults += 1
        updateResult { $0.retries = 0 }
        let mm = notifiers[node - 1].mm
        let gup: [Step] = [
            .acquire(.mmapSem(mm: mm, write: false)), .handleFault(mm: mm, address: address, mode: .gup(write: write)),
            .release(.mmapSem(mm: mm, write: false)),
        ]
        switch notifiers[node - 1].kind {
        case .kvm:
            push([.kvmSampleSeq(notifier: node, address: address, write: write)])
        case .gru:
            push(gup + [.gruReadTFH(notifier: node, address: address, write: write), .putGupPage])
        case .xpmem, .pinning, .unsafe:
            push(gup + [.pinInstall(notifier: node, address: address, write: write)])
        case nil:
            preconditionFailure("a policy's fault is policyFault's")
        }
        return .expanded
    }

    /// kvm: `mmu_seq = kvm->mmu_notifier_seq; smp_rmb();` at the start of a fault. After a
    /// retry the vcpu comes back only once the open ranges have ended.
    mutating func kvmSampleSeq(_ node: Int, address: UInt64, write: Bool) -> Exec {
        if scratch.retried && notifiers[node - 1].count > 0 {
            return .blocked("mmu_notifier_count of notifier \(node) is \(notifiers[node - 1].count)")
        }
        scratch.seq = notifiers[node - 1].seq
        let mm = notifiers[node - 1].mm
        push([
            .acquire(.mmapSem(mm: mm, write: false)), .handleFault(mm: mm, address: address, mode: .gup(write: write)),
            .release(.mmapSem(mm: mm, write: false)), .acquire(.mmuLock(notifier: node)),
            .kvmInstall(notifier: node, address: address, write: write), .release(.mmuLock(notifier: node)), .putGupPage,
            .kvmRetry(notifier: node, address: address, write: write),
        ])
        return .ran
    }

    /// kvm, under mmu_lock: `if (mmu_notifier_retry(vcpu, mmu_seq)) goto out_unlock;` else
    /// install the spte for the page get_user_pages returned.
    mutating func kvmInstall(_ node: Int, address: UInt64, write: Bool) -> Exec {
        if notifiers[node - 1].frozen {
            abortKeepingGup(.EFAULT)
            return .ran
        }
        if !notifiers[node - 1].has(.skipRetryCheck) && (notifiers[node - 1].count > 0 || notifiers[node - 1].seq != scratch.seq) {
            notifiers[node - 1].counters.retries += 1
            updateResult { $0.retries = ($0.retries ?? 0) + 1 }
            emit(
                EventInfo(
                    .faultRetry,
                    mm: notifiers[node - 1].mm,
                    notifier: node,
                    address: address,
                    ret: notifiers[node - 1].count > 0 ? notifiers[node - 1].count : nil
                )
            )
            scratch.retry = true
            return .ran
        }
        installSecondary(node, tlb: false, address: address, pfn: scratch.pfn, write: write)
        return .ran
    }

    /// kvm: start the fault over after a retry (`goto again` in the vcpu loop).
    mutating func kvmRetry(_ node: Int, address: UInt64, write: Bool) -> Exec {
        guard scratch.retry else { return .expanded }
        scratch.retry = false
        scratch.retried = true
        push([.kvmSampleSeq(notifier: node, address: address, write: write)])
        return .expanded
    }

    /// gru_try_dropin (drivers/misc/sgi-gru/grufault.c, 2.6.27), first step: read the TLB
    /// fault handle (the hardware remembers which invalidates come after), then fail the dropin
    /// while a range invalidate is active (`ms_range_active`). `skip_retry_check` leaves the
    /// check out.
    mutating func gruReadTFH(_ node: Int, address: UInt64, write: Bool) -> Exec {
        if notifiers[node - 1].frozen {
            abortKeepingGup(.EFAULT)
            return .ran
        }
        scratch.tfhFlushes = notifiers[node - 1].flushes
        if notifiers[node - 1].count > 0 && !notifiers[node - 1].has(.skipRetryCheck) {
            gruRefuse(node, address: address)
            return .ran
        }
        push([.gruLookup(notifier: node, address: address, write: write)])
        return .ran
    }

    /// `atomic_pte_lookup`: read the pte with interrupts off, no lock, no reference; a missing
    /// pte or permission fails the dropin (the user retries).
    mutating func gruLookup(_ node: Int, address: UInt64, write: Bool) -> Exec {
        let pte = mms[notifiers[node - 1].mm - 1].pageTable.translation(at: address)
        guard pte.isPresent, !write || pte.write else {
            gruRefuse(node, address: address)
            return .ran
        }
        scratch.lookedUp = pte.pfn
        push([.gruDropin(notifier: node, address: address, write: write)])
        return .ran
    }

    /// `tfh_write_restart`: the translation goes into the GRU TLB. "The GRU contains magic
    /// hardware that eliminates races between TLB invalidates and TLB dropins": if an
    /// invalidate came after the TFH was read, the dropin is ignored.
    mutating func gruDropin(_ node: Int, address: UInt64, write: Bool) -> Exec {
        let pfn = scratch.lookedUp
        scratch.lookedUp = -1
        guard notifiers[node - 1].flushes == scratch.tfhFlushes else {
            gruRefuse(node, address: address)
            return .ran
        }
        installSecondary(node, tlb: true, address: address, pfn: pfn, write: write)
        return .ran
    }

    /// A dropin that did not happen: the fault answers -EAGAIN and counts a retry.
    private mutating func gruRefuse(_ node: Int, address: UInt64) {
        notifiers[node - 1].counters.retries += 1
        updateResult {
            $0.retries = ($0.retries ?? 0) + 1
            $0.fail(.EAGAIN)
        }
        emit(EventInfo(.faultRetry, mm: notifiers[node - 1].mm, notifier: node, address: address, ret: notifiers[node - 1].count))
    }

    /// pinning, xpmem, unsafe: map the page; the first two keep the gup reference as a pin.
    mutating func pinInstall(_ node: Int, address: UInt64, write: Bool) -> Exec {
        let pfn = scratch.pfn
        scratch.pfn = -1
        if notifiers[node - 1].frozen {
            putPage(pfn)
            updateResult { $0.fail(.EFAULT) }
            return .ran
        }
        installSecondary(node, tlb: false, address: address, pfn: pfn, write: write)
        if !notifiers[node - 1].pins { putPage(pfn) }
        return .ran
    }

    /// Drops the reference get_user_pages took (`kvm_release_pfn_clean`).
    mutating func putGupPage() -> Exec {
        if scratch.pfn >= 0 {
            putPage(scratch.pfn)
            scratch.pfn = -1
        }
        return .ran
    }

    /// Fails a fault that holds a gup reference: the reference is dropped first.
    private mutating func abortKeepingGup(_ errno: Errno) {
        if scratch.pfn >= 0 {
            putPage(scratch.pfn)
            scratch.pfn = -1
        }
        abort(errno)
    }

    // MARK: Access

    /// A load or store through the secondary MMU's translation. kvm and the pinning kinds
    /// walk their sptes (filling kvm's TLB); gru needs a TLB entry. No translation: EFAULT,
    /// and the caller faults. A stale translation still reaches the frame it names: that is
    /// the use-after-free the checker reports.
    mutating func secondaryAccess(_ node: Int, address: UInt64, write: Bool, value: UInt64?) -> Exec {
        let tlbMode = notifiers[node - 1].policy.map { policies[$0].policy.tlb } ?? notifiers[node - 1].kind!.tlbMode
        let useTLB = tlbMode == .only
        var entry = useTLB ? notifiers[node - 1].tlb.pte(at: address) : notifiers[node - 1].sptes.pte(at: address)
        guard !notifiers[node - 1].frozen, entry.isPresent, !write || entry.write else {
            updateResult {
                $0.tlbHit = false
                $0.fail(.EFAULT)
            }
            return .ran
        }
        let pfn = entry.pfn
        entry.young = true
        if write {
            entry.dirty = true
            if let value { frames[pfn].content = value }
        }
        if useTLB {
            notifiers[node - 1].tlb.setPTE(entry, at: address)
        } else {
            notifiers[node - 1].sptes.setPTE(entry, at: address)
            if tlbMode == .withTable, !notifiers[node - 1].tlb.pte(at: address).isPresent {
                // The TLB caches the translation; the page reference, if any, stays the spte's.
                var cached = entry
                cached.holdsReference = false
                notifiers[node - 1].tlb.setPTE(cached, at: address)
                if frames[pfn].isAllocated, frames[pfn].generation == entry.generation { frames[pfn].secondaryMaps += 1 }
            }
        }
        let content = frames[pfn].content
        updateResult {
            $0.tlbHit = true
            $0.value = content
        }
        emit(EventInfo(write ? .secondaryWrite : .secondaryRead, mm: notifiers[node - 1].mm, notifier: node, address: address, pfn: pfn))
        return .ran
    }
}
