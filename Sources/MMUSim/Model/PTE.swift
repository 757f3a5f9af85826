/// A page-table entry, packed in 64 bits as the hardware packs it.
///
/// Encoding (bit 0 clear and bit 4 clear means none):
/// - bit 0 present, bit 1 writable, bit 2 young (accessed), bit 3 dirty;
/// - bit 4 swap entry (not present), with the swap slot in bits 12 and up;
/// - bit 5 migration entry (not present), with the old pfn in bits 12 to 39 and bit 1 saying
///   whether the restored pte may be writable;
/// - bit 7 huge (`_PAGE_PSE`): a present entry that maps a whole 2 MiB huge page, kept in
///   the slot of the huge page's first 4 KiB page; its pfn is the head of the compound page;
/// - for a present entry, the pfn in bits 12 to 39;
/// - in an spte of a driver policy, bit 6: the mapping holds a page reference (a pinned gup's).
/// Sptes use the same encoding, with the frame's allocation generation in bits 40 to 63 so
/// that an spte left behind on a freed and reallocated frame can be told apart.
public struct PTE: Hashable, Sendable {
    /// The packed value; 0 is none.
    public var raw: UInt64

    static let presentBit: UInt64 = 1 << 0
    static let writeBit: UInt64 = 1 << 1
    static let youngBit: UInt64 = 1 << 2
    static let dirtyBit: UInt64 = 1 << 3
    static let swapBit: UInt64 = 1 << 4
    static let migrationBit: UInt64 = 1 << 5
    static let hugeBit: UInt64 = 1 << 7
    static let referenceBit: UInt64 = 1 << 6
    static let pfnMask: UInt64 = (1 << 28) - 1
    static let generationMask: UInt64 = (1 << 24) - 1

    /// Wraps a packed value.
    public init(raw: UInt64) { self.raw = raw }

    /// The empty entry.
    public static let none = PTE(raw: 0)

    /// A present entry mapping `pfn`.
    public static func present(pfn: Int, write: Bool, young: Bool = true, dirty: Bool = false, generation: UInt32 = 0, huge: Bool = false) -> PTE {
        var raw = presentBit | (UInt64(pfn) & pfnMask) << 12 | (UInt64(generation) & generationMask) << 40
        if huge { raw |= hugeBit }
        if write { raw |= writeBit }
        if young { raw |= youngBit }
        if dirty { raw |= dirtyBit }
        return PTE(raw: raw)
    }

    /// A swap entry naming `slot`.
    public static func swap(slot: Int) -> PTE {
        PTE(raw: swapBit | UInt64(slot) << 12)
    }

    /// A migration entry for `pfn` (`make_migration_entry`).
    public static func migration(pfn: Int, write: Bool) -> PTE {
        PTE(raw: migrationBit | (UInt64(pfn) & pfnMask) << 12 | (write ? writeBit : 0))
    }

    /// True for a migration entry.
    public var isMigration: Bool { raw & Self.migrationBit != 0 }

    /// True for a huge entry (`pte_huge`): it maps 512 pages from its pfn on.
    public var isHuge: Bool { raw & Self.hugeBit != 0 }

    /// The entry as the 4 KiB page at `address` sees it: a huge entry with the pfn of that
    /// page's frame in the compound page (`pte_page(*pte) + ((address & ~HPAGE_MASK) >>
    /// PAGE_SHIFT)`, as follow_hugetlb_page computes it); any other entry as it is.
    public func subpage(at address: UInt64) -> PTE {
        guard isHuge else { return self }
        let offset = (address & (hugePageSize - 1)) >> pageShift
        return PTE(raw: raw + (offset << 12))
    }

