/// The size of a page and a frame, in bytes.
public let pageSize: UInt64 = 4096

/// The shift that turns an address into a virtual page number.
public let pageShift: UInt64 = 12

/// The first address above user space (x86-64 `TASK_SIZE`, 47 bits less one page).
public let taskSize: UInt64 = 0x7fff_ffff_f000

/// Where `mmap` starts looking for free space when it is given no address.
public let mmapBase: UInt64 = 0x7f00_0000_0000

/// The size of a huge page (`HPAGE_SIZE`); hugetlb mappings are multiples of it.
public let hugePageSize: UInt64 = 2 << 20

/// The start of the huge page around `address` (`address & HPAGE_MASK`).
func hugePageStart(_ address: UInt64) -> UInt64 {
    address & ~(hugePageSize - 1)
}

/// An error number that a simulated kernel call returns, negated, as its result.
public enum Errno: String, Codable, Hashable, Sendable, CaseIterable {
    case EINTR, ENOMEM, EFAULT, EPERM, EINVAL, EAGAIN, EBUSY, ENOENT, ESRCH
    /// The model's, not the call's: the operation is not modelled for the world's kernel yet
    /// (a modern world's remap_file_pages,
    /// apply_to_page_range and xip mappings).
    case ENOSYS

    /// The number Linux gives this error on x86-64.
    public var number: Int {
        switch self {
        case .EPERM: 1
        case .ENOENT: 2
        case .ESRCH: 3
        case .EINTR: 4
        case .EAGAIN: 11
        case .ENOMEM: 12
        case .EFAULT: 14
        case .EBUSY: 16
        case .EINVAL: 22
        case .ENOSYS: 38
        }
    }
}

/// The protection bits of a mapping: read, write and execute.
public struct Prot: OptionSet, Codable, Hashable, Sendable {
    /// The bits, as `PROT_*` numbers them.
    public let rawValue: UInt8

    /// Creates a protection from its bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `PROT_READ`.
    public static let read = Prot(rawValue: 1)
    /// `PROT_WRITE`.
    public static let write = Prot(rawValue: 2)
    /// `PROT_EXEC`.
    public static let exec = Prot(rawValue: 4)

    /// Parses the API spelling: "none", or a combination of r, w and x in that order.
    public init?(text: String) {
        if text == "none" {
            self = []
            return
        }
        var prot: Prot = []
        var rest = Substring(text)
        for (letter, bit) in [("r", Prot.read), ("w", .write), ("x", .exec)] where rest.hasPrefix(letter) {
            prot.insert(bit)
            rest = rest.dropFirst()
        }
        guard rest.isEmpty, !prot.isEmpty else { return nil }
        self = prot
    }

    /// The API spelling: "none", "r", "rw", "rx" or "rwx".
    public var text: String {
        if isEmpty { return "none" }
        return (contains(.read) ? "r" : "") + (contains(.write) ? "w" : "") + (contains(.exec) ? "x" : "")
    }
}

/// Formats an address as the API prints it, `0x7f0000000000`.
public func hex(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16)
}

/// True when `value` is a multiple of the page size.
@inlinable
func isPageAligned(_ value: UInt64) -> Bool {
    value & (pageSize - 1) == 0
}
