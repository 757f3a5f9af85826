import Foundation
import Hummingbird
import Testing

@testable import MMUSimServer

/// openapi.yaml against the router: the document lists every endpoint the server answers, and no other.
struct OpenAPITests {
    /// Every endpoint the router serves, as "METHOD /path" (HEAD, generated for each GET, left out).
    private static func servedEndpoints() -> Set<String> {
        let router = Router(context: AppRequestContext.self)
        var endpoints = EndpointRegistry(router: router)
        let configuration = AppConfiguration()
        Routes(simulator: Simulator(config: configuration.world), limits: configuration.limits).add(to: &endpoints)
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
}

/// openapi.yaml at the repository's root, found from this file's path.
private let openAPIPath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent()
    .appendingPathComponent("openapi.yaml")
    .path
