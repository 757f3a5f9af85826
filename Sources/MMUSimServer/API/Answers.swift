import Hummingbird
import MMUSim

/// A trace event as the API shows it.
struct EventAnswer: Codable, Sendable {
    var seq: Int
    var task: Int?
    var mm: Int?
    var op: String?
    var call: String
    var notifier: Int?
    var start: Hex?
    var end: Hex?
    var address: Hex?
    var pfn: Int?
    var pages: Int?
    var locks: [String]
    var atomic: Bool
    var ret: Int?
    /// A driver statement's driver and JSON pointer (`call` is `driver`).
    var driver: String?
    var statement: String?
    /// Modern: a start or end's range event and whether it is blockable.
    var event: String?
    var blockable: Bool?

    init(_ event: TraceEvent) {
        seq = event.seq
        task = event.task
        mm = event.mm
        op = event.op
        call = event.call.rawValue
        notifier = event.notifier
        start = event.start.map(Hex.init)
        end = event.end.map(Hex.init)
        address = event.address.map(Hex.init)
        pfn = event.pfn
        pages = event.pages
        locks = event.locks
        atomic = event.atomic
        ret = event.ret
        driver = event.driver
        statement = event.statement
        self.event = event.event?.rawValue
        blockable = event.blockable
    }
}

/// A secondary mapping.
struct SpteAnswer: Codable, Sendable {
    var address: Hex
    var pfn: Int
    var writable: Bool
    var young: Bool
    var dirty: Bool
    /// False when the frame was freed or reused since the mapping was made.
    var valid: Bool?
}

/// The answer of every mutating request: the kernel's result, what the operation produced,
/// the task that ran it and the trace events it caused.
struct OperationAnswer: ResponseEncodable, Sendable {
    var ret: Int
    var errno: String?
    var task: Int
    var status: String
    var nextStep: String?
    var blockedOn: String?
    var trace: [EventAnswer]
    var addr: Hex?
    var faults: Int?
    var values: [UInt64]?
    var child: Int?
    var scanned: Int?
    var referenced: Int?
    var swappedOut: Int?
    var kept: Int?
    var failed: Int?
    var cleaned: Int?
    var migrated: Int?
    var id: Int?
    var locksTaken: Int?
    var retries: Int?
    var spte: SpteAnswer?
    var value: UInt64?
    var tlbHit: Bool?
    var attempts: Int?

    init(_ outcome: Simulator.Outcome) {
        let task = outcome.task
        let result = task.result
        ret = result.ret
        errno = result.errno?.rawValue
        self.task = task.id
        status = task.status.rawValue
        nextStep = task.status == .done ? nil : task.nextStep
        blockedOn = task.blockedOn
        trace = outcome.events.map(EventAnswer.init)
        addr = result.addr.map(Hex.init)
        faults = result.faults
        values = result.values
        child = result.child
        scanned = result.scanned
        referenced = result.referenced
        swappedOut = result.swappedOut
        kept = result.kept
        failed = result.failed
        cleaned = result.cleaned
        migrated = result.migrated
        id = result.ret == 0 ? result.notifier : nil
        locksTaken = result.locksTaken
        retries = result.retries
        spte = result.spte.map { SpteAnswer(address: Hex($0.address), pfn: $0.pfn, writable: $0.writable, young: $0.young, dirty: $0.dirty) }
        value = result.value
        tlbHit = result.tlbHit
        attempts = result.attempts
    }
}

/// A VMA.
struct VMAAnswer: Codable, Sendable {
    var start: Hex
    var end: Hex
    var prot: String
    var flags: [String]
    var file: String?
    var pgoff: UInt64
    var anonVMA: Int?

    init(_ vma: VMA, world: World) {
        start = Hex(vma.start)
        end = Hex(vma.end)
        prot = vma.prot.text
        flags = vma.flags
        file = vma.isShmem ? nil : vma.file.map { world.files[$0].name }
        pgoff = vma.pgoff
        anonVMA = vma.anonVMA
    }
}

/// An address space.
struct MMAnswer: ResponseEncodable, Sendable {
    var id: Int
    var name: String?
    var users: Int
    var count: Int
    var hasNotifiers: Bool
    var state: String
    var rss: Int
    var vmas: [VMAAnswer]?
    var notifiers: [Int]
    var ret: Int?
    var trace: [EventAnswer]?
    /// Modern: the subscriptions' interval side (`invalidate_seq`, the active ranges, the tree
    /// and the deferred list) and the OOM flags.
    var intervals: IntervalsAnswer?
    var unstable: Bool?
    var oomSkip: Bool?

    /// `struct mmu_notifier_subscriptions`' interval side.
    struct IntervalsAnswer: Codable, Sendable {
        var hasItree: Bool
        var invalidateSeq: Int
        var activeInvalidateRanges: Int
        var itree: [Int]
        var deferred: [Int]
    }

