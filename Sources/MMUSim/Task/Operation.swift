/// The flags of an mmap call.
public struct MmapFlags: Codable, Hashable, Sendable {
    /// `MAP_SHARED` (otherwise `MAP_PRIVATE`).
    public var shared: Bool
    /// `MAP_ANONYMOUS`.
    public var anonymous: Bool
    /// `MAP_FIXED`.
    public var fixed: Bool
    /// `MAP_LOCKED`.
    public var locked: Bool
    /// `MAP_HUGETLB`.
    public var hugetlb: Bool
    /// The file is execute-in-place (on a filesystem mounted `-o xip`); it is made so when the
    /// first mmap of its name creates it.
    public var xip: Bool

    /// Creates flags; private anonymous memory by default.
    public init(shared: Bool = false, anonymous: Bool = true, fixed: Bool = false, locked: Bool = false, hugetlb: Bool = false, xip: Bool = false) {
        self.shared = shared
        self.anonymous = anonymous
        self.fixed = fixed
        self.locked = locked
        self.hugetlb = hugetlb
        self.xip = xip
    }

    /// Reads flags; `xip`, added later, is false when absent (journals written before it).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            shared: try container.decode(Bool.self, forKey: .shared),
            anonymous: try container.decode(Bool.self, forKey: .anonymous),
            fixed: try container.decode(Bool.self, forKey: .fixed),
            locked: try container.decode(Bool.self, forKey: .locked),
            hugetlb: try container.decode(Bool.self, forKey: .hugetlb),
            xip: try container.decodeIfPresent(Bool.self, forKey: .xip) ?? false
        )
    }
}

/// A simulated kernel call: the canonical command that a task runs as a sequence of atomic
/// steps. Its arguments are already parsed; semantic checks (alignment, overflow, unknown
/// ids) are the model's and answer with an errno.
public enum Operation: Codable, Hashable, Sendable {
    case mmap(mm: Int, addr: UInt64?, length: UInt64, prot: Prot, flags: MmapFlags, file: String?, offset: UInt64)
    case munmap(mm: Int, addr: UInt64, length: UInt64)
    case mprotect(mm: Int, addr: UInt64, length: UInt64, prot: Prot)
    case mremap(mm: Int, oldAddr: UInt64, oldLength: UInt64, newLength: UInt64, mayMove: Bool, fixed: Bool, newAddr: UInt64?)
    case madviseDontneed(mm: Int, addr: UInt64, length: UInt64)
    case touch(mm: Int, addr: UInt64, length: UInt64, write: Bool, value: UInt64?)
    case fork(mm: Int)
    case exit(mm: Int)
    case reclaim(mm: Int?, addr: UInt64?, length: UInt64?, pages: Int?)
    case writeback(file: String?)
    case migrate(mm: Int, addr: UInt64, length: UInt64)
    case remapFilePages(mm: Int, addr: UInt64, length: UInt64, pgoff: UInt64)
    case applyToPageRange(mm: Int, addr: UInt64, length: UInt64)
    /// Registration of a driver by name: a built-in one (drivers/NAME.json) or one loaded with
    /// POST /drivers, with `bugs` applied as its variants.
    case register(mm: Int, kind: String, bugs: [String], signalPending: Bool, mmapSemHeld: Bool)
    /// Registration of a driver policy given whole (its variants applied). Boxed: a policy is
    /// large, and an operation is as large as its largest case.
    indirect case registerPolicy(mm: Int, policy: Policy, signalPending: Bool, mmapSemHeld: Bool)
    /// Modern: registration by name of an interval driver over `[start, start + length)`
    /// (`mmu_interval_notifier_insert`); without them `register` inserts over the whole
    /// address space.
    case registerInterval(mm: Int, kind: String, bugs: [String], start: UInt64, length: UInt64)
    case unregister(mm: Int, notifier: Int)
    case fault(mm: Int, notifier: Int, address: UInt64, write: Bool)
    /// A driver policy's entry point (a KVM cache refresh, a device file's release), with the
    /// page it is about.
    case entry(mm: Int, notifier: Int, name: String, address: UInt64, write: Bool)
    case access(mm: Int, notifier: Int, address: UInt64, write: Bool, value: UInt64?)
    /// A driver's work item (`queue_work`) on a worker thread of its own: started by the
    /// driver, not by a request.
    case work(mm: Int, notifier: Int, name: String)
    /// Modern: the OOM reaper's `oom_reap_task` on the mm.
    case oomReap(mm: Int)
    /// Modern: idle page tracking's bitmap over a range: a write (`mark`) or a read.
    case pageIdle(mm: Int, addr: UInt64, length: UInt64, mark: Bool)
    /// Modern: khugepaged's scan of the PMD range around `addr` (the collapse is not modelled).
    case khugepagedScan(mm: Int, addr: UInt64)
    /// Modern: the SRCU callback `mmu_notifier_put` queued (`call_srcu`): after a grace
    /// period, `free_notifier`. Started by the core, not by a request.
    case srcuFree(mm: Int, notifier: Int)

