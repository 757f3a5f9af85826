/// A 64-bit value written as `"0x7f0000000000"`, read from such a string or from an integer.
public struct Hex: Codable, Hashable, Sendable {
    /// The value.
    public var value: UInt64

    /// Wraps a value.
    public init(_ value: UInt64) {
        self.value = value
    }

    /// Reads an integer, or a string in hex (with 0x) or decimal.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(UInt64.self) {
            value = number
            return
        }
        let text = try container.decode(String.self)
        guard let parsed = Hex.parse(text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "'\(text)' is not an address: give an integer or a hex string like \"0x7f0000000000\""
            )
        }
        value = parsed
    }

    /// Writes the hex string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex(value))
    }

    /// Parses `0x...` hex or decimal digits.
    public static func parse(_ text: String) -> UInt64? {
        let isHex = text.hasPrefix("0x") || text.hasPrefix("0X")
        let digits = isHex ? text.dropFirst(2) : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ isHex ? $0.isHexDigit : $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits, radix: isHex ? 16 : 10)
    }
}

/// One operation as scenario and explorer files write it: the API's request fields plus
/// `op` (the operation) and the ids the API puts in the path (`mm`, `notifier`).
///
/// `{"op": "mmap", "mm": 1, "length": 4096, "prot": "rw", "flags": ["private", "anonymous"]}`
public struct Command: Codable, Hashable, Sendable {
    /// create_mm, mmap, munmap, mprotect, mremap, madvise, touch, fork, exit, reclaim,
    /// writeback, migrate, remap_file_pages, apply_to_page_range, register, unregister,
    /// fault, access.
    public var op: String
    /// The mm (the API's path id).
    public var mm: Int?
    /// The notifier (the API's path id).
    public var notifier: Int?
    /// create_mm: the mm's name; entry: the entry point's.
    public var name: String?
    /// The start of the range.
    public var addr: Hex?
    /// The length of the range in bytes.
    public var length: UInt64?
    /// mmap, mprotect: none, r, rw, rx or rwx.
    public var prot: String?
    /// mmap: private or shared, anonymous, fixed, locked, hugetlb; mremap: maymove, fixed.
    public var flags: [String]?
    /// mmap, writeback: the file's name.
    public var file: String?
    /// mmap: the file offset in bytes.
    public var offset: UInt64?
    /// mmap: the file is execute-in-place (set when this mmap creates it).
    public var xip: Bool?
    /// mremap: the old start.
    public var oldAddr: Hex?
    /// mremap: the old length.
    public var oldLength: UInt64?
    /// mremap: the new length.
    public var newLength: UInt64?
    /// mremap with fixed: the new start.
    public var newAddr: Hex?
    /// madvise: dontneed.
    public var advice: String?
    /// touch, fault, access: a write rather than a read.
    public var write: Bool?
    /// touch, access: the value a write stores.
    public var value: UInt64?
    /// reclaim: the most pages to scan.
    public var pages: Int?
    /// register: kvm, gru, xpmem, pinning or unsafe.
    public var kind: String?
    /// register: the driver bugs to switch on.
    public var bugs: [String]?
    /// register: a signal is pending (mm_take_all_locks fails with EINTR).
    public var signalPending: Bool?
    /// register: the caller holds mmap_sem (__mmu_notifier_register).
    public var mmapSemHeld: Bool?
    /// page_idle: write the bitmap (mark the pages idle) rather than read it.
    public var mark: Bool?
    /// register (modern, an interval driver): the start of the interval; with `length`, its
    /// size (the whole address space by default).
    public var start: Hex?
    /// fault, access: the page address.
    public var address: Hex?
    /// remap_file_pages: the file page offset.
    public var pgoff: UInt64?

    /// Creates a command for `op`; set the fields it needs.
    public init(op: String) {
        self.op = op
    }

    /// Sets a field by its name in a command's JSON, from a driver's `call`: the number for
    /// addresses, lengths, counts and flags, the text for names (`flags` takes them
    /// comma-separated).
    mutating func set(field: String, number: Int, text: String?) {
        let value = UInt64(truncatingIfNeeded: number)
        switch field {
        case "addr": addr = Hex(value)
        case "length": length = value
        case "prot": prot = text
        case "flags": flags = text.map { $0.split(separator: ",").map(String.init) }
        case "file": file = text
        case "offset": offset = value
        case "old_addr": oldAddr = Hex(value)
        case "old_length": oldLength = value
        case "new_length": newLength = value
        case "new_addr": newAddr = Hex(value)
        case "advice": advice = text
        case "write": write = number != 0
        case "value": self.value = value
        case "pages": pages = number
        case "pgoff": pgoff = value
        default: break
        }
    }

