import Testing

@testable import MMUSim

/// A small world and helpers that read like the scenarios they build.
struct Lab {
    var world: World
    var mm: Int

    init(frames: Int = 256, swapSlots: Int = 256, releaseOrder: ReleaseOrder = .v17, coreBugs: Set<CoreBug>? = nil) {
        world = World(WorldConfig(frames: frames, swapSlots: swapSlots, releaseOrder: releaseOrder, coreBugs: coreBugs))
        mm = world.createMM(name: "test")
    }

    /// Runs an operation to completion and returns its result; it must not block or pause.
    @discardableResult
    mutating func run(_ operation: Operation) -> OpResult {
        let task = world.perform(operation)
        #expect(task.status == .done, "\(operation.name) did not finish: \(task.status) \(task.blockedOn ?? "")")
        return task.result
    }

    /// mmap of anonymous private memory (or another kind) and its address.
    mutating func mmap(
        _ pages: UInt64,
        prot: Prot = [.read, .write],
        shared: Bool = false,
        file: String? = nil,
        at addr: UInt64? = nil,
        locked: Bool = false,
        hugetlb: Bool = false,
        mm: Int? = nil
    ) -> UInt64 {
        let flags = MmapFlags(shared: shared, anonymous: file == nil, fixed: addr != nil, locked: locked, hugetlb: hugetlb)
        let result = run(.mmap(mm: mm ?? self.mm, addr: addr, length: pages * pageSize, prot: prot, flags: flags, file: file, offset: 0))
        #expect(result.ret == 0)
        return result.addr ?? 0
    }

    @discardableResult
    mutating func write(_ addr: UInt64, pages: UInt64 = 1, value: UInt64? = nil, mm: Int? = nil) -> OpResult {
        run(.touch(mm: mm ?? self.mm, addr: addr, length: pages * pageSize, write: true, value: value))
    }

    mutating func read(_ addr: UInt64, pages: UInt64 = 1, mm: Int? = nil) -> [UInt64] {
        run(.touch(mm: mm ?? self.mm, addr: addr, length: pages * pageSize, write: false, value: nil)).values ?? []
    }

    mutating func register(_ kind: String, bugs: [String] = [], mm: Int? = nil) -> Int {
        let result = run(.register(mm: mm ?? self.mm, kind: kind, bugs: bugs, signalPending: false, mmapSemHeld: false))
        #expect(result.ret == 0)
        return result.notifier ?? 0
    }

    /// One page holding 1, mapped writable by a new driver of `kind`: the page and the driver.
    mutating func pageMapped(
        by kind: String,
        bugs: [String] = [],
        shared: Bool = false,
        file: String? = nil
    ) -> (
        address: UInt64, driver: Int
    ) {
        let a = mmap(1, shared: shared, file: file)
        write(a, value: 1)
        let driver = register(kind, bugs: bugs)
        fault(driver, a, write: true)
        return (a, driver)
    }

    @discardableResult
    mutating func fault(_ notifier: Int, _ address: UInt64, write: Bool = false) -> OpResult {
        run(.fault(mm: world.notifier(notifier)!.mm, notifier: notifier, address: address, write: write))
    }

    func pte(_ address: UInt64, mm: Int? = nil) -> PTE {
        world.pte(mm: mm ?? self.mm, address: address)
    }

    func frame(at address: UInt64, mm: Int? = nil) -> Frame {
        world.frames[pte(address, mm: mm).pfn]
    }

    /// The notifier calls (the five methods) since `seq`, as "call notifier start end" strings.
    func calls(since seq: Int) -> [String] {
        let methods: Set<String> = ["release", "clear_flush_young", "invalidate_page", "invalidate_range_start", "invalidate_range_end"]
        return world.trace.events(after: seq).filter { methods.contains($0.call.rawValue) }.map(describe)
    }

    /// Every event since `seq` with the given call names.
    func events(since seq: Int, _ names: Set<String>) -> [TraceEvent] {
        world.trace.events(after: seq).filter { names.contains($0.call.rawValue) }
    }

    var invariantsBroken: [Invariant] { world.violations.map(\.invariant) }
}

func describe(_ event: TraceEvent) -> String {
    var text = "\(event.call.rawValue) n\(event.notifier.map(String.init) ?? "-")"
    if let start = event.start, let end = event.end { text += " \(hex(start))-\(hex(end))" }
    if let address = event.address { text += " @\(hex(address))" }
    return text
}
