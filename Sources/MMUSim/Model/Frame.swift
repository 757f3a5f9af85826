/// What a frame holds (`PageAnon`, page cache, `ZERO_PAGE`), or that it is free.
public enum FrameKind: String, Codable, Hashable, Sendable {
    case free, anon, file, zero
}

/// A physical page frame, the model's `struct page`.
///
/// `refcount` counts every reference (each pte mapping it, the page cache, each
/// get_user_pages pin, reclaim's isolation); `mapcount` counts the ptes that map it. `content` is the
/// value stored by whoever last wrote the page, the CPU or a secondary MMU: data integrity is
/// checked on it.
public struct Frame: Codable, Hashable, Sendable {
    /// `page_count`.
    public var refcount: Int32 = 0
    /// `page_mapcount`: the number of ptes mapping this frame.
    public var mapcount: Int32 = 0
    /// Anonymous, page cache, the zero page, or free.
    public var kind: FrameKind = .free
    /// `PG_dirty`: the content is newer than its backing copy (swap slot or file).
    public var dirty = false
    /// `PG_referenced`.
    public var referenced = false
    /// Modern idle page tracking's PG_idle (mm/page_idle.c): set by a write of the bitmap,
    /// cleared when a walk finds the page referenced.
    public var idle = false
    /// True for each of the 512 frames of a huge page (a compound page, aligned to 512 frames,
    /// so its head is `pfn & ~511`). The head holds the compound page's counts, flags and
    /// ownership (`compound_head`); each frame keeps its own content and generation.
    public var isHuge = false
    /// The page's data.
    public var content: UInt64 = 0
    /// Bumped at every allocation, so a stale mapping of a reused frame can be recognised.
    public var generation: UInt32 = 0
    /// For an anonymous page its anon_vma; for a page-cache page its file.
    public var owner: Int32 = -1
    /// For an anonymous page its linear page index (`page->index`); for a file page its offset.
    public var index: UInt64 = 0
    /// The swap slot holding a copy of this page (the swap cache), or -1.
    public var swapSlot: Int32 = -1
    /// Secondary-MMU entries (sptes, TLB entries) that map this frame without holding a
    /// reference; the frame must not be freed while any remain.
    public var secondaryMaps: Int32 = 0

    /// True when the frame is allocated.
    public var isAllocated: Bool { kind != .free }
}

/// A swap slot: the content written to it and how many swap ptes and cached frames name it.
public struct SwapSlot: Codable, Hashable, Sendable {
    /// The page's data as it was written out.
    public var content: UInt64
    /// `swap_map` count: swap ptes naming this slot.
    public var count: Int32
    /// The frame that caches this slot (the swap cache), or -1.
    public var cachedPfn: Int32
}

/// A file: a name, its on-disk pages, and its page cache.
public struct File: Codable, Hashable, Sendable {
    /// The file's id.
    public let id: Int
    /// The file's name; anonymous shared memory gets a `shmem:` name.
    public let name: String
    /// Page content on disk by page offset; a page never written reads as 0.
    public var disk: [UInt64: UInt64] = [:]
    /// The page cache: page offset to pfn. For a hugetlbfs file, the huge pages by the offset
    /// of their first 4 KiB page; for an execute-in-place file, its blocks: the memory that
    /// holds the data, mapped directly.
    public var pageCache: [UInt64: Int] = [:]
    /// A hugetlbfs file (or the shared memory of a shared hugetlb mapping): only hugetlb VMAs
    /// map it.
    public var hugetlb = false
    /// An execute-in-place file (`-o xip`): no page cache, no writeback; a hole has no block
    /// until a shared mapping's fault fills it.
    public var xip = false
}
