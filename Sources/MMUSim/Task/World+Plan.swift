extension Errno: Error {}

extension World {
    /// ENOSYS for an operation the world's kernel does not have.
    /// (Mutating, as the world's other checks of a new task are: a non-mutating call from
    /// `start` copies the world to read it.)
    @inline(__always)
    mutating func unmodelled(_ operation: Operation) -> Errno? {
        if config.kernel == .modern, !Self.modelledInModern(operation) { return .ENOSYS }
        if config.kernel == .v17, !Self.modelledInV17(operation) { return .ENOSYS }
        return nil
    }

    /// What the entry of a secondary fault answers for these arguments, if it refuses them.
    mutating func faultRefusal(mm: Int, notifier id: Int, address: UInt64) -> Errno? {
        // The notifier read in place: a copy would retain each of its tables.
        guard id >= 1, id <= notifiers.count, notifiers[id - 1].mm == mm else { return .ENOENT }
        guard live(mm), notifiers[id - 1].state != .unregistered, !notifiers[id - 1].frozen else { return .EFAULT }
        guard address < taskSize else { return .EFAULT }
        return nil
    }

    /// A secondary fault's step, for arguments its entry takes.
    @inline(__always)
    static func faultStep(notifier id: Int, address: UInt64, write: Bool) -> Step {
        .secondaryFault(notifier: id, address: address & ~(pageSize - 1), write: write)
    }

