import Foundation
import MMUSim

#if canImport(Glibc)
import Glibc
#endif

/// Why a journal cannot be used.
public struct JournalError: Error, CustomStringConvertible {
    /// One sentence naming the problem and where it is.
    public var description: String
}

/// The append-only journal of a state directory.
///
/// A generation is one file, `journal-NNNNNN.log`, that starts with a reset record; POST
/// /reset starts the next generation and removes the older ones once it is durable. Each
/// record is one line, `CRC32-HEX TAB JSON LF`, written and fsynced before the request is
/// answered. On start, a torn last line (a crash in mid-append: no LF, or a bad checksum on
/// the last line) is dropped with a warning; a bad line followed by good ones is corruption,
/// and the journal refuses to load, naming the byte offset.
final class Journal {
    /// The state directory.
    let directory: URL
    private var handle: FileHandle
    private(set) var generation: Int
    /// Bytes in the current generation's file.
    private(set) var size: UInt64

    private init(directory: URL, handle: FileHandle, generation: Int, size: UInt64) {
        self.directory = directory
        self.handle = handle
        self.generation = generation
        self.size = size
    }

    deinit {
        try? handle.close()
    }

    /// The file of a generation.
    static func file(_ directory: URL, generation: Int) -> URL {
        directory.appendingPathComponent(String(format: "journal-%06d.log", generation))
    }

    /// The newest generation in a directory, if any.
    static func latestGeneration(in directory: URL) -> Int? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("journal-"), name.hasSuffix(".log") else { return nil }
            return Int(name.dropFirst("journal-".count).dropLast(".log".count))
        }.max()
    }

    /// Reads the newest generation's records. `warnings` gets one line per dropped torn record.
    static func read(_ directory: URL, warnings: inout [String]) throws -> (records: [JournalRecord], generation: Int?, validBytes: UInt64) {
        guard let generation = latestGeneration(in: directory) else { return ([], nil, 0) }
        let url = file(directory, generation: generation)
        let data = try Data(contentsOf: url)
        var records: [JournalRecord] = []
        var offset = 0
        var valid = 0
        let bytes = [UInt8](data)
        while offset < bytes.count {
            let end = bytes[offset...].firstIndex(of: UInt8(ascii: "\n"))
            let lineEnd = end ?? bytes.count
            let line = bytes[offset..<lineEnd]
            let record = end == nil ? nil : decode(line)
            if let record {
                records.append(record)
                offset = lineEnd + 1
                valid = offset
                continue
            }
            let rest = end.map { bytes[($0 + 1)...] } ?? []
            if rest.allSatisfy({ $0 == UInt8(ascii: "\n") }) {
                warnings.append(
                    "\(url.path): dropped a torn record at byte offset \(offset) (\(lineEnd - offset) bytes): the server stopped in mid-append"
                )
                break
            }
            throw JournalError(
                description:
                    "\(url.path) is corrupt at byte offset \(offset): a record there fails its checksum or does not parse, and records follow it"
            )
        }
        return (records, generation, UInt64(valid))
    }

    private static func decode(_ line: ArraySlice<UInt8>) -> JournalRecord? {
        guard let tab = line.firstIndex(of: UInt8(ascii: "\t")) else { return nil }
        let crcText = String(decoding: line[line.startIndex..<tab], as: UTF8.self)
        let json = line[(tab + 1)...]
        guard let crc = UInt32(crcText, radix: 16), crc == crc32(json) else { return nil }
        return try? JSONDecoder().decode(JournalRecord.self, from: Data(json))
    }

    /// Opens the journal for appending after what `read` found valid, truncating a torn tail;
    /// with no journal yet, starts generation 1 with a reset record.
    static func open(_ directory: URL, generation: Int?, validBytes: UInt64, initial: WorldConfig) throws -> Journal {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        guard let generation else {
            let journal = try create(directory, generation: 1)
            try journal.append(.reset(initial))
            return journal
        }
        let url = file(directory, generation: generation)
        let handle = try FileHandle(forUpdating: url)
        try handle.truncate(atOffset: validBytes)
        try handle.seekToEnd()
        return Journal(directory: directory, handle: handle, generation: generation, size: validBytes)
    }

    private static func create(_ directory: URL, generation: Int) throws -> Journal {
        let url = file(directory, generation: generation)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw JournalError(description: "cannot create \(url.path)")
        }
        syncDirectory(directory)
        return Journal(directory: directory, handle: try FileHandle(forWritingTo: url), generation: generation, size: 0)
    }

    /// Appends a record and makes it durable (fsync) before returning.
    func append(_ record: JournalRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(record)
        var line = Data(String(crc32([UInt8](json)), radix: 16).utf8)
        line.append(UInt8(ascii: "\t"))
        line.append(json)
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
        try handle.synchronize()
        size += UInt64(line.count)
    }

    /// Starts the next generation with a reset record, then removes the older files.
    func startGeneration(_ config: WorldConfig) throws {
        let next = try Journal.create(directory, generation: generation + 1)
        try next.append(.reset(config))
        let old = generation
        try handle.close()
        handle = next.handle
        generation = next.generation
        size = next.size
        next.handle = FileHandle.nullDevice
        for stale in 1...old { try? FileManager.default.removeItem(at: Journal.file(directory, generation: stale)) }
        Journal.syncDirectory(directory)
    }

    private static func syncDirectory(_ directory: URL) {
        #if canImport(Glibc)
        let fd = Glibc.open(directory.path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        #endif
    }
}

/// CRC-32 (IEEE), for the journal's per-record checksums.
func crc32<Bytes: Collection>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
    var crc: UInt32 = 0xffff_ffff
    for byte in bytes {
        crc = crc32Table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8)
    }
    return ~crc
}

private let crc32Table: [UInt32] = (0..<256).map { index in
    var value = UInt32(index)
    for _ in 0..<8 { value = value & 1 == 1 ? 0xedb8_8320 ^ (value >> 1) : value >> 1 }
    return value
}
