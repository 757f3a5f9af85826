/// The invariant checker. It runs at the points where an invariant can break (a frame is
/// freed, a secondary mapping is set up, a callback runs, a clean page is dropped, a task
/// finishes, an mm falls quiet) and only reads the world there; what it finds is recorded
/// once in `violations`.
extension World {
    /// Records a violation unless the same one (invariant, mm, notifier, address) is known.
    /// Its `seq` is that of the event the step emits next (the one that shows the cause: the
    /// frame_free, the spte_set, the callback), or of the step's last event if none follows.
    mutating func report(_ invariant: Invariant, mm: Int?, notifier: Int?, address: UInt64?, _ message: String) {
        guard config.checkInvariants else { return }
        checker.record(Violation(invariant: invariant, seq: 0, mm: mm, notifier: notifier, address: address, message: message))
    }

    /// Gives the violations reported since the last event the sequence number `seq`.
    mutating func stampViolations(_ seq: Int) {
        checker.stamp(seq)
    }

    /// Notes that the ptes or sptes of `[start, end)` in `mm` changed, for the quiescent
    /// checks.
    mutating func markChanged(mm: Int, start: UInt64, end: UInt64) {
        guard config.checkInvariants else { return }
        checker.markChanged(mm: mm, start: start, end: end)
    }

    /// A page's content was copied to the page that replaces it (a COW break, a migration),
    /// and the new page is about to be mapped: a frame of the source whose content changed
    /// since the copy took a write that the new page does not have.
    mutating func checkCopy(from source: Int, to copy: Int, what: String, mm: Int?, address: UInt64?) {
        guard config.checkInvariants else { return }
        for offset in 0..<pageFrames(source) where frames[source + offset].content != frames[copy + offset].content {
            report(
                .dataIntegrity,
                mm: mm,
                notifier: nil,
                address: address.map { $0 + UInt64(offset) << pageShift },
                "\(what) of pfn \(source + offset) to pfn \(copy + offset) holds \(hex(frames[copy + offset].content)) but the source "
                    + "now holds \(hex(frames[source + offset].content)): a write after the copy is lost"
            )
            return
        }
    }

    /// A COW break's copy: held to `checkCopy` when the source is anonymous. A copy of a
    /// page-cache page is not: a shared mapping may change the file after a private copy, which
    /// MAP_PRIVATE allows.
    mutating func checkCOWCopy(from source: Int, to copy: Int, what: String, mm: Int, address: UInt64) {
        guard frames[source].kind == .anon else { return }
        checkCopy(from: source, to: copy, what: what, mm: mm, address: address)
    }

    /// A frame is about to be freed: every secondary entry that maps it without a pin is now
    /// stale, and exit_mmap must not free a page before every notifier's ->release. A clean
    /// swap-cache page whose slot swap ptes still name must hold what the slot holds.
    mutating func checkFrameFree(_ pfn: Int) {
        guard config.checkInvariants else { return }
        let frame = frames[pfn]
        if frame.swapSlot >= 0, !frame.dirty, let slot = swap[Int(frame.swapSlot)], slot.count > 0, slot.content != frame.content {
            reportLostWrite(
                "pfn \(pfn) was freed clean holding \(hex(frame.content)) while swap slot \(frame.swapSlot), which swap ptes still name, "
                    + "holds \(hex(slot.content)): a write through a secondary MMU never reached set_page_dirty"
            )
        }
        if frame.secondaryMaps > 0 {
            // An interval subscription being removed is its device file's release: nothing
            // reads its device table again, which the driver destroys once remove returns.
            for n in notifiers where !n.pins && !(n.subscribe == .interval && n.state != .listed) {
                for table in [n.sptes, n.tlb] {
                    for (address, entry) in table.ptes(from: 0, to: taskSize)
                    where entry.pfn == pfn && entry.generation == frame.generation {
                        report(
                            .noStaleSpte,
                            mm: n.mm,
                            notifier: n.id,
                            address: address,
                            "pfn \(pfn) was freed while notifier \(n.id) (\(n.driverName)) still maps it at \(hex(address))"
                        )
                    }
                }
            }
            frames[pfn].secondaryMaps = 0
        }
        // exit_mmap runs in the task whose mmput dropped the last user (the exit, or a
        // registration or fault that outlived it).
        if let mm = tasks.first(where: { $0.id == current })?.scratch.exitMmap, mm > 0 {
            for n in notifiers where n.mm == mm && n.usesNotifier && !n.releaseDone {
                report(
                    .releaseBeforeFree,
                    mm: mm,
                    notifier: n.id,
                    address: nil,
                    "exit_mmap freed pfn \(pfn) before notifier \(n.id) got ->release"
                )
            }
        }
    }

