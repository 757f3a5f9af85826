/// `mmusim check`: a driver policy against a catalogue of adversarial workloads (DRIVERS.md).
/// Each workload sets a small world up (a page written, the driver registered, often a page
/// already mapped by it) and explores every interleaving of 2 concurrent tasks; a verdict is
/// clean, or the invariants broken with a shortest counterexample, or a deadlock.
public struct PolicyCheck: Sendable {
    /// One workload of the catalogue.
    public struct Workload: Sendable {
        /// Its name (`fault-vs-munmap`).
        public var name: String
        /// What it exercises.
        public var summary: String
        /// The driver's page is mapped by a fault before the tasks start.
        var faultFirst = false
        /// Reclaim runs once before the tasks start, after the fault if any: its first pass ages
        /// the page (and the driver's mapping), so that the next one unmaps it.
        var reclaimFirst = false
        /// The page is a shared file page (writeback needs one).
        var filePage = false
        /// The page is a 2 MiB hugetlb page: __unmap_hugepage_range frees it inside the
        /// invalidate window (a world of 1100 frames holds one).
        var hugetlb = false
        /// How many pages the mapping has (all written); the driver's page is the first.
        var pages: UInt64 = 1
        /// The tasks, given the page's address (notifier 1 on mm 1).
        var tasks: @Sendable (UInt64) -> [Operation]
    }

    /// A workload's outcome.
    public struct Verdict: Sendable {
        /// The workload's name.
        public var workload: String
        /// What the exploration found.
        public var result: ExploreResult
        /// The world the workload started from, for a ladder of the counterexample.
        var world: World

        /// Clean: no violation, no deadlock, explored to the end.
        public var clean: Bool { result.violations.isEmpty && result.deadlocks == 0 }

        /// The counterexample as a ladder diagram, if there is one.
        public var ladder: String? {
            result.counterexample.map { counterexample in
                var columns: [Int] = []
                for task in counterexample.schedule where !columns.contains(task) { columns.append(task) }
                return world.ladder(counterexample.trace, violations: counterexample.violations, columns: columns).render()
            }
        }
    }

    /// The policy checked (its variants applied).
    public var policy: Policy
    /// Other drivers registered on the same mm after it (the policy's `world.drivers`: a
    /// built-in driver's name or a policy), for protocols between subscribers.
    public var companions: [Policy] = []
    /// The world options: every upstream fix (`release_order: fixed`, no core bug) unless the
    /// policy's `world` or the caller says otherwise.
    public var config: WorldConfig

    /// A check of `policy` on a world of the policy's kernel with `config`'s options; the
    /// options of the policy's `world` (`release_order`, `core_bugs`) apply on top unless
    /// `overrides` are given.
    public init(_ policy: Policy, releaseOrder: ReleaseOrder? = nil, coreBugs: [String]? = nil) throws(CommandError) {
        self.policy = policy
        var config = WorldConfig(frames: 64, swapSlots: 64, releaseOrder: .fixed, traceCapacity: 100_000, coreBugs: [])
        let world = policy.document["world"]
        var order = releaseOrder
        if order == nil, let value = world?["release_order"] {
            guard let text = value.string, let parsed = ReleaseOrder(rawValue: text) else {
                throw CommandError("the policy's world.release_order is v17 or fixed, not \(value)", code: "invalid_value")
            }
            order = parsed
        }
        var bugs = coreBugs
        if bugs == nil, let value = world?["core_bugs"] {
            guard let elements = value.elements, elements.allSatisfy({ $0.string != nil }) else {
                throw CommandError("the policy's world.core_bugs is an array of core bug names", code: "invalid_value")
            }
            bugs = elements.compactMap(\.string)
        }
        // The world runs the policy's kernel: a modern one has every upstream fix.
        try config.apply(kernel: policy.kernel, releaseOrder: order, coreBugs: bugs)
        self.config = config
        for (index, element) in (world?["drivers"]?.elements ?? []).enumerated() {
            let companion: Policy?
            if let name = element.string {
                companion = BuiltinDrivers.policies[name]
            } else {
                companion = try? Policy.load(element)
            }
            guard let companion, companion.kernel == policy.kernel else {
                throw CommandError(
                    "the policy's world.drivers/\(index) is not a built-in driver's name or a valid policy for its kernel",
                    code: "invalid_value"
                )
            }
            companions.append(companion)
        }
    }

