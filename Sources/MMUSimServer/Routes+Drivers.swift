import Hummingbird
import MMUSim
import NIOPosix

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
    /// The driver's policy document (GET /drivers/{name} only).
    var policy: JSON?

    /// A built-in driver: its summary and its bug switches' (its variants), and, from
    /// GET /drivers/{name}, its policy file.
    init(builtin name: String, withDocument: Bool) {
        let policy = BuiltinDrivers.policies[name]!
        self.name = name
        description = BuiltinDrivers.summaries[name] ?? policy.description
        builtin = true
        notifier = policy.subscribe != .none
        pins = policy.pins
        // The bug switches in their usual order, then any the driver has of its own.
        let names =
            BuiltinDrivers.variantNames.filter(policy.variantNames.contains)
            + policy.variantNames.filter { !BuiltinDrivers.variantNames.contains($0) }
        variants = names.map { Variant(name: $0, description: BuiltinDrivers.variantSummaries[$0] ?? $0) }
        self.policy = withDocument ? policy.document : nil
    }

    init(_ policy: Policy, withDocument: Bool) {
        name = policy.name
        description = policy.description
        builtin = false
        notifier = policy.subscribe != .none
        pins = policy.pins
        variants = policy.variants.map { variant in
            let count = variant.patch.elements?.count ?? 0
            return Variant(name: variant.name, description: "a JSON Patch of \(count) operation\(count == 1 ? "" : "s") over the policy")
        }
        self.policy = withDocument ? policy.document : nil
    }
}

/// The answer of POST /drivers/check: a verdict a workload, and a ladder for each failing one.
struct DriverCheckAnswer: ResponseEncodable, Sendable {
    struct Verdict: Codable, Sendable {
        var workload: String
        var clean: Bool
        var distinctStates: Int
        var transitions: Int
        var truncated: Bool
        var violations: [String]
        var deadlocks: Int
        var ladder: String?
    }

    var name: String
    var variants: [String]
    var clean: Bool
    var verdicts: [Verdict]

    init(policy: Policy, verdicts: [PolicyCheck.Verdict]) {
        name = policy.name
        variants = policy.applied
        self.verdicts = verdicts.map {
            Verdict(
                workload: $0.workload,
                clean: $0.clean,
                distinctStates: $0.result.distinctStates,
                transitions: $0.result.transitions,
                truncated: $0.result.truncated,
                violations: $0.result.violations.keys.sorted(),
                deadlocks: $0.result.deadlocks,
                ladder: $0.ladder
            )
        }
        clean = self.verdicts.allSatisfy(\.clean)
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
            let answers =
                BuiltinDrivers.names.map { DriverAnswer(builtin: $0, withDocument: false) }
                + loaded.keys.sorted().map { DriverAnswer(loaded[$0]!, withDocument: false) }
            return DriversAnswer(drivers: answers)
        }
        endpoints.get("/drivers/{name}") { _, context in
            let name = context.parameters.get("name") ?? ""
            if BuiltinDrivers.policies[name] != nil { return DriverAnswer(builtin: name, withDocument: true) }
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
        endpoints.post("/drivers/check") { request, _ in
            let query = request.uri.queryParameters
            func list(_ name: String) -> [String] {
                // An empty item (`a,,b`, a trailing comma) is kept, and answered as no such name.
                query.get(name).map { $0.split(separator: ",", omittingEmptySubsequences: false).map { String($0) } } ?? []
            }
            let text = try await request.bodyText(limit: limits.maxBody)
            let policy: Policy
            do throws(PolicyError) {
                policy = try Policy.load(text: text).applying(variants: list("variants"))
            } catch {
                throw policyError(error)
            }
            let check = try unprocessable { () throws(CommandError) in try PolicyCheck(policy) }
            let workloads = list("workloads")
            let catalogue = PolicyCheck.catalogue(for: policy).map(\.name)
            if let unknown = workloads.first(where: { !catalogue.contains($0) }) {
                throw invalid("no workload '\(unknown)': the catalogue has \(catalogue.joined(separator: ", "))", code: "invalid_value")
            }
            let seconds = limits.maxExploreSeconds
            let verdicts = try await NIOThreadPool.singleton.runIfActive {
                let clock = ContinuousClock()
                let deadline = clock.now + .milliseconds(Int(seconds * 1000))
                return try check.run(workloads: workloads) { clock.now > deadline }
            }
            return DriverCheckAnswer(policy: policy, verdicts: verdicts)
        }
    }
}
