/// Which ordering `__mmu_notifier_release` uses in exit_mmap.
public enum ReleaseOrder: String, Codable, Hashable, Sendable, CaseIterable {
    /// The seed's: per notifier, unlink it, then call its ->release.
    case v17
    /// Upstream's later fix: call every ->release first, then unlink them all.
    case fixed
}

/// A known fault of the core (not of a driver), on or off per world: the seed's own, fixed
/// upstream later, and faults a kernel change could bring, for making each invariant fire.
public enum CoreBug: String, Codable, Hashable, Sendable, CaseIterable, Comparable {
    /// `__mmu_notifier_release` and `mmu_notifier_unregister` unlink before ->release (the
    /// seed's; fixed by 3ad3d901bbcf, v3.6). The same as `release_order: v17`.
    case v17ReleaseOrder = "v17_release_order"
    /// `copy_hugetlb_page_range` write-protects a private hugetlb mapping's parent ptes with no
    /// notifier call (v17; fixed by e8569dd299db, "mm/hugetlb.c: call MMU notifiers when copying
    /// a hugetlb page range", v3.14).
    case hugetlbForkNoNotifier = "hugetlb_fork_no_notifier"
    /// `hugetlb_cow` replaces a huge page with no notifier call (v17; fixed by 3edd4fc9537d,
    /// "hugetlb: call mmu notifiers on hugepage cow", v2.6.36).
    case hugetlbCowNoNotifier = "hugetlb_cow_no_notifier"
    /// `copy_page_range` returns -ENOMEM at once instead of breaking out of its loop, so the
    /// invalidate_range_start it made has no end: what the seed's `ret = -ENOMEM; break` avoids.
    case copyPageRangeEnomemSkipsEnd = "copy_page_range_enomem_skips_end"
    /// `follow_page` does not dirty the page for FOLL_WRITE, as 2.6.26's does (`if ((flags &
    /// FOLL_WRITE) && !pte_dirty(pte) && !PageDirty(page)) set_page_dirty(page);`): then only the
    /// driver's own set_page_dirty saves what a secondary MMU writes.
    case followPageNoSetPageDirty = "follow_page_no_set_page_dirty"
    /// `exit_mmap` unmaps the address space before `mmu_notifier_release`: pages go while
    /// secondary MMUs still map them (the seed calls mmu_notifier_release first).
    case exitMmapUnmapsBeforeRelease = "exit_mmap_unmaps_before_release"
    /// Modern: when a classic invalidate_range_start fails (-EAGAIN, in a non-blockable range),
    /// the subscribers whose start succeeded get no invalidate_range_end (before c2655835fd8c,
    /// "mm/mmu_notifiers: ensure range_end() is paired with range_start()", v5.13).
    case unpairedEndOnEagain = "unpaired_end_on_eagain"
    /// Modern: `mmu_interval_notifier_remove` waits for the round to end reading
    /// `invalidate_seq` without the subscriptions lock, so it may return while
    /// `mn_itree_inv_end` still has the subscription on its deferred list (before 319561669a59,
    /// "mm/mmu_notifier.c: fix race in mmu_interval_notifier_remove()", v5.19).
    case removeReadsSeqUnlocked = "remove_reads_seq_unlocked"

    /// The seed as posted: its release ordering and the hugetlb paths without notifiers.
    public static let v17: Set<CoreBug> = [.v17ReleaseOrder, .hugetlbForkNoNotifier, .hugetlbCowNoNotifier]

    /// The bugs of a modern core's code (../shared/MODERN.md): they exist in no v17 world, and
    /// they are the only ones a modern world takes.
    public static let modern: Set<CoreBug> = [.unpairedEndOnEagain, .removeReadsSeqUnlocked]

    /// Orders by name, so that lists of core bugs read the same everywhere.
    public static func < (a: CoreBug, b: CoreBug) -> Bool { a.rawValue < b.rawValue }
}

