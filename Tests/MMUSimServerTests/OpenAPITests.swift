import Foundation
import Hummingbird
import MMUSim
import Testing

@testable import MMUSimServer

/// openapi.yaml against the router: the document lists every endpoint the server answers, and no other.
struct OpenAPITests {
    /// Every endpoint the router serves, as "METHOD /path" (HEAD, generated for each GET, left out).
    private static func servedEndpoints() -> Set<String> {
        let router = Router(context: AppRequestContext.self)
        var endpoints = EndpointRegistry(router: router)
        let configuration = AppConfiguration()
        Routes(
            simulator: Simulator(config: configuration.world),
            limits: configuration.limits,
            requests: RequestCounter(),
            library: Library(root: URL(fileURLWithPath: "."))
        ).add(to: &endpoints)
        return Set(endpoints.routes().flatMap { route in route.methods.map { "\($0.rawValue) \(route.path)" } })
    }

    /// Every operation of openapi.yaml's `paths:`, as "METHOD /path".
    ///
    /// The document's layout is regular, so no YAML parser is needed: `paths:` at the left margin,
    /// each path a key indented by 2 spaces, each method a key indented by 4; the section ends at
    /// the next key at the left margin.
    private static func documentedEndpoints() throws -> Set<String> {
        let text = try String(contentsOfFile: openAPIPath, encoding: .utf8)
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var inPaths = false
        var path: String?
        var operations = Set<String>()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.isEmpty || line.hasPrefix("#") { continue }
            if !line.hasPrefix(" ") {
                inPaths = line == "paths:"
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let key = line.dropFirst(4).dropLast()
                if methods.contains(String(key)), let path {
                    operations.insert("\(key.uppercased()) \(path)")
                }
            }
        }
        return operations
    }

    @Test("every endpoint the router serves is an operation of openapi.yaml")
    func servedIsDocumented() throws {
        let undocumented = Self.servedEndpoints().subtracting(try Self.documentedEndpoints())
        #expect(undocumented.isEmpty, "served but not in openapi.yaml: \(undocumented.sorted())")
    }

    @Test("every operation of openapi.yaml is an endpoint the router serves")
    func documentedIsServed() throws {
        let documented = try Self.documentedEndpoints()
        #expect(documented.count > 30, "openapi.yaml's paths were not read: \(documented.sorted())")
        let unserved = documented.subtracting(Self.servedEndpoints())
        #expect(unserved.isEmpty, "in openapi.yaml but not served: \(unserved.sorted())")
    }

    /// The values of the `enum:` of a schema under `components: schemas:`, written as a block
    /// list (`- name`, quoted or not) or a flow list (`[a, b]`).
    ///
    /// As for `paths:`, the layout is regular: the schema is a key indented by 4 spaces, its
    /// `enum:` a key indented by 6, and the schema ends at the next key indented by 4 or less.
    private static func documentedEnum(_ schema: String) throws -> [String] {
        let text = try String(contentsOfFile: openAPIPath, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: "    \(schema):") else { return [] }
        func unquoted(_ item: Substring) -> String {
            item.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        }
        var values: [String] = []
        var inEnum = false
        for line in lines[(start + 1)...] {
            if line.isEmpty { continue }
            let indent = line.prefix { $0 == " " }.count
            if indent <= 4 { break }
            if indent == 6 {
                inEnum = line.hasPrefix("      enum:")
                let rest = line.dropFirst("      enum:".count).trimmingCharacters(in: .whitespaces)
                if inEnum, rest.hasPrefix("["), rest.hasSuffix("]") {
                    values += rest.dropFirst().dropLast().split(separator: ",").map(unquoted)
                    inEnum = false
                }
            } else if inEnum, line.hasPrefix("        - ") {
                values.append(unquoted(line.dropFirst("        - ".count)))
            }
        }
        return values
    }

    @Test("openapi.yaml's PauseAt enum is the model's step names, World.stepNames")
    func pauseAtIsStepNames() throws {
        let documented = try Self.documentedEnum("PauseAt")
        #expect(documented.count == Set(documented).count, "PauseAt lists a name twice: \(documented)")
        let names = Set(documented)
        #expect(names.subtracting(World.stepNames).isEmpty, "in PauseAt but no step: \(names.subtracting(World.stepNames).sorted())")
        #expect(World.stepNames.subtracting(names).isEmpty, "steps missing from PauseAt: \(World.stepNames.subtracting(names).sorted())")
    }

    @Test(
        "openapi.yaml's closed vocabularies are the model's enums: drivers, bug switches, core bugs, release orders, notifier methods, invariants, task states"
    )
    func vocabulariesAreTheEnums() throws {
        let pairs: [(schema: String, values: [String])] = [
            ("SecondaryKind", BuiltinDrivers.names),
            ("DriverBug", BuiltinDrivers.variantNames),
            ("CoreBug", CoreBug.allCases.map(\.rawValue)),
            ("ReleaseOrder", ReleaseOrder.allCases.map(\.rawValue)),
            ("NotifierMethod", NotifyCall.Kind.allCases.map(\.rawValue)),
            ("Invariant", Invariant.allCases.map(\.rawValue)),
            ("TaskStatus", TaskStatus.allCases.map(\.rawValue)),
        ]
        for (schema, values) in pairs {
            #expect(Set(try Self.documentedEnum(schema)) == Set(values), "\(schema)")
        }
    }

    @Test("openapi.yaml's TraceCall enum is every call the model emits, the notifier methods included")
    func traceCallIsEmittedCalls() throws {
        let methods = try Self.documentedEnum("NotifierMethod")
        #expect(methods.count == 8, "NotifierMethod was not read: \(methods)")
        let emitted = try emittedCalls(notifierMethods: Set(methods))
        #expect(emitted.count > 30, "the model's EventInfo calls were not read: \(emitted.sorted())")
        let documented = Set(try Self.documentedEnum("TraceCall"))
        #expect(documented == Set(TraceCall.allCases.map(\.rawValue)), "TraceCall in openapi.yaml against the Swift enum")
        #expect(documented.subtracting(emitted).isEmpty, "in TraceCall but never emitted: \(documented.subtracting(emitted).sorted())")
        #expect(emitted.subtracting(documented).isEmpty, "emitted but missing from TraceCall: \(emitted.subtracting(documented).sorted())")
    }
}