    /// Checks an operation's arguments as the system call's entry checks do, and gives the
    /// steps its task runs. Checks that depend on the mm's layout happen in the steps, after
    /// the locks are taken.
    mutating func plan(_ operation: Operation) -> Result<[Step], Errno> {
        if let refused = unmodelled(operation) { return .failure(refused) }
        switch operation {
        case .mmap(let mm, let addr, let length, let prot, let flags, let file, let offset):
            guard live(mm) else { return .failure(.ESRCH) }
            guard length > 0, length <= taskSize, isPageAligned(offset) else { return .failure(.EINVAL) }
            guard flags.anonymous == (file == nil) else { return .failure(.EINVAL) }
            if flags.fixed {
                guard let addr, isPageAligned(addr), addr <= taskSize, pageAlign(length) <= taskSize - addr else {
                    return .failure(.EINVAL)
                }
            }
            if flags.hugetlb, let addr, flags.fixed, addr % hugePageSize != 0 { return .failure(.EINVAL) }
            // Only a file can be execute-in-place, and not on hugetlbfs.
            if flags.xip && (file == nil || flags.hugetlb) { return .failure(.EINVAL) }
            return .success([
                .acquire(.mmapSem(mm: mm, write: true)),
                .mmapBody(mm: mm, addr: addr, length: length, prot: prot, flags: flags, file: file, offset: offset),
                .release(.mmapSem(mm: mm, write: true)),
            ])

        case .munmap(let mm, let addr, let length):
            guard live(mm) else { return .failure(.ESRCH) }
            guard let end = rangeEnd(addr, length), length > 0 else { return .failure(.EINVAL) }
            // Modern munmap (4.20 on) downgrades mmap_lock to read before it unmaps.
            if config.kernel == .modern {
                return .success([
                    .acquire(.mmapSem(mm: mm, write: true)), .doMunmap(mm: mm, start: addr, end: end), .mmapDowngrade(mm: mm),
                    .release(.mmapSem(mm: mm, write: false)),
                ])
            }
            return .success([
                .acquire(.mmapSem(mm: mm, write: true)), .doMunmap(mm: mm, start: addr, end: end),
                .release(.mmapSem(mm: mm, write: true)),
            ])

        case .mprotect(let mm, let addr, let length, let prot):
            guard live(mm) else { return .failure(.ESRCH) }
            guard let end = rangeEnd(addr, length) else { return .failure(.EINVAL) }
            if end == addr { return .success([]) }
            return .success([
                .acquire(.mmapSem(mm: mm, write: true)), .mprotectBody(mm: mm, start: addr, end: end, prot: prot),
                .release(.mmapSem(mm: mm, write: true)),
            ])

        case .mremap(let mm, let oldAddr, let oldLength, let newLength, let mayMove, let fixed, let newAddr):
            guard live(mm) else { return .failure(.ESRCH) }
            guard rangeEnd(oldAddr, oldLength) != nil, newLength > 0, newLength <= taskSize else { return .failure(.EINVAL) }
            if fixed {
                guard mayMove, let newAddr, rangeEnd(newAddr, newLength) != nil else { return .failure(.EINVAL) }
                let oldEnd = oldAddr + pageAlign(oldLength)
                let newEnd = newAddr + pageAlign(newLength)
                if newAddr < oldEnd && oldAddr < newEnd { return .failure(.EINVAL) }
            }
            return .success([
                .acquire(.mmapSem(mm: mm, write: true)),
                .mremapBody(
                    mm: mm,
                    oldAddr: oldAddr,
                    oldLength: pageAlign(oldLength),
                    newLength: pageAlign(newLength),
                    mayMove: mayMove,
                    newAddr: fixed ? newAddr : nil
                ),
                .release(.mmapSem(mm: mm, write: true)),
            ])

        case .madviseDontneed(let mm, let addr, let length):
            guard live(mm) else { return .failure(.ESRCH) }
            guard let end = rangeEnd(addr, length) else { return .failure(.EINVAL) }
            if end == addr { return .success([]) }
            return .success([
                .acquire(.mmapSem(mm: mm, write: false)), .madviseBody(mm: mm, start: addr, end: end),
                .release(.mmapSem(mm: mm, write: false)),
            ])

        case .touch(let mm, let addr, let length, let write, let value):
            guard live(mm) else { return .failure(.ESRCH) }
            let start = addr & ~(pageSize - 1)
            guard let end = rangeEnd(start, max(length, 1) + (addr - start)) else { return .failure(.EFAULT) }
            return .success([
                .acquire(.mmapSem(mm: mm, write: false)),
                .touchNext(mm: mm, address: start, end: end, mode: write ? .cpuWrite(value) : .cpuRead),
                .release(.mmapSem(mm: mm, write: false)),
            ])

        case .fork(let mm):
            guard live(mm) else { return .failure(.ESRCH) }
            return .success([
                .acquire(.mmapSem(mm: mm, write: true)), .dupMM(mm: mm), .forkVMA(parent: mm, index: 0),
                .release(.mmapSem(mm: mm, write: true)),
            ])

        case .exit(let mm):
            guard live(mm) else { return .failure(.ESRCH) }
            return .success([.exitMM(mm: mm)])

        case .reclaim(let mm, let addr, let length, let pages):
            // Reclaim walks pages, not users: an mm whose exit_mmap is under way still has them.
            if let mm, self.mm(mm).map({ $0.exited || $0.count == 0 }) ?? true { return .failure(.ESRCH) }
            if let pages, pages < 0 { return .failure(.EINVAL) }
            var start: UInt64 = 0
            var end: UInt64 = taskSize
            if let addr {
                guard mm != nil, let stop = rangeEnd(addr, length ?? pageSize) else { return .failure(.EINVAL) }
                (start, end) = (addr, stop)
            }
            return .success([.reclaimScan(mm: mm, start: start, end: end, pages: pages), .reclaimNext(index: 0)])

        case .writeback(let name):
            var file: Int?
            if let name {
                guard let found = files.first(where: { $0.name == name }) else { return .failure(.ENOENT) }
                file = found.id
            }
            return .success([.writebackScan(file: file), .writebackNext(index: 0)])

        case .migrate(let mm, let addr, let length):
            guard live(mm) else { return .failure(.ESRCH) }
            guard let end = rangeEnd(addr, length) else { return .failure(.EINVAL) }
            return .success([
                .acquire(.mmapSem(mm: mm, write: false)), .migrateScan(mm: mm, start: addr, end: end), .migrateNext(index: 0),
                .release(.mmapSem(mm: mm, write: false)),
            ])

        case .remapFilePages(let mm, let addr, let length, let pgoff):
            guard live(mm) else { return .failure(.ESRCH) }
            guard let end = rangeEnd(addr, length), end > addr else { return .failure(.EINVAL) }
            return .success([
                .acquire(.mmapSem(mm: mm, write: true)), .remapFileBody(mm: mm, start: addr, end: end, pgoff: pgoff),
                .release(.mmapSem(mm: mm, write: true)),
            ])

        case .applyToPageRange(let mm, let addr, let length):
            guard live(mm) else { return .failure(.ESRCH) }
            guard let end = rangeEnd(addr, length), end > addr else { return .failure(.EINVAL) }
            return .success([
                .acquire(.mmapSem(mm: mm, write: false)),
                .notify(NotifyCall(kind: .invalidateRangeStart, mm: mm, start: addr, end: end)),
                .applyPTEs(mm: mm, start: addr, end: end),
                .notify(NotifyCall(kind: .invalidateRangeEnd, mm: mm, start: addr, end: end)),
                .release(.mmapSem(mm: mm, write: false)),
            ])

        case .register(let mm, let kind, let bugs, let signalPending, _):
            // BUG_ON(atomic_read(&mm->mm_users) <= 0) in do_mmu_notifier_register.
            guard live(mm) else { return .failure(.ESRCH) }
            // A driver must be written for the world's kernel.
            guard let policy = driverPolicy(kind, bugs: bugs), policy.kernel == config.kernel, let index = policies.find(policy) else {
                return .failure(.EINVAL)
            }
            return .success(registration(mm: mm, policy: index, signalPending: signalPending))

        case .registerInterval(let mm, let kind, let bugs, let start, let length):
            guard live(mm) else { return .failure(.ESRCH) }
            guard let policy = driverPolicy(kind, bugs: bugs), policy.kernel == config.kernel, policy.subscribe == .interval,
                let index = policies.find(policy)
            else { return .failure(.EINVAL) }
            // check_add_overflow(start, length - 1, &last): -EOVERFLOW in the kernel.
            guard length > 0, start <= UInt64.max - (length - 1) else { return .failure(.EINVAL) }
            return .success(registration(mm: mm, policy: index, signalPending: false, interval: (start, start &+ length)))

        case .oomReap(let mm):
            // The reaper holds the mm by mm_count (mmgrab), not as a user: it may run during exit.
            guard let found = self.mm(mm), found.count > 0 else { return .failure(.ESRCH) }
            return .success([.oomReapAttempt(mm: mm, attempt: 1)])

        case .pageIdle(let mm, let addr, let length, let mark):
            guard live(mm) else { return .failure(.ESRCH) }
            guard let end = rangeEnd(addr, length), end > addr else { return .failure(.EINVAL) }
            return .success([.pageIdleNext(mm: mm, address: addr, end: end, mark: mark)])

        case .khugepagedScan(let mm, let addr):
            guard live(mm) else { return .failure(.ESRCH) }
            guard addr < taskSize else { return .failure(.EINVAL) }
            // The PMD range around addr, inside the VMA (checked under mmap_lock).
            let start = addr & ~(hugePageSize - 1)
            var steps: [Step] = [.acquire(.mmapSem(mm: mm, write: false)), .acquire(.pageTable(mm: mm))]
            for page in 0..<(hugePageSize / pageSize) { steps.append(.khugepagedScanPTE(mm: mm, address: start + page * pageSize)) }
            return .success(steps + [.release(.pageTable(mm: mm)), .release(.mmapSem(mm: mm, write: false))])

        case .srcuFree(_, let id):
            return .success([.synchronizeSRCU, .freeNotifierCall(notifier: id)])

        case .registerPolicy(let mm, let policy, let signalPending, _):
            guard live(mm) else { return .failure(.ESRCH) }
            guard policy.kernel == config.kernel else { return .failure(.EINVAL) }
            return .success(registration(mm: mm, policy: policies.find(policy)!, signalPending: signalPending))

        case .unregister(let mm, let id):
            guard let notifier = notifier(id), notifier.mm == mm else { return .failure(.ENOENT) }
            guard notifier.state != .unregistered else { return .failure(.EINVAL) }
            switch notifier.subscribe {
            case .interval:
                // mmu_interval_notifier_remove (then the driver's kfree).
                guard notifier.state == .listed else { return .failure(.EINVAL) }
                return .success([.intervalRemove(notifier: id), .intervalRemoveFinish(notifier: id)])
            case .get:
                // mmu_notifier_put: WARN_ON(!subscription->users).
                guard notifier.users > 0 else { return .failure(.EINVAL) }
                return .success([.notifierPut(notifier: id)])
            default:
                break
            }
            guard notifier.usesNotifier else {
                // A driver without a notifier detaches through its device file's release: its
                // `close` entry, if it has one.
                let close: [Step] =
                    policies[notifier.policy].policy.entries["close"] != nil
                    ? [.driverEntry(notifier: id, name: "close", address: 0, write: false)] : []
                return .success(close + [.unregisterFinish(notifier: id)])
            }
            switch config.releaseOrder {
            case .v17: return .success([.unregisterUnlink(notifier: id), .synchronizeRCU, .unregisterFinish(notifier: id)])
            case .fixed:
                // Modern: the same order, the grace period SRCU's.
                let grace: Step = config.kernel == .modern ? .synchronizeSRCU : .synchronizeRCU
                return .success([.unregisterReleaseFirst(notifier: id), grace, .unregisterFinish(notifier: id)])
            }

        case .fault(let mm, let id, let address, let write):
            if let refused = faultRefusal(mm: mm, notifier: id, address: address) { return .failure(refused) }
            return .success([Self.faultStep(notifier: id, address: address, write: write)])

        case .entry(let mm, let id, let name, let address, let write):
            guard let notifier = notifier(id), notifier.mm == mm else { return .failure(.ENOENT) }
            guard policies[notifier.policy].policy.entries[name] != nil else { return .failure(.ENOENT) }
            guard live(mm), notifier.state != .unregistered else { return .failure(.EFAULT) }
            guard address < taskSize else { return .failure(.EFAULT) }
            return .success([.driverEntry(notifier: id, name: name, address: address & ~(pageSize - 1), write: write)])

        case .work(let mm, let id, let name):
            guard let notifier = notifier(id), notifier.mm == mm, policies[notifier.policy].policy.work[name] != nil else {
                return .failure(.ENOENT)
            }
            return .success([.driverWork(notifier: id, name: name)])

        case .access(let mm, let id, let address, let write, let value):
            guard let notifier = notifier(id), notifier.mm == mm else { return .failure(.ENOENT) }
            guard address < taskSize else { return .failure(.EFAULT) }
            return .success([.secondaryAccess(notifier: id, address: address & ~(pageSize - 1), write: write, value: value)])
        }
    }

