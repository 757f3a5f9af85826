/// The invariant checker's state, a value of its own: what it found, and what it still has to
/// look at. The hooks in World+Checker.swift read the world and record here.
public struct Checker: Codable, Hashable, Sendable {
    /// Invariant violations found, each recorded once.
    public private(set) var violations: [Violation] = []
    /// How many of the last violations still wait for the event that shows them.
    private var unstamped = 0
    /// Ranges changed since their mm was last quiet, for the quiescent checks: by mm, then
    /// address, none touching another of its mm. A set of pages kept in one order whatever the
    /// order the changes came in, so that two tasks' changes in either order leave the same state.
    var changed: [ChangedRange] = []

    /// Records a violation unless the same one (invariant, mm, notifier, address) is known.
    mutating func record(_ violation: Violation) {
        let known = violations.contains {
            $0.invariant == violation.invariant && $0.mm == violation.mm && $0.notifier == violation.notifier && $0.address == violation.address
        }
        guard !known else { return }
        violations.append(violation)
        unstamped += 1
    }

    /// Gives the violations recorded since the last event the sequence number `seq`.
    mutating func stamp(_ seq: Int) {
        guard unstamped > 0 else { return }
        for index in violations.indices.suffix(unstamped) { violations[index].seq = seq }
        unstamped = 0
    }

    /// Notes that the ptes or sptes of `[start, end)` in `mm` changed, merged with the ranges of
    /// its mm it touches.
    mutating func markChanged(mm: Int, start: UInt64, end: UInt64) {
        var merged = ChangedRange(mm: mm, start: start, end: end)
        // The first range that does not end before this one starts (the ones before it neither
        // overlap nor touch it; a range of the mm from there on does while it starts by `end`).
        // (By bisection: a walk that touches pages far apart keeps many ranges.)
        var (index, high) = (0, changed.count)
        while index < high {
            let middle = (index + high) / 2
            if (changed[middle].mm, changed[middle].end) < (mm, start) { index = middle + 1 } else { high = middle }
        }
        while index < changed.count, changed[index].mm == mm, changed[index].start <= merged.end {
            merged.start = min(merged.start, changed[index].start)
            merged.end = max(merged.end, changed[index].end)
            changed.remove(at: index)
        }
        // At the end (a fault's one page, a walk's next range) an append, not an insert.
        if index == changed.count { changed.append(merged) } else { changed.insert(merged, at: index) }
    }

    /// Puts back a range a quiescent check could not look at yet (its mm is still busy).
    mutating func keep(_ range: ChangedRange) {
        markChanged(mm: range.mm, start: range.start, end: range.end)
    }

    /// Takes the changed ranges out, for a quiescent check to look at.
    mutating func takeChanged() -> [ChangedRange] {
        // Swapped out: the array moves, no reference to it is taken and dropped.
        var taken: [ChangedRange] = []
        swap(&taken, &changed)
        return taken
    }

    /// Gives back the array `takeChanged` gave, emptied, to hold the next changes if no range
    /// was kept meanwhile: the next change then allocates nothing.
    mutating func recycle(_ taken: inout [ChangedRange]) {
        guard changed.isEmpty else { return }
        // Emptied from its end: a fault's one range goes by one removeLast (removeAll's
        // replaceSubrange costs many times that).
        while !taken.isEmpty { taken.removeLast() }
        swap(&changed, &taken)
    }
}
