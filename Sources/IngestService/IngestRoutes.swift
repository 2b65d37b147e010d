import Hummingbird
import NIOCore
import Prometheus

/// Every route of the ingest, declared once: the router is built from this collection, the 405 check reads the
/// router's routes, and so does the test that compares them with deploy/openapi/concert.yaml.
struct IngestRoutes {
    let writes: WriteController
    let account: AccountController
    let publicReads: PublicReadController
    let status: StatusRoutes
    let metrics: PrometheusCollectorRegistry
    let authenticator: BearerAuthenticator
    let clientLimit: ClientRateLimit

    var collection: RouteCollection<IngestRequestContext> {
        let routes = RouteCollection(context: IngestRequestContext.self)
        // Public: no token (one sent is ignored); limited per client address.
        routes.group()
            .add(middleware: clientLimit)
            .get("/", use: status.page)
            .get("/v1/status", use: status.status)
            .get("/v1/performances", use: publicReads.performances)
            .get("/v1/performances/{performanceId}/seats", use: publicReads.seats)
            .get("/healthz", use: publicReads.health)
            .get("/metrics", use: metricsPage)
        // A bearer token: the user in the context, limited per user.
        routes.group()
            .add(middleware: authenticator)
            .post("/v1/performances/{performanceId}/reservations", use: writes.reserve)
            .post("/v1/reservations/{reservationId}/payment", use: writes.pay)
            .delete("/v1/reservations/{reservationId}", use: writes.cancel)
            .post("/v1/me/balance/charges", use: writes.charge)
            .get("/v1/reservations/{reservationId}", use: account.reservation)
            .get("/v1/me/balance", use: account.balance)
            .get("/v1/requests/{requestId}", use: account.request)
        return routes
    }

    @Sendable func metricsPage(_ request: Request, context: IngestRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
        )
    }
}