    /// A task finished: its invalidate ranges must all be closed, except on notifiers it
    /// found unlinked meanwhile (after ->release the protocol owes them no end); then the
    /// mms it touched may have fallen quiet.
    mutating func checkTaskFinished(_ index: Int) {
        // (Most tasks leave no range open: the list is read, not copied, to know.)
        if !tasks[index].openRanges.isEmpty { closeOpenRanges(index) }
        guard config.checkInvariants else { return }
        checkQuiescent()
        checkPolicyInvariants()
    }

    /// The ranges finished task `index` left open close with it; a listed notifier's is a
    /// start without its end.
    private mutating func closeOpenRanges(_ index: Int) {
        // The ranges alone, not a copy of the task.
        let openRanges = tasks[index].openRanges
        for range in openRanges {
            if let open = notifiers[range.notifier - 1].activeRanges.firstIndex(of: range) {
                notifiers[range.notifier - 1].activeRanges.remove(at: open)
            }
        }
        guard config.checkInvariants else { return }
        for range in openRanges where notifiers[range.notifier - 1].state == .listed {
            report(
                .balancedRanges,
                mm: tasks[index].mm,
                notifier: nil,
                address: range.start,
                "task \(tasks[index].id) (\(tasks[index].op)) finished inside invalidate_range_start(\(hex(range.start)), \(hex(range.end))) without its end"
            )
        }
    }

    /// True while an unfinished task works on `mm` (or on no mm in particular).
    /// (Mutating to read the tasks in place: see `statementSteps`.)
    mutating func inFlight(_ mm: Int) -> Bool {
        // By index: a closure over the elements would copy each task it looks at.
        for index in tasks.indices where tasks[index].status != .done {
            if tasks[index].mm == nil || tasks[index].mm == mm { return true }
        }
        return false
    }

    /// For each quiet mm with changed ranges: every spte and TLB entry of a non-pinning
    /// secondary MMU in those ranges must name the frame the pte maps, writable only where
    /// the pte is.
    mutating func checkQuiescent() {
        var pending = checker.takeChanged()
        defer { checker.recycle(&pending) }
        // By index: an iterator would hold a reference to the array.
        for position in pending.indices {
            let range = pending[position]
            if inFlight(range.mm) {
                checker.keep(range)
                continue
            }
            // Every driver with a notifier, xpmem's pinned attachments included; a legacy pinning
            // driver has no notifier and never learns of a change, so it is not held to the pte.
            // (`subscribe` read in place: a computed property of the notifier would copy it.)
            let (first, end) = (range.start >> pageShift, (min(range.end, taskSize) - 1) >> pageShift + 1)
            // One page (what a fault changed): its pte looked up once for every table.
            let onePage = end - first == 1 ? mms[range.mm - 1].pageTable.translation(at: first << pageShift) : nil
            for index in notifiers.indices where notifiers[index].mm == range.mm && notifiers[index].subscribe != Subscription.none {
                let pins = notifiers[index].pins
                // What one entry shows: nothing wrong, a stale frame, or a write the pte forbids.
                func finding(_ vpn: UInt64, _ raw: UInt64) -> QuiescentFinding? {
                    let address = vpn << pageShift
                    let entry = PTE(raw: raw)
                    let pte = onePage ?? mms[range.mm - 1].pageTable.translation(at: address)
                    // A pinned page that reclaim unmapped stays in the swap cache its swap entry names.
                    if pins && pte.isSwap && self.swap[pte.slot]?.cachedPfn == Int32(entry.pfn) { return nil }
                    if !pte.isPresent || pte.pfn != entry.pfn || frames[entry.pfn].generation != entry.generation {
                        return .stale(address: address, pfn: entry.pfn, pte: pte)
                    }
                    return entry.write && !pte.write ? .writable(address) : nil
                }
                // Read first, report after: the tables are read in place, without copies; one page
                // by a lookup in each (no closure holding the findings, which the runtime then
                // checks for exclusive access at every call), and no list of findings unless
                // there is one (a fault's page has none).
                let found: [QuiescentFinding]
                if onePage != nil {
                    let (spte, tlb) = (notifiers[index].sptes.get(first), notifiers[index].tlb.get(first))
                    let (fromSpte, fromTLB) = (spte != 0 ? finding(first, spte) : nil, tlb != 0 ? finding(first, tlb) : nil)
                    guard fromSpte != nil || fromTLB != nil else { continue }
                    found = [fromSpte, fromTLB].compactMap { $0 }
                } else {
                    var all: [QuiescentFinding] = []
                    notifiers[index].sptes.forEach(from: first, to: end) { if let one = finding($0, $1) { all.append(one) } }
                    notifiers[index].tlb.forEach(from: first, to: end) { if let one = finding($0, $1) { all.append(one) } }
                    guard !all.isEmpty else { continue }
                    found = all
                }
                let (id, kind) = (notifiers[index].id, notifiers[index].driverName)
                // The stale entries first, then the writable ones, each in the order found.
                for case .stale(let address, let pfn, let pte) in found {
                    report(
                        .noStaleSpte,
                        mm: range.mm,
                        notifier: id,
                        address: address,
                        "notifier \(id) (\(kind)) maps \(hex(address)) to pfn \(pfn) but the pte "
                            + (pte.isPresent ? "maps pfn \(pte.pfn)" : "is not present")
                    )
                }
                for case .writable(let address) in found {
                    report(
                        .noStaleWrite,
                        mm: range.mm,
                        notifier: id,
                        address: address,
                        "notifier \(id) (\(kind)) can write \(hex(address)) but the pte is read-only"
                    )
                }
            }
        }
    }

