import Hummingbird
import MMUSim

/// One secondary-MMU driver as GET /drivers lists it: its name (the `kind` registration takes),
/// what it models, and the switches (`bugs` at registration) that make it faulty: a built-in
/// kind's bug switches, or a loaded policy's variants.
struct DriverAnswer: ResponseEncodable, Sendable {
    struct Variant: Codable, Sendable {
        var name: String
        var description: String
    }

    var name: String
    var description: String
    var builtin: Bool
    var notifier: Bool
    var pins: Bool
    var variants: [Variant]
    /// A loaded driver's policy document (GET /drivers/{name} only).
    var policy: JSON?

    init(_ kind: SecondaryKind) {
        name = kind.rawValue
        description = kind.summary
        builtin = true
        notifier = kind.usesNotifier
        pins = kind.pins
        variants = DriverBug.allCases.map { Variant(name: $0.rawValue, description: $0.summary) }
    }

    init(_ policy: Policy, withDocument: Bool) {
        name = policy.name
        description = policy.description
        builtin = false
        notifier = policy.subscribe != .none
        pins = false
        variants = policy.variants.map { variant in
            let count = variant.patch.elements?.count ?? 0
            return Variant(name: variant.name, description: "a JSON Patch of \(count) operation\(count == 1 ? "" : "s") over the policy")
        }
        self.policy = withDocument ? policy.document : nil
    }
}

/// The answer of GET /drivers.
struct DriversAnswer: ResponseEncodable, Sendable {
    var drivers: [DriverAnswer]
}

extension Routes {
    /// GET /drivers and GET /drivers/{name}: the vocabulary of registration, served so that
    /// clients (the dashboard among them) need not copy it; POST /drivers loads a policy.
    func addDriverRoutes(to endpoints: inout EndpointRegistry<AppRequestContext>) {
        let simulator = self.simulator
        let limits = self.limits
        endpoints.get("/drivers") { _, _ in
            let loaded = await simulator.world.drivers
            let answers = SecondaryKind.allCases.map(DriverAnswer.init) + loaded.keys.sorted().map { DriverAnswer(loaded[$0]!, withDocument: false) }
            return DriversAnswer(drivers: answers)
        }
        endpoints.get("/drivers/{name}") { _, context in
            let name = context.parameters.get("name") ?? ""
            if let kind = SecondaryKind(rawValue: name) { return DriverAnswer(kind) }
            guard let policy = await simulator.world.drivers[name] else {
                throw APIError(.notFound, code: "unknown_driver", message: "no driver named '\(name)'")
            }
            return DriverAnswer(policy, withDocument: true)
        }
        endpoints.post("/drivers") { request, _ in
            let text = try await request.bodyText(limit: limits.maxBody)
            let policy: Policy
            do throws(PolicyError) {
                policy = try Policy.load(text: text)
            } catch {
                throw policyError(error)
            }
            try await simulator.loadDriver(policy)
            return DriverAnswer(policy, withDocument: false)
        }
    }
}
