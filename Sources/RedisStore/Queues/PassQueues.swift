import ReservationCore

/// The batch pass's side of the queues, on one blocking connection owned by the pass's thread.
/// (`concert-batch` is a plain command-line process: no event loop to protect, so it calls hiredis directly.)
public final class PassQueues {
    public let redis: RedisConnection

    public init(redis: RedisConnection) {
        self.redis = redis
    }

    /// Every queue that has ever received a request, plus the general queue.
    public func knownQueues() throws(RedisError) -> [QueueName] {
        let members = try redis.command(["SMEMBERS", RedisKeys.queues]).array ?? []
        var queues: Set<QueueName> = [.general]
        for member in members {
            if let text = member.string, let queue = QueueName(tag: Substring(text)) { queues.insert(queue) }
        }
        return queues.sorted { $0.tag < $1.tag }
    }

    // MARK: Lock

    /// Takes the queue's lock for `leaseMillis` if nobody holds it.
    public func tryLock(_ queue: QueueName, token: String, leaseMillis: Int) throws(RedisError) -> Bool {
        let reply = try redis.command(["SET", RedisKeys.lock(queue), token, "NX", "PX", String(leaseMillis)])
        return !reply.isNull
    }

    /// Extends our lease; false when the lock lapsed and someone else may hold it.
    public func renewLock(_ queue: QueueName, token: String, leaseMillis: Int) throws(RedisError) -> Bool {
        let reply = try redis.command(["EVAL", QueueScripts.renewLock, "1", RedisKeys.lock(queue), token, String(leaseMillis)])
        return reply.int == 1
    }

    public func releaseLock(_ queue: QueueName, token: String) throws(RedisError) {
        _ = try redis.command(["EVAL", QueueScripts.releaseLock, "1", RedisKeys.lock(queue), token])
    }

    // MARK: Draining

    /// Batches a crashed or interrupted pass left in flight, oldest first: they go before anything newer.
    public func inflight(_ queue: QueueName) throws(RedisError) -> [TakenBatch] {
        let records = (try redis.command(["LRANGE", RedisKeys.inflightBatches(queue), "0", "-1"]).array ?? [])
            .compactMap(\.string)
        var batches: [TakenBatch] = []
        var offset = 0
        for record in records {
            let parts = record.split(separator: ":")
            guard parts.count == 2, let number = Int64(parts[0]), let count = Int(parts[1]), count > 0 else {
                throw RedisError.protocolError("in-flight batch record '\(record)' of \(queue) is not <number>:<count>")
            }
            let entries = try redis.command([
                "LRANGE", RedisKeys.pending(queue), String(offset), String(offset + count - 1),
            ]).array ?? []
            batches.append(TakenBatch(queue: queue, number: number, entries: entries.compactMap(\.string)))
            offset += count
        }
        return batches
    }

    /// How many batches are in flight (LLEN: the pass asks after every visit, and only needs the number).
    public func inflightCount(_ queue: QueueName) throws(RedisError) -> Int {
        Int(try redis.command(["LLEN", RedisKeys.inflightBatches(queue)]).int ?? 0)
    }

    /// The next batch: up to `limit` entries of the queue after those already in flight, numbered, atomically.
    /// nil when there are none.
    public func take(_ queue: QueueName, limit: Int) throws(RedisError) -> TakenBatch? {
        let reply = try redis.command([
            "EVAL", QueueScripts.take, "3", RedisKeys.pending(queue), RedisKeys.batchCounter(queue),
            RedisKeys.inflightBatches(queue), String(limit),
        ])
        guard case .array(let parts) = reply, parts.count == 2, let number = parts[0].int, number > 0 else { return nil }
        return TakenBatch(queue: queue, number: number, entries: (parts[1].array ?? []).compactMap(\.string))
    }

    public func depth(_ queue: QueueName) throws(RedisError) -> Int {
        Int(try redis.command(["LLEN", RedisKeys.pending(queue)]).int ?? 0)
    }

    /// When the oldest waiting request was accepted (milliseconds since 1970), nil when the queue is empty.
    public func oldestAcceptedAt(_ queue: QueueName) throws(RedisError) -> Int64? {
        guard let head = try redis.command(["LINDEX", RedisKeys.pending(queue), "0"]).string else { return nil }
        return (try? QueuedRequest(wireFormat: head))?.acceptedAtMillis
    }

    // MARK: Publishing

    /// What a committed batch makes visible.
    public struct Publication {
        /// Statuses decided by this batch (their JSON is rendered while publishing).
        public var decided: [RequestResult] = []
        /// Statuses already rendered (recorded by an earlier pass, published again).
        public var results: [(id: RequestID, userID: Int64, json: String)] = []
        public var reservations: [Reservation] = []
        public var forwarded: [(QueueName, String)] = []
        public var unreadable: [String] = []
        /// Balances after the batch, with the time they are as of.
        public var balances: [(userID: Int64, balance: Int64)] = []
        public var asOf: Int64 = 0
        public init() {}
    }

    /// Publishes statuses, reservation caches and forwarded requests, then drops the batch from flight — as one
    /// MULTI/EXEC transaction: readers never see half a batch, a crash leaves all of it in flight for the next
    /// pass to publish again (from the recorded outcomes), and with `appendfsync always` Redis writes and syncs
    /// its append-only file once for the whole batch rather than once per 16 KiB it reads.
    public func publish(_ publication: Publication, finishing batch: TakenBatch) throws(RedisError) {
        try publish(publication, finishing: .some(batch))
    }