    // MARK: Hooks the model calls where an invariant can break

    /// A callback reaches a notifier: one its driver freed is a use-after-free; one whose
    /// mmu_notifier_unregister returned must get no more calls.
    mutating func checkCallbackTarget(_ call: NotifyCall, _ node: Int) {
        if notifiers[node - 1].freed {
            report(
                .notifierUseAfterFree,
                mm: call.mm,
                notifier: node,
                address: call.start,
                "\(call.kind.rawValue) read notifier \(node) after its driver freed it: an RCU reader outlived the free"
            )
        } else if notifiers[node - 1].state == .unregistered {
            report(
                .releaseBeforeFree,
                mm: call.mm,
                notifier: node,
                address: call.start,
                "\(call.kind.rawValue) ran on notifier \(node) after mmu_notifier_unregister returned"
            )
        }
    }

    /// What makes the running task atomic (`rcu_read_lock and mmu_lock:1`), or nil when it
    /// may sleep. (Mutating to read the world in place: a non-mutating call from a step copies
    /// it.)
    mutating func atomicContext() -> String? {
        // Modern: a callback in a non-blockable range (non_block_start), and an SRCU callback
        // (free_notifier), may not sleep either.
        var (nonBlocking, srcuCallback) = (false, false)
        // By index: the frames read in place.
        for frame in me.scratch.driverFrames.indices {
            let callback = me.scratch.driverFrames[frame].callback
            if callback != nil, me.scratch.driverFrames[frame].event != nil, !me.scratch.driverFrames[frame].blockable {
                nonBlocking = true
            }
            if callback == .freeNotifier || callback == .archInvalidateSecondaryTLBs { srcuCallback = true }
        }
        guard me.isAtomic || nonBlocking || srcuCallback else { return nil }
        let held = (me.rcuDepth > 0 ? ["rcu_read_lock"] : []) + me.locks.filter(\.isSpinlock).map(\.label)
        return (held + (nonBlocking ? ["a non-blockable range"] : []) + (srcuCallback ? ["an SRCU callback"] : [])).joined(separator: " and ")
    }

    /// A policy's statement that may sleep (sleep, wait, taking a mutex): not under
    /// rcu_read_lock or a spinlock.
    mutating func checkStatementMaySleep(_ node: Int, _ statement: Statement) {
        guard let held = atomicContext() else { return }
        report(
            .noSleepInAtomic,
            mm: notifiers[node - 1].mm,
            notifier: node,
            address: nil,
            "notifier \(node) (\(notifiers[node - 1].driverName)) may sleep at \(statement.pointer) while holding \(held)"
        )
    }

    /// A policy's `assert`: a violation `policy:<name>` where it does not hold.
    mutating func checkAssertion(_ node: Int, name: String, at step: String, holds: Bool) {
        guard !holds else { return }
        report(.policy(name), mm: notifiers[node - 1].mm, notifier: node, address: nil, "the assertion at \(step) does not hold")
    }

    /// A policy's own invariants: those that hold `always` after every step, and with
    /// `quiescent` also those that hold whenever no operation is in flight on the mm. Only a
    /// driver's statement changes what they read (its variables) and only a task's end makes
    /// an mm quiet, so those are where it runs; after a statement, of its notifier `only`
    /// (nil: every notifier, as when the statement may have changed a shared variable).
    mutating func checkPolicyInvariants(of only: Int? = nil) {
        guard !policies.loaded.isEmpty else { return }
        // A notifier unlinked by release or unregister is owed nothing more (an end whose start
        // it saw may never come), as balanced-ranges exempts it too.
        let nodes = only.map { $0 - 1..<$0 } ?? notifiers.indices
        for node in nodes where notifiers[node].state == .listed || notifiers[node].state == .attached {
            withPolicy(of: node + 1) { world, loaded in world.checkPolicyInvariants(node, loaded) }
        }
    }

