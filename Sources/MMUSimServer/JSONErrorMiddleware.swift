import Hummingbird
import Logging

/// Turns every error thrown below it into the API's error object, so that no answer is an empty or HTML error.
///
/// Hummingbird's own errors (`HTTPError`: unknown path, bad JSON body...) keep their status and headers and get
/// a code derived from the status; any other error is a 500 `internal_error` whose details go to the log only.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Where unexpected errors are reported.
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try self.apiError(for: error, request: request).response(from: request, context: context)
        }
    }

    private func apiError(for error: any Error, request: Request) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as HTTPError:
            let message = error.body ?? Self.defaultMessage(for: error.status, request: request)
            return APIError(error.status, code: APIError.code(for: error.status), message: message, headers: error.headers)
        case let error as any HTTPResponseError:
            return APIError(error.status, code: APIError.code(for: error.status), message: Self.defaultMessage(for: error.status, request: request))
        default:
            self.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return APIError(.internalServerError, code: "internal_error", message: "internal server error")
        }
    }

    private static func defaultMessage(for status: HTTPResponse.Status, request: Request) -> String {
        switch status {
        case .notFound: "no resource at \(request.uri.path)"
        default: status.reasonPhrase
        }
    }
}