/// The settings a world is created with.
public struct WorldConfig: Codable, Hashable, Sendable {
    /// Physical memory in 4 KiB frames (frame 0 is the zero page).
    public var frames: Int
    /// Swap slots.
    public var swapSlots: Int
    /// The exit_mmap release ordering.
    public var releaseOrder: ReleaseOrder
    /// The core bugs on besides the release ordering (`v17_release_order` is `releaseOrder`),
    /// sorted, so that equal configurations encode to equal bytes.
    public private(set) var otherCoreBugs: [CoreBug]
    /// Whether the invariant checker runs after every step.
    public var checkInvariants: Bool
    /// How many trace events the world keeps (older ones drop off).
    public var traceCapacity: Int
    /// `sysctl_max_map_count`: an mm with this many VMAs gets -ENOMEM for one more.
    public var maxMapCount: Int
    /// The kernel whose notifier protocol the world runs: the seed's (`v17`) or today's
    /// (`modern`, ../shared/MODERN.md).
    public private(set) var kernel: KernelVersion = .v17

    /// Creates a configuration; the defaults are those of DESIGN.md.
    public init(
        frames: Int = 65_536,
        swapSlots: Int = 65_536,
        releaseOrder: ReleaseOrder = .v17,
        checkInvariants: Bool = true,
        traceCapacity: Int = 100_000,
        maxMapCount: Int = 65_530,
        coreBugs: Set<CoreBug>? = nil
    ) {
        self.otherCoreBugs = (coreBugs ?? CoreBug.v17).subtracting([.v17ReleaseOrder]).sorted()
        self.maxMapCount = maxMapCount
        self.frames = frames
        self.swapSlots = swapSlots
        self.releaseOrder = releaseOrder
        self.checkInvariants = checkInvariants
        self.traceCapacity = traceCapacity
    }
}

extension WorldConfig {
    enum CodingKeys: String, CodingKey {
        case frames, swapSlots, releaseOrder, checkInvariants, traceCapacity, maxMapCount, otherCoreBugs, kernel
    }

    /// Every core bug on, the release ordering's included.
    public var coreBugs: Set<CoreBug> {
        releaseOrder == .v17 ? Set(otherCoreBugs).union([.v17ReleaseOrder]) : Set(otherCoreBugs)
    }

    /// Whether a core bug is on.
    public func has(_ bug: CoreBug) -> Bool { coreBugs.contains(bug) }

    /// Sets the world options a request, scenario or exploration gives: `kernel` (a change of
    /// kernel starts from that kernel's core: the seed's bugs for v17, every fix for modern),
    /// `core_bugs` (the exact list; absent: the bugs already set) and then `release_order`,
    /// which sets or clears `v17_release_order` (the older name of that one bug). The core bugs
    /// are the seed's: a modern world has none of them and the fixed release order.
    public mutating func apply(kernel: KernelVersion? = nil, releaseOrder: ReleaseOrder?, coreBugs names: [String]?) throws(CommandError) {
        if let kernel, kernel != self.kernel {
            self.kernel = kernel
            self.releaseOrder = kernel == .v17 ? .v17 : .fixed
            otherCoreBugs = kernel == .v17 ? CoreBug.v17.subtracting([.v17ReleaseOrder]).sorted() : []
        }
        var bugs = coreBugs
        if let names {
            bugs = []
            for name in names {
                guard let bug = CoreBug(rawValue: name) else {
                    let known = CoreBug.allCases.map(\.rawValue).joined(separator: ", ")
                    throw CommandError("unknown core bug '\(name)' (known: \(known))")
                }
                bugs.insert(bug)
            }
        }
        if let releaseOrder {
            bugs = releaseOrder == .v17 ? bugs.union([.v17ReleaseOrder]) : bugs.subtracting([.v17ReleaseOrder])
        }
        if self.kernel == .modern, let bug = bugs.subtracting(CoreBug.modern).map(\.rawValue).sorted().first {
            throw CommandError(
                "core bug '\(bug)' is the seed's (v17): a modern world has every upstream fix, the fixed release order included",
                code: "kernel_mismatch"
            )
        }
        if self.kernel == .v17, let bug = bugs.intersection(CoreBug.modern).map(\.rawValue).sorted().first {
            throw CommandError("core bug '\(bug)' is a modern core's: this world is v17 (kernel: modern)", code: "kernel_mismatch")
        }
        self.releaseOrder = bugs.contains(.v17ReleaseOrder) ? .v17 : .fixed
        self.otherCoreBugs = bugs.subtracting([.v17ReleaseOrder]).sorted()
    }

