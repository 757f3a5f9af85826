import Foundation
import MMUSim

// The model's side of bench/run: the operations of bench/kernel.c on the model, in ns per
// 4 KiB page, first with no secondary MMU, then with kvm and gru registered and every page
// faulted into both; then memory per populated page and the scale checks.
// Output lines: "SIZE OP MMUS NS_PER_PAGE" and "memory ...", "scale ...".
// Arguments: ops, memory-none, memory-kvm+gru, scale, faults (ops and scale when none).

let clock = ContinuousClock()

func nanoseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
}

@discardableResult
func timed(_ body: () -> Void) -> Double {
    let start = clock.now
    body()
    return nanoseconds(clock.now - start)
}

@discardableResult
func perform(_ world: inout World, _ operation: MMUSim.Operation) -> OpResult {
    let task = world.perform(operation)
    // The result read once (each read of a task's result copies it out of its box).
    let result = task.result
    precondition(
        task.status == .done && result.ret == 0,
        "\(operation.name) failed: \(result.errno.map(\.rawValue) ?? task.status.rawValue)"
    )
    return result
}

/// Faults every page of `size` bytes from `base` into kvm (notifier 1), then gru (notifier 2).
/// Each fault's task is checked done; that each one mapped its page is checked once at the
/// end, by the entries kvm's sptes and gru's TLB then hold (one read of a task's result, a
/// 300-byte value behind a box, cost the loop 4% of a fault, none of it the model's).
func faultIntoBoth(_ world: inout World, mm: Int, base: UInt64, size: UInt64) {
    var address = base
    while address < base + size {
        for notifier in 1...2 {
            let task = world.perform(.fault(mm: mm, notifier: notifier, address: address, write: true))
            precondition(task.status == .done, "a fault of notifier \(notifier) at \(address) did not finish")
        }
        address += pageSize
    }
    let (kvm, gru) = (world.notifier(1)!, world.notifier(2)!)
    precondition(
        kvm.sptes.count == Int(size / pageSize) && gru.tlb.count == Int(size / pageSize),
        "kvm maps \(kvm.sptes.count) pages and gru \(gru.tlb.count), not \(size / pageSize)"
    )
}

func run(label: String, size: UInt64, secondaries: Bool) {
    let pages = size / pageSize
    var world = World(WorldConfig(frames: Int(pages) + 64, swapSlots: 0))
    let mm = world.createMM()
    let rw: Prot = [.read, .write]
    let base = mmapBase
    func report(_ op: String, _ ns: Double) {
        if label == "warmup" { return }
        print("\(label) \(op) \(secondaries ? "kvm+gru" : "none") \(String(format: "%.3f", ns / Double(pages)))")
    }
    report("mmap", timed { perform(&world, .mmap(mm: mm, addr: nil, length: size, prot: rw, flags: MmapFlags(), file: nil, offset: 0)) })
    report("populate", timed { perform(&world, .touch(mm: mm, addr: base, length: size, write: true, value: 1)) })
    if secondaries {
        perform(&world, .register(mm: mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false))
        perform(&world, .register(mm: mm, kind: "gru", bugs: [], signalPending: false, mmapSemHeld: false))
        let fault = timed { faultIntoBoth(&world, mm: mm, base: base, size: size) }
        report("secondary_faults", fault)
    }
    report("mprotect_ro", timed { perform(&world, .mprotect(mm: mm, addr: base, length: size, prot: [.read])) })
    report("mprotect_rw", timed { perform(&world, .mprotect(mm: mm, addr: base, length: size, prot: rw)) })
    report("madvise_dontneed", timed { perform(&world, .madviseDontneed(mm: mm, addr: base, length: size)) })
    perform(&world, .touch(mm: mm, addr: base, length: size, write: true, value: 2))
    if secondaries { faultIntoBoth(&world, mm: mm, base: base, size: size) }
    report("munmap", timed { perform(&world, .munmap(mm: mm, addr: base, length: size)) })
    precondition(world.violations.isEmpty, "the checker found \(world.violations.count) violations")
}

func forkBench(secondaries: Bool) {
    let size: UInt64 = 256 << 20
    let pages = size / pageSize
    var world = World(WorldConfig(frames: Int(pages) + 64, swapSlots: 0))
    let mm = world.createMM()
    perform(&world, .mmap(mm: mm, addr: nil, length: size, prot: [.read, .write], flags: MmapFlags(), file: nil, offset: 0))
    if secondaries {
        perform(&world, .register(mm: mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false))
        perform(&world, .register(mm: mm, kind: "gru", bugs: [], signalPending: false, mmapSemHeld: false))
    }
    // The fastest of three forks (one fork of a few milliseconds varies by half from run to
    // run on this machine), as kernel.c takes it: before each, every page is written (its
    // pte writable again after the last fork's write protection) and faulted into both
    // secondary MMUs; after it the child exits.
    var best = Double.infinity
    for _ in 0..<3 {
        perform(&world, .touch(mm: mm, addr: mmapBase, length: size, write: true, value: 1))
        if secondaries { faultIntoBoth(&world, mm: mm, base: mmapBase, size: size) }
        var child = 0
        best = min(best, timed { child = perform(&world, .fork(mm: mm)).child ?? 0 })
        perform(&world, .exit(mm: child))
    }
    precondition(world.violations.isEmpty, "the checker found \(world.violations.count) violations")
    print("256MiB fork \(secondaries ? "kvm+gru" : "none") \(String(format: "%.3f", best / Double(pages)))")
}

