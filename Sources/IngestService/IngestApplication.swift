import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import RedisStore
import ServiceLifecycle
import ReservationCore
import TokenAuth

/// Builds the ingest: the router, the Redis client and the services that run beside the server.
/// `concert-ingest` runs what this returns; tests call it too.
///
/// Threads: HTTP is served on SwiftNIO's event loops and handlers run as Swift tasks; neither ever calls
/// hiredis. Redis work goes to `RedisClient`, whose own threads (one per connection) block in hiredis and
/// send whatever handlers queued meanwhile as one pipeline.
///
/// `metrics` is the registry `GET /metrics` shows; the caller bootstraps swift-metrics with it (only `@main`
/// bootstraps global systems), so the router's and the Redis client's metrics land there too.
public func buildApplication(
    configuration: IngestConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
) throws -> some ApplicationProtocol {
    let verifier: BearerTokenVerifier
    do { verifier = try BearerTokenVerifier(secret: configuration.jwtSecret) } catch {
        throw IngestConfigurationError("CONCERT_JWT_SECRET: \(error)")
    }
    let redis = RedisClient(url: configuration.redisURL, connections: configuration.redisConnections)
    let queues = IntakeQueues(redis: redis)
    let routing = RoutingSnapshot(queues: queues, logger: logger)
    let controller = IntakeController(
        queues: queues, verifier: verifier,
        limiter: RateLimiter(ratePerSecond: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst),
        routing: routing, maxBodyBytes: configuration.maxBodyBytes, logger: logger
    )
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: APIErrorMiddleware(routes: IntakeController.routes))
    controller.addRoutes(to: router)
    StatusRoutes(cache: LiveStatusCache(queues: queues, logger: logger), logger: logger).addRoutes(to: router)  // GET /, /v1/status
    router.get("/metrics") { _, _ -> Response in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
        )
    }

    var http = HTTP1Channel.Configuration()
    http.idleTimeout = .seconds(configuration.idleTimeoutSeconds)
    var app = Application(
        router: router,
        server: .http1(configuration: http),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "concert-ingest"),
        logger: logger
    )
    app.addServices(routing, RedisClientService(client: redis))
    return app
}

/// Shuts the Redis client's threads down when the application stops (after the server, in reverse order).
struct RedisClientService: Service {
    let client: RedisClient

    func run() async throws {
        try? await gracefulShutdown()
        client.shutdown()
    }
}

/// Gives every error the contract's body, and tells 405 from 404 by the route table (the router itself
/// answers 404 for a known path with another method).
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: [(HTTPRequest.Method, [Substring])]

    init(routes: [(HTTPRequest.Method, String)]) {
        self.routes = routes.map { ($0.0, $0.1.split(separator: "/")) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            if error.status == .notFound {
                let segments = request.uri.path.split(separator: "/")
                let allowed = routes.filter { Self.matches($0.1, segments) }.map(\.0)
                if !allowed.isEmpty, !allowed.contains(request.method) {
                    throw APIError.methodNotAllowed(allowed: allowed)
                }
                throw APIError.notFound
            }
            if error.status == .contentTooLarge { throw APIError.tooLarge }
            throw APIError(error.status, code: "HTTP_\(error.status.code)", message: error.body ?? error.status.reasonPhrase)
        }
    }

    static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        pattern.count == path.count && zip(pattern, path).allSatisfy { $0.0.hasPrefix(":") || $0.0 == $0.1 }
    }
}
