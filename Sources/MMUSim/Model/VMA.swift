/// A virtual memory area (`vm_area_struct`): a page-aligned range with one protection and
/// one backing.
public struct VMA: Codable, Hashable, Sendable {
    /// The first address (`vm_start`).
    public var start: UInt64
    /// The first address past the end (`vm_end`).
    public var end: UInt64
    /// The protection (`vm_page_prot` as the user asked for it).
    public var prot: Prot
    /// `VM_SHARED`.
    public var shared: Bool
    /// The file mapped, or nil for private anonymous memory (shared anonymous memory is
    /// backed by a shmem file, as in the kernel).
    public var file: Int?
    /// `vm_pgoff`: for a file the offset of `start` in pages; for anonymous memory the page
    /// number of the address it was first mapped at, kept when mremap moves it.
    public var pgoff: UInt64
    /// `VM_LOCKED` (mlock): reclaim leaves its pages alone.
    public var locked: Bool
    /// `VM_HUGETLB`.
    public var hugetlb: Bool
    /// The anon_vma, allocated at the first anonymous fault (`anon_vma_prepare`) and shared
    /// with the children of a fork.
    public var anonVMA: Int?
    /// `VM_NONLINEAR` page offsets installed by remap_file_pages, by virtual page number.
    public var nonlinear: [UInt64: UInt64] = [:]

    /// The length in bytes.
    public var length: UInt64 { end - start }

    /// True when a write fault must copy (`is_cow_mapping`: private and may write).
    public var isCOW: Bool { !shared }

    /// The file page offset that `address` maps.
    public func filePgoff(at address: UInt64) -> UInt64 {
        let vpn = address >> pageShift
        return nonlinear[vpn] ?? pgoff + (address - start) >> pageShift
    }

    /// The linear page index of `address` (`linear_page_index`), as anonymous pages record it.
    public func linearIndex(at address: UInt64) -> UInt64 {
        pgoff + (address - start) >> pageShift
    }

    /// The address where the page of linear index `index` sits in this VMA, if it does
    /// (`vma_address`): the inverse of `linearIndex(at:)`.
    func address(ofIndex index: UInt64) -> UInt64? {
        guard index >= pgoff else { return nil }
        let address = start + (index - pgoff) << pageShift
        return address < end ? address : nil
    }

    /// The flags as the API spells them.
    public var flags: [String] {
        var flags = [shared ? "shared" : "private"]
        if file == nil || isShmem { flags.append("anonymous") }
        if locked { flags.append("locked") }
        if hugetlb { flags.append("hugetlb") }
        if !nonlinear.isEmpty { flags.append("nonlinear") }
        return flags
    }

    /// Set for shared anonymous memory, whose file is internal.
    public var isShmem = false

    /// True when `other` starting at `end` could be merged into this one (`vma_merge`).
    func canMerge(with other: VMA) -> Bool {
        guard end == other.start, prot == other.prot, shared == other.shared, file == other.file,
            locked == other.locked, hugetlb == other.hugetlb, isShmem == other.isShmem,
            nonlinear.isEmpty, other.nonlinear.isEmpty
        else { return false }
        if let a = anonVMA, let b = other.anonVMA, a != b { return false }
        return pgoff + length >> pageShift == other.pgoff
    }
}
