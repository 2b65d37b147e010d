import Metrics
import ReservationCore
import Synchronization

/// The ingest's side of the queues, over the shared group-committing `RedisClient`: every call is one
/// pipelined round trip shared with whatever else is in flight at that moment.
public final class IntakeQueues: Sendable {
    public let redis: RedisClient
    /// SHA1 of the enqueue script once Redis has it (loaded lazily, and again after a Redis restart).
    private let enqueueSHA = Mutex<String?>(nil)
    /// Queue tags this process has registered in `RedisKeys.queues` (so it sends SADD once per queue, not per request).
    private let registeredQueues = Mutex<Set<String>>([])
    /// Requests acknowledged by Redis, by kind (replays of an Idempotency-Key are not counted again).
    private let queuedCounters: [RequestKind: Counter]
    /// Sends repeated because Redis did not answer in time.
    private let retries = Counter(label: "concert_ingest_enqueue_retries_total")
    /// Wake-ups of a waiting batch process that could not be pushed (it finds the request on its next look).
    private let wakeFailures = Counter(label: "concert_ingest_wake_failures_total")

    public init(redis: RedisClient) {
        self.redis = redis
        var queued: [RequestKind: Counter] = [:]
        for kind in RequestKind.allCases {
            queued[kind] = Counter(label: "concert_ingest_queued_total", dimensions: [("kind", kind.rawValue)])
        }
        self.queuedCounters = queued
    }

    /// The answer to an accepted write.
    public struct Accepted: Sendable, Equatable {
        public var requestID: RequestID
        /// Requests ahead of it in its queue when it arrived.
        public var position: Int64
        /// False when this is the first answer given again (a repeated Idempotency-Key, or a retry of a request
        /// Redis had queued already).
        public var isNew: Bool

        public init(requestID: RequestID, position: Int64, isNew: Bool) {
            self.requestID = requestID
            self.position = position
            self.isNew = isNew
        }
    }

    /// How long `enqueue` keeps trying when Redis did not answer a request it may have run (a timeout, a connection
    /// dropped after sending): it sends the same request id again, which Redis queues at most once, so the answer
    /// says what Redis did.
    public static let retryWindow: Duration = .seconds(10)

    /// Queues `request` (its id names its queue) and answers only once Redis has acknowledged it.
    ///
    /// With an Idempotency-Key, the key is claimed for this request's id first (per user, whatever queue the
    /// request goes to); a key claimed before answers with the first request — queued now if its first attempt
    /// never got that far.
    ///
    /// Throws when Redis could not be reached before anything was sent (nothing was queued), or when it stayed
    /// silent for `retryWindow` after a send it may have run — the one case where a queued request can be
    /// reported as failed (then Redis was down for the whole window).
    public func enqueue(_ request: QueuedRequest, idempotencyKey: String?) async throws(RedisError) -> Accepted {
        guard let key = idempotencyKey else { return try await enqueueOnce(request) }
        let record = RedisKeys.idempotency(user: request.userID, key: key)
        let ttl = String(RedisRetention.idempotencySeconds)
        let prior = try await retrying { () async throws(RedisError) -> RedisValue in
            try await redis.send(["SET", record, request.id.rawValue, "NX", "GET", "EX", ttl])
        }
        var first = request
        // The request that claimed the key is answered as new, even if a racing repeat got it queued first.
        var isNew = true
        if let stored = prior.string {
            let parts = stored.split(separator: "|")
            guard let id = parts.first.flatMap({ RequestID($0) }) else {
                throw RedisError(.protocolError, "idempotency record \(record) holds '\(stored.prefix(80))'")
            }
            if parts.count == 2, let position = Int64(parts[1]) {
                return Accepted(requestID: id, position: position, isNew: false)
            }
            // Claimed, not yet answered: the first attempt is under way or died. Queue it under its id (at most once).
            first.id = id
            isNew = false
        }
        var accepted = try await enqueueOnce(first)
        _ = try await retrying { () async throws(RedisError) -> RedisValue in
            try await redis.send(["SET", record, "\(accepted.requestID.rawValue)|\(accepted.position)", "XX", "KEEPTTL"])
        }
        accepted.isNew = isNew
        return accepted
    }