    /// Reads a configuration; fields added later take their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            frames: try container.decode(Int.self, forKey: .frames),
            swapSlots: try container.decode(Int.self, forKey: .swapSlots),
            releaseOrder: try container.decode(ReleaseOrder.self, forKey: .releaseOrder),
            checkInvariants: try container.decodeIfPresent(Bool.self, forKey: .checkInvariants) ?? true,
            traceCapacity: try container.decodeIfPresent(Int.self, forKey: .traceCapacity) ?? 100_000,
            maxMapCount: try container.decodeIfPresent(Int.self, forKey: .maxMapCount) ?? 65_530,
            coreBugs: try container.decodeIfPresent([CoreBug].self, forKey: .otherCoreBugs).map(Set.init)
        )
        kernel = try container.decodeIfPresent(KernelVersion.self, forKey: .kernel) ?? .v17
    }
}

/// The whole simulated machine: physical memory, swap, files, address spaces, secondary MMUs,
/// tasks, the trace and the checker's findings.
///
/// A world is a value: it has no I/O, no clock and no randomness, so the same commands on two
/// fresh worlds give equal worlds, and a copy can be explored without touching the original.
public struct World: Codable, Hashable, Sendable {
    /// The settings it was created with.
    public let config: WorldConfig
    /// Physical memory, indexed by pfn.
    public internal(set) var frames: [Frame]
    /// Free pfns; the last is allocated next.
    var freeFrames: [Int32]
    /// Swap slots, indexed by slot number; nil is free.
    public internal(set) var swap: [SwapSlot?]
    /// Free slots; the last is allocated next.
    var freeSlots: [Int32]
    /// Files by id.
    public internal(set) var files: [File] = []
    /// Address spaces by id - 1.
    public internal(set) var mms: [MM] = []
    /// Secondary MMUs by id - 1.
    public internal(set) var notifiers: [Notifier] = []
    /// Tasks that have not finished, or finished and not yet collected, by id.
    public internal(set) var tasks: [TaskStruct] = []
    /// The next task id.
    var nextTaskID = 1
    /// The last task `perform` handed back, for the next task to reuse (not part of the value).
    var spareTask = SpareTask()
    /// The next anon_vma id.
    var nextAnonVMA = 1
    /// The most recent events.
    public internal(set) var trace: TraceLog
    /// Sequence number of the last event.
    public internal(set) var lastSeq = 0
    /// The driver policies loaded by name (POST /drivers), for registration to name.
    public internal(set) var drivers: [String: Policy] = [:]
    /// The driver policies the notifiers run, their variants applied (Driver/).
    public internal(set) var policies = PolicyTable()
    /// The policies' shared variables, by name, once one was written.
    public internal(set) var sharedVars: [String: Int] = [:]
    /// The invariant checker's own state (Check/Checker.swift).
    public internal(set) var checker = Checker()
    /// Invariant violations found, each recorded once.
    public var violations: [Violation] { checker.violations }
    /// The running task while a step executes.
    var current = 0
    /// The running task's state while the engine runs its steps, written in place (`me`; not
    /// part of the value).
    var running = RunningTask()
    /// Page tables visited by range walks, for tests that show sparse ranges stay cheap.
    public internal(set) var tablesVisited = 0
    /// `__xip_sparse_page`: the zeroed page that maps the holes of execute-in-place files,
    /// allocated at its first use and never freed; -1 before.
    public internal(set) var xipSparsePfn = -1

    /// The pfn of the zero page.
    public static let zeroPfn = 0

    /// Creates a world with empty memory.
    public init(_ config: WorldConfig = WorldConfig()) {
        precondition(config.frames >= 2 && config.frames <= 1 << 28, "frames out of range")
        precondition(config.swapSlots >= 0 && config.swapSlots <= 1 << 40, "swap slots out of range")
        self.config = config
        trace = TraceLog(capacity: config.traceCapacity)
        frames = Array(repeating: Frame(), count: config.frames)
        frames[Self.zeroPfn] = Frame(refcount: 1, mapcount: 0, kind: .zero, generation: 1)
        freeFrames = (1..<config.frames).reversed().map { Int32($0) }
        swap = Array(repeating: nil, count: config.swapSlots)
        freeSlots = (0..<config.swapSlots).reversed().map { Int32($0) }
    }

    // MARK: Lookups

    /// The mm with this id, if it exists.
    public func mm(_ id: Int) -> MM? {
        id >= 1 && id <= mms.count ? mms[id - 1] : nil
    }

    /// The notifier with this id, if it exists.
    public func notifier(_ id: Int) -> Notifier? {
        id >= 1 && id <= notifiers.count ? notifiers[id - 1] : nil
    }