    /// True when the mm exists and its process has not exited.
    func live(_ mm: Int) -> Bool {
        mm >= 1 && mm <= mms.count && mms[mm - 1].users > 0 && !mms[mm - 1].exited && !mms[mm - 1].killed
    }

    /// The end of a range as the syscalls check it: a page-aligned start, the length rounded
    /// up to pages, and no wrap past `TASK_SIZE`. Nil when the range is invalid.
    func rangeEnd(_ start: UInt64, _ length: UInt64) -> UInt64? {
        guard isPageAligned(start), start <= taskSize, length <= taskSize - start else { return nil }
        let end = start + pageAlign(length)
        return end <= taskSize ? end : nil
    }
}

/// `PAGE_ALIGN`: rounds a length up to whole pages.
func pageAlign(_ length: UInt64) -> UInt64 {
    length > UInt64.max - pageSize ? UInt64.max & ~(pageSize - 1) : (length + pageSize - 1) & ~(pageSize - 1)
}

extension World {
    /// True for the operations a v17 world has: the OOM reaper (4.6) and the modern
    /// subscriptions are not the seed's.
    public static func modelledInV17(_ operation: Operation) -> Bool {
        switch operation {
        case .oomReap, .registerInterval, .srcuFree, .pageIdle, .khugepagedScan: false
        default: true
        }
    }

