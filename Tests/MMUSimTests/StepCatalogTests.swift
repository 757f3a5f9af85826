import Foundation
import Testing

@testable import MMUSim

@Suite("Step names")
struct StepCatalogTests {
    /// Runs an operation one step at a time and records the names of the steps it ran.
    private func steps(_ world: inout World, _ operation: MMUSim.Operation) -> [String] {
        let id = world.start(operation)
        var names: [String] = []
        while case .ran(let name) = world.step(id) { names.append(name) }
        world.collect(id)
        return names
    }

    /// Each operation ran a step, and every step it ran is in its catalog. A driver's statements
    /// are steps named driver:<driver>:<pointer>, checked against the driver's policy instead
    /// (PolicyTests, DriverPolicyTests).
    private func expectInCatalog(_ seen: [(op: String, names: [String])]) {
        for (op, names) in seen {
            let names = names.filter { !$0.hasPrefix("driver:") }
            let catalog = Set(World.stepCatalog[op] ?? [])
            #expect(!names.isEmpty, "\(op) ran no step")
            #expect(Set(names).subtracting(catalog).isEmpty, "\(op) ran steps missing from its catalog: \(Set(names).subtracting(catalog))")
        }
    }

    @Test("every step an operation runs is in the catalog that pause_at and GET /steps use")
    func catalogCoversEverything() {
        var world = World(WorldConfig(frames: 64, swapSlots: 64))
        let mm = world.createMM()
        let a = mmapBase
        var seen: [(op: String, names: [String])] = []
        func run(_ operation: MMUSim.Operation) { seen.append((operation.name, steps(&world, operation))) }
        run(.mmap(mm: mm, addr: nil, length: 4 * pageSize, prot: [.read, .write], flags: MmapFlags(), file: nil, offset: 0))
        run(
            .mmap(
                mm: mm,
                addr: a + 8 * pageSize,
                length: 2 * pageSize,
                prot: [.read, .write],
                flags: MmapFlags(shared: true, anonymous: false, fixed: true, locked: true),
                file: "f",
                offset: 0
            )
        )
        run(.touch(mm: mm, addr: a, length: 4 * pageSize, write: true, value: 1))
        run(.register(mm: mm, kind: "kvm", bugs: [], signalPending: false, mmapSemHeld: false))
        run(.register(mm: mm, kind: "gru", bugs: [], signalPending: false, mmapSemHeld: false))
        run(.register(mm: mm, kind: "pinning", bugs: [], signalPending: false, mmapSemHeld: false))
        run(.register(mm: mm, kind: "kvm", bugs: [], signalPending: true, mmapSemHeld: false))
        run(.fault(mm: mm, notifier: 1, address: a, write: true))
        run(.fault(mm: mm, notifier: 2, address: a, write: false))
        run(.fault(mm: mm, notifier: 3, address: a + pageSize, write: false))
        run(.access(mm: mm, notifier: 1, address: a, write: true, value: 2))
        run(.fork(mm: mm))
        run(.touch(mm: mm, addr: a + 2 * pageSize, length: pageSize, write: true, value: 3))
        run(.mprotect(mm: mm, addr: a, length: pageSize, prot: [.read]))
        run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil))
        run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil))
        run(.writeback(file: nil))
        run(.migrate(mm: mm, addr: a + 3 * pageSize, length: pageSize))
        run(.mremap(mm: mm, oldAddr: a, oldLength: 4 * pageSize, newLength: 6 * pageSize, mayMove: true, fixed: false, newAddr: nil))
        run(.madviseDontneed(mm: mm, addr: a + 8 * pageSize, length: pageSize))
        run(.remapFilePages(mm: mm, addr: a + 8 * pageSize, length: pageSize, pgoff: 1))
        run(.applyToPageRange(mm: mm, addr: a + 8 * pageSize, length: pageSize))
        run(.unregister(mm: mm, notifier: 2))
        run(.munmap(mm: mm, addr: a + 8 * pageSize, length: 2 * pageSize))
        let huge = a + 1024 * pageSize
        run(
            .mmap(
                mm: mm,
                addr: huge,
                length: 512 * pageSize,
                prot: [.read, .write],
                flags: MmapFlags(fixed: true, hugetlb: true),
                file: nil,
                offset: 0
            )
        )
        run(.touch(mm: mm, addr: huge, length: pageSize, write: true, value: 4))
        run(.munmap(mm: mm, addr: huge, length: 512 * pageSize))
        run(.exit(mm: mm))
        run(.unregister(mm: mm, notifier: 1))
        expectInCatalog(seen)
        // The modern operations: modernCatalogCoversEverything.
        #expect(Set(seen.map(\.op)).union(["oom_reap", "call_srcu", "page_idle", "khugepaged_scan"]) == Set(World.stepCatalog.keys))
    }

    @Test("modern: the interval tree's, get/put's and the OOM reaper's steps are in the catalog too")
    func modernCatalogCoversEverything() throws {
        var config = WorldConfig(frames: 64, swapSlots: 64)
        try config.apply(kernel: .modern, releaseOrder: nil, coreBugs: nil)
        var world = World(config)
        let mm = world.createMM()
        let a = mmapBase
        var seen: [(op: String, names: [String])] = []
        func run(_ operation: MMUSim.Operation) { seen.append((operation.name, steps(&world, operation))) }
        let getter = try Policy.load(
            text: #"""
                {"name": "getter", "kernel": "modern", "subscribe": "get", "locks": {"lock": "spinlock"},
                 "callbacks": {"alloc_notifier": [{"sleep": true}], "free_notifier": [{"free_notifier": true}],
                               "invalidate_range_start": [{"lock": "lock"}, {"zap": "range"}, {"unlock": "lock"}]},
                 "fault": [{"gup": {"write": {"arg": "write"}}}, {"install": {"writable": {"arg": "write"}}}, {"put_page": true}]}
                """#
        )
        run(.mmap(mm: mm, addr: nil, length: 4 * pageSize, prot: [.read, .write], flags: MmapFlags(), file: nil, offset: 0))
        run(.touch(mm: mm, addr: a, length: 4 * pageSize, write: true, value: 1))
        run(.register(mm: mm, kind: "dmirror", bugs: [], signalPending: false, mmapSemHeld: false))
        run(.registerPolicy(mm: mm, policy: getter, signalPending: false, mmapSemHeld: false))
        run(.registerPolicy(mm: mm, policy: getter, signalPending: false, mmapSemHeld: false))
        run(.fault(mm: mm, notifier: 1, address: a, write: true))
        run(.fault(mm: mm, notifier: 2, address: a + pageSize, write: true))
        run(.munmap(mm: mm, addr: a + 3 * pageSize, length: pageSize))
        run(.pageIdle(mm: mm, addr: a, length: 2 * pageSize, mark: true))
        run(.khugepagedScan(mm: mm, addr: a))
        run(.oomReap(mm: mm))
        run(.unregister(mm: mm, notifier: 2))
        run(.unregister(mm: mm, notifier: 2))
        // put's last user queued the free after a grace period (call_srcu): its own task.
        let free = try #require(world.tasks.first { $0.op == "call_srcu" })
        seen.append(("call_srcu", steps(&world, free.operation)))
        run(.unregister(mm: mm, notifier: 1))
        expectInCatalog(seen)
        let all = Set(seen.flatMap(\.names))
        for name in [
            "mmu_interval_notifier_insert", "mn_itree_inv_start_range", "invalidate", "mn_itree_inv_end", "mmu_notifier_get", "alloc_notifier",
            "mmu_notifier_put", "mmu_notifier_free_rcu", "free_notifier", "oom_reap_task_mm", "unmap_page_range", "oom_reap_task",
            "mmap_write_downgrade", "mmu_interval_check_retry", "mmu_interval_notifier_remove", "folio_set_idle", "hpage_collapse_scan_pmd",
            "clear_young",
        ] {
            #expect(all.contains(name), "\(name) never ran")
        }
    }

    @Test("each step has a name of its own: no two cases of Step share one (rcu_read_lock is one step, .notify's first)")
    func namesAreUnique() throws {
        let source = try String(contentsOfFile: stepSourcePath, encoding: .utf8)
        guard let body = source.range(of: "    var name: String {") else {
            Issue.record("Step.name not found")
            return
        }
        var seen: [String: String] = [:]
        for line in source[body.upperBound...].split(separator: "\n") {
            if line.hasPrefix("    }") { break }
            guard let colon = line.range(of: ": \""), line.contains("case .") else { continue }
            let name = line[colon.upperBound...].prefix { $0 != "\"" }
            let cases = String(line[..<colon.lowerBound]).trimmingCharacters(in: .whitespaces)
            #expect(seen[String(name)] == nil, "\(name) names both \(seen[String(name)] ?? "") and \(cases)")
            seen[String(name)] = cases
        }
        #expect(seen.count > 80, "the names were not read: \(seen.count)")
        #expect(seen["tlb_finish_mmu"] == "case .tlbFinishMMU")
    }

    @Test("a name several steps shared before still pauses at each of them: set_pte_at at try_to_unmap_one's, mmput at exit_mm")
    func oldNamesStillPause() {
        var lab = Lab()
        let a = lab.mmap(1)
        lab.write(a, value: 1)
        _ = lab.run(.reclaim(mm: lab.mm, addr: a, length: pageSize, pages: nil))
        let reclaim = lab.world.perform(.reclaim(mm: lab.mm, addr: a, length: pageSize, pages: nil), pauseAt: "set_pte_at")
        #expect(reclaim.status == .paused && reclaim.nextStep == "try_to_unmap_one:set_pte_at", "\(reclaim.status) \(reclaim.result)")
        lab.world.resume(reclaim.id)
        let exit = lab.world.perform(.exit(mm: lab.mm), pauseAt: "mmput")
        #expect(exit.status == .paused && exit.nextStep == "exit_mm")
        #expect(World.stepAliases.keys.allSatisfy(World.stepNames.contains))
    }
}

/// Sources/MMUSim/Task/Step.swift, found from this file's path.
private let stepSourcePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Sources/MMUSim/Task/Step.swift").path