    /// The task with this id, if it is still known.
    public func task(_ id: Int) -> TaskStruct? {
        tasks.first { $0.id == id }
    }

    /// The file with this name, if it exists.
    public func file(named name: String) -> File? {
        files.first { $0.name == name }
    }

    /// Frames allocated, the zero page included.
    public var framesInUse: Int { config.frames - freeFrames.count }

    /// The pte at `address` in `mm`.
    public func pte(mm: Int, address: UInt64) -> PTE {
        mms[mm - 1].pageTable.pte(at: address)
    }

    /// The present and swap ptes of `mm` in `[start, end)`, a huge pte that covers `start`
    /// included.
    public func ptes(mm: Int, from start: UInt64, to end: UInt64) -> [(address: UInt64, pte: PTE)] {
        let table = mms[mm - 1].pageTable
        let found = table.ptes(from: start, to: end)
        let slot = table.translationSlot(at: start)
        guard slot != start, start < end else { return found }
        return [(slot, table.pte(at: slot))] + found
    }

    /// The pte that translates `address` in `mm`, seen from its 4 KiB page (a huge pte gives
    /// the pfn of that page's frame).
    public func translation(mm: Int, address: UInt64) -> PTE {
        mms[mm - 1].pageTable.translation(at: address)
    }

    // MARK: Creation

    /// Creates an address space with one user (`mm_alloc`) and returns its id.
    public mutating func createMM(name: String? = nil) -> Int {
        current = 0
        return newMM(name: name)
    }

    /// Creates an mm on behalf of the running task (fork's dup_mm) or of nobody.
    mutating func newMM(name: String?) -> Int {
        let id = mms.count + 1
        mms.append(MM(id: id, name: name, users: 1, count: 1))
        emit(EventInfo(.mmCreate, mm: id))
        return id
    }

    /// The id of the file with this name, creating it if needed.
    mutating func fileID(named name: String) -> Int {
        if let file = files.first(where: { $0.name == name }) { return file.id }
        files.append(File(id: files.count, name: name))
        return files.count - 1
    }

    mutating func newAnonVMA() -> Int {
        defer { nextAnonVMA += 1 }
        return nextAnonVMA
    }

    // MARK: Frames

    /// Allocates a frame with one reference, or nil when memory is exhausted.
    mutating func allocFrame(kind: FrameKind, content: UInt64, owner: Int32, index: UInt64) -> Int? {
        guard let pfn = freeFrames.popLast().map(Int.init) else { return nil }
        let generation = frames[pfn].generation &+ 1
        frames[pfn] = Frame(
            refcount: 1,
            mapcount: 0,
            kind: kind,
            dirty: false,
            referenced: false,
            content: content,
            generation: generation & UInt32(PTE.generationMask),
            owner: owner,
            index: index,
            swapSlot: -1
        )
        return pfn
    }

    /// The frames of a huge page (`1 << HUGETLB_PAGE_ORDER`).
    static let hugePageFrames = Int(hugePageSize / pageSize)

    /// Allocates a huge page, zeroed (`alloc_huge_page`, then `clear_huge_page`): the highest
    /// 512 free frames aligned to 512, as one compound page with one reference on its head.
    /// Returns the head's pfn, or nil when no such run of frames is free.
    mutating func allocHugePage(kind: FrameKind, owner: Int32, index: UInt64) -> Int? {
        let size = Self.hugePageFrames
        guard
            let head = stride(from: (frames.count / size - 1) * size, to: 0, by: -size).first(where: { head in
                frames[head..<head + size].allSatisfy { !$0.isAllocated }
            })
        else { return nil }
        freeFrames.removeAll { Int($0) >= head && Int($0) < head + size }
        for pfn in head..<head + size {
            frames[pfn] = Frame(kind: kind, isHuge: true, generation: (frames[pfn].generation &+ 1) & UInt32(PTE.generationMask), owner: owner)
        }
        frames[head].refcount = 1
        frames[head].index = index
        return head
    }

    /// The frame that holds `pfn`'s counts: the head of its huge page, or itself
    /// (`compound_head`).
    func compoundHead(_ pfn: Int) -> Int {
        frames[pfn].isHuge ? pfn & ~(Self.hugePageFrames - 1) : pfn
    }

    /// Takes a reference on the page of `pfn` (`get_page`, which counts on the head).
    mutating func getPage(_ pfn: Int) {
        frames[compoundHead(pfn)].refcount += 1
    }