    /// The catalogue, for a policy with a fault path and (or not) a notifier.
    public static func catalogue(for policy: Policy) -> [Workload] {
        let page = pageSize
        var list: [Workload] = [
            Workload(name: "fault-vs-munmap", summary: "a secondary fault against munmap of its page") { a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .munmap(mm: 1, addr: a, length: page)]
            },
            Workload(name: "fault-vs-mprotect", summary: "a write fault against mprotect to read-only") { a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .mprotect(mm: 1, addr: a, length: page, prot: [.read])]
            },
            Workload(name: "fault-vs-mremap", summary: "a fault against mremap moving the page away") { a in
                [
                    .fault(mm: 1, notifier: 1, address: a, write: true),
                    .mremap(mm: 1, oldAddr: a, oldLength: page, newLength: 2 * page, mayMove: true, fixed: false, newAddr: nil),
                ]
            },
            Workload(name: "fault-vs-madvise", summary: "a fault against madvise(MADV_DONTNEED)") { a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .madviseDontneed(mm: 1, addr: a, length: page)]
            },
            Workload(name: "fork-then-cow", summary: "the mapped page's mm forks while the CPU writes it (the COW break)", faultFirst: true) { a in
                [.fork(mm: 1), .touch(mm: 1, addr: a, length: page, write: true, value: 7)]
            },
            Workload(name: "fault-vs-reclaim", summary: "a fault against reclaim of the aged page (it unmaps)", reclaimFirst: true) { a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .reclaim(mm: 1, addr: nil, length: nil, pages: nil)]
            },
            Workload(name: "fault-vs-migrate", summary: "a fault against migration of the page") { a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .migrate(mm: 1, addr: a, length: page)]
            },
            Workload(name: "fault-vs-writeback", summary: "a write fault against writeback of its shared file page", filePage: true) { a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .writeback(file: "check")]
            },
            Workload(name: "fault-vs-exit", summary: "a fault against the process's exit") { a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .exit(mm: 1)]
            },
            Workload(
                name: "fault-vs-munmap-gather",
                summary: "a fault against munmap of 512 pages: the mmu_gather fills at 506 and frees them inside the invalidate window",
                pages: 512
            ) { a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .munmap(mm: 1, addr: a, length: 512 * page)]
            },
            Workload(
                name: "hugetlb-fault-vs-munmap",
                summary: "a fault of a hugetlb page against munmap, which frees it inside the invalidate window",
                hugetlb: true
            ) { a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .munmap(mm: 1, addr: a, length: hugePageSize)]
            },
            Workload(
                name: "hugetlb-fault-vs-fork",
                summary: "a write fault of a private hugetlb page against fork, which write-protects it",
                hugetlb: true
            ) {
                a in
                [.fault(mm: 1, notifier: 1, address: a, write: true), .fork(mm: 1)]
            },
            Workload(name: "fault-vs-fault", summary: "two faults of the same page") { a in
                [.fault(mm: 1, notifier: 1, address: a, write: false), .fault(mm: 1, notifier: 1, address: a, write: true)]
            },
            Workload(name: "invalidate-vs-invalidate", summary: "munmap and mprotect of the mapped page at once", faultFirst: true) { a in
                [.munmap(mm: 1, addr: a, length: page), .mprotect(mm: 1, addr: a, length: page, prot: [.read])]
            },
            Workload(
                name: "reclaim-vs-access",
                summary: "reclaim of the mapped, aged page against a device write through it",
                faultFirst: true,
                reclaimFirst: true
            ) { a in
                [.reclaim(mm: 1, addr: nil, length: nil, pages: nil), .access(mm: 1, notifier: 1, address: a, write: true, value: 9)]
            },
        ]
        for name in policy.entries.keys.sorted() {
            list.append(
                Workload(name: "entry-\(name)-vs-munmap", summary: "the entry point \(name) on the page against munmap of it") { a in
                    [.entry(mm: 1, notifier: 1, name: name, address: a, write: true), .munmap(mm: 1, addr: a, length: page)]
                }
            )
            list.append(
                Workload(name: "entry-\(name)-vs-reclaim", summary: "the entry point \(name) on the page against reclaim of it", reclaimFirst: true) {
                    a in
                    [.entry(mm: 1, notifier: 1, name: name, address: a, write: true), .reclaim(mm: 1, addr: nil, length: nil, pages: nil)]
                }
            )
        }
        if policy.subscribe == .classic {
            list.append(
                Workload(name: "fault-vs-unregister", summary: "a fault against mmu_notifier_unregister") { a in
                    [.fault(mm: 1, notifier: 1, address: a, write: true), .unregister(mm: 1, notifier: 1)]
                }
            )
            list.append(
                Workload(
                    name: "exit-vs-reclaim",
                    summary: "exit's release against reclaim of the mapped, aged page",
                    faultFirst: true,
                    reclaimFirst: true
                ) { _ in
                    [.exit(mm: 1), .reclaim(mm: 1, addr: nil, length: nil, pages: nil)]
                }
            )
        }
        if policy.kernel == .modern {
            // The OOM reaper's non-blocking UNMAP ranges (__oom_reap_task_mm).
            list.append(
                Workload(name: "fault-vs-oom-reap", summary: "a fault against the OOM reaper, whose ranges may not block") { a in
                    [.fault(mm: 1, notifier: 1, address: a, write: true), .oomReap(mm: 1)]
                }
            )
            list.append(
                Workload(name: "oom-reap-vs-munmap", summary: "the OOM reaper against munmap of the mapped page", faultFirst: true) { a in
                    [.oomReap(mm: 1), .munmap(mm: 1, addr: a, length: page)]
                }
            )
        }
        if policy.subscribe == .interval {
            // mmu_interval_notifier_insert and _remove during a round.
            let inserted = policy
            list.append(
                Workload(name: "interval-insert-vs-munmap", summary: "a second subscription inserted while munmap's round is on", faultFirst: true) {
                    a in
                    [.registerPolicy(mm: 1, policy: inserted, signalPending: false, mmapSemHeld: false), .munmap(mm: 1, addr: a, length: page)]
                }
            )
            list.append(
                Workload(name: "interval-remove-vs-munmap", summary: "mmu_interval_notifier_remove while munmap's round is on", faultFirst: true) {
                    a in
                    [.unregister(mm: 1, notifier: 1), .munmap(mm: 1, addr: a, length: page)]
                }
            )
            list.append(
                Workload(name: "fault-vs-interval-remove", summary: "a fault against mmu_interval_notifier_remove of its subscription") { a in
                    [.fault(mm: 1, notifier: 1, address: a, write: true), .unregister(mm: 1, notifier: 1)]
                }
            )
        }
        // A policy without a fault path has no fault to race: those workloads would be vacuous.
        if policy.fault == nil {
            list.removeAll { workload in
                workload.faultFirst || workload.tasks(0x7f00_0000_0000).contains { if case .fault = $0 { true } else { false } }
            }
        }
        return list
    }

    /// The world a workload starts from: one page written, the driver registered (notifier 1
    /// on mm 1), then what the workload asks first.
    func world(for workload: Workload) -> (World, UInt64) {
        var config = config
        if workload.hugetlb { config.frames = 1100 }
        if workload.pages > 1 { config.frames = Int(workload.pages) + 64 }
        var world = World(config)
        _ = world.apply(.createMM(name: "check"))
        let flags = MmapFlags(shared: workload.filePage, anonymous: !workload.filePage, fixed: false, locked: false, hugetlb: workload.hugetlb)
        let file = workload.filePage ? "check" : nil
        let length = workload.hugetlb ? hugePageSize : workload.pages * pageSize
        let mapped = world.perform(.mmap(mm: 1, addr: nil, length: length, prot: [.read, .write], flags: flags, file: file, offset: 0))
        let a = mapped.result.addr ?? 0
        _ = world.perform(.touch(mm: 1, addr: a, length: workload.pages * pageSize, write: true, value: 1))
        _ = world.perform(.registerPolicy(mm: 1, policy: policy, signalPending: false, mmapSemHeld: false))
        for companion in companions { _ = world.perform(.registerPolicy(mm: 1, policy: companion, signalPending: false, mmapSemHeld: false)) }
        if workload.faultFirst { _ = world.perform(.fault(mm: 1, notifier: 1, address: a, write: true)) }
        if workload.reclaimFirst { _ = world.perform(.reclaim(mm: 1, addr: nil, length: nil, pages: nil)) }
        return (world, a)
    }

    /// The exploration of a workload of the policy's catalogue, nil for a name not in it.
    public func explorer(for name: String) -> Explorer? {
        guard let workload = Self.catalogue(for: policy).first(where: { $0.name == name }) else { return nil }
        let (world, a) = self.world(for: workload)
        return Explorer(spec: ExploreSpec(setup: [], tasks: []), world: world, tasks: workload.tasks(a))
    }

    /// Runs the workloads named (all when empty), each on `jobs` threads, with partial-order
    /// reduction unless `reduce` is false; `shouldStop` is asked now and then.
    public func run(
        workloads names: [String] = [],
        jobs: Int = 1,
        reduce: Bool = true,
        shouldStop: () -> Bool = { false }
    ) throws(CommandError) -> [Verdict] {
        let catalogue = Self.catalogue(for: policy)
        if let unknown = names.first(where: { name in !catalogue.contains { $0.name == name } }) {
            throw CommandError("no workload '\(unknown)': the catalogue has \(catalogue.map(\.name).joined(separator: ", "))", code: "invalid_value")
        }
        return catalogue.filter { names.isEmpty || names.contains($0.name) }.compactMap { workload in
            guard let explorer = explorer(for: workload.name) else { return nil }
            return Verdict(workload: workload.name, result: explorer.run(jobs: jobs, reduce: reduce, shouldStop: shouldStop), world: explorer.initial)
        }
    }
}
