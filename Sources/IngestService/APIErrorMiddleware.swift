import Hummingbird
import Synchronization

/// Gives every error the contract's body, and tells 405 from 404 by the router's own routes (the router itself
/// answers 404 for a known path with another method).
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = IngestRequestContext

    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            if error.status == .notFound {
                let allowed = routes.methods(servingPath: request.uri.path)
                if !allowed.isEmpty, !allowed.contains(request.method) {
                    throw APIError.methodNotAllowed(allowed: allowed)
                }
                throw APIError.notFound
            }
            if error.status == .contentTooLarge { throw APIError.tooLarge }
            throw APIError(error.status, code: "HTTP_\(error.status.code)", message: error.body ?? error.status.reasonPhrase)
        }
    }
}

/// The router's routes as methods and path patterns, filled in once the routes are added (`buildRouter`); the
/// error middleware, added before them, reads it to answer 405 with `Allow`.
final class RouteTable: Sendable {
    private let routes = Mutex<[(method: HTTPRequest.Method, segments: [Substring])]>([])

    func fill(_ descriptions: [Router<IngestRequestContext>.RouteDescription]) {
        let parsed = descriptions.map { ($0.method, $0.path.description.split(separator: "/")) }
        routes.withLock { $0 = parsed }
    }

    /// The methods of every route whose path pattern matches `path` (`{name}` matches any one segment).
    func methods(servingPath path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        return routes.withLock { routes in
            routes.filter { Self.matches($0.segments, segments) }.map(\.method)
        }
    }

    static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        pattern.count == path.count && zip(pattern, path).allSatisfy { $0.0.hasPrefix("{") || $0.0 == $0.1 }
    }
}
