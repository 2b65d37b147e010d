import Foundation
import Hummingbird
import NIOCore
import TokenAuth

/// Authentication and the per-user rate limit of every route that needs a token: checks the bearer token, applies
/// the user's token bucket, and puts the user in the request context for the handler (`requireUser()`).
/// Refusals are 401 (with `WWW-Authenticate: Bearer`) and 429 (with `Retry-After`); nothing behind it runs.
struct BearerAuthenticator: RouterMiddleware {
    typealias Context = IngestRequestContext

    let verifier: BearerTokenVerifier
    let limiter: RateLimiter<Int64>
    /// Seconds since 1970 (`IngestClock.wallSeconds`; tests move it to check expiry).
    let now: @Sendable () -> Int64

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("send Authorization: Bearer <token>")
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError.unauthorized("the Authorization header must be a Bearer token")
        }
        let user: Int64
        do {
            user = try verifier.userID(fromToken: header.dropFirst(7), now: now())
        } catch {
            throw APIError.unauthorized(error.description)
        }
        if let retryAfter = limiter.admit(user) { throw APIError.rateLimited(retryAfter: retryAfter) }
        var context = context
        context.user = user
        return try await next(request, context)
    }
}

/// The per-client limit of the public routes (no token there, so the client is its address). Generous by default
/// (`IngestConfiguration.publicRateLimitPerSecond`): behind an office NAT or a CDN many people share one address.
struct ClientRateLimit: RouterMiddleware {
    typealias Context = IngestRequestContext

    /// nil: no limit (`CONCERT_PUBLIC_RATE_LIMIT=0`, for an ingest behind a proxy that limits clients itself).
    let limiter: RateLimiter<String>?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let limiter, let retryAfter = limiter.admit(Self.client(context.remoteAddress)) {
            throw APIError.rateLimited(retryAfter: retryAfter)
        }
        return try await next(request, context)
    }

    /// The address without the port (one client opens many connections); `unknown` when the channel has none.
    static func client(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        return address.ipAddress ?? address.pathname ?? "unknown"
    }
}
