/// A trace as a ladder diagram: one column per task, one row per event in order, the locks the
/// task held, and each violation marked under the event that showed it. Plain text of at most
/// `width` columns, for a commit message or a mailing-list post.
///
/// ```
///  task 1 fault           | task 2 munmap
/// ------------------------+------------------------------------------
///                         | invalidate_range_start n1 kvm 0x7f…0000-0x7f…1000 {mmap_sem:w, rcu}
/// ```
public struct Ladder: Sendable {
    /// The widest a line may be.
    public static let defaultWidth = 100
    /// The events, in order.
    public var events: [TraceEvent]
    /// The violations to mark: each under the event whose `seq` it carries.
    public var violations: [Violation]
    /// The driver of each notifier id (`kvm`), where known.
    public var drivers: [Int: String]
    /// A driver statement's summary by `driver:pointer` (`kvm:/fault/3` → `lock mmu_lock`).
    public var statements: [String: String] = [:]
    /// Tasks that keep a column of their own, in this order, for the whole diagram: the tasks
    /// of a schedule, which ran at once even where their events do not interleave.
    public var columns: [Int]

    /// A ladder of `events`, marking `violations`, naming the notifiers' `drivers`; the tasks
    /// in `columns` get a column each.
    public init(events: [TraceEvent], violations: [Violation] = [], drivers: [Int: String] = [:], columns: [Int] = []) {
        self.events = events
        self.violations = violations
        self.drivers = drivers
        self.columns = columns
    }

    /// The diagram, at most `width` characters a line (at least 40).
    ///
    /// The tasks of `columns` have a column each; any other task gets a lane, which it keeps
    /// from its first event to its last, and a task that starts after another ended takes the
    /// freed lane, under a row naming it. So tasks that ran one after another share a column.
    public func render(width: Int = Ladder.defaultWidth) -> String {
        let width = max(width, 40)
        guard !events.isEmpty else { return "(no events)\n" }
        let (lanes, laneCount) = Self.lanes(events.map(\.task), fixed: columns)
        let separator = " |"
        let cell = (width - separator.count * (laneCount - 1)) / laneCount
        func title(_ event: TraceEvent) -> String { event.task.map { "task \($0) \(event.op ?? "")" } ?? "no task" }
        // The header names the first task of each lane; a later task's title opens its turn.
        var firstTitles = columns.map { task in "task \(task) " + (events.first { $0.task == task }?.op ?? "") }
        firstTitles += Array(repeating: "", count: laneCount - columns.count)
        var titled = Set<Int>()
        for (index, event) in events.enumerated() where firstTitles[lanes[index]].isEmpty {
            firstTitles[lanes[index]] = title(event)
            titled.insert(index)
        }
        var lines = Self.row(firstTitles.map { Self.wrap($0, width: cell) }, cell: cell, separator: separator)
        lines.append(Array(repeating: String(repeating: "-", count: cell), count: laneCount).joined(separator: "-+"))
        let marks = Dictionary(grouping: violations, by: \.seq)
        var occupant = columns.map { Int?.some($0) } + Array(repeating: Int?.none, count: laneCount - columns.count)
        for (index, event) in events.enumerated() {
            let lane = lanes[index]
            if !titled.contains(index), occupant[lane] != event.task {
                let cells = (0..<laneCount).map { $0 == lane ? Self.wrap("== \(title(event))", width: cell) : [] }
                lines.append(contentsOf: Self.row(cells, cell: cell, separator: separator))
            }
            occupant[lane] = event.task
            let cells = (0..<laneCount).map { $0 == lane ? Self.wrap(describe(event), width: cell) : [] }
            lines.append(contentsOf: Self.row(cells, cell: cell, separator: separator))
            for violation in marks[event.seq] ?? [] {
                lines.append(contentsOf: Self.wrap("^-- \(violation.invariant.rawValue): \(violation.message)", width: width, indent: "      "))
            }
        }
        // Violations found after the last event shown (or before the first) still get a line.
        let shown = Set(events.map(\.seq))
        for violation in violations where !shown.contains(violation.seq) {
            let mark = "^-- \(violation.invariant.rawValue) (after seq \(violation.seq)): \(violation.message)"
            lines.append(contentsOf: Self.wrap(mark, width: width, indent: "      "))
        }
        return lines.map { $0.trailingSpacesRemoved }.joined(separator: "\n") + "\n"
    }

