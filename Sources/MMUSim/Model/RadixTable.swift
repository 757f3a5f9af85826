/// A 4-level radix tree of 64-bit entries indexed by virtual page number, shaped like the
/// x86-64 page table: 512 entries a level, 36 bits of page number (a 48-bit address space).
///
/// Entry value 0 means "none". A table is allocated when its first entry is set and freed
/// when its last entry is cleared, so the cost of walking a range grows with the populated
/// pages in it, never with its size. The primary MMU's page table, the sptes of a secondary
/// MMU and its TLB are all instances of this one structure.
public struct RadixTable: Codable, Hashable, Sendable {
    /// Bits of page number that each level consumes.
    static let levelBits: UInt64 = 9
    /// Entries in one table.
    static let fanout = 512
    /// The number of levels above the leaf tables.
    static let upperLevels = 3

    /// Upper-level tables (PGD, PUD, PMD), `fanout` entries each, one after another (table `t`
    /// at `t * fanout`); each entry is a child index plus one, or 0. Table 0 is the root and is
    /// never freed. (One array, not one a table: a walk reads one level in one access, and a
    /// write checks one array unique, not the list's and the table's.)
    private var uppers = [Int32](repeating: 0, count: fanout)
    /// How many entries of each upper table are in use.
    private var upperUsed: [Int32] = [0]
    /// Leaf tables (PTE pages) of entries, an array each (one array of them all grows by
    /// doubling, and the copies it leaves behind stay resident: 6 bytes a page more with kvm and
    /// gru).
    private var leaves: [[UInt64]] = []
    /// How many entries of each leaf are non-zero.
    private var leafUsed: [Int32] = []
    private var freeUppers: [Int32] = []
    private var freeLeaves: [Int32] = []

    /// The number of non-zero entries.
    public private(set) var count = 0
    /// The wrapping sum of `mix(vpn, entry)` over the non-zero entries.
    private var digest: UInt64 = 0

    /// Creates an empty table.
    public init() {}

    private enum CodingKeys: String, CodingKey {
        case uppers, upperUsed, leaves, leafUsed, freeUppers, freeLeaves, count
    }