    /// True for the empty entry.
    public var isNone: Bool { raw == 0 }
    /// What the entry adds to its mm's rss: 1 for a present 4 KiB pte.
    var countsInRSS: Int { isPresent && !isHuge ? 1 : 0 }
    /// True when the entry maps a frame.
    public var isPresent: Bool { raw & Self.presentBit != 0 }
    /// True when the entry names a swap slot.
    public var isSwap: Bool { raw & Self.swapBit != 0 }
    /// The frame of a present entry.
    public var pfn: Int { Int((raw >> 12) & Self.pfnMask) }
    /// The frame generation recorded in an spte.
    public var generation: UInt32 { UInt32((raw >> 40) & Self.generationMask) }
    /// The slot of a swap entry.
    public var slot: Int { Int(raw >> 12) }

    /// The write-permission bit.
    public var write: Bool {
        get { raw & Self.writeBit != 0 }
        set { raw = newValue ? raw | Self.writeBit : raw & ~Self.writeBit }
    }
    /// The accessed bit.
    public var young: Bool {
        get { raw & Self.youngBit != 0 }
        set { raw = newValue ? raw | Self.youngBit : raw & ~Self.youngBit }
    }
    /// The dirty bit.
    public var dirty: Bool {
        get { raw & Self.dirtyBit != 0 }
        set { raw = newValue ? raw | Self.dirtyBit : raw & ~Self.dirtyBit }
    }
    /// In a policy's spte: the mapping holds a reference on its page.
    public var holdsReference: Bool {
        get { raw & Self.referenceBit != 0 }
        set { raw = newValue ? raw | Self.referenceBit : raw & ~Self.referenceBit }
    }
}

extension RadixTable {
    /// The entry at `address` as a PTE.
    func pte(at address: UInt64) -> PTE {
        PTE(raw: get(address >> pageShift))
    }

    /// The entry that translates `address`: its own pte, or the huge pte of the 2 MiB page
    /// around it seen from that 4 KiB page (`huge_pte_offset`, then `subpage(at:)`).
    func translation(at address: UInt64) -> PTE {
        translationEntry(at: address).pte.subpage(at: address)
    }

    /// Where the entry that translates `address` is kept: its own slot, or, when that is
    /// empty and the slot of its huge page's first 4 KiB page holds a huge pte, that slot.
    func translationSlot(at address: UInt64) -> UInt64 {
        translationEntry(at: address).slot
    }

    /// `translationSlot` and the entry kept there, found by one walk when `address` has its
    /// own entry (the common case: the slot is then read once, not once for the slot and once
    /// for its entry).
    func translationEntry(at address: UInt64) -> (slot: UInt64, pte: PTE) {
        let own = pte(at: address)
        guard own.isNone else { return (address, own) }
        let head = hugePageStart(address)
        guard head != address else { return (address, own) }
        let huge = pte(at: head)
        return huge.isHuge ? (head, huge) : (address, own)
    }

    /// Sets the entry at `address`.
    mutating func setPTE(_ pte: PTE, at address: UInt64) {
        set(address >> pageShift, pte.raw)
    }

    /// The entries in `[start, end)` (byte addresses) as (address, PTE) pairs.
    func ptes(from start: UInt64, to end: UInt64) -> [(address: UInt64, pte: PTE)] {
        entries(from: start >> pageShift, to: end >> pageShift + (end & (pageSize - 1) == 0 ? 0 : 1)).map {
            ($0.vpn << pageShift, PTE(raw: $0.entry))
        }
    }
}

extension World {
    /// The entries of a secondary table (or any table of ptes) in `[start, end)`, in address
    /// order, at most `limit`.
    public func ptesOf(_ table: RadixTable, from start: UInt64 = 0, to end: UInt64 = taskSize, limit: Int) -> [(address: UInt64, pte: PTE)] {
        var found: [(address: UInt64, pte: PTE)] = []
        guard start < end else { return found }
        table.forEach(from: start >> pageShift, to: (end - 1) >> pageShift + 1) { vpn, entry in
            if found.count < limit { found.append((vpn << pageShift, PTE(raw: entry))) }
        }
        return found
    }
}
