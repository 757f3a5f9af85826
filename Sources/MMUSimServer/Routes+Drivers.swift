import Hummingbird
import MMUSim

/// One secondary-MMU driver as GET /drivers lists it: its name (the `kind` registration takes),
/// what it models, and the switches (`bugs` at registration) that make it faulty. The driver
/// policies issue widens this to loaded policies, whose `variants` these switches become.
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

    init(_ kind: SecondaryKind) {
        name = kind.rawValue
        description = kind.summary
        builtin = true
        notifier = kind.usesNotifier
        pins = kind.pins
        variants = DriverBug.allCases.map { Variant(name: $0.rawValue, description: $0.summary) }
    }
}

/// The answer of GET /drivers.
struct DriversAnswer: ResponseEncodable, Sendable {
    var drivers: [DriverAnswer]
}

extension Routes {
    /// GET /drivers and GET /drivers/{name}: the vocabulary of registration, served so that
    /// clients (the dashboard among them) need not copy it.
    func addDriverRoutes(to endpoints: inout EndpointRegistry<AppRequestContext>) {
        endpoints.get("/drivers") { _, _ in
            DriversAnswer(drivers: SecondaryKind.allCases.map(DriverAnswer.init))
        }
        endpoints.get("/drivers/{name}") { _, context in
            let name = context.parameters.get("name") ?? ""
            guard let kind = SecondaryKind(rawValue: name) else {
                throw APIError(.notFound, code: "unknown_driver", message: "no driver named '\(name)'")
            }
            return DriverAnswer(kind)
        }
    }
}
