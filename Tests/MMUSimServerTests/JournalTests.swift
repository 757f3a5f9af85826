import Foundation
import MMUSim
import Testing

@testable import MMUSimServer

/// The journal: what is acknowledged survives a restart, byte for byte the same world.
struct JournalTests {
    private func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("mmusim-journal-\(UUID().uuidString)")
    }

    /// A session with every kind of record: mms, operations, a paused task stepped and resumed.
    private func session(_ simulator: Simulator) async {
        let mm = await simulator.createMM(name: "guest")
        let a = mmapBase
        _ = await simulator.perform(.mmap(mm: mm, addr: nil, length: 8 * pageSize, prot: [.read, .write], flags: MmapFlags(), file: nil, offset: 0))
        _ = await simulator.perform(.touch(mm: mm, addr: a, length: 8 * pageSize, write: true, value: 9))
        _ = await simulator.perform(.register(mm: mm, kind: "kvm", bugs: ["skip_retry_check"], signalPending: false, mmapSemHeld: false))
        _ = await simulator.perform(.fault(mm: mm, notifier: 1, address: a, write: true))
        let paused = await simulator.perform(.munmap(mm: mm, addr: a, length: 2 * pageSize), pauseAt: "zap_pte_range")
        _ = await simulator.step(task: paused.task.id)
        _ = await simulator.perform(.reclaim(mm: nil, addr: nil, length: nil, pages: nil))
        _ = await simulator.resume(task: paused.task.id)
        _ = await simulator.perform(.fork(mm: mm))
    }

    /// A simulator journaling to `directory` that has run `session`.
    private func journaledSession(in directory: URL) async throws -> Simulator {
        var warnings: [String] = []
        let simulator = try Simulator(config: WorldConfig(frames: 128, swapSlots: 64), stateDirectory: directory, warnings: &warnings)
        await session(simulator)
        return simulator
    }

    @Test("a journal replays to a world equal to the one that wrote it")
    func replayGivesTheSameWorld() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var warnings: [String] = []
        let simulator = try await journaledSession(in: directory)
        let live = await simulator.world
        #expect(live.lastSeq > 20)
        let replayed = try Simulator.replay(directory, warnings: &warnings)
        #expect(replayed == live)
        // The encoded worlds are the same bytes too (this session has no dictionaries to order).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(try encoder.encode(replayed) == encoder.encode(live))
        let reopened = try Simulator(config: WorldConfig(), stateDirectory: directory, warnings: &warnings)
        #expect(await reopened.world == live)
        #expect(warnings.isEmpty)
    }

    @Test("a torn last record is dropped with a warning; the records before it replay")
    func tornTail() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var warnings: [String] = []
        let simulator = try await journaledSession(in: directory)
        let live = await simulator.world
        let file = Journal.file(directory, generation: 1)
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("1234abcd\t{\"createMM\":{\"na".utf8))
        try handle.close()
        #expect(try Simulator.replay(directory, warnings: &warnings) == live)
        #expect(warnings.count == 1 && warnings[0].contains("torn record"))
        // Reopening truncates the tail, so the next append lands on a clean line.
        let reopened = try Simulator(config: WorldConfig(), stateDirectory: directory, warnings: &warnings)
        _ = await reopened.createMM(name: "after")
        var fresh: [String] = []
        #expect(try Simulator.replay(directory, warnings: &fresh).mms.count == live.mms.count + 1)
        #expect(fresh.isEmpty)
    }

    @Test("a corrupt record in the middle refuses to load and names its byte offset")
    func corruptionInTheMiddle() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var warnings: [String] = []
        _ = try await journaledSession(in: directory)
        let file = Journal.file(directory, generation: 1)
        var bytes = try [UInt8](Data(contentsOf: file))
        let secondLine = bytes.firstIndex(of: UInt8(ascii: "\n"))! + 1
        bytes[secondLine + 12] ^= 0x01
        try Data(bytes).write(to: file)
        #expect {
            try Simulator.replay(directory, warnings: &warnings)
        } throws: { error in
            (error as? JournalError)?.description.contains("corrupt at byte offset \(secondLine)") == true
        }
    }

    @Test("reset starts a new journal generation and removes the old one")
    func resetStartsAGeneration() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var warnings: [String] = []
        let simulator = try await journaledSession(in: directory)
        await simulator.reset(config: WorldConfig(frames: 64, swapSlots: 8, releaseOrder: .fixed))
        _ = await simulator.createMM(name: "new")
        #expect(Journal.latestGeneration(in: directory) == 2)
        #expect(!FileManager.default.fileExists(atPath: Journal.file(directory, generation: 1).path))
        let replayed = try Simulator.replay(directory, warnings: &warnings)
        #expect(replayed == (await simulator.world))
        #expect(replayed.config.releaseOrder == .fixed && replayed.mms.count == 1)
    }
}
