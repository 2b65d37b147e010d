import Foundation
import Hummingbird
import Logging
import RedisStore
import ReservationCore

/// The writes: validated, queued in the store and answered 202 once the store holds them. The user comes from
/// `BearerAuthenticator`; nothing here touches MariaDB or decides anything the pass decides.
struct WriteController: Sendable {
    let store: any IntakeStore
    let routing: RoutingSnapshot
    let body: JSONBodyReader
    let logger: Logger

    @Sendable func reserve(_ request: Request, context: IngestRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let performance = try PathID.require(context, "performanceId")
        let seatIDs = try await body.decode(WriteBodies.Reserve.self, from: request, compact: CompactBody.seatIDs) { $0.seatIds }
        do { try RequestValidation.checkSeatSelection(seatIDs) } catch { throw APIError.badRequest(error.message) }
        // Unknown to the caches yet: the general queue's pass forwards it or rejects PERFORMANCE_UNKNOWN.
        let queue: QueueName = routing.current.performances.contains(performance) ? .performance(performance) : .general
        return try await accept(QueuedRequest(
            id: .random(queue: queue), kind: .reserve, userID: user, performanceID: performance,
            seatIDs: seatIDs, acceptedAtMillis: Self.stampedByStore
        ), request: request, withPosition: true)
    }

    @Sendable func pay(_ request: Request, context: IngestRequestContext) async throws -> Response {
        try await reservationWrite(.pay, request, context, readsBody: true)
    }

    @Sendable func cancel(_ request: Request, context: IngestRequestContext) async throws -> Response {
        try await reservationWrite(.cancel, request, context, readsBody: false)
    }

    private func reservationWrite(
        _ kind: RequestKind, _ request: Request, _ context: IngestRequestContext, readsBody: Bool
    ) async throws -> Response {
        let user = try context.requireUser()
        let reservation = try PathID.require(context, "reservationId")
        if readsBody { _ = try await body.decodeAllowingEmpty(WriteBodies.Empty.self, from: request) }
        // A reservation lives in its performance's queue; one the caches do not know (yet, or any more) goes to the
        // general queue, whose pass forwards it or rejects RESERVATION_UNKNOWN.
        let cached = try await StoreCall.run(logger) { try await store.reservation(reservation) }
        let queue: QueueName = cached.map { .performance($0.performanceID) } ?? .general
        return try await accept(QueuedRequest(
            id: .random(queue: queue), kind: kind, userID: user, reservationID: reservation,
            acceptedAtMillis: Self.stampedByStore
        ), request: request, withPosition: false)
    }

    @Sendable func charge(_ request: Request, context: IngestRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let amount = try await body.decode(WriteBodies.Charge.self, from: request, compact: CompactBody.amount) { $0.amount }
        do { try RequestValidation.checkChargeAmount(amount) } catch { throw APIError.badRequest(error.message) }
        return try await accept(QueuedRequest(
            id: .random(queue: .general), kind: .charge, userID: user, amount: amount,
            acceptedAtMillis: Self.stampedByStore
        ), request: request, withPosition: false)
    }

    /// Queues the request under the id made above, before anything was sent: a send the store may have run is
    /// repeated under that same id, so the answer says what the store did — 202 for a request it holds, 503 only
    /// for one it does not.
    private func accept(_ queued: QueuedRequest, request: Request, withPosition: Bool) async throws -> Response {
        let key = try Self.idempotencyKey(request)
        let accepted = try await StoreCall.run(logger) { try await store.enqueue(queued, idempotencyKey: key) }
        var body = "{\"requestId\":\"\(accepted.requestID.rawValue)\",\"status\":\"queued\""
        if withPosition { body += ",\"position\":\(accepted.position)" }
        body += "}"
        var response = JSONResponse.make(body, status: .accepted)
        if !accepted.isNew { response.headers[.init("Idempotent-Replayed")!] = "true" }
        return response
    }

    /// `Idempotency-Key`: 1 to 128 printable ASCII characters without spaces.
    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[.init("Idempotency-Key")!] else { return nil }
        guard (1...128).contains(key.utf8.count), key.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw APIError.badRequest("Idempotency-Key must be 1 to 128 printable ASCII characters without spaces")
        }
        return key
    }

    /// The acceptance time is the store's: the enqueue script stamps each entry with Redis's `TIME` (one clock for
    /// every ingest, the one pays and cancels are judged by), so the ingest sends none.
    static let stampedByStore: Int64 = 0
}

/// A path's id parameter.
enum PathID {
    /// A positive integer, else 400 (writes: the contract calls a bad id a malformed request) or 404 (reads).
    static func require(_ context: IngestRequestContext, _ name: String, notFound: Bool = false) throws -> Int64 {
        guard let text = context.parameters.get(name), let id = RequestValidation.positiveID(text) else {
            throw notFound ? APIError.notFound : APIError.badRequest("\(name) must be a positive integer")
        }
        return id
    }
}

/// A call to the store: any failure becomes 503 (logged), with the contract's meaning that nothing was queued —
/// true for `enqueue`, which throws only for a request the store does not hold (`IntakeQueues`: or when Redis stayed
/// silent through its whole retry window after a send, which it cannot tell; README, "What the answers promise").
enum StoreCall {
    static func run<T>(_ logger: Logger, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as APIError {
            throw error
        } catch {
            logger.warning("store call failed; answered 503", metadata: ["error": "\(error)"])
            throw APIError.unavailable
        }
    }
}

/// JSON answers.
enum JSONResponse {
    static func make(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }
}