    /// Publishes reservation caches and statuses that finish nothing in flight (expired holds).
    public func publishCaches(_ publication: Publication) throws(RedisError) {
        try publish(publication, finishing: nil)
    }

    private func publish(_ publication: Publication, finishing batch: TakenBatch?) throws(RedisError) {
        var commands = RedisCommandBuffer(capacity: (publication.decided.count + publication.results.count) * 200 + 4096)
        commands.command("MULTI")
        let statusTTL = String(RedisRetention.statusSeconds)
        func setStatus(_ id: RequestID, userID: Int64, json: String) {
            // SET <status key> F|<user>|<json> EX <ttl>: the stored form of RequestStatus.final.
            commands.begin(arguments: 5)
            commands.argument("SET")
            commands.argument(RedisKeys.status(id))
            commands.argument(RequestStatus.finalPrefix(userID: userID) + json)
            commands.argument("EX")
            commands.argument(statusTTL)
        }
        for index in publication.decided.indices {
            let request = publication.decided[index].request
            setStatus(request.id, userID: request.userID, json: publication.decided[index].statusJSON)
        }
        for result in publication.results {
            setStatus(result.id, userID: result.userID, json: result.json)
        }
        let reservationTTL = String(RedisRetention.reservationSeconds)
        for reservation in publication.reservations {
            commands.command(
                "SET", RedisKeys.reservation(reservation.id),
                "\(reservation.userID)|\(reservation.performanceID)|\(reservation.json)", "EX", reservationTTL
            )
        }
        for (user, balance) in publication.balances {
            commands.command("SET", RedisKeys.balance(user), "\(balance)|\(publication.asOf)")
        }
        for (target, entry) in publication.forwarded {
            commands.command("SADD", RedisKeys.queues, target.tag)
            commands.command("RPUSH", RedisKeys.pending(target), entry)
        }
        if let batch {
            let queue = batch.queue
            if !publication.unreadable.isEmpty {
                commands.command(["RPUSH", RedisKeys.unreadable(queue)] + publication.unreadable)
            }
            let finished = publication.decided.count + publication.results.count + publication.forwarded.count
                + publication.unreadable.count
            if finished > 0 {
                commands.command("INCRBY", RedisKeys.finished(queue), String(finished))
            }
            commands.command(
                "EVAL", QueueScripts.finish, "2", RedisKeys.inflightBatches(queue), RedisKeys.pending(queue),
                batch.inflightRecord, String(batch.entries.count)
            )
        }
        commands.command("EXEC")
        let replies = try redis.pipeline(commands)
        // MULTI answers OK, each command QUEUED (or an error that makes EXEC refuse the lot), EXEC the replies.
        for reply in replies.dropLast() {
            if case .error(let message) = reply { throw RedisError.server(message) }
        }
        guard case .array(let results) = replies.last else {
            throw RedisError.server("EXEC did not run the publication: \(String(describing: replies.last))")
        }
        for reply in results {
            if case .error(let message) = reply { throw RedisError.server(message) }
        }
        if let batch, results.last?.int != 1 {
            throw RedisError.server("batch \(batch.inflightRecord) of \(batch.queue) was no longer the oldest in flight: another pass finished it (this pass's lease lapsed)")
        }
    }

    /// Replaces the read caches of the performance list and of one performance's seat map.
    public func publishPerformanceList(json: String, ids: [Int64]) throws(RedisError) {
        var commands: [[String]] = [["SET", RedisKeys.performanceList, json]]
        commands.append(["DEL", RedisKeys.performanceIDs + ":next"])
        if !ids.isEmpty {
            commands.append(["SADD", RedisKeys.performanceIDs + ":next"] + ids.map(String.init))
            commands.append(["RENAME", RedisKeys.performanceIDs + ":next", RedisKeys.performanceIDs])
        } else {
            commands.append(["DEL", RedisKeys.performanceIDs])
        }
        for reply in try redis.pipeline(commands) {
            if case .error(let message) = reply { throw RedisError.server(message) }
        }
    }

    public func publishSeatMap(performance: Int64, json: String) throws(RedisError) {
        _ = try redis.command(["SET", RedisKeys.seatMap(performance: performance), json])
    }

    public func hasSeatMap(performance: Int64) throws(RedisError) -> Bool {
        try redis.command(["EXISTS", RedisKeys.seatMap(performance: performance)]).int == 1
    }

    // MARK: Cost model

    public func loadCostModel() throws(RedisError) -> String? {
        try redis.command(["GET", RedisKeys.costModel]).string
    }

    public func saveCostModel(_ text: String) throws(RedisError) {
        _ = try redis.command(["SET", RedisKeys.costModel, text])
    }
}

/// Entries a pass took from a queue as one numbered batch (they stay the first entries of its pending list until
/// the batch is published). The number, the queue and the first entry's request id
/// name the batch's record in MariaDB, so a pass finishing a dead pass's batch can tell whether it was committed.
public struct TakenBatch: Sendable {
    public let queue: QueueName
    public let number: Int64
    public let entries: [String]

    public init(queue: QueueName, number: Int64, entries: [String]) {
        self.queue = queue
        self.number = number
        self.entries = entries
    }

    /// How the queue's in-flight list names the batch: `<number>:<count>`.
    public var inflightRecord: String { "\(number):\(entries.count)" }
}