    /// `checkPolicyInvariants` of the notifier at `node` (an index), whose policy is `loaded`.
    private mutating func checkPolicyInvariants(_ node: Int, _ loaded: LoadedPolicy) {
        // Invariants that held at the notifier's variables as they are still hold.
        guard !loaded.invariants.isEmpty, !notifiers[node].invariantsHeld.held else { return }
        // Whether every invariant was evaluated and held.
        var allHeld = true
        // Whether the mm is quiet is asked once, and only for a `quiescent` invariant.
        var quiet: Bool?
        if loaded.quiescentOnly {
            quiet = !inFlight(notifiers[node].mm)
            if quiet == false { return }
        }
        // By index: the invariants and their compiled forms read in place, not copied.
        for position in loaded.invariants.indices {
            if loaded.invariants[position].quiescentOnly {
                if quiet == nil { quiet = !inFlight(notifiers[node].mm) }
                if quiet == false {
                    allHeld = false
                    continue
                }
            }
            // An invariant reads the driver's variables only (no program's locals or frame),
            // read in place.
            let holds = loaded.holds[position].value { leaf in
                switch leaf {
                case .variable(.instance(let index)): notifiers[node].vars[index]
                case .variable(.shared(let name, let initial)): sharedVars[name.text] ?? initial
                case .context(let field): CompiledExpr.context(field, nil)
                default: 0
                }
            }
            guard holds == 0 else { continue }
            allHeld = false
            report(
                .policy(loaded.invariants[position].name),
                mm: notifiers[node].mm,
                notifier: node + 1,
                address: nil,
                "notifier \(node + 1) (\(notifiers[node].driverName)) breaks its invariant '\(loaded.invariants[position].name)'"
                    + (loaded.invariants[position].quiescentOnly ? " with no operation in flight" : "")
            )
        }
        if allHeld, loaded.invariantsReadOwnVarsOnly { notifiers[node].invariantsHeld.held = true }
    }

    /// An invalidate_range_end that no start of the same task opened.
    mutating func checkUnmatchedEnd(_ call: NotifyCall, _ node: Int) {
        report(
            .balancedRanges,
            mm: call.mm,
            notifier: node,
            address: call.start,
            "invalidate_range_end(\(hex(call.start)), \(hex(call.end))) on notifier \(node) without a matching start on task \(current)"
        )
    }

    /// A secondary MMU sets up a mapping: not inside an open invalidate range of its notifier.
    mutating func checkInstall(_ node: Int, address: UInt64) {
        guard let range = notifiers[node - 1].activeRanges.first(where: { $0.start <= address && address < $0.end }) else { return }
        report(
            .noSpteInInvalidateWindow,
            on: node,
            address: address,
            "notifier \(node) set up a mapping of \(hex(address)) inside invalidate_range_start/end(\(hex(range.start)), \(hex(range.end))) of task \(range.task)"
        )
    }

    /// Reclaim drops a clean page: it must hold what its backing copy holds.
    mutating func checkDroppedClean(_ pfn: Int, backing: UInt64) {
        let content = frames[pfn].content
        guard content != backing else { return }
        reportLostWrite(
            "pfn \(pfn) was dropped clean but holds \(hex(content)) while its backing copy holds \(hex(backing)): a write through a secondary MMU never reached set_page_dirty"
        )
    }

    /// Writeback passes a clean page-cache page by: unless shmem (no disk here), it must hold
    /// what the disk holds, or writeback will not save a write that never reached
    /// set_page_dirty.
    mutating func checkCleanPageOnDisk(file: Int, pgoff: UInt64) {
        guard !files[file].name.hasPrefix("shmem:"), let pfn = files[file].pageCache[pgoff] else { return }
        let disk = files[file].disk[pgoff] ?? 0
        guard frames[pfn].content != disk else { return }
        reportLostWrite(
            "writeback of \(files[file].name) finds pfn \(pfn) clean holding \(hex(frames[pfn].content)) while the disk holds "
                + "\(hex(disk)): a write never reached set_page_dirty, and writeback will not save it"
        )
    }

    /// A violation by a notifier's driver, in that notifier's mm.
    private mutating func report(_ invariant: Invariant, on node: Int, address: UInt64, _ message: String) {
        report(invariant, mm: notifiers[node - 1].mm, notifier: node, address: address, message)
    }

    /// A data-integrity violation about a page, not tied to one mm or notifier.
    private mutating func reportLostWrite(_ message: String) {
        report(.dataIntegrity, mm: nil, notifier: nil, address: nil, message)
    }
}

/// What a quiescent check found at one secondary entry.
private enum QuiescentFinding {
    /// The entry maps a frame the pte does not (or no longer: another generation).
    case stale(address: UInt64, pfn: Int, pte: PTE)
    /// The entry is writable where the pte is read-only.
    case writable(UInt64)
}
