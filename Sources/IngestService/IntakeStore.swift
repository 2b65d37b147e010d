import RedisStore
import ReservationCore

/// What the ingest needs from the queue store: queue a request, and read what the batch pass published. The
/// product's store is `IntakeQueues` over Redis; tests of the HTTP layer may serve it from memory.
///
/// Any error thrown means the store could not be asked; the ingest answers 503. An implementation must throw from
/// `enqueue` only when the request was not queued: `IntakeQueues` sends a request Redis may have run again under
/// the same id until Redis answers (it queues an id at most once), for up to `IntakeQueues.retryWindow`.
public protocol IntakeStore: Sendable {
    /// Queues the request (its id names its queue) and answers once the store holds it. With an Idempotency-Key:
    /// the first request queued under that key for this user, whatever queue it went to.
    func enqueue(_ request: QueuedRequest, idempotencyKey: String?) async throws -> IntakeQueues.Accepted
    /// A request's status, and how many requests of the queue it waits in are finished (for its position).
    func status(of id: RequestID) async throws -> (RequestStatus, finished: Int64)?
    /// A reservation's cache: owner, performance and the JSON `GET /v1/reservations/{id}` answers.
    func reservation(_ id: Int64) async throws -> (userID: Int64, performanceID: Int64, json: String)?
    func balance(of user: Int64) async throws -> IntakeQueues.BalanceReading
    func seatMapBytes(performance: Int64) async throws -> [UInt8]?
    func performanceListBytes() async throws -> [UInt8]?
    /// Ids of the performances reserves are routed by, and the pass's cost model (for ETAs).
    func routingSnapshot() async throws -> (performances: Set<Int64>, costModel: String?)
    func ping() async throws
    /// What the live page is built from (see `LiveStatusCache`).
    func statusOverview() async throws -> IntakeQueues.StatusOverview
    func performanceGlances(_ ids: [Int64]) async throws -> [IntakeQueues.PerformanceGlance]
}

extension IntakeQueues: IntakeStore {}