    /// Drops one reference (`put_page`, on the head of a huge page); frees the page at zero.
    /// Returns true if it was freed.
    @discardableResult
    mutating func putPage(_ pfn: Int) -> Bool {
        guard pfn != Self.zeroPfn else {
            frames[pfn].refcount -= 1
            return false
        }
        let head = compoundHead(pfn)
        precondition(frames[head].isAllocated && frames[head].refcount > 0, "put_page on a free frame \(pfn)")
        frames[head].refcount -= 1
        guard frames[head].refcount == 0 else { return false }
        if frames[head].isHuge {
            freeHugePage(head)
        } else {
            freeFrame(head)
        }
        return true
    }

    /// `free_huge_page`: each of the 512 frames is freed as a frame is (the head leaves its
    /// file's page cache; the tails have no cache entry of their own).
    private mutating func freeHugePage(_ head: Int) {
        for pfn in head..<head + Self.hugePageFrames { freeFrame(pfn) }
    }

    /// The frames a page spans: 512 for a huge page's head, else 1.
    func pageFrames(_ pfn: Int) -> Int {
        frames[pfn].isHuge ? Self.hugePageFrames : 1
    }

    /// Returns a frame with no references to the free list, dropping its page-cache and
    /// swap-cache entries; the checker looks at who still maps it.
    mutating func freeFrame(_ pfn: Int) {
        let frame = frames[pfn]
        checkFrameFree(pfn)
        if frame.kind == .file, files[Int(frame.owner)].pageCache[frame.index] == pfn {
            files[Int(frame.owner)].pageCache[frame.index] = nil
        }
        if frame.swapSlot >= 0 {
            // The swap cache holds no reference here. A dirty swap-cache page that swap ptes still
            // name would stay in the kernel's swap cache until reclaim wrote it out; that write
            // happens now (docs/fidelity.md).
            if frame.dirty, let slot = swap[Int(frame.swapSlot)], slot.count > 0 { swap[Int(frame.swapSlot)]!.content = frame.content }
            dropSwapCache(slot: Int(frame.swapSlot))
        }
        frames[pfn] = Frame(generation: frame.generation)
        freeFrames.append(Int32(pfn))
    }

    // MARK: Swap

    /// Allocates a swap slot, or nil when swap is full.
    mutating func allocSlot(content: UInt64) -> Int? {
        guard let slot = freeSlots.popLast().map(Int.init) else { return nil }
        swap[slot] = SwapSlot(content: content, count: 0, cachedPfn: -1)
        return slot
    }

    /// Forgets the frame that caches a slot; frees the slot when nothing names it.
    mutating func dropSwapCache(slot: Int) {
        guard var entry = swap[slot] else { return }
        entry.cachedPfn = -1
        swap[slot] = entry
        freeSlotIfUnused(slot)
    }

    /// Drops one swap pte's reference (`swap_free`).
    mutating func swapFree(_ slot: Int) {
        guard var entry = swap[slot] else { return }
        entry.count -= 1
        swap[slot] = entry
        freeSlotIfUnused(slot)
    }

    private mutating func freeSlotIfUnused(_ slot: Int) {
        guard let entry = swap[slot], entry.count <= 0, entry.cachedPfn < 0 else { return }
        swap[slot] = nil
        freeSlots.append(Int32(slot))
    }

    // MARK: Page table entries

    /// Sets a pte and keeps rss in step (huge ptes are not counted: hugetlb pages are not in
    /// `get_mm_rss`).
    mutating func setPTE(mm: Int, address: UInt64, _ pte: PTE) {
        let old = mms[mm - 1].pageTable.pte(at: address)
        mms[mm - 1].rss += pte.countsInRSS - old.countsInRSS
        mms[mm - 1].pageTable.setPTE(pte, at: address)
    }

    /// Maps `pfn` at `address`: a new pte plus the frame's mapping, and a reference unless the
    /// page is newly allocated (its allocation reference becomes the pte's).
    mutating func mapPage(mm: Int, address: UInt64, pfn: Int, write: Bool, dirty: Bool, newPage: Bool = false) {
        frames[pfn].mapcount += 1
        if !newPage { frames[pfn].refcount += 1 }
        setPTE(mm: mm, address: address, .present(pfn: pfn, write: write, young: true, dirty: dirty))
    }
}
