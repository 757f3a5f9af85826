import Foundation
import Hummingbird

/// The scenario and explorer libraries, read from the repository's own folders (`scenarios/` and
/// `examples/explore/`): the files `mmusim run` and `mmusim explore` take are the ones the
/// dashboard lists and loads, with no copy to drift.
struct Library: Sendable {
    /// The folder that holds `scenarios/` and `examples/`.
    let root: URL

    /// One of the collections.
    enum Shelf: String, Sendable {
        case scenarios, explore, drivers

        /// Where its files are, under the root.
        var path: String {
            switch self {
            case .scenarios: "scenarios"
            case .explore: "examples/explore"
            case .drivers: "drivers"
            }
        }
    }

    /// Where a file of a shelf is: the drivers shelf holds `drivers/` and, as `examples/NAME`,
    /// `examples/drivers/`.
    func url(_ shelf: Shelf, _ file: String) -> URL {
        if shelf == .drivers, file.hasPrefix("examples/") {
            return root.appendingPathComponent("examples/drivers").appendingPathComponent(String(file.dropFirst("examples/".count)))
        }
        return root.appendingPathComponent(shelf.path).appendingPathComponent(file)
    }

    /// One file of a shelf: its path under the shelf's folder (`seed-xip-unmap.json`,
    /// `invariants/no-stale-write.json`), its name without `.json`, what it says it shows and,
    /// for a scenario, how many steps it has.
    struct Entry: ResponseEncodable {
        var file: String
        var title: String
        var description: String
        var steps: Int?
    }

    /// The shelf's JSON files, as paths under its folder: those in it, then those one subfolder
    /// down, each group sorted.
    func files(_ shelf: Shelf) -> [String] {
        if shelf == .drivers {
            let examples = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("examples/drivers").path)) ?? []
            let own = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("drivers").path)) ?? []
            return own.filter { $0.hasSuffix(".json") }.sorted() + examples.filter { $0.hasSuffix(".json") }.sorted().map { "examples/\($0)" }
        }
        let folder = root.appendingPathComponent(shelf.path)
        let manager = FileManager.default
        let names = (try? manager.contentsOfDirectory(atPath: folder.path))?.sorted() ?? []
        var top: [String] = []
        var nested: [String] = []
        for name in names where !name.hasPrefix(".") {
            var isFolder: ObjCBool = false
            guard manager.fileExists(atPath: folder.appendingPathComponent(name).path, isDirectory: &isFolder) else { continue }
            if isFolder.boolValue {
                let inner = (try? manager.contentsOfDirectory(atPath: folder.appendingPathComponent(name).path))?.sorted() ?? []
                nested += inner.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { "\(name)/\($0)" }
            } else if name.hasSuffix(".json") {
                top.append(name)
            }
        }
        return top + nested
    }

    /// The entries of a shelf; a file that is not a JSON object with a description is left out.
    func entries(_ shelf: Shelf) -> [Entry] {
        files(shelf).compactMap { file in
            guard let data = try? Data(contentsOf: url(shelf, file)),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let description = object["description"] as? String
            else { return nil }
            let steps = shelf == .scenarios ? (object["steps"] as? [Any])?.count : nil
            return Entry(file: file, title: String(file.dropLast(".json".count)), description: description, steps: steps)
        }
    }

    /// A file of the shelf, as it is on disk; only a file the shelf lists can be read, so no path
    /// leads outside it.
    func read(_ shelf: Shelf, _ file: String) throws -> Response {
        guard files(shelf).contains(file), let data = try? Data(contentsOf: url(shelf, file))
        else {
            throw APIError(.notFound, code: "unknown_file", message: "the \(shelf.rawValue) library has no file '\(file)'")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

/// The answer of GET /library/scenarios.
struct ScenarioLibraryAnswer: ResponseEncodable {
    var scenarios: [Library.Entry]
}

/// The answer of GET /library/drivers.
struct DriverLibraryAnswer: ResponseEncodable {
    var policies: [Library.Entry]
}

/// The answer of GET /library/explore.
struct ExploreLibraryAnswer: ResponseEncodable {
    var examples: [Library.Entry]
}

extension Routes {
    /// GET /library/scenarios and /library/explore list the libraries with each file's
    /// description; GET of a file under them answers the file.
    func addLibraryRoutes(to endpoints: inout EndpointRegistry<AppRequestContext>) {
        let library = self.library
        endpoints.get("/library/scenarios") { _, _ in
            ScenarioLibraryAnswer(scenarios: library.entries(.scenarios))
        }
        endpoints.get("/library/drivers") { _, _ in
            DriverLibraryAnswer(policies: library.entries(.drivers))
        }
        // `{name}` is a file of the listing, or the folder of one (the router takes one name per
        // position).
        for shelf in [Library.Shelf.scenarios, .drivers] {
            endpoints.get("/library/\(shelf.rawValue)/{name}") { _, context in
                try library.read(shelf, context.parameters.get("name") ?? "")
            }
            endpoints.get("/library/\(shelf.rawValue)/{name}/{file}") { _, context in
                try library.read(shelf, "\(context.parameters.get("name") ?? "")/\(context.parameters.get("file") ?? "")")
            }
        }
        endpoints.get("/library/explore") { _, _ in
            ExploreLibraryAnswer(examples: library.entries(.explore))
        }
        endpoints.get("/library/explore/{file}") { _, context in
            try library.read(.explore, context.parameters.get("file") ?? "")
        }
    }
}