    /// The operations a command may name.
    public static let operations = [
        "create_mm", "mmap", "munmap", "mprotect", "mremap", "madvise", "touch", "fork", "exit", "reclaim", "writeback", "migrate",
        "remap_file_pages", "apply_to_page_range", "register", "unregister", "fault", "entry", "access", "oom_reap", "page_idle",
        "khugepaged_scan",
    ]

    /// The model operation, or nil for create_mm (which is no task); a message naming the
    /// problem when a field is missing or invalid.
    public func operation() throws(CommandError) -> Operation? {
        switch op {
        case "create_mm":
            return nil
        case "mmap":
            let flags = try mmapFlags()
            return .mmap(
                mm: try need(mm, "mm"),
                addr: addr?.value,
                length: try need(length, "length"),
                prot: try protection(),
                flags: flags,
                file: file,
                offset: offset ?? 0
            )
        case "munmap":
            return .munmap(mm: try need(mm, "mm"), addr: try need(addr, "addr").value, length: try need(length, "length"))
        case "mprotect":
            return .mprotect(mm: try need(mm, "mm"), addr: try need(addr, "addr").value, length: try need(length, "length"), prot: try protection())
        case "mremap":
            let names = flags ?? []
            if let unknown = names.first(where: { $0 != "maymove" && $0 != "fixed" }) { throw CommandError("unknown mremap flag '\(unknown)'") }
            return .mremap(
                mm: try need(mm, "mm"),
                oldAddr: try need(oldAddr, "old_addr").value,
                oldLength: try need(oldLength, "old_length"),
                newLength: try need(newLength, "new_length"),
                mayMove: names.contains("maymove"),
                fixed: names.contains("fixed"),
                newAddr: newAddr?.value
            )
        case "madvise":
            guard (advice ?? "dontneed") == "dontneed" else { throw CommandError("unknown advice '\(advice ?? "")': the model implements dontneed") }
            return .madviseDontneed(mm: try need(mm, "mm"), addr: try need(addr, "addr").value, length: try need(length, "length"))
        case "touch":
            return .touch(mm: try need(mm, "mm"), addr: try need(addr, "addr").value, length: length ?? pageSize, write: write ?? false, value: value)
        case "fork":
            return .fork(mm: try need(mm, "mm"))
        case "exit":
            return .exit(mm: try need(mm, "mm"))
        case "reclaim":
            return .reclaim(mm: mm, addr: addr?.value, length: length, pages: pages)
        case "writeback":
            return .writeback(file: file)
        case "migrate":
            return .migrate(mm: try need(mm, "mm"), addr: try need(addr, "addr").value, length: length ?? pageSize)
        case "remap_file_pages":
            return .remapFilePages(mm: try need(mm, "mm"), addr: try need(addr, "addr").value, length: try need(length, "length"), pgoff: pgoff ?? 0)
        case "apply_to_page_range":
            return .applyToPageRange(mm: try need(mm, "mm"), addr: try need(addr, "addr").value, length: try need(length, "length"))
        case "register":
            let (parsed, set) = try Self.driver(kind: try need(kind, "kind"), bugs: bugs)
            if start != nil || length != nil {
                return .registerInterval(mm: try need(mm, "mm"), kind: parsed, bugs: set, start: start?.value ?? 0, length: length ?? taskSize)
            }
            return .register(
                mm: try need(mm, "mm"),
                kind: parsed,
                bugs: set,
                signalPending: signalPending ?? false,
                mmapSemHeld: mmapSemHeld ?? false
            )
        case "unregister":
            return .unregister(mm: try need(mm, "mm"), notifier: try need(notifier, "notifier"))
        case "oom_reap":
            return .oomReap(mm: try need(mm, "mm"))
        case "page_idle":
            return .pageIdle(mm: try need(mm, "mm"), addr: try need(addr, "addr").value, length: length ?? pageSize, mark: mark ?? false)
        case "khugepaged_scan":
            return .khugepagedScan(mm: try need(mm, "mm"), addr: try need(addr, "addr").value)
        case "fault":
            return .fault(
                mm: try need(mm, "mm"),
                notifier: try need(notifier, "notifier"),
                address: try need(address, "address").value,
                write: write ?? false
            )
        case "entry":
            return .entry(
                mm: try need(mm, "mm"),
                notifier: try need(notifier, "notifier"),
                name: try need(name, "name"),
                address: address?.value ?? 0,
                write: write ?? false
            )
        case "access":
            return .access(
                mm: try need(mm, "mm"),
                notifier: try need(notifier, "notifier"),
                address: try need(address, "address").value,
                write: write ?? false,
                value: value
            )
        default:
            throw CommandError("unknown op '\(op)': use one of \(Self.operations.joined(separator: ", "))")
        }
    }

