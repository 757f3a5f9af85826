import MMUSim

// The bodies of the mutating requests, as the routes decode them (snake_case on the wire:
// APIJSON).

/// Every mutating request may say where its task stops.
protocol Pausable {
    /// The step to stop before (`GET /steps` lists the names).
    var pauseAt: String? { get }
}

struct CreateMMRequest: Decodable, Pausable {
    var name: String?
    var pauseAt: String?
}

struct MmapRequest: Decodable, Pausable {
    var addr: Hex?
    var length: UInt64
    var prot: String
    var flags: [String]
    var file: String?
    var offset: UInt64?
    var xip: Bool?
    var pauseAt: String?
}

struct RangeRequest: Decodable, Pausable {
    var addr: Hex
    var length: UInt64
    var pauseAt: String?
}

struct MprotectRequest: Decodable, Pausable {
    var addr: Hex
    var length: UInt64
    var prot: String
    var pauseAt: String?
}

struct MadviseRequest: Decodable, Pausable {
    var addr: Hex
    var length: UInt64
    var advice: String
    var pauseAt: String?
}

struct MremapRequest: Decodable, Pausable {
    var oldAddr: Hex
    var oldLength: UInt64
    var newLength: UInt64
    var flags: [String]?
    var newAddr: Hex?
    var pauseAt: String?
}

struct TouchRequest: Decodable, Pausable {
    var addr: Hex
    var length: UInt64?
    var write: Bool
    var value: UInt64?
    var pauseAt: String?
}

struct EmptyRequest: Decodable, Pausable {
    var pauseAt: String?
}

struct RemapFileRequest: Decodable, Pausable {
    var addr: Hex
    var length: UInt64
    var pgoff: UInt64
    var pauseAt: String?
}

struct ReclaimRequest: Decodable, Pausable {
    var mm: Int?
    var addr: Hex?
    var length: UInt64?
    var pages: Int?
    var pauseAt: String?
}

struct WritebackRequest: Decodable, Pausable {
    var file: String?
    var pauseAt: String?
}

struct MigrateRequest: Decodable, Pausable {
    var mm: Int
    var addr: Hex
    var length: UInt64?
    var pauseAt: String?
}

struct PageIdleRequest: Decodable, Pausable {
    var addr: Hex
    var length: UInt64?
    /// Write the bitmap (mark the pages idle) rather than read it.
    var mark: Bool?
    var pauseAt: String?
}

struct KhugepagedScanRequest: Decodable, Pausable {
    var addr: Hex
    var pauseAt: String?
}

struct RegisterRequest: Decodable, Pausable {
    /// A built-in kind or a loaded driver's name; absent with an inline `policy`.
    var kind: String?
    /// An inline driver policy (read again from the body's text, which keeps its member order).
    var policy: PolicyPresence?
    var bugs: [String]?
    var signalPending: Bool?
    var mmapSemHeld: Bool?
    /// Modern, an interval driver: the interval `[start, start + length)`
    /// (mmu_interval_notifier_insert; the whole address space by default).
    var start: Hex?
    var length: UInt64?
    var pauseAt: String?
}

struct FaultRequest: Decodable, Pausable {
    var address: Hex
    var write: Bool
    var pauseAt: String?
}

struct EntryRequest: Decodable, Pausable {
    var address: Hex?
    var write: Bool?
    var pauseAt: String?
}

struct AccessRequest: Decodable, Pausable {
    var address: Hex
    var write: Bool
    var value: UInt64?
    var pauseAt: String?
}

struct ResetRequest: Decodable {
    var frames: Int?
    var swapSlots: Int?
    var releaseOrder: String?
    var coreBugs: [String]?
    var kernel: String?
}

/// A member whose value is read elsewhere (from the body's text): decoding only notes that it
/// is there, whatever JSON it holds.
struct PolicyPresence: Decodable {
    init(from decoder: any Decoder) throws {
        _ = decoder
    }
}
