/// The invariant checker's state, a value of its own: what it found, and what it still has to
/// look at. The hooks in World+Checker.swift read the world and record here.
public struct Checker: Codable, Hashable, Sendable {
    /// Invariant violations found, each recorded once.
    public private(set) var violations: [Violation] = []
    /// How many of the last violations still wait for the event that shows them.
    private var unstamped = 0
    /// Ranges changed since their mm was last quiet, for the quiescent checks.
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

    /// Notes that the ptes or sptes of `[start, end)` in `mm` changed, merging with the last
    /// range when they touch.
    mutating func markChanged(mm: Int, start: UInt64, end: UInt64) {
        if let last = changed.last, last.mm == mm, start <= last.end, last.start <= end {
            changed[changed.count - 1] = ChangedRange(mm: mm, start: min(start, last.start), end: max(end, last.end))
        } else {
            changed.append(ChangedRange(mm: mm, start: start, end: end))
        }
    }

    /// Puts back a range a quiescent check could not look at yet (its mm is still busy).
    mutating func keep(_ range: ChangedRange) {
        changed.append(range)
    }

    /// Takes the changed ranges out, for a quiescent check to look at.
    mutating func takeChanged() -> [ChangedRange] {
        defer { changed = [] }
        return changed
    }
}