    /// True for the operations a modern world models so far (../shared/MODERN.md's hook table):
    /// the others still run v17's code paths (invalidate_page, v17's ranges), which a modern
    /// world must not show.
    public static func modelledInModern(_ operation: Operation) -> Bool {
        switch operation {
        case .remapFilePages, .applyToPageRange: false
        case .mmap(_, _, _, _, let flags, _, _): !flags.xip
        default: true
        }
    }

    /// The steps of registering the driver `policy` on `mm`: mmu_notifier_register for a driver
    /// with a notifier, a plain attach for one without (`subscribe: none`); in a modern world
    /// mmu_notifier_get for `get` and mmu_interval_notifier_insert over `interval` (the whole
    /// address space by default) for `interval`.
    func registration(mm: Int, policy: Int, signalPending: Bool, interval: (UInt64, UInt64) = (0, taskSize)) -> [Step] {
        switch policies[policy].policy.subscribe {
        case .none: return [.attachSecondary(mm: mm, policy: policy)]
        case .interval: return [.itreeRegister(mm: mm), .intervalInsert(mm: mm, policy: policy, start: interval.0, end: interval.1)]
        case .get: return [.acquire(.mmapSem(mm: mm, write: true)), .notifierGet(mm: mm, policy: policy), .release(.mmapSem(mm: mm, write: true))]
        case .classic: break
        }
        // __mmu_notifier_register's caller holds mmap_sem already: the task takes it as
        // that caller would, so the trace shows the same locks either way.
        return [
            .acquire(.mmapSem(mm: mm, write: true)), .takeAllLocks(mm: mm, signalPending: signalPending),
            .registerLink(mm: mm, policy: policy), .dropAllLocks, .release(.mmapSem(mm: mm, write: true)),
        ]
    }

    /// The policy a registration by name runs: the driver loaded under that name, else the
    /// built-in one, with `bugs` applied as its variants; nil for no such driver or variant.
    func driverPolicy(_ name: String, bugs: [String]) -> Policy? {
        guard let base = drivers[name] ?? BuiltinDrivers.policies[name] else { return nil }
        return try? base.applying(variants: bugs)
    }

    /// The mm whose user reference `operation` holds while it runs: mmu_notifier_register (of
    /// a driver with a notifier) and a secondary MMU's fault or entry.
    /// `subscribe` is the registered policy's subscription (nil for an unknown driver, whose
    /// registration fails).
    func holdsUser(_ operation: Operation, subscribe: Subscription?) -> Int? {
        switch operation {
        case .register(let mm, _, _, _, _), .registerPolicy(let mm, _, _, _), .registerInterval(let mm, _, _, _, _):
            subscribe == Subscription.none ? nil : mm
        case .fault(let mm, _, _, _), .entry(let mm, _, _, _, _): mm
        default: nil
        }
    }
}
