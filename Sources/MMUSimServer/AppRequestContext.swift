public import Foundation
public import Hummingbird

/// The request context every route of the API sees; per-request state of the API goes here.
public struct AppRequestContext: RequestContext {
    /// Hummingbird's own per-request storage.
    public var coreContext: CoreRequestContextStorage

    /// Creates the context of one request.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// JSON with sorted keys, so that equal answers are equal bytes, and with "/" left unescaped.
    public var responseEncoder: JSONEncoder { Self.encoder }

    /// One encoder for every answer: making one a request costs more than the answer.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
