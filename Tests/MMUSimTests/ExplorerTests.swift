import Foundation
import Testing

@testable import MMUSim

@Suite("Explorer: every interleaving of the examples")
struct ExplorerTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/explore")

    static var files: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.sorted()) ?? []
    }

    static func load(_ name: String) throws -> ExploreSpec {
        try snakeCaseDecoder().decode(ExploreSpec.self, from: Data(contentsOf: folder.appendingPathComponent(name)))
    }

    @Test("the examples folder holds the ten races, eight of them with and without their bugs")
    func examplesExist() {
        #expect(Self.files.count == 16)
    }

    @Test("each example gives the verdict it expects", arguments: files)
    func verdict(_ name: String) throws {
        let spec = try Self.load(name)
        let text = try String(contentsOf: Self.folder.appendingPathComponent(name), encoding: .utf8)
        let result = try Explorer(spec, drivers: Explorer.drivers(inText: text)).run()
        #expect(result.schedules > 0 && result.distinctStates > 1)
        #expect(!result.truncated)
        #expect(spec.expect?.mismatches(result) == [], "\(name): \(result.violations)")
        if result.counterexample == nil { #expect(result.violations.isEmpty) }
    }

    @Test("the v17 release race's counterexample replays to the same trace")
    func replay() throws {
        let explorer = try Explorer(try Self.load("01-release-v17.json"))
        let result = explorer.run()
        let counterexample = try #require(result.counterexample)
        let world = explorer.replay(counterexample.schedule)
        #expect(world.trace.events(after: explorer.initial.lastSeq) == counterexample.trace)
        #expect(world.violations.map(\.invariant) == [.noStaleSpte])
        // The exit unlinks kvm, and the reclaim frees the page before kvm's ->release has zapped
        // its spte: its invalidate_page walked a list without kvm.
        let calls = counterexample.trace.map(\.call.rawValue)
        let unlink = try #require(calls.firstIndex(of: "unlink"))
        let free = try #require(calls.firstIndex(of: "frame_free"))
        #expect(unlink < free)
        #expect(!calls[unlink..<free].contains("spte_zap") && !calls[unlink..<free].contains("invalidate_page"))
    }

    @Test(
        "the counterexample is a shortest one: it replays to its violation, no prefix of it violates, and no schedule of fewer steps does (each checked by walking every schedule of that length)",
        arguments: ["01-release-v17.json", "02-kvm-fault-vs-munmap-skip-retry.json", "03-gru-dropin-vs-munmap-skip-check.json"]
    )
    func shortest(_ name: String) throws {
        let explorer = try Explorer(try Self.load(name))
        let counterexample = try #require(explorer.run().counterexample)
        let schedule = counterexample.schedule
        let violations = explorer.initial.violations.count
        #expect(explorer.replay(schedule).violations.count > violations)
        // Every schedule of fewer steps, depth first over the tasks that can move: none violates.
        // A state already walked from a depth as small has nothing new to show.
        var stack: [(World, Int)] = [(explorer.initial, 0)]
        var walked = 0
        var shallowest: [World: Int] = [:]
        while let (world, depth) = stack.popLast() {
            guard depth < schedule.count - 1, shallowest[world.stateKey].map({ depth < $0 }) ?? true else { continue }
            shallowest[world.stateKey] = depth
            for task in world.tasks.filter({ $0.status != .done }).map(\.id) {
                var next = world
                if case .blocked = next.step(task) { continue }
                walked += 1
                #expect(
                    next.violations.count == violations,
                    "\(name): a violation after \(depth + 1) steps, the counterexample has \(schedule.count)"
                )
                stack.append((next, depth + 1))
            }
        }
        #expect(walked > 0)
    }

    @Test("the visited set is exact: states are keyed whole, history left out, and any difference of state is another key")
    func visitedSetIsExact() {
        // Two mms with one written page each; then an mprotect of each page to read-only, as two tasks.
        var lab = Lab()
        let other = lab.world.createMM(name: "other")
        let a = lab.mmap(1)
        let b = lab.mmap(1, mm: other)
        lab.write(a, value: 5)
        lab.write(b, value: 7, mm: other)
        var world = lab.world
        let first = world.start(.mprotect(mm: lab.mm, addr: a, length: pageSize, prot: [.read]))
        let second = world.start(.mprotect(mm: other, addr: b, length: pageSize, prot: [.read]))
        func finish(_ order: [Int]) -> World {
            var copy = world
            for id in order { while copy.task(id)?.status != .done { _ = copy.step(id) } }
            return copy
        }
        // The two orders leave the same state with different histories: one key.
        let ab = finish([first, second])
        let ba = finish([second, first])
        #expect(ab.trace.events(after: world.lastSeq) != ba.trace.events(after: world.lastSeq))
        #expect(ab.stateKey == ba.stateKey)
        // One frame's content differs: another key. The set stores keys whole, so equality, not a
        // hash that two states could share, decides whether a state was seen.
        var written = ab
        written.frames[written.frames.indices.last { written.frames[$0].content == 5 }!].content = 6
        var seen: Set<World> = [ab.stateKey]
        #expect(!seen.insert(ba.stateKey).inserted)
        #expect(seen.insert(written.stateKey).inserted)
        #expect(seen.count == 2)
    }
}

/// Explorer files spell their keys in snake_case (`core_bugs`), as the API's coders read them.
func snakeCaseDecoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return decoder
}

@Suite("Explorer files with their own drivers")
struct ExplorerDriversTests {
    @Test("'drivers' that is no object, or holds an invalid policy, is refused with a message naming it")
    func badDrivers() {
        #expect(throws: ExploreError.self) { try Explorer.drivers(inText: #"{"drivers": [null, null]}"#) }
        do {
            _ = try Explorer.drivers(inText: #"{"drivers": {"mine": {"name": "mine", "fault": [{"lock": "x"}]}}}"#)
            Issue.record("an invalid policy was taken")
        } catch {
            #expect(error.message.hasPrefix("/drivers/mine/fault/0/lock:"), "\(error.message)")
        }
        #expect((try? Explorer.drivers(inText: #"{"drivers": null}"#))?.isEmpty == true)
        #expect((try? Explorer.drivers(inText: #"{"setup": []}"#))?.isEmpty == true)
    }
}
