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
        try JSONDecoder().decode(ExploreSpec.self, from: Data(contentsOf: folder.appendingPathComponent(name)))
    }

    @Test("the examples folder holds the five races, with and without their bugs")
    func examplesExist() {
        #expect(Self.files.count == 8)
    }

    @Test("each example gives the verdict it expects", arguments: files)
    func verdict(_ name: String) throws {
        let spec = try Self.load(name)
        let result = try Explorer(spec).run()
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
        // The schedule runs the exit up to the unlink, then the whole reclaim.
        let calls = counterexample.trace.map(\.call)
        let unlink = try #require(calls.firstIndex(of: "unlink"))
        let free = try #require(calls.firstIndex(of: "frame_free"))
        #expect(unlink < free)
        #expect(!calls[unlink..<free].contains("release"))
    }
}