    init(_ mm: MM, world: World, detailed: Bool) {
        id = mm.id
        name = mm.name
        users = mm.users
        count = mm.count
        hasNotifiers = mm.hasNotifiers
        state = mm.count == 0 ? "freed" : mm.exited ? "exited" : "live"
        rss = mm.rss
        vmas = detailed ? mm.vmas.map { VMAAnswer($0, world: world) } : nil
        notifiers = world.notifiers.filter { $0.mm == mm.id }.map(\.id)
        if world.config.kernel == .modern {
            intervals = IntervalsAnswer(
                hasItree: mm.hasItree,
                invalidateSeq: mm.invalidateSeq,
                activeInvalidateRanges: mm.activeInvalidateRanges,
                itree: mm.itree.sorted(),
                deferred: mm.deferredItree
            )
            unstable = mm.unstable
            oomSkip = mm.oomSkip
        }
    }
}

/// A notifier and the state of its secondary MMU.
struct NotifierAnswer: ResponseEncodable, Sendable {
    struct Counters: Codable, Sendable {
        var release: Int
        var clearFlushYoung: Int
        var invalidatePage: Int
        var invalidateRangeStart: Int
        var invalidateRangeEnd: Int
        var faults: Int
        var retries: Int
        /// Modern: an interval subscription's ->invalidate calls.
        var invalidate: Int?
    }

    /// Modern: an interval subscription's range and `invalidate_seq`.
    struct IntervalAnswer: Codable, Sendable {
        var start: Hex
        var end: Hex
        var invalidateSeq: Int
    }

    var id: Int
    var mm: Int
    var kind: String
    var bugs: [String]
    var state: String
    var counters: Counters
    var seq: UInt64
    var count: Int
    var sptes: Int
    var tlbEntries: Int
    var frozen: Bool
    var freed: Bool
    /// The driver policy's variables (and the shared ones it declares), by name.
    var vars: [String: Int]
    /// Modern: how the driver subscribed (classic, get, interval, none), an interval
    /// subscription's range and seq, a get subscription's users.
    var subscribe: String?
    var interval: IntervalAnswer?
    var users: Int?

    init(_ notifier: Notifier, in world: World) {
        id = notifier.id
        mm = notifier.mm
        kind = notifier.driverName
        let loaded = world.policies[notifier.policy]
        bugs = loaded.variants.sorted()
        var values = Dictionary(uniqueKeysWithValues: zip(loaded.varNames, notifier.vars))
        for (name, initial) in loaded.policy.sharedVars { values[name] = world.sharedVars[name] ?? initial }
        vars = values
        state = notifier.state.rawValue
        let c = notifier.counters
        counters = Counters(
            release: c.release,
            clearFlushYoung: c.clearFlushYoung,
            invalidatePage: c.invalidatePage,
            invalidateRangeStart: c.invalidateRangeStart,
            invalidateRangeEnd: c.invalidateRangeEnd,
            faults: c.faults,
            retries: c.retries,
            invalidate: c.invalidate
        )
        if world.config.kernel == .modern {
            subscribe = notifier.subscribe.rawValue
            if notifier.subscribe == .interval {
                interval = IntervalAnswer(
                    start: Hex(notifier.intervalStart),
                    end: Hex(notifier.intervalEnd),
                    invalidateSeq: notifier.invalidateSeq
                )
            }
            if notifier.subscribe == .get { users = notifier.users }
        }
        seq = UInt64(max(values["seq"] ?? 0, 0))
        count = values["count"] ?? 0
        sptes = notifier.sptes.count
        tlbEntries = notifier.tlb.count
        frozen = notifier.frozen
        freed = notifier.freed
    }
}

/// A task.
struct TaskAnswer: ResponseEncodable, Sendable {
    var id: Int
    var op: String
    var mm: Int?
    var status: String
    var nextStep: String?
    var blockedOn: String?
    var pauseAt: String?
    var locks: [String]
    var atomic: Bool
    var stepsRun: Int
    var ret: Int
    var errno: String?

    init(_ task: TaskStruct) {
        id = task.id
        op = task.op
        mm = task.mm
        status = task.status.rawValue
        nextStep = task.status == .done ? nil : task.nextStep
        blockedOn = task.blockedOn
        pauseAt = task.pauseAt
        locks = task.locks.map(\.label) + (task.rcuDepth > 0 ? ["rcu_read_lock"] : []) + (task.srcuDepth > 0 ? ["srcu_read_lock"] : [])
        atomic = task.isAtomic
        stepsRun = task.stepsRun
        ret = task.result.ret
        errno = task.result.errno?.rawValue
    }
}

/// An invariant violation.
struct ViolationAnswer: Codable, Sendable {
    var invariant: String
    var seq: Int
    var mm: Int?
    var notifier: Int?
    var address: Hex?
    var message: String

    init(_ violation: Violation) {
        invariant = violation.invariant.rawValue
        seq = violation.seq
        mm = violation.mm
        notifier = violation.notifier
        address = violation.address.map(Hex.init)
        message = violation.message
    }
}

/// A list answer, keyed by what it lists.
struct ListAnswer<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    var key: String
    var items: [Item]
    var extra: [String: Int] = [:]

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encode(items, forKey: AnyKey(key))
        for (name, value) in extra { try container.encode(value, forKey: AnyKey(name)) }
    }
}

/// A coding key made from a string.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ string: String) {
        stringValue = string
    }

    init?(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue: Int) {
        nil
    }
}
