import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Prometheus
import RedisStore
import ReservationCore
import ServiceLifecycle
import TokenAuth

/// Builds the ingest over Redis: the Redis client, the queues over it, and the application `buildApplication(
/// configuration:store:…)` makes of them. `concert-ingest` runs what this returns.
///
/// Threads: HTTP is served on SwiftNIO's event loops and handlers run as Swift tasks; neither ever calls hiredis.
/// Redis work goes to `RedisClient`, whose own threads (one per connection) block in hiredis and send whatever
/// handlers queued meanwhile as one pipeline.
///
/// `metrics` is the registry `GET /metrics` shows; the caller bootstraps swift-metrics with it (only `@main`
/// bootstraps global systems), so the router's and the Redis client's metrics land there too.
public func buildApplication(
    configuration: IngestConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
) throws -> some ApplicationProtocol {
    let redis = RedisClient(
        url: configuration.redisURL, connections: configuration.redisConnections, replicaWait: configuration.replicaWait,
        logger: logger
    )
    // The public reads and the live page move megabytes (a 100,000-seat map is 6.4 MB), at most about once a second
    // each: on a connection and thread of their own, so a big reply never holds up the enqueues that would have
    // shared its pipeline.
    let bulkRedis = RedisClient(url: configuration.redisURL, connections: 1)
    var app = try buildApplication(
        configuration: configuration, store: IntakeQueues(redis: redis), publicStore: IntakeQueues(redis: bulkRedis),
        logger: logger, metrics: metrics
    )
    // Added after the routing snapshot, so they are shut down after it (services stop in reverse order).
    app.addServices(RedisClientService(client: redis), RedisClientService(client: bulkRedis))
    return app
}

/// Builds the ingest over any store: the router (`buildRouter`), the HTTP server's settings and the routing
/// snapshot that refreshes beside it (once before the server starts, so the first reserves are routed already).
/// Tests run it in-process with HummingbirdTesting.
///
/// - Parameters:
///   - publicStore: where the public reads and the live page read their caches from (default: `store`).
///   - clock: wall time for token expiry, monotonic time for rate limits and cache ages (tests move it).
public func buildApplication(
    configuration: IngestConfiguration, store: some IntakeStore, publicStore: (any IntakeStore)? = nil, logger: Logger,
    metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    clock: IngestClock = .system
) throws -> Application<RouterResponder<IngestRequestContext>> {
    let routing = RoutingSnapshot(store: store, logger: logger)
    let router = try buildRouter(
        configuration: configuration, store: store, publicStore: publicStore ?? store, routing: routing, logger: logger,
        metrics: metrics, clock: clock
    )
    var http = HTTP1Channel.Configuration()
    http.idleTimeout = .seconds(configuration.idleTimeoutSeconds)
    var app = Application(
        router: router,
        server: .http1(configuration: http),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "concert-ingest"),
        logger: logger
    )
    app.beforeServerStarts { await routing.refresh() }
    app.addServices(routing)
    return app
}

/// The router: metrics and the contract's error bodies around everything, then `IngestRoutes`.
func buildRouter(
    configuration: IngestConfiguration, store: some IntakeStore, publicStore: any IntakeStore, routing: RoutingSnapshot,
    logger: Logger, metrics: PrometheusCollectorRegistry, clock: IngestClock
) throws -> Router<IngestRequestContext> {
    let verifier: BearerTokenVerifier
    do { verifier = try BearerTokenVerifier(secret: configuration.jwtSecret) } catch {
        throw OperatorError("CONCERT_JWT_SECRET: \(error)")
    }
    let routes = IngestRoutes(
        writes: WriteController(store: store, routing: routing, body: JSONBodyReader(maxBytes: configuration.maxBodyBytes), logger: logger),
        account: AccountController(store: store, routing: routing, logger: logger),
        publicReads: PublicReadController(store: store, cache: PublicReadCache(store: publicStore, uptime: clock.uptime), logger: logger),
        status: StatusRoutes(cache: LiveStatusCache(store: publicStore, uptime: clock.uptime, logger: logger), logger: logger),
        metrics: metrics,
        authenticator: BearerAuthenticator(
            verifier: verifier,
            limiter: RateLimiter(
                ratePerSecond: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst, uptime: clock.uptime
            ),
            now: clock.wallSeconds
        ),
        clientLimit: ClientRateLimit(
            limiter: configuration.publicRateLimitPerSecond > 0
                ? RateLimiter(
                    ratePerSecond: configuration.publicRateLimitPerSecond, burst: configuration.publicRateLimitBurst,
                    uptime: clock.uptime
                )
                : nil
        )
    )
    let table = RouteTable()
    let router = Router(context: IngestRequestContext.self)
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: APIErrorMiddleware(routes: table))
    router.addRoutes(routes.collection)
    table.fill(router.routes)
    return router
}

/// Shuts the Redis client's threads down when the application stops (after the server, in reverse order).
struct RedisClientService: Service {
    let client: RedisClient

    func run() async throws {
        // Waits for the graceful shutdown; a cancellation (the group ending otherwise) stops the client just the same.
        try? await gracefulShutdown()
        client.shutdown()
    }
}