    /// Queues the request once, retrying with the same id while Redis does not answer.
    private func enqueueOnce(_ request: QueuedRequest) async throws(RedisError) -> Accepted {
        let reply = try await retrying { () async throws(RedisError) -> RedisValue in
            try await evalEnqueue(request)
        }
        guard let parts = reply.array, parts.count == 3, let isNew = parts[0].int, let answer = parts[1].string else {
            throw RedisError(.protocolError, "unexpected reply to the enqueue script: \(reply)")
        }
        let position: Int64
        if isNew == 1 {
            guard let queued = Int64(answer) else { throw RedisError(.protocolError, "enqueue answered position '\(answer)'") }
            position = queued
            countQueued(request.kind)
        } else if case .queued(_, _, _, let first, _)? = RequestStatus(stored: answer) {
            position = first
        } else {
            position = 0  // decided already: nothing is ahead of it
        }
        if let wake = parts[2].string, !wake.isEmpty {
            // A batch process sleeps until told: tell it. If this fails it still finds the request on its next look.
            do {
                _ = try await redis.pipeline([["RPUSH", wake, request.id.queue.tag], ["EXPIRE", wake, "60"]])
            } catch {
                wakeFailures.increment()
            }
        }
        return Accepted(requestID: request.id, position: position, isNew: isNew == 1)
    }

    private func countQueued(_ kind: RequestKind) {
        queuedCounters[kind]?.increment()
    }