/// Resident memory of this process, in bytes (/proc/self/statm).
func residentBytes() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Double(fields[1]) ?? 0) * 4096
}

func memory(secondaries: Bool) {
    let pages: UInt64 = 1_000_000
    let before = residentBytes()
    var world = World(WorldConfig(frames: Int(pages) + 64, swapSlots: 0, traceCapacity: 1000))
    let mm = world.createMM()
    perform(&world, .mmap(mm: mm, addr: nil, length: pages * pageSize, prot: [.read, .write], flags: MmapFlags(), file: nil, offset: 0))
    perform(&world, .touch(mm: mm, addr: mmapBase, length: pages * pageSize, write: true, value: 1))
    if secondaries {
        perform(&world, .register(mm: mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false))
        perform(&world, .register(mm: mm, kind: "gru", bugs: [], signalPending: false, mmapSemHeld: false))
        faultIntoBoth(&world, mm: mm, base: mmapBase, size: pages * pageSize)
    }
    let after = residentBytes()
    print("memory \(secondaries ? "kvm+gru" : "none") \(String(format: "%.1f", (after - before) / Double(pages))) bytes_per_page")
    withExtendedLifetime(world) {}
}

func scale() {
    let tib: UInt64 = 1 << 40
    for populated in [1_000, 10_000] {
        var world = World(WorldConfig(frames: populated + 64, swapSlots: 0))
        let mm = world.createMM()
        let base = perform(&world, .mmap(mm: mm, addr: nil, length: tib, prot: [.read, .write], flags: MmapFlags(), file: nil, offset: 0)).addr!
        let stride = (tib / UInt64(populated)) & ~(pageSize - 1)
        for index in 0..<UInt64(populated) { perform(&world, .touch(mm: mm, addr: base + index * stride, length: pageSize, write: true, value: 1)) }
        let mprotect = timed { perform(&world, .mprotect(mm: mm, addr: base, length: tib, prot: [.read])) }
        let munmap = timed { perform(&world, .munmap(mm: mm, addr: base, length: tib)) }
        print(
            "scale sparse_1TiB populated=\(populated) mprotect_us \(String(format: "%.1f", mprotect / 1000)) munmap_us \(String(format: "%.1f", munmap / 1000))"
        )
    }
    for vmas in [1_000, 10_000] {
        var world = World(WorldConfig(frames: vmas + 64, swapSlots: 0))
        let mm = world.createMM()
        for index in 0..<vmas {
            // Alternating protections keep the VMAs from merging; each touched one gets its own anon_vma.
            let prot: Prot = index % 2 == 0 ? [.read, .write] : [.read, .write, .exec]
            perform(&world, .mmap(mm: mm, addr: nil, length: pageSize, prot: prot, flags: MmapFlags(), file: nil, offset: 0))
            perform(&world, .touch(mm: mm, addr: mmapBase + UInt64(index) * pageSize, length: pageSize, write: true, value: 1))
        }
        precondition(world.mm(mm)!.vmas.count == vmas)
        var taken = 0
        let register = timed {
            let task = world.perform(.register(mm: mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false))
            taken = task.result.locksTaken ?? 0
        }
        print("scale register vmas=\(vmas) locks_taken=\(taken) us \(String(format: "%.1f", register / 1000))")
    }
}

let arguments = Set(CommandLine.arguments.dropFirst())
let all = arguments.isEmpty
if all || arguments.contains("ops") {
    // A first, unmeasured run warms the allocator and the runtime's lazy initialization.
    run(label: "warmup", size: 4 << 20, secondaries: true)
    for secondaries in [false, true] {
        run(label: "64MiB", size: 64 << 20, secondaries: secondaries)
        run(label: "1GiB", size: 1 << 30, secondaries: secondaries)
        forkBench(secondaries: secondaries)
    }
}
if arguments.contains("faults") { run(label: "64MiB", size: 64 << 20, secondaries: true) }
// Each memory measurement wants a fresh process: freed heap from an earlier world would be reused.
if arguments.contains("memory-none") { memory(secondaries: false) }
if arguments.contains("memory-kvm+gru") { memory(secondaries: true) }
if all || arguments.contains("scale") { scale() }
