/// An address space (`mm_struct`).
public struct MM: Codable, Hashable, Sendable {
    /// The mm's id.
    public let id: Int
    /// A name the user gave it.
    public var name: String?
    /// `mm_users`: tasks using the address space; exit_mmap runs when it reaches 0.
    public var users: Int
    /// `mm_count`: references to the structure itself (one for all users together, one per
    /// registered notifier); the mm is freed when it reaches 0.
    public var count: Int
    /// The VMAs, sorted by address and non-overlapping.
    public var vmas: [VMA] = []
    /// The primary MMU's page table.
    public var pageTable = RadixTable()
    /// `mm->mmu_notifier_mm`: nil until the first registration; then the notifier hlist,
    /// head first (the most recently registered notifier is called first).
    public var notifierList: [Int]?
    /// True once exit_mmap has torn the address space down.
    public var exited = false
    /// True once the process has exited while a task of it (in mmu_notifier_register or a
    /// secondary fault) still holds a user reference: that task has a fatal signal pending,
    /// and its final `mmput` runs exit_mmap.
    public var killed = false
    /// Resident pages mapped by ptes (`get_mm_rss`).
    public var rss = 0
    /// Modern `struct mmu_notifier_subscriptions`' `has_itree`: an interval subscription came.
    public var hasItree = false
    /// Modern `invalidate_seq`: 2 at first, odd while an interval round is on.
    public var invalidateSeq = 2
    /// Modern `active_invalidate_ranges`: starts without their end yet.
    public var activeInvalidateRanges = 0
    /// Modern: the subscriptions in the interval tree, by notifier id.
    public var itree: [Int] = []
    /// Modern `deferred_list`: inserts and removes waiting for the round to end.
    public var deferredItree: [Int] = []
    /// Modern `MMF_UNSTABLE`: the OOM reaper has started on the mm (a fault that needs a new
    /// page gets SIGBUS).
    public var unstable = false
    /// Modern `MMF_OOM_SKIP`: the reaper is done with the mm, or exit_mmap is.
    public var oomSkip = false

    /// True when `mm->mmu_notifier_mm` is set (`mm_has_notifiers`).
    public var hasNotifiers: Bool { notifierList != nil }

    /// The index of the VMA containing `address`, if any.
    public func vmaIndex(containing address: UInt64) -> Int? {
        let index = firstVMAIndex(endingAbove: address)
        return index < vmas.count && vmas[index].start <= address ? index : nil
    }

    /// The VMA containing `address`, if any (`find_vma` plus the start check).
    public func vma(containing address: UInt64) -> VMA? {
        vmaIndex(containing: address).map { vmas[$0] }
    }

    /// The index of the first VMA that ends above `address` (`find_vma`).
    func firstVMAIndex(endingAbove address: UInt64) -> Int {
        var low = 0
        var high = vmas.count
        while low < high {
            let mid = (low + high) / 2
            if vmas[mid].end <= address {
                low = mid + 1
            } else {
                high = mid
            }
        }
        return low
    }

    /// The indices of the VMAs that overlap `[start, end)`.
    func vmaIndices(overlapping start: UInt64, _ end: UInt64) -> Range<Int> {
        let first = firstVMAIndex(endingAbove: start)
        var last = first
        while last < vmas.count && vmas[last].start < end { last += 1 }
        return first..<last
    }

    /// True when every byte of `[start, end)` is inside some VMA.
    func isFullyMapped(_ start: UInt64, _ end: UInt64) -> Bool {
        var cursor = start
        for index in vmaIndices(overlapping: start, end) {
            if vmas[index].start > cursor { return false }
            cursor = vmas[index].end
        }
        return cursor >= end
    }

    /// Splits the VMA that straddles `address` so that a VMA boundary falls there (`split_vma`).
    mutating func split(at address: UInt64) {
        guard let index = vmaIndex(containing: address), vmas[index].start < address else { return }
        var tail = vmas[index]
        tail.start = address
        tail.pgoff = vmas[index].pgoff + (address - vmas[index].start) >> pageShift
        tail.nonlinear = vmas[index].nonlinear.filter { $0.key >= address >> pageShift }
        vmas[index].nonlinear = vmas[index].nonlinear.filter { $0.key < address >> pageShift }
        vmas[index].end = address
        vmas.insert(tail, at: index + 1)
    }

    /// Merges each VMA in `range` (and its neighbours) with the next one where the kernel would.
    mutating func merge(around range: Range<Int>) {
        var index = max(0, range.lowerBound - 1)
        var upper = min(vmas.count - 1, range.upperBound)
        while index < upper && index + 1 < vmas.count {
            if vmas[index].canMerge(with: vmas[index + 1]) {
                if vmas[index].anonVMA == nil { vmas[index].anonVMA = vmas[index + 1].anonVMA }
                vmas[index].end = vmas[index + 1].end
                vmas.remove(at: index + 1)
                upper -= 1
            } else {
                index += 1
            }
        }
    }

    /// Inserts a VMA into the sorted list, merging with its neighbours where possible.
    mutating func insert(_ vma: VMA) {
        let index = firstVMAIndex(endingAbove: vma.start)
        vmas.insert(vma, at: index)
        merge(around: index..<index + 1)
    }

    /// The lowest free range of `length` bytes at or above `hint` below `taskSize`.
    func unmappedArea(length: UInt64, hint: UInt64) -> UInt64? {
        var candidate = hint
        for vma in vmas[firstVMAIndex(endingAbove: hint)...] {
            if vma.start >= candidate, vma.start - candidate >= length { break }
            candidate = max(candidate, vma.end)
        }
        guard candidate <= taskSize, taskSize - candidate >= length else { return nil }
        return candidate
    }
}
