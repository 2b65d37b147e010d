import Foundation
import Hummingbird
import Logging
import RedisStore
import ReservationCore

/// A user's own reads: a request's status, a reservation, the balance — from the caches the pass publishes.
/// Another user's request or reservation answers exactly as one that does not exist (404).
struct AccountController: Sendable {
    let store: any IntakeStore
    let routing: RoutingSnapshot
    let logger: Logger

    @Sendable func request(_ request: Request, context: IngestRequestContext) async throws -> Response {
        let user = try context.requireUser()
        guard let text = context.parameters.get("requestId"), let id = RequestID(text) else { throw APIError.notFound }
        guard let (status, finished) = try await StoreCall.run(logger, { try await store.status(of: id) }), status.userID == user else {
            throw APIError.notFound
        }
        switch status {
        case .final(_, let json):
            return JSONResponse.make(json)
        case .queued(_, let kind, let sequence, _, _):
            // `sequence` and `finished` count the queue it waits in now (its performance's, once forwarded there).
            let position = max(0, sequence - finished - 1)
            let model = routing.current
            // Waiting for the next timer tick is not in the model; the batch time for everything ahead is.
            let eta = model.costPerRequest * Double(position + 1) + model.overhead
            return JSONResponse.make(RequestStatus.queuedJSON(id: id, kind: kind, position: position, etaSeconds: eta))
        }
    }

    @Sendable func reservation(_ request: Request, context: IngestRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let id = try PathID.require(context, "reservationId", notFound: true)
        guard let cached = try await StoreCall.run(logger, { try await store.reservation(id) }), cached.userID == user else {
            throw APIError.notFound
        }
        return JSONResponse.make(cached.json)
    }

    /// The balance the pass last published; 0 for a user who never charged — which the ingest can only say once the
    /// pass has given every balance a cache in this Redis (the mark). Without the mark the truth is unknown: 503.
    @Sendable func balance(_ request: Request, context: IngestRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let balance: Int64
        let asOf: Int64
        switch try await StoreCall.run(logger, { try await store.balance(of: user) }) {
        case .cached(let cached, let publishedAt):
            (balance, asOf) = (cached, publishedAt)
        case .neverCharged(let markedAt):
            (balance, asOf) = (0, markedAt)
        case .rebuilding:
            throw APIError.balancesRebuilding
        }
        return JSONResponse.make("{\"balance\":\(balance),\"asOf\":\"\(Timestamp.iso8601(seconds: asOf))\"}")
    }
}
