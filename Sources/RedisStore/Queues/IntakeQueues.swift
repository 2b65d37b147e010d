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
    private let queued: [RequestKind: Counter]

    public init(redis: RedisClient) {
        self.redis = redis
        var queued: [RequestKind: Counter] = [:]
        for kind in RequestKind.allCases {
            queued[kind] = Counter(label: "concert_ingest_queued_total", dimensions: [("kind", kind.rawValue)])
        }
        self.queued = queued
    }

    /// The answer to an accepted write.
    public struct Accepted: Sendable, Equatable {
        public var requestID: RequestID
        /// Requests ahead of it in its queue when it arrived.
        public var position: Int64
        /// False when this is the first answer replayed for a repeated Idempotency-Key.
        public var isNew: Bool

        /// Reads the enqueue script's `{isNew, "<id>|<position>"}`.
        init?(scriptReply reply: RedisValue) {
            guard let parts = reply.array, parts.count == 2, let isNew = parts[0].int, let answer = parts[1].string,
                  let bar = answer.utf8.lastIndex(of: UInt8(ascii: "|")), let id = RequestID(answer[..<bar]),
                  let position = Int64(answer[answer.utf8.index(after: bar)...])
            else { return nil }
            self.init(requestID: id, position: position, isNew: isNew == 1)
        }

        init(requestID: RequestID, position: Int64, isNew: Bool) {
            self.requestID = requestID
            self.position = position
            self.isNew = isNew
        }
    }

    /// Queues `request` (its id names its queue) and answers only once Redis has acknowledged it.
    public func enqueue(_ request: QueuedRequest, idempotencyKey: String?) async throws(RedisError) -> Accepted {
        let (keys, arguments) = QueueScripts.enqueueKeysAndArguments(request, idempotencyKey: idempotencyKey)
        let reply = try await evalEnqueue(keys: keys, arguments: arguments, queueTag: request.id.queue.tag)
        guard let accepted = Accepted(scriptReply: reply) else {
            throw RedisError.protocolError("unexpected reply to the enqueue script")
        }
        if accepted.isNew { queued[request.kind]?.increment() }
        return accepted
    }

    private func evalEnqueue(keys: [String], arguments: [String], queueTag: String) async throws(RedisError) -> RedisValue {
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

    public func status(of id: RequestID) async throws(RedisError) -> (RequestStatus, finished: Int64)? {
        let replies = try await redis.pipeline([["GET", RedisKeys.status(id)], ["GET", RedisKeys.finished(id.queue)]])
        guard replies.count == 2, let stored = replies[0].string, let status = RequestStatus(stored: stored) else {
            return nil
        }
        return (status, replies[1].int ?? 0)
    }

    /// The cached reservation: owner, performance and JSON, or nil when the pass has not published it.
    public func reservation(_ id: Int64) async throws(RedisError) -> (userID: Int64, performanceID: Int64, json: String)? {
        guard let stored = try await redis.send(["GET", RedisKeys.reservation(id)]).string else { return nil }
        let parts = stored.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let user = Int64(parts[0]), let performance = Int64(parts[1]) else { return nil }
        return (user, performance, String(parts[2]))
    }

    /// The user's balance as the pass last published it, or nil for a user who never had one.
    public func balance(of user: Int64) async throws(RedisError) -> (balance: Int64, asOf: Int64)? {
        guard let stored = try await redis.send(["GET", RedisKeys.balance(user)]).string else { return nil }
        let parts = stored.split(separator: "|")
        guard parts.count == 2, let balance = Int64(parts[0]), let asOf = Int64(parts[1]) else { return nil }
        return (balance, asOf)
    }

    public func seatMapJSON(performance: Int64) async throws(RedisError) -> String? {
        try await redis.send(["GET", RedisKeys.seatMap(performance: performance)]).string
    }

    public func performanceListJSON() async throws(RedisError) -> String? {
        try await redis.send(["GET", RedisKeys.performanceList]).string
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