/// Every `call` the model emits, read from Sources/MMUSim: the `TraceCall` cases named where
/// an event is made (`EventInfo(.pteSet` or a choice `tlb ? .tlbDropin : .spteSet`), plus the
/// notifier methods for the one call site that passes `TraceCall(call.kind)`. Any other first
/// argument is recorded as `<unread: ...>`, so that the comparison fails and names it.
private func emittedCalls(notifierMethods: Set<String>) throws -> Set<String> {
    let sources = repositoryRoot.appendingPathComponent("Sources/MMUSim")
    let byCase = Dictionary(uniqueKeysWithValues: TraceCall.allCases.map { ("\($0)", $0.rawValue) })
    var calls = Set<String>()
    let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
    for file in files where file.pathExtension == "swift" {
        let text = try String(contentsOf: file, encoding: .utf8)
        for piece in text.components(separatedBy: "EventInfo(").dropFirst() {
            let argument = piece.drop { $0.isWhitespace }.prefix { $0 != "," && $0 != "\n" }.trimmingCharacters(in: .whitespaces)
            if argument.isEmpty || argument.hasPrefix("_ call: TraceCall") { continue }
            if argument == "TraceCall(call.kind)" {
                calls.formUnion(notifierMethods)
                continue
            }
            let names = argument.split(separator: ".").map { $0.prefix { $0.isLetter || $0.isNumber } }.map(String.init)
            let known = names.compactMap { byCase[$0] }
            if known.isEmpty { calls.insert("<unread: \(argument)>") }
            calls.formUnion(known)
        }
    }
    return calls
}

/// The repository's root, found from this file's path.
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent()

/// openapi.yaml at the repository's root.
private let openAPIPath = repositoryRoot.appendingPathComponent("openapi.yaml").path
