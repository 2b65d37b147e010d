import Foundation
import Hummingbird
import Logging
import RedisStore
import ReservationCore
import TokenAuth

/// The API's routes. Writes are validated, queued in Redis and answered 202; reads come from the caches the
/// batch pass publishes. Nothing here touches MariaDB.
struct IntakeController: Sendable {
    let queues: IntakeQueues
    let verifier: BearerTokenVerifier
    let limiter: RateLimiter
    let routing: RoutingSnapshot
    let maxBodyBytes: Int
    let logger: Logger

    /// Every route, with its method: the router is built from this table, and the 405 check reads it.
    static let routes: [(HTTPRequest.Method, String)] = [
        (.post, "/v1/performances/:performanceId/reservations"),
        (.post, "/v1/reservations/:reservationId/payment"),
        (.delete, "/v1/reservations/:reservationId"),
        (.get, "/v1/reservations/:reservationId"),
        (.post, "/v1/me/balance/charges"),
        (.get, "/v1/me/balance"),
        (.get, "/v1/requests/:requestId"),
        (.get, "/v1/performances"),
        (.get, "/v1/performances/:performanceId/seats"),
        (.get, "/healthz"),
        (.get, "/metrics"),
        (.get, "/"),  // StatusRoutes: the live on-sale page
        (.get, "/v1/status"),  // StatusRoutes: the JSON behind it
    ]

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/performances/:performanceId/reservations", use: reserve)
        router.post("/v1/reservations/:reservationId/payment", use: pay)
        router.delete("/v1/reservations/:reservationId", use: cancel)
        router.get("/v1/reservations/:reservationId", use: reservation)
        router.post("/v1/me/balance/charges", use: charge)
        router.get("/v1/me/balance", use: balance)
        router.get("/v1/requests/:requestId", use: status)
        router.get("/v1/performances", use: performances)
        router.get("/v1/performances/:performanceId/seats", use: seats)
        router.get("/healthz", use: health)
    }

    // MARK: Writes

    struct ReserveBody: Decodable {
        let seatIds: [Int64]
    }

    struct ChargeBody: Decodable {
        let amount: Int64
    }

    /// `{}`: any JSON object (its fields are ignored), and nothing else. The synthesized decoder of an empty
    /// struct reads nothing, so it would accept `[]`, `5` or `"x"`; asking for an object refuses them.
    struct EmptyBody: Decodable {
        private struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            _ = try decoder.container(keyedBy: AnyKey.self)
        }
    }

    @Sendable func reserve(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let user = try admit(request)
        let performance = try pathID(context, "performanceId")
        let seatIDs = try await decode(ReserveBody.self, from: request, compact: CompactBody.seatIDs) { $0.seatIds }
        do { try RequestValidation.checkSeatSelection(seatIDs) } catch { throw APIError.badRequest(error.message) }
        // Unknown to the caches yet: the general queue's pass forwards it or rejects PERFORMANCE_UNKNOWN.
        let queue: QueueName = routing.current.performances.contains(performance) ? .performance(performance) : .general
        return try await accept(QueuedRequest(
            id: .random(queue: queue), kind: .reserve, userID: user, performanceID: performance,
            seatIDs: seatIDs, acceptedAtMillis: Self.nowMillis()
        ), request: request, withPosition: true)
    }

    @Sendable func pay(_ request: Request, context: BasicRequestContext) async throws -> Response {
        try await reservationWrite(.pay, request, context, readsBody: true)
    }

    @Sendable func cancel(_ request: Request, context: BasicRequestContext) async throws -> Response {
        try await reservationWrite(.cancel, request, context, readsBody: false)
    }

    private func reservationWrite(
        _ kind: RequestKind, _ request: Request, _ context: BasicRequestContext, readsBody: Bool
    ) async throws -> Response {
        let user = try admit(request)
        let reservation = try pathID(context, "reservationId")
        if readsBody { _ = try await decode(EmptyBody.self, from: request, allowEmpty: true) }
        // A reservation lives in its performance's queue; one the caches do not know yet goes to the general
        // queue, whose pass forwards it or rejects RESERVATION_UNKNOWN.
        let cached = try await redis { try await queues.reservation(reservation) }
        let queue: QueueName = cached.map { .performance($0.performanceID) } ?? .general
        return try await accept(QueuedRequest(
            id: .random(queue: queue), kind: kind, userID: user, reservationID: reservation,
            acceptedAtMillis: Self.nowMillis()
        ), request: request, withPosition: false)
    }

    @Sendable func charge(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let user = try admit(request)
        let amount = try await decode(ChargeBody.self, from: request, compact: CompactBody.amount) { $0.amount }
        do { try RequestValidation.checkChargeAmount(amount) } catch { throw APIError.badRequest(error.message) }
        return try await accept(QueuedRequest(
            id: .random(queue: .general), kind: .charge, userID: user, amount: amount,
            acceptedAtMillis: Self.nowMillis()
        ), request: request, withPosition: false)
    }

    private func accept(_ queued: QueuedRequest, request: Request, withPosition: Bool) async throws -> Response {
        let key = try idempotencyKey(request)
        let accepted = try await redis { try await queues.enqueue(queued, idempotencyKey: key) }
        var body = "{\"requestId\":\"\(accepted.requestID.rawValue)\",\"status\":\"queued\""
        if withPosition { body += ",\"position\":\(accepted.position)" }
        body += "}"
        var response = Self.json(body, status: .accepted)
        if !accepted.isNew { response.headers[.init("Idempotent-Replayed")!] = "true" }
        return response
    }

    // MARK: Reads

    @Sendable func status(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let user = try admit(request)
        guard let text = context.parameters.get("requestId"), let id = RequestID(text) else { throw APIError.notFound }
        guard let (status, finished) = try await redis({ try await queues.status(of: id) }), status.userID == user else {
            throw APIError.notFound
        }
        switch status {
        case .final(_, let json):
            return Self.json(json)
        case .queued(_, let kind, let sequence, _, _):
            let position = max(0, sequence - finished - 1)
            let model = routing.current
            // Waiting for the next timer tick is not in the model; the batch time for everything ahead is.
            let eta = model.costPerRequest * Double(position + 1) + model.overhead
            return Self.json(RequestStatus.queuedJSON(id: id, kind: kind, position: position, etaSeconds: eta))
        }
    }

    @Sendable func reservation(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let user = try admit(request)
        let id = try pathID(context, "reservationId", notFound: true)
        guard let cached = try await redis({ try await queues.reservation(id) }), cached.userID == user else {
            throw APIError.notFound
        }
        return Self.json(cached.json)
    }

    @Sendable func balance(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let user = try admit(request)
        let cached = try await redis { try await queues.balance(of: user) }
        let asOf = Timestamp.iso8601(seconds: cached?.asOf ?? Int64(Date().timeIntervalSince1970))
        return Self.json("{\"balance\":\(cached?.balance ?? 0),\"asOf\":\"\(asOf)\"}")
    }

    @Sendable func performances(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let json = try await redis { try await queues.performanceListJSON() }
        return Self.json(json ?? "{\"performances\":[]}")
    }

    @Sendable func seats(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let performance = try pathID(context, "performanceId", notFound: true)
        guard let json = try await redis({ try await queues.seatMapJSON(performance: performance) }) else {
            throw APIError.notFound
        }
        return Self.json(json)
    }

    @Sendable func health(_ request: Request, context: BasicRequestContext) async throws -> Response {
        do {
            try await queues.ping()
            return Self.json("{\"status\":\"ok\"}")
        } catch {
            return Self.json("{\"status\":\"unavailable\",\"redis\":\"unreachable\"}", status: .serviceUnavailable)
        }
    }

    // MARK: Pieces

    /// Authenticates the bearer token and applies the user's rate limit; returns the user id.
    private func admit(_ request: Request) throws -> Int64 {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("send Authorization: Bearer <token>")
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError.unauthorized("the Authorization header must be a Bearer token")
        }
        let user: Int64
        do {
            user = try verifier.userID(fromToken: header.dropFirst(7), now: Int64(Date().timeIntervalSince1970))
        } catch {
            throw APIError.unauthorized(error.description)
        }
        if let retryAfter = limiter.admit(user: user) { throw APIError.rateLimited(retryAfter: retryAfter) }
        return user
    }

    private func pathID(_ context: BasicRequestContext, _ name: String, notFound: Bool = false) throws -> Int64 {
        guard let text = context.parameters.get(name), let id = RequestValidation.positiveID(text) else {
            throw notFound ? APIError.notFound : APIError.badRequest("\(name) must be a positive integer")
        }
        return id
    }

    private func decode<Body: Decodable>(_ type: Body.Type, from request: Request, allowEmpty: Bool = false) async throws -> Body {
        let buffer = try await jsonBody(of: request, allowEmpty: allowEmpty)
        if buffer.readableBytes == 0 { return try JSONDecoder().decode(Body.self, from: Data("{}".utf8)) }
        return try decodeJSON(Body.self, buffer)
    }

    /// A body's value: read by `compact` when the client sent the common compact form, else by the JSON decoder.
    private func decode<Body: Decodable, Value>(
        _ type: Body.Type, from request: Request, compact: ([UInt8]) -> Value?, _ value: (Body) -> Value
    ) async throws -> Value {
        let buffer = try await jsonBody(of: request, allowEmpty: false)
        if let fast = compact(Array(buffer.readableBytesView)) { return fast }
        return value(try decodeJSON(Body.self, buffer))
    }

    /// The body (at most `maxBodyBytes`) of a request that says it is JSON; or an empty one where `allowEmpty`.
    private func jsonBody(of request: Request, allowEmpty: Bool) async throws -> ByteBuffer {
        var mutable = request
        let buffer: ByteBuffer
        do {
            buffer = try await mutable.collectBody(upTo: maxBodyBytes)
        } catch {
            throw APIError.tooLarge
        }
        if allowEmpty, buffer.readableBytes == 0 { return buffer }
        guard Self.isJSON(request.headers[.contentType]) else { throw APIError.unsupportedMediaType }
        return buffer
    }

    private func decodeJSON<Body: Decodable>(_ type: Body.Type, _ buffer: ByteBuffer) throws -> Body {
        do {
            return try JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest(Self.describe(error))
        }
    }

    /// `application/json`, in any case, with or without parameters (`; charset=utf-8`); `application/jsonx` is not.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }
        let trimmed = mediaType.drop { $0 == 32 || $0 == 9 }.reversed().drop { $0 == 32 || $0 == 9 }.reversed()
        let expected = "application/json".utf8
        func lowercased(_ byte: UInt8) -> UInt8 { (65...90).contains(byte) ? byte + 32 : byte }
        return trimmed.count == expected.count && zip(trimmed, expected).allSatisfy { lowercased($0) == $1 }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "the body has no '\(key.stringValue)' field"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: "the body is not valid JSON or a number is out of range"
        default: "the body is not valid JSON"
        }
    }

    /// `Idempotency-Key`: 1 to 128 printable ASCII characters without spaces.
    private func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[.init("Idempotency-Key")!] else { return nil }
        guard (1...128).contains(key.utf8.count), key.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw APIError.badRequest("Idempotency-Key must be 1 to 128 printable ASCII characters without spaces")
        }
        return key
    }

    /// Runs a Redis call; a connection failure becomes 503 (and nothing was queued: a 202 is sent only after
    /// Redis acknowledged the push).
    private func redis<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as APIError {
            throw error
        } catch {
            logger.warning("redis call failed", metadata: ["error": "\(error)"])
            throw APIError.unavailable
        }
    }

    static func json(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
