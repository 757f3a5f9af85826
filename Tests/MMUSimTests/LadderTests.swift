import Foundation
import Testing

@testable import MMUSim

@Suite("Ladder diagrams: a column per task, a row per event, the violation marked")
struct LadderTests {
    /// The kvm fault against munmap without the retry check (examples/explore/02, skip_retry):
    /// the spte_set lands inside munmap's invalidate_range_start/end.
    static func counterexample() throws -> (Counterexample, [Int: String]) {
        let spec = try ExplorerTests.load("02-kvm-fault-vs-munmap-skip-retry.json")
        let explorer = try Explorer(spec)
        let result = explorer.run()
        return (try #require(result.counterexample), explorer.initial.driverNames)
    }

    /// The schedule's tasks in the order they first ran.
    static func tasks(_ schedule: [Int]) -> [Int] {
        var tasks: [Int] = []
        for task in schedule where !tasks.contains(task) { tasks.append(task) }
        return tasks
    }

    @Test("the counterexample's ladder: one column per task, every event once in its task's column, the violation under its event")
    func counterexampleLadder() throws {
        let (counterexample, drivers) = try Self.counterexample()
        let tasks = Self.tasks(counterexample.schedule)
        let text = Ladder(events: counterexample.trace, violations: counterexample.violations, drivers: drivers, columns: tasks).render()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(lines.allSatisfy { $0.count <= 100 }, "\(lines.map(\.count).max() ?? 0) columns")
        // Header: the two tasks of the schedule, in the order they first ran.
        #expect(tasks.count == 2)
        let header = lines[0].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(header == tasks.map { task in "task \(task) \(counterexample.trace.first { $0.task == task }!.op!)" })
        let bar = try #require(lines[0].firstIndex(of: "|")).utf16Offset(in: lines[0])
        #expect(lines[1].allSatisfy { $0 == "-" || $0 == "+" } && lines[1].firstIndex(of: "+")?.utf16Offset(in: lines[1]) == bar)
        // Each event starts a row, in the column of its task, in seq order.
        var row = 2
        for event in counterexample.trace {
            let line = lines[row]
            let left = String(line.prefix(bar)).trimmingCharacters(in: .whitespaces)
            let right = line.count > bar ? String(line.dropFirst(bar + 1)).trimmingCharacters(in: .whitespaces) : ""
            let cell = event.task == tasks[0] ? left : right
            #expect((event.task == tasks[0] ? right : left).isEmpty, "row \(row): \(line)")
            if event.call == .driver {
                // A driver statement: the driver, the statement's pointer and what it does.
                #expect(cell.hasPrefix("kvm \(event.statement ?? "?")"), "row \(row): \(line)")
            } else {
                #expect(cell.hasPrefix(event.call.rawValue), "row \(row): \(line)")
                if let notifier = event.notifier { #expect(cell.contains("n\(notifier) kvm")) }
            }
            row += 1
            // Continuation lines of the same cell, then the marks of this event.
            while row < lines.count, !lines[row].hasPrefix("^--"), Self.isContinuation(lines[row], bar: bar) { row += 1 }
            for violation in counterexample.violations where violation.seq == event.seq {
                #expect(lines[row].hasPrefix("^-- \(violation.invariant.rawValue): "), "row \(row): \(lines[row])")
                row += 1
                while row < lines.count, lines[row].hasPrefix("      ") { row += 1 }
            }
        }
        #expect(row == lines.count)
        // The window violation sits under the spte_set, and the locks held show in braces.
        let spteSet = try #require(lines.firstIndex { $0.contains("spte_set n1 kvm") })
        let mark = try #require(lines.firstIndex { $0.hasPrefix("^-- no-spte-in-invalidate-window") })
        #expect(mark > spteSet)
        #expect(text.contains("{mmu_lock:1}") && text.contains("{mmap_sem:w"))
    }

    /// A line that continues the cells of the row above: each cell empty or indented by two.
    static func isContinuation(_ line: String, bar: Int) -> Bool {
        let left = String(line.prefix(bar))
        let right = line.count > bar ? String(line.dropFirst(bar + 1)) : ""
        func continues(_ cell: String) -> Bool { cell.trimmingCharacters(in: .whitespaces).isEmpty || cell.hasPrefix("   ") }
        return continues(left) && continues(right)
    }

    @Test("wrapping breaks at spaces, cuts a word longer than the line, and never passes the width", arguments: [40, 63, 100])
    func wrapping(width: Int) {
        let long = String(repeating: "y", count: 150)
        let lines = Ladder.wrap("pte_clear @0x7f0000000000 pfn 1 {anon_vma:1, page_table_lock} \(long) end", width: width)
        #expect(lines.allSatisfy { $0.count <= width - 1 })
        #expect(lines.joined().filter { $0 == "y" }.count == 150)
        #expect(lines.first?.hasPrefix("pte_clear @0x7f0000000000") == true && lines.last?.hasSuffix("end") == true)
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("  ") })
    }

    @Test("lanes: tasks that ran one after another share a column, tasks at once get one each")
    func lanes() {
        // Task 1 alone, then 2 and 3 interleaved, then 4 after both.
        let (lanes, count) = Ladder.lanes([1, 1, 2, 3, 2, 3, 4, nil])
        #expect(count == 2 && lanes == [0, 0, 0, 1, 0, 1, 0, 0])
        let events = [1, 2, 2].enumerated().map { index, task in
            TraceEvent(seq: index + 1, task: task, mm: 1, op: task == 1 ? "mmap" : "touch", call: .pteSet, heldLocks: [], inRCU: false, atomic: false)
        }
        let lines = Ladder(events: events).render().split(separator: "\n").map(String.init)
        #expect(lines == [" task 1 mmap", String(repeating: "-", count: 100), " pte_set", " == task 2 touch", " pte_set", " pte_set"])
    }

    @Test("three tasks share 100 columns; an empty trace says so")
    func threeColumns() {
        let events = (1...3).map { task in
            TraceEvent(
                seq: task,
                task: task,
                mm: 1,
                op: "munmap",
                call: .invalidateRangeStart,
                notifier: 1,
                start: 0x7f00_0000_0000,
                end: 0x7f00_0010_0000,
                heldLocks: [.mmapSem(mm: 1, write: true)],
                inRCU: true,
                atomic: true
            )
        }
        let lines = Ladder(events: events, drivers: [1: "gru"], columns: [1, 2, 3]).render().split(separator: "\n").map(String.init)
        #expect(lines.count > 5 && lines.allSatisfy { $0.count <= 100 })
        #expect(lines[0].split(separator: "|").count == 3)
        #expect(Ladder(events: []).render() == "(no events)\n")
    }
}
