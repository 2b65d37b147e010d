import IngestService
import RedisStore
import ReservationCore
import Synchronization

/// The ingest's store in memory, for tests of the HTTP layer: a plain implementation of `IntakeStore` (queues as
/// arrays, caches as dictionaries), not a model of Redis. What Redis itself does — scripts, retries, slots — is
/// tested against a real Redis in RedisStoreTests and IntegrationTests.
final class MemoryIntakeStore: IntakeStore {
    struct State {
        /// Every request queued, in arrival order, by queue.
        var queues: [QueueName: [QueuedRequest]] = [:]
        /// `(user, key)` → the first answer.
        var idempotency: [String: IntakeQueues.Accepted] = [:]
        var statuses: [RequestID: RequestStatus] = [:]
        var finished: [QueueName: Int64] = [:]
        var reservations: [Int64: (userID: Int64, performanceID: Int64, json: String)] = [:]
        var balances: [Int64: (balance: Int64, asOf: Int64)] = [:]
        /// `RedisKeys.balancesComplete`'s time, or nil when the mark is missing.
        var balancesCompleteAt: Int64? = 0
        var seatMaps: [Int64: [UInt8]] = [:]
        var performanceList: [UInt8]? = Array(#"{"performances":[]}"#.utf8)
        var performances: Set<Int64> = []
        var costModel: String?
        /// When true every call throws, as a store that cannot be reached.
        var unreachable = false
        /// How many times each public resource was read (`seats:<id>` or `performances`).
        var publicReads: [String: Int] = [:]
    }

    struct Unreachable: Error {}

    let state = Mutex(State())

    func update(_ change: (inout State) -> Void) {
        state.withLock { change(&$0) }
    }

    var snapshot: State { state.withLock { $0 } }

    /// Every request queued, in all queues.
    var queued: [QueuedRequest] { state.withLock { $0.queues.values.flatMap { $0 } } }

    private func reachable() throws {
        if state.withLock({ $0.unreachable }) { throw Unreachable() }
    }

    func enqueue(_ request: QueuedRequest, idempotencyKey: String?) async throws -> IntakeQueues.Accepted {
        try reachable()
        return state.withLock { state in
            let key = idempotencyKey.map { "\(request.userID)|\($0)" }
            if let key, var first = state.idempotency[key] {
                first.isNew = false
                return first
            }
            let position = Int64(state.queues[request.id.queue, default: []].count) - (state.finished[request.id.queue] ?? 0)
            var numbered = request
            numbered.sequence = Int64(state.queues[request.id.queue, default: []].count) + 1
            state.queues[request.id.queue, default: []].append(numbered)
            state.statuses[request.id] = .queued(
                userID: request.userID, kind: request.kind, sequence: numbered.sequence, position: position, queue: nil
            )
            let accepted = IntakeQueues.Accepted(requestID: request.id, position: position, isNew: true)
            if let key { state.idempotency[key] = accepted }
            return accepted
        }
    }

    func status(of id: RequestID) async throws -> (RequestStatus, finished: Int64)? {
        try reachable()
        return state.withLock { state in
            guard let status = state.statuses[id] else { return nil }
            var queue = id.queue
            if case .queued(_, _, _, _, let moved?) = status { queue = moved }
            return (status, state.finished[queue] ?? 0)
        }
    }

    func reservation(_ id: Int64) async throws -> (userID: Int64, performanceID: Int64, json: String)? {
        try reachable()
        return state.withLock { $0.reservations[id] }
    }

    func balance(of user: Int64) async throws -> IntakeQueues.BalanceReading {
        try reachable()
        return state.withLock { state in
            if let cached = state.balances[user] { return .cached(balance: cached.balance, asOf: cached.asOf) }
            return state.balancesCompleteAt.map { .neverCharged(asOf: $0) } ?? .rebuilding
        }
    }

    func seatMapBytes(performance: Int64) async throws -> [UInt8]? {
        try reachable()
        return state.withLock { state in
            state.publicReads["seats:\(performance)", default: 0] += 1
            return state.seatMaps[performance]
        }
    }

    func performanceListBytes() async throws -> [UInt8]? {
        try reachable()
        return state.withLock { state in
            state.publicReads["performances", default: 0] += 1
            return state.performanceList
        }
    }

    func routingSnapshot() async throws -> (performances: Set<Int64>, costModel: String?) {
        try reachable()
        return state.withLock { ($0.performances, $0.costModel) }
    }

    func ping() async throws {
        try reachable()
    }

    func statusOverview() async throws -> IntakeQueues.StatusOverview {
        try reachable()
        return state.withLock { state in
            IntakeQueues.StatusOverview(
                performanceList: state.performanceList.map { String(decoding: $0, as: UTF8.self) }, costModel: state.costModel,
                batches: [], generalQueue: IntakeQueues.QueueGlance(depth: state.queues[.general]?.count ?? 0, oldestAcceptedAtMillis: nil)
            )
        }
    }

    func performanceGlances(_ ids: [Int64]) async throws -> [IntakeQueues.PerformanceGlance] {
        try reachable()
        return state.withLock { state in
            ids.map { id in
                IntakeQueues.PerformanceGlance(
                    seatMap: state.seatMaps[id],
                    queue: IntakeQueues.QueueGlance(depth: state.queues[.performance(id)]?.count ?? 0, oldestAcceptedAtMillis: nil)
                )
            }
        }
    }
}