    /// The lane of each event (by its task), and how many lanes: the `fixed` tasks have lanes
    /// 0, 1, ... for good; any other task takes the lowest lane free at its first event and holds
    /// it through its last.
    static func lanes(_ tasks: [Int?], fixed: [Int] = []) -> (lanes: [Int], count: Int) {
        var last: [Int?: Int] = [:]
        for (index, task) in tasks.enumerated() { last[task] = index }
        var laneOf: [Int?: Int] = [:]
        for (lane, task) in fixed.enumerated() { laneOf[task] = lane }
        var busyUntil = Array(repeating: Int.max, count: fixed.count)
        var lanes: [Int] = []
        for (index, task) in tasks.enumerated() {
            if laneOf[task] == nil {
                let free = busyUntil.firstIndex { $0 < index } ?? busyUntil.count
                if free == busyUntil.count { busyUntil.append(0) }
                busyUntil[free] = last[task]!
                laneOf[task] = free
            }
            lanes.append(laneOf[task]!)
        }
        return (lanes, busyUntil.count)
    }

    /// One event's cell: the call, the notifier and its driver, the range or page (a modern
    /// range's event, `nonblock` when it may not block), the frame, the return value, and the
    /// locks held in braces (`rcu`, `srcu` for the read sides); a driver statement as `kvm /fault/3 lock
    /// mmu_lock`, with the value it read or wrote after `->`.
    func describe(_ event: TraceEvent) -> String {
        let locks = event.heldLocks.map(\.label) + (event.inRCU ? ["rcu"] : []) + (event.inSRCU ? ["srcu"] : [])
        let held = locks.isEmpty ? "" : " {\(locks.joined(separator: ", "))}"
        // A driver statement: the driver, where in its policy, what the statement is, its value.
        if event.call == .driver, let driver = event.driver, let statement = event.statement {
            let summary = statements["\(driver):\(statement)"].map { " " + $0 } ?? ""
            return "\(driver) \(statement)\(summary)" + (event.ret.map { " -> \($0)" } ?? "") + held
        }
        var parts = [event.call.rawValue]
        if let notifier = event.notifier { parts.append("n\(notifier)" + (drivers[notifier].map { " \($0)" } ?? "")) }
        if let start = event.start, let end = event.end { parts.append("\(hex(start))-\(hex(end))") }
        // Modern: the range's event, and whether it may block.
        if let kind = event.event { parts.append(kind.rawValue + (event.blockable == false ? " nonblock" : "")) }
        if let address = event.address { parts.append("@\(hex(address))") }
        if let pfn = event.pfn { parts.append("pfn \(pfn)") }
        if let pages = event.pages, pages > 1 { parts.append("\(pages) pages") }
        if let ret = event.ret { parts.append("ret \(ret)") }
        return parts.joined(separator: " ") + held
    }

    /// Lays cells side by side, each padded to `cell`, as many lines as the tallest.
    static func row(_ cells: [[String]], cell: Int, separator: String) -> [String] {
        let height = cells.map(\.count).max() ?? 0
        return (0..<max(height, 1)).map { line in
            cells.map { lines in
                let text = line < lines.count ? lines[line] : ""
                return " " + text + String(repeating: " ", count: max(0, cell - 1 - text.count))
            }.joined(separator: separator)
        }
    }

    /// Breaks `text` at spaces into lines of at most `width` characters (a word longer than a
    /// line is cut); lines after the first start with `indent`.
    static func wrap(_ text: String, width: Int, indent: String = "  ") -> [String] {
        let room = width - 1
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ") {
            let candidate = current.isEmpty ? String(word) : current + " " + word
            if candidate.count <= room {
                current = candidate
                continue
            }
            if !current.isEmpty { lines.append(current) }
            current = (lines.isEmpty ? "" : indent) + word
            while current.count > room {
                lines.append(String(current.prefix(room)))
                current = indent + current.dropFirst(room)
            }
        }
        if !current.isEmpty || lines.isEmpty { lines.append(current) }
        return lines
    }
}

extension World {
    /// The driver of each notifier, for a ladder's cells.
    public var driverNames: [Int: String] {
        Dictionary(uniqueKeysWithValues: notifiers.map { ($0.id, $0.driverName) })
    }

    /// Each driver statement's summary, by `driver:pointer`, for a ladder's cells.
    public var statementSummaries: [String: String] {
        var summaries: [String: String] = [:]
        for loaded in policies.loaded {
            for code in loaded.code { summaries["\(loaded.policy.name):\(code.statement.pointer)"] = code.statement.summary }
        }
        return summaries
    }

    /// A ladder of `events` with this world's driver names and statement summaries.
    public func ladder(_ events: [TraceEvent], violations: [Violation], columns: [Int] = []) -> Ladder {
        var ladder = Ladder(events: events, violations: violations, drivers: driverNames, columns: columns)
        ladder.statements = statementSummaries
        return ladder
    }
}

extension String {
    /// The string without the spaces at its end.
    fileprivate var trailingSpacesRemoved: String {
        var text = Substring(self)
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