    private func need<T>(_ value: T?, _ field: String) throws(CommandError) -> T {
        guard let value else { throw CommandError("\(op) needs '\(field)'") }
        return value
    }

    private func protection() throws(CommandError) -> Prot {
        try Self.protection(try need(prot, "prot"))
    }

    private func mmapFlags() throws(CommandError) -> MmapFlags {
        // A file may leave its flags out: private, and anonymous unless it names a file.
        try Self.mmapFlags(flags ?? ["private"] + (file == nil ? ["anonymous"] : []), file: file, xip: xip ?? false)
    }

    // MARK: The rules of the fields, for commands and API requests alike

    /// Parses a protection: none, r, rw, rx, rwx, w, wx or x.
    public static func protection(_ text: String) throws(CommandError) -> Prot {
        guard let prot = Prot(text: text) else {
            throw CommandError("'prot' must be one of none, r, rw, rx, rwx, w, wx, x; not '\(text)'", code: "invalid_value")
        }
        return prot
    }

    /// Parses mmap's flags: exactly one of private and shared; anonymous exactly when there is
    /// no file; a file's name non-empty and not `shmem:` (the model's names for shared
    /// anonymous memory); xip only for a file without hugetlb.
    public static func mmapFlags(_ names: [String], file: String?, xip: Bool) throws(CommandError) -> MmapFlags {
        var flags = MmapFlags(anonymous: false)
        var sharing = Set<String>()
        for name in names {
            switch name {
            case "private", "shared": sharing.insert(name)
            case "anonymous": flags.anonymous = true
            case "fixed": flags.fixed = true
            case "locked": flags.locked = true
            case "hugetlb": flags.hugetlb = true
            default:
                throw CommandError("unknown mmap flag '\(name)': use private, shared, anonymous, fixed, locked, hugetlb", code: "invalid_value")
            }
        }
        guard sharing.count == 1 else { throw CommandError("'flags' must hold exactly one of private and shared") }
        flags.shared = sharing.contains("shared")
        if flags.anonymous && file != nil { throw CommandError("an anonymous mapping takes no 'file'") }
        if !flags.anonymous && file == nil { throw CommandError("a file mapping needs 'file' (or add the flag anonymous)") }
        if let file, file.isEmpty || file.hasPrefix("shmem:") { throw CommandError("'file' must be a non-empty name not starting with 'shmem:'") }
        flags.xip = xip
        if flags.xip && (flags.anonymous || flags.hugetlb) { throw CommandError("'xip' needs a file mapping without hugetlb") }
        return flags
    }

    /// Checks a registration's built-in driver and bug switches (its variants), and gives the
    /// switches once each, by name: a set, whatever order and repeats the list has.
    public static func driver(kind: String, bugs: [String]?) throws(CommandError) -> (String, [String]) {
        guard let policy = BuiltinDrivers.policies[kind] else {
            throw CommandError("unknown kind '\(kind)': use one of \(BuiltinDrivers.names.joined(separator: ", "))", code: "invalid_value")
        }
        for name in bugs ?? [] where !policy.variantNames.contains(name) {
            throw CommandError("unknown bug '\(name)': use any of \(BuiltinDrivers.variantNames.joined(separator: ", "))", code: "invalid_value")
        }
        return (kind, Set(bugs ?? []).sorted())
    }
}

/// Why a command could not be turned into an operation.
public struct CommandError: Error, Hashable, Sendable {
    /// One sentence naming the problem.
    public var message: String
    /// The error code an API answer gives it (`invalid_request`, `invalid_value`, ...).
    public var code: String

    /// Creates an error.
    public init(_ message: String, code: String = "invalid_request") {
        self.message = message
        self.code = code
    }
}
