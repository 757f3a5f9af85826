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

    /// The API's JSON (`APIJSON.encoder`): snake_case keys, sorted, "/" left unescaped.
    public var responseEncoder: JSONEncoder { APIJSON.encoder }
}
