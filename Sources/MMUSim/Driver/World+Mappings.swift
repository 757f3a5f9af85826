/// The secondary MMU's mappings as the interpreter keeps them for any driver policy: its page
/// table (sptes) and TLB, what `zap`, `flush_tlb`, `age` and `install` do to them, and a
/// device access through them.
extension World {
    // MARK: Mappings

    /// Removes the notifier's mappings in `[start, end)` from its page table and TLB: a dirty
    /// one goes to set_page_dirty unless `setDirty` is off; one that holds a page reference
    /// drops it when `put` says so.
    mutating func zapPolicy(_ node: Int, from start: UInt64, to end: UInt64, setDirty: Bool, put: Bool) {
        let zapped = removeSecondaryEntries(node, \.sptes, from: start, to: end) { world, entry in
            world.dropPolicyEntry(entry, setDirty: setDirty, put: put)
        }
        if zapped > 0 { emit(EventInfo(.spteZap, mm: notifiers[node - 1].mm, notifier: node, start: start, end: end, pages: zapped)) }
        flushPolicyTLB(node, from: start, to: end, setDirty: setDirty, put: put)
    }

    /// Drops the notifier's TLB entries in `[start, end)`. In front of a page table (kvm's) a
    /// TLB entry only caches a translation: the dirty bit a write sets lives in the page
    /// table's entry, so only a TLB-only driver's entries (gru's) go to set_page_dirty.
    mutating func flushPolicyTLB(_ node: Int, from start: UInt64, to end: UInt64, setDirty: Bool = true, put: Bool = false) {
        let holdsDirty = setDirty && policies[notifiers[node - 1].policy].policy.tlb == .only
        let flushed = removeSecondaryEntries(node, \.tlb, from: start, to: end) { world, entry in
            world.dropPolicyEntry(entry, setDirty: holdsDirty, put: put)
        }
        if flushed > 0 {
            emit(EventInfo(.tlbFlush, mm: notifiers[node - 1].mm, notifier: node, start: start, end: min(end, taskSize), pages: flushed))
        }
    }

    /// One mapping's hold on its frame goes; only a mapping whose frame is still the one it
    /// was made for (same generation, still allocated) touches the frame.
    mutating func dropPolicyEntry(_ entry: PTE, setDirty: Bool, put: Bool) {
        let pfn = entry.pfn
        guard frames[pfn].isAllocated, frames[pfn].generation == entry.generation else { return }
        if entry.dirty && setDirty { frames[pfn].dirty = true }
        if entry.holdsReference {
            if put { putPage(pfn) }
        } else {
            frames[pfn].secondaryMaps -= 1
        }
    }

    /// Reads (and with `clear`, clears) the young bits of the notifier's sptes in the range;
    /// a young one found makes the callback report the page referenced and drops its TLB entry
    /// (kvm_age_hva, then kvm_flush_remote_tlbs).
    mutating func agePolicy(_ node: Int, from start: UInt64, to end: UInt64, clear: Bool) {
        var young: [UInt64] = []
        notifiers[node - 1].sptes.forEach(from: start >> pageShift, to: (min(end, taskSize) - 1) >> pageShift + 1) { vpn, raw in
            if PTE(raw: raw).young { young.append(vpn << pageShift) }
        }
        guard !young.isEmpty else { return }
        frame.young = true
        guard clear else { return }
        // clear_young's contract: the young bits go, the TLB is not flushed.
        let flush = frame.callback != .clearYoung
        for address in young {
            var spte = notifiers[node - 1].sptes.pte(at: address)
            spte.young = false
            notifiers[node - 1].sptes.setPTE(spte, at: address)
            if flush { flushPolicyTLB(node, from: address, to: address + pageSize) }
        }
    }

    /// Maps the page the fault found (gup's, or lookup_pte's) at the fault's address: in the
    /// TLB for a TLB-only driver, else in the page table. A pinned gup's reference moves into
    /// the mapping.
    mutating func installPolicy(_ node: Int, writable: Bool, prefetch: Int = 0) {
        let address = frame.address
        let fromGup = scratch.pfn >= 0
        let pfn = fromGup ? scratch.pfn : scratch.lookedUp
        guard pfn >= 0 else { return }
        // What hmm_range_fault found is mapped no more writable than its pte (HMM_PFN_WRITE).
        let writable = writable && (fromGup || !scratch.fromHMM || scratch.writable)
        scratch.fromHMM = false
        if !fromGup { scratch.lookedUp = -1 }
        let holds = fromGup && frame.pinned
        if holds { scratch.pfn = -1 }
        mapPage(node, address: address, pfn: pfn, writable: writable, holdsReference: holds)
        updateResult { $0.spte = SpteInfo(address: address, pfn: pfn, writable: writable, young: true, dirty: false) }
        // KVM's prefetch: the neighbours after the page whose ptes are present, mapped as their
        // ptes allow, holding no reference; one already mapped is left as it is.
        guard prefetch > 0 else { return }
        let table = policies[notifiers[node - 1].policy].policy.tlb == .only ? \Notifier.tlb : \Notifier.sptes
        for index in 0..<min(prefetch, 512) {
            let next = address + UInt64(index + 1) * pageSize
            guard next < taskSize, !notifiers[node - 1][keyPath: table].pte(at: next).isPresent else { continue }
            let pte = mms[notifiers[node - 1].mm - 1].pageTable.translation(at: next)
            guard pte.isPresent else { continue }
            mapPage(node, address: next, pfn: pte.subpage(at: next).pfn, writable: writable && pte.write, holdsReference: false)
        }
    }

    /// Maps `pfn` at `address` in the driver's page table (or its TLB, for a TLB-only driver),
    /// checking the invalidate window first; the mapping it replaces goes.
    private mutating func mapPage(_ node: Int, address: UInt64, pfn: Int, writable: Bool, holdsReference: Bool) {
        checkInstall(node, address: address)
        var entry = PTE.present(pfn: pfn, write: writable, young: true, dirty: false, generation: frames[pfn].generation)
        if holdsReference { entry.holdsReference = true }
        let tlbOnly = policies[notifiers[node - 1].policy].policy.tlb == .only
        let old = tlbOnly ? notifiers[node - 1].tlb.pte(at: address) : notifiers[node - 1].sptes.pte(at: address)
        if old.isPresent { dropPolicyEntry(old, setDirty: true, put: true) }
        if tlbOnly {
            notifiers[node - 1].tlb.setPTE(entry, at: address)
        } else {
            notifiers[node - 1].sptes.setPTE(entry, at: address)
        }
        if !holdsReference { frames[pfn].secondaryMaps += 1 }
        markChanged(mm: notifiers[node - 1].mm, start: address, end: address + pageSize)
        emit(EventInfo(tlbOnly ? .tlbDropin : .spteSet, mm: notifiers[node - 1].mm, notifier: node, address: address, pfn: pfn))
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

    // MARK: Access

    /// A load or store through the secondary MMU's translation (POST .../access, the
    /// interpreter's, not the policy's): a driver with a page table walks it (filling the TLB
    /// in front of it, as kvm's); a TLB-only one (gru) needs a TLB entry. No translation: EFAULT,
    /// and the caller faults. A stale translation still reaches the frame it names: that is
    /// the use-after-free the checker reports.
    mutating func secondaryAccess(_ node: Int, address: UInt64, write: Bool, value: UInt64?) -> Exec {
        let tlbMode = policies[notifiers[node - 1].policy].policy.tlb
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