    /// Runs `body` again while it is unknown whether Redis ran it: after a reply that never came (a timeout, a
    /// connection dropped after sending) it is sent again — every caller here is safe to repeat — until Redis
    /// answers or `retryWindow` has passed, backing off from 50 ms to 1 s. A connection that could not be made
    /// before anything was sent is reported at once: nothing was queued, so the caller may answer 503.
    private func retrying(_ body: () async throws(RedisError) -> RedisValue) async throws(RedisError) -> RedisValue {
        let clock = ContinuousClock()
        let deadline = clock.now + Self.retryWindow
        var pause = Duration.milliseconds(50)
        var uncertain = false
        while true {
            do {
                return try await body()
            } catch where error.isConnectionError && (uncertain || error.code == .io) && clock.now + pause < deadline {
                uncertain = true
                retries.increment()
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(1))
            }
        }
    }

    private func evalEnqueue(_ request: QueuedRequest) async throws(RedisError) -> RedisValue {
        let (keys, arguments) = QueueScripts.enqueueKeysAndArguments(request)
        let queueTag = request.id.queue.tag
        // The queue registry entry goes first: if the script then fails, an empty queue is registered, which is
        // harmless; the other order could leave a request in a queue no pass knows of. Each queue is registered
        // once per process (and again after Redis lost its scripts or the connection: it may have lost data too).
        for attempt in 0..<2 {
            let sha: String
            if let known = enqueueSHA.withLock({ $0 }) {
                sha = known
            } else {
                guard let loaded = try await redis.send(["SCRIPT", "LOAD", QueueScripts.enqueue]).string else {
                    throw RedisError.protocolError("SCRIPT LOAD answered no SHA1")
                }
                enqueueSHA.withLock { $0 = loaded }
                sha = loaded
            }
            let register = !registeredQueues.withLock { $0.contains(queueTag) }
            var commands = RedisCommandBuffer(capacity: 512)
            if register { commands.command("SADD", RedisKeys.queues, queueTag) }
            commands.begin(arguments: 3 + keys.count + arguments.count)
            commands.argument("EVALSHA")
            commands.argument(sha)
            commands.argument(Int64(keys.count))
            for key in keys { commands.argument(key) }
            for argument in arguments { commands.argument(argument) }
            let replies: [RedisValue]
            do {
                replies = try await redis.pipeline(commands)
            } catch {
                registeredQueues.withLock { $0.removeAll() }
                throw error
            }
            guard replies.count == commands.count, let reply = replies.last else {
                throw RedisError.protocolError("pipeline answered \(replies.count) replies")
            }
            if case .error(let message) = reply {
                // NOSCRIPT: Redis restarted or was flushed; the script did not run, so loading it and retrying is safe.
                if message.hasPrefix("NOSCRIPT"), attempt == 0 {
                    enqueueSHA.withLock { $0 = nil }
                    registeredQueues.withLock { $0.removeAll() }
                    continue
                }
                throw RedisError.server(message)
            }
            if register, case .integer = replies[0] { registeredQueues.withLock { _ = $0.insert(queueTag) } }
            return reply
        }
        throw RedisError.protocolError("the enqueue script could not be loaded")
    }

    /// A request's status, and how many requests of the queue it waits in are finished (for its position).
    public func status(of id: RequestID) async throws(RedisError) -> (RequestStatus, finished: Int64)? {
        let replies = try await redis.pipeline([["GET", RedisKeys.status(id)], ["GET", RedisKeys.finished(id.queue)]])
        guard replies.count == 2, let stored = replies[0].string, let status = RequestStatus(stored: stored) else {
            return nil
        }
        if case .queued(_, _, _, _, let moved?) = status, moved != id.queue {
            return (status, try await redis.send(["GET", RedisKeys.finished(moved)]).int ?? 0)
        }
        return (status, replies[1].int ?? 0)
    }

    /// The cached reservation: owner, performance and JSON, or nil when the pass has not published it.
    public func reservation(_ id: Int64) async throws(RedisError) -> (userID: Int64, performanceID: Int64, json: String)? {
        guard let stored = try await redis.send(["GET", RedisKeys.reservation(id)]).string,
              let cached = ReadCaches.reservation(from: stored)
        else { return nil }
        return (cached.userID, cached.performanceID, cached.json)
    }

    /// What `GET /v1/me/balance` can truthfully say about a user.
    public enum BalanceReading: Sendable, Equatable {
        /// The balance the pass last published, and when it published it (seconds).
        case cached(balance: Int64, asOf: Int64)
        /// No cache, but every balance MariaDB holds has one in this Redis (`RedisKeys.balancesComplete`, set at
        /// `asOf`): the user never charged, so the balance is 0.
        case neverCharged(asOf: Int64)
        /// No cache and no mark: Redis lost its data (or no pass has run yet) and the pass has not rebuilt the
        /// balance caches; the balance is unknown until it has.
        case rebuilding
    }

    /// The user's balance cache and the mark that says whether a missing one means 0, in one round trip.
    public func balance(of user: Int64) async throws(RedisError) -> BalanceReading {
        let replies = try await redis.pipeline([["GET", RedisKeys.balance(user)], ["GET", RedisKeys.balancesComplete]])
        guard replies.count == 2 else { throw RedisError.protocolError("pipeline answered \(replies.count) replies, expected 2") }
        for reply in replies {
            if case .error(let message) = reply { throw RedisError.server(message) }
        }
        if let stored = replies[0].string {
            guard let cached = ReadCaches.balance(from: stored) else {
                throw RedisError.protocolError("balance cache \(RedisKeys.balance(user)) holds '\(stored.prefix(80))'")
            }
            return .cached(balance: cached.balance, asOf: cached.asOf)
        }
        guard !replies[1].isNull else { return .rebuilding }
        guard let markedAt = replies[1].int else {
            throw RedisError.protocolError("\(RedisKeys.balancesComplete) holds '\(replies[1].string?.prefix(80) ?? "")', not a time")
        }
        return .neverCharged(asOf: markedAt)
    }

    /// The bytes of `GET /v1/performances/{id}/seats` as the pass last published them (about 64 bytes a seat), or
    /// nil when there are none.
    public func seatMapBytes(performance: Int64) async throws(RedisError) -> [UInt8]? {
        try await redis.send(["GET", RedisKeys.seatMap(performance: performance)]).bytes
    }

    /// The bytes of `GET /v1/performances` as the pass last published them, or nil before any pass (or
    /// `concert-admin create-performance`) published the list to this Redis.
    public func performanceListBytes() async throws(RedisError) -> [UInt8]? {
        try await redis.send(["GET", RedisKeys.performanceList]).bytes
    }

    /// Ids of the performances the pass (or concert-admin) has published, and the cost model text.
    public func routingSnapshot() async throws(RedisError) -> (performances: Set<Int64>, costModel: String?) {
        let replies = try await redis.pipeline([["SMEMBERS", RedisKeys.performanceIDs], ["GET", RedisKeys.costModel]])
        var ids: Set<Int64> = []
        for member in replies.first?.array ?? [] {
            if let id = member.int { ids.insert(id) }
        }
        return (ids, replies.count > 1 ? replies[1].string : nil)
    }

    public func ping() async throws(RedisError) {
        _ = try await redis.send(["PING"])
    }
}

// Public initializers for the live page's read models, so an ingest test can serve them from memory (their
// memberwise initializers are internal, and an extension may not redeclare those: hence the shorter labels).
extension IntakeQueues.StatusOverview {
    public init(performanceList: String?, costModel: String?, batches: [String], generalQueue: IntakeQueues.QueueGlance) {
        self.init(performanceListJSON: performanceList, costModel: costModel, recentBatches: batches, generalQueue: generalQueue)
    }
}

extension IntakeQueues.PerformanceGlance {
    public init(seatMap: [UInt8]?, queue: IntakeQueues.QueueGlance) {
        self.init(seatMapJSON: seatMap, queue: queue)
    }
}
