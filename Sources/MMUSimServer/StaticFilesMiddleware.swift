import Hummingbird

/// Serves the dashboard's static files for a path no route answers, and only for such a path.
///
/// Hummingbird's `FileMiddleware` looks for a file whenever what is below it answers 404, so an
/// API answer such as `unknown_mm` for `GET /mms/0..0/notifiers` would become the file lookup's
/// own answer (400 for a path with `..`). Here an error a route threw (`APIError`) passes through
/// untouched; only the router's "no such route" goes on to the file lookup.
struct StaticFilesMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The file server the unrouted requests go to.
    let files: FileMiddleware<Context, LocalFileSystem>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch {
            return try await self.files.handle(request, context: context) { _, _ in throw error }
        }
    }
}