    /// The name of the operation as traces show it.
    public var name: String {
        switch self {
        case .mmap: "mmap"
        case .munmap: "munmap"
        case .mprotect: "mprotect"
        case .mremap: "mremap"
        case .madviseDontneed: "madvise"
        case .touch: "touch"
        case .fork: "fork"
        case .exit: "exit"
        case .reclaim: "reclaim"
        case .writeback: "writeback"
        case .migrate: "migrate"
        case .remapFilePages: "remap_file_pages"
        case .applyToPageRange: "apply_to_page_range"
        case .register, .registerPolicy, .registerInterval: "register"
        case .unregister: "unregister"
        case .fault: "fault"
        case .entry: "entry"
        case .access: "access"
        case .work: "work"
        case .oomReap: "oom_reap"
        case .pageIdle: "page_idle"
        case .khugepagedScan: "khugepaged_scan"
        case .srcuFree: "call_srcu"
        }
    }

    /// The mm the operation works on, if it names one.
    public var mm: Int? {
        switch self {
        case .mmap(let mm, _, _, _, _, _, _), .munmap(let mm, _, _), .mprotect(let mm, _, _, _),
            .mremap(let mm, _, _, _, _, _, _), .madviseDontneed(let mm, _, _), .touch(let mm, _, _, _, _),
            .fork(let mm), .exit(let mm), .migrate(let mm, _, _), .remapFilePages(let mm, _, _, _),
            .applyToPageRange(let mm, _, _), .register(let mm, _, _, _, _), .registerPolicy(let mm, _, _, _), .unregister(let mm, _),
            .fault(let mm, _, _, _), .entry(let mm, _, _, _, _), .access(let mm, _, _, _, _), .work(let mm, _, _),
            .registerInterval(let mm, _, _, _, _), .oomReap(let mm), .srcuFree(let mm, _), .pageIdle(let mm, _, _, _),
            .khugepagedScan(let mm, _):
            mm
        case .reclaim(let mm, _, _, _): mm
        case .writeback: nil
        }
    }

    /// The notifier the operation acts on, if any.
    public var notifier: Int? {
        switch self {
        case .unregister(_, let notifier), .fault(_, let notifier, _, _), .entry(_, let notifier, _, _, _),
            .access(_, let notifier, _, _, _), .work(_, let notifier, _), .srcuFree(_, let notifier):
            notifier
        default: nil
        }
    }
}

/// What an operation answered: the kernel's return value and what it produced.
public struct OpResult: Codable, Hashable, Sendable {
    /// 0 or a negative errno.
    public var ret = 0
    /// The error when `ret` is negative.
    public var errno: Errno?
    /// mmap and mremap: the address of the mapping.
    public var addr: UInt64?
    /// touch: pages that took a fault.
    public var faults: Int?
    /// touch (read): the content of each page.
    public var values: [UInt64]?
    /// fork: the child's mm.
    public var child: Int?
    /// reclaim: pages looked at.
    public var scanned: Int?
    /// reclaim: pages kept because they were young.
    public var referenced: Int?
    /// reclaim: pages written to swap (or dropped) and freed.
    public var swappedOut: Int?
    /// reclaim: pages unmapped (and written) but not freed, because someone else (a gup, a
    /// pinning driver) still holds them: `__remove_mapping` refused, so they stay in the swap
    /// cache or page cache.
    public var kept: Int?
    /// reclaim: pages that could not be unmapped (locked, no swap); migrate: pages that someone
    /// else holds, so `migrate_page_move_mapping` answered -EAGAIN and their ptes came back.
    public var failed: Int?
    /// writeback: pages cleaned.
    public var cleaned: Int?
    /// migrate: pages moved to new frames.
    public var migrated: Int?
    /// register: the new notifier's id.
    public var notifier: Int?
    /// register: locks mm_take_all_locks took.
    public var locksTaken: Int?
    /// fault: how often the fault retried.
    public var retries: Int?
    /// fault: the spte or TLB entry installed.
    public var spte: SpteInfo?
    /// access: the value read or written.
    public var value: UInt64?
    /// access: whether a translation was found.
    public var tlbHit: Bool?
    /// oom_reap: the reaper's attempts (at most 10).
    public var attempts: Int?

    /// Creates an empty success.
    public init() {}

    /// Sets a failure.
    mutating func fail(_ errno: Errno) {
        ret = -errno.number
        self.errno = errno
    }
}

/// A secondary mapping as the API shows it.
public struct SpteInfo: Codable, Hashable, Sendable {
    /// The page address it translates.
    public var address: UInt64
    /// The frame it maps.
    public var pfn: Int
    /// Whether the secondary MMU may write through it.
    public var writable: Bool
    /// Whether it was used since its young bit was last cleared.
    public var young: Bool
    /// Whether the secondary MMU wrote through it.
    public var dirty: Bool
}