    /// Decodes the tables (a list of tables each, as they were always encoded) and sums their
    /// entries' hash again.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let upperTables = try container.decode([[Int32]].self, forKey: .uppers)
        let leafTables = try container.decode([[UInt64]].self, forKey: .leaves)
        guard upperTables.allSatisfy({ $0.count == Self.fanout }), leafTables.allSatisfy({ $0.count == Self.fanout }), !upperTables.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .uppers, in: container, debugDescription: "a table does not hold \(Self.fanout) entries")
        }
        uppers = Array(upperTables.joined())
        upperUsed = try container.decode([Int32].self, forKey: .upperUsed)
        leaves = leafTables
        leafUsed = try container.decode([Int32].self, forKey: .leafUsed)
        freeUppers = try container.decode([Int32].self, forKey: .freeUppers)
        freeLeaves = try container.decode([Int32].self, forKey: .freeLeaves)
        count = try container.decode(Int.self, forKey: .count)
        var sum: UInt64 = 0
        forEach(from: 0, to: Self.pages) { sum &+= Self.mix($0, $1) }
        digest = sum
    }

    /// Encodes the tables as a list of tables each.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.tables(uppers), forKey: .uppers)
        try container.encode(upperUsed, forKey: .upperUsed)
        try container.encode(leaves, forKey: .leaves)
        try container.encode(leafUsed, forKey: .leafUsed)
        try container.encode(freeUppers, forKey: .freeUppers)
        try container.encode(freeLeaves, forKey: .freeLeaves)
        try container.encode(count, forKey: .count)
    }

    /// `entries` cut into its tables.
    private static func tables<Entry>(_ entries: [Entry]) -> [[Entry]] {
        stride(from: 0, to: entries.count, by: fanout).map { Array(entries[$0..<$0 + fanout]) }
    }

    /// Every page number the table covers.
    static let pages: UInt64 = 1 << (levelBits * UInt64(upperLevels + 1))

    /// An entry's share of the hash (splitmix64's finalizer over the page number and entry).
    @inline(__always)
    private static func mix(_ vpn: UInt64, _ entry: UInt64) -> UInt64 {
        var z = ((vpn &* 0x9E37_79B9_7F4A_7C15) ^ entry) &+ 0x6A09_E667_F3BC_C909
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The same entries.
    public static func == (lhs: RadixTable, rhs: RadixTable) -> Bool {
        guard lhs.count == rhs.count, lhs.digest == rhs.digest else { return false }
        // Copies of one table share their storage until one of them changes.
        if lhs.leaves.withUnsafeBufferPointer({ a in rhs.leaves.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }) { return true }
        // The same layout with the same entries (a freed table is all zeros).
        if lhs.uppers.sameElements(rhs.uppers), lhs.leaves.sameElements(rhs.leaves) { return true }
        let left = lhs.entries(from: 0, to: pages)
        let right = rhs.entries(from: 0, to: pages)
        return left.elementsEqual(right) { $0.vpn == $1.vpn && $0.entry == $1.entry }
    }

    /// The entries' count and the sum kept of their hashes.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        hasher.combine(digest)
    }

    /// The number of leaf tables currently allocated.
    public var leafTables: Int { leaves.count - freeLeaves.count }

    @inline(__always)
    private static func slot(_ vpn: UInt64, level: Int) -> Int {
        Int((vpn >> (levelBits * UInt64(upperLevels - level))) & UInt64(fanout - 1))
    }

    /// The entry for a virtual page number, 0 when none.
    public func get(_ vpn: UInt64) -> UInt64 {
        // An empty table answers without a walk (a driver's TLB-only or spte-only side, which
        // the checker looks up after every fault).
        guard count > 0, let leaf = leafIndex(vpn).leaf else { return 0 }
        return leaves[leaf][Self.slot(vpn, level: Self.upperLevels)]
    }

    /// The leaf table that holds `vpn`'s entry, if there is one, and how many tables the walk
    /// down to it visited (as `forEach` counts them).
    private func leafIndex(_ vpn: UInt64) -> (leaf: Int?, visited: Int) {
        var table = 0
        for level in 0..<Self.upperLevels {
            let child = uppers[table * Self.fanout + Self.slot(vpn, level: level)]
            if child == 0 { return (nil, level + 1) }
            table = Int(child - 1)
        }
        return (table, Self.upperLevels + 1)
    }

    /// Sets the entry for a virtual page number; 0 clears it and frees tables left empty.
    public mutating func set(_ vpn: UInt64, _ value: UInt64) {
        if value == 0 {
            clear(vpn)
            return
        }
        var table = 0
        for level in 0..<Self.upperLevels {
            let index = table * Self.fanout + Self.slot(vpn, level: level)
            var child = uppers[index]
            if child == 0 {
                let isLeafLevel = level == Self.upperLevels - 1
                child = Int32((isLeafLevel ? allocLeaf() : allocUpper()) + 1)
                uppers[index] = child
                upperUsed[table] += 1
            }
            table = Int(child - 1)
        }
        let index = Self.slot(vpn, level: Self.upperLevels)
        let old = leaves[table][index]
        if old == 0 {
            leafUsed[table] += 1
            count += 1
        } else {
            digest &-= Self.mix(vpn, old)
        }
        digest &+= Self.mix(vpn, value)
        leaves[table][index] = value
    }

    private mutating func clear(_ vpn: UInt64) {
        var path: [(table: Int, index: Int)] = []
        var table = 0
        for level in 0..<Self.upperLevels {
            let index = Self.slot(vpn, level: level)
            let child = uppers[table * Self.fanout + index]
            if child == 0 { return }
            path.append((table, index))
            table = Int(child - 1)
        }
        let index = Self.slot(vpn, level: Self.upperLevels)
        let old = leaves[table][index]
        guard old != 0 else { return }
        digest &-= Self.mix(vpn, old)
        leaves[table][index] = 0
        leafUsed[table] -= 1
        count -= 1
        if leafUsed[table] == 0 { releaseEmpty(path: path, leaf: table) }
    }

    /// Frees an empty leaf and every upper table that becomes empty with it (`free_pgtables`).
    private mutating func releaseEmpty(path: [(table: Int, index: Int)], leaf: Int) {
        freeLeaves.append(Int32(leaf))
        var level = path.count - 1
        while level >= 0 {
            let (table, index) = path[level]
            uppers[table * Self.fanout + index] = 0
            upperUsed[table] -= 1
            if upperUsed[table] > 0 || table == 0 { break }
            freeUppers.append(Int32(table))
            level -= 1
        }
    }

    private mutating func allocUpper() -> Int {
        if let index = freeUppers.popLast() { return Int(index) }
        uppers.append(contentsOf: repeatElement(0, count: Self.fanout))
        upperUsed.append(0)
        return upperUsed.count - 1
    }

    private mutating func allocLeaf() -> Int {
        if let index = freeLeaves.popLast() { return Int(index) }
        leaves.append(Array(repeating: 0, count: Self.fanout))
        leafUsed.append(0)
        return leaves.count - 1
    }

    /// Calls `body` for every non-zero entry with `start <= vpn < end`, in order, visiting only
    /// tables that exist. Returns the number of tables visited (upper and leaf), which tests use
    /// to show that a sparse range costs what is populated in it.
    @discardableResult
    public func forEach(from start: UInt64, to end: UInt64, _ body: (UInt64, UInt64) -> Void) -> Int {
        guard start < end else { return 0 }
        // One page (a secondary fault's range) is a lookup down its path.
        if end - start == 1 {
            let (leaf, visited) = leafIndex(start)
            if let leaf, case let entry = leaves[leaf][Self.slot(start, level: Self.upperLevels)], entry != 0 { body(start, entry) }
            return visited
        }
        var visited = 0
        walk(table: 0, level: 0, base: 0, start: start, end: end, visited: &visited, body)
        return visited
    }

    /// The entries of a table at `level` covering `base` that fall in `[start, end)`, and
    /// how many pages each entry spans.
    private static func slots(level: Int, base: UInt64, start: UInt64, end: UInt64) -> (first: Int, last: Int, span: UInt64) {
        let shift = levelBits * UInt64(upperLevels - level)
        let first = start > base ? Int((start - base) >> shift) : 0
        return (first, min(fanout - 1, Int((end - 1 - base) >> shift)), 1 << shift)
    }

    private func walk(
        table: Int,
        level: Int,
        base: UInt64,
        start: UInt64,
        end: UInt64,
        visited: inout Int,
        _ body: (UInt64, UInt64) -> Void
    ) {
        visited += 1
        let (first, last, span) = Self.slots(level: level, base: base, start: start, end: end)
        guard first <= last else { return }
        if level == Self.upperLevels {
            let entries = leaves[table]
            for index in first...last where entries[index] != 0 {
                body(base + UInt64(index), entries[index])
            }
            return
        }
        let offset = table * Self.fanout
        if upperUsed[table] == 0 { return }
        for index in first...last where uppers[offset + index] != 0 {
            walk(
                table: Int(uppers[offset + index] - 1),
                level: level + 1,
                base: base + UInt64(index) * span,
                start: start,
                end: end,
                visited: &visited,
                body
            )
        }
    }

    /// Rewrites every non-zero entry with `start <= vpn < end` in place, in order: `body`
    /// gets the vpn and the entry and returns the new entry (0 removes it). Tables left empty
    /// are freed. Visits only tables that exist; returns how many it visited.
    @discardableResult
    public mutating func update(from start: UInt64, to end: UInt64, _ body: (UInt64, UInt64) -> UInt64) -> Int {
        guard start < end else { return 0 }
        var visited = 0
        var remaining = Int.max
        var stoppedAt: UInt64? = nil
        _ = updateWalk(table: 0, level: 0, base: 0, start: start, end: end, visited: &visited, remaining: &remaining, stoppedAt: &stoppedAt, body)
        return visited
    }

    /// Removes the first `limit` entries with `start <= vpn < end`, in order, handing each to
    /// `body` first. Returns the tables visited and the vpn of the first entry left in the range
    /// (nil when none is left).
    public mutating func removeFirst(
        _ limit: Int,
        from start: UInt64,
        to end: UInt64,
        _ body: (UInt64, UInt64) -> Void
    ) -> (visited: Int, rest: UInt64?) {
        guard start < end else { return (0, nil) }
        var visited = 0
        var remaining = limit
        var stoppedAt: UInt64? = nil
        _ = updateWalk(table: 0, level: 0, base: 0, start: start, end: end, visited: &visited, remaining: &remaining, stoppedAt: &stoppedAt) {
            body($0, $1)
            return 0
        }
        return (visited, stoppedAt)
    }

    /// Removes every entry with `start <= vpn < end`, handing each to `body` first.
    @discardableResult
    public mutating func removeAll(from start: UInt64, to end: UInt64, _ body: (UInt64, UInt64) -> Void) -> Int {
        removeFirst(Int.max, from: start, to: end, body).visited
    }

    /// Walks one table for `update`; returns true when the table is left empty (and so may
    /// be freed by its parent). Once `remaining` entries have been handed to `body`, the walk
    /// stops at the next entry and records its vpn in `stoppedAt`.
    private mutating func updateWalk(
        table: Int,
        level: Int,
        base: UInt64,
        start: UInt64,
        end: UInt64,
        visited: inout Int,
        remaining: inout Int,
        stoppedAt: inout UInt64?,
        _ body: (UInt64, UInt64) -> UInt64
    ) -> Bool {
        visited += 1
        let (first, last, span) = Self.slots(level: level, base: base, start: start, end: end)
        if level == Self.upperLevels {
            guard first <= last else { return leafUsed[table] == 0 }
            var used = leafUsed[table]
            var removed = 0
            var sum = digest
            leaves[table].withUnsafeMutableBufferPointer { entries in
                for index in first...last where entries[index] != 0 {
                    if remaining == 0 {
                        stoppedAt = base + UInt64(index)
                        break
                    }
                    remaining -= 1
                    let vpn = base + UInt64(index)
                    let new = body(vpn, entries[index])
                    sum &-= Self.mix(vpn, entries[index])
                    if new != 0 { sum &+= Self.mix(vpn, new) }
                    if new == 0 {
                        used -= 1
                        removed += 1
                    }
                    entries[index] = new
                }
            }
            leafUsed[table] = used
            count -= removed
            digest = sum
            return used == 0
        }
        guard first <= last, upperUsed[table] > 0 else { return upperUsed[table] == 0 }
        for index in first...last where stoppedAt == nil {
            let child = uppers[table * Self.fanout + index]
            if child == 0 { continue }
            let childTable = Int(child - 1)
            let emptied = updateWalk(
                table: childTable,
                level: level + 1,
                base: base + UInt64(index) * span,
                start: start,
                end: end,
                visited: &visited,
                remaining: &remaining,
                stoppedAt: &stoppedAt,
                body
            )
            if emptied {
                uppers[table * Self.fanout + index] = 0
                upperUsed[table] -= 1
                if level + 1 == Self.upperLevels {
                    freeLeaves.append(Int32(childTable))
                } else {
                    freeUppers.append(Int32(childTable))
                }
            }
        }
        return upperUsed[table] == 0 && table != 0
    }

    /// The non-zero entries in `[start, end)` as (vpn, entry) pairs, in order.
    public func entries(from start: UInt64, to end: UInt64) -> [(vpn: UInt64, entry: UInt64)] {
        var result: [(vpn: UInt64, entry: UInt64)] = []
        forEach(from: start, to: end) { result.append(($0, $1)) }
        return result
    }

    /// True when a leaf table exists for the 512-page block holding `vpn` (`get_old_pmd`).
    public func hasLeaf(for vpn: UInt64) -> Bool {
        leafIndex(vpn).leaf != nil
    }
}
