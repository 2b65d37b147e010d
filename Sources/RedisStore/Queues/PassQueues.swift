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

    /// Entries a crashed or interrupted pass left in flight: they go first, before anything newer.
    public func inflight(_ queue: QueueName) throws(RedisError) -> [String] {
        (try redis.command(["LRANGE", RedisKeys.inflight(queue), "0", "-1"]).array ?? []).compactMap(\.string)
    }

    /// How many entries are in flight (LLEN: the pass asks after every visit, and only needs the number).
    public func inflightCount(_ queue: QueueName) throws(RedisError) -> Int {
        Int(try redis.command(["LLEN", RedisKeys.inflight(queue)]).int ?? 0)
    }

    /// Moves up to `limit` entries from the head of the queue to its in-flight list, atomically, and returns them.
    public func take(_ queue: QueueName, limit: Int) throws(RedisError) -> [String] {
        let reply = try redis.command([
            "EVAL", QueueScripts.take, "2", RedisKeys.pending(queue), RedisKeys.inflight(queue), String(limit),
        ])
        return (reply.array ?? []).compactMap(\.string)
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
        public var results: [(id: RequestID, userID: Int64, json: String)] = []
        public var reservations: [Reservation] = []
        public var forwarded: [(QueueName, String)] = []
        public var unreadable: [String] = []
        /// Balances after the batch, with the time they are as of.
        public var balances: [(userID: Int64, balance: Int64)] = []
        public var asOf: Int64 = 0
        public init() {}
    }

    /// Publishes statuses, reservation caches and forwarded requests, then empties the in-flight list — in one
    /// pipeline, in that order, so a crash in between leaves the entries in flight and the next pass publishes
    /// again (from the recorded outcomes) rather than losing anything.
    public func publish(_ publication: Publication, from queue: QueueName) throws(RedisError) {
        try publish(publication, finishing: queue)
    }

    /// Publishes reservation caches and statuses that finish nothing in flight (expired holds).
    public func publishCaches(_ publication: Publication) throws(RedisError) {
        try publish(publication, finishing: nil)
    }

    private func publish(_ publication: Publication, finishing queue: QueueName?) throws(RedisError) {
        var commands: [[String]] = []
        commands.reserveCapacity(publication.results.count + publication.reservations.count + 8)
        let statusTTL = String(RedisRetention.statusSeconds)
        for result in publication.results {
            commands.append([
                "SET", RedisKeys.status(result.id), RequestStatus.final(userID: result.userID, json: result.json).stored,
                "EX", statusTTL,
            ])
        }
        let reservationTTL = String(RedisRetention.reservationSeconds)
        for reservation in publication.reservations {
            commands.append([
                "SET", RedisKeys.reservation(reservation.id),
                "\(reservation.userID)|\(reservation.performanceID)|\(reservation.json)", "EX", reservationTTL,
            ])
        }
        for (user, balance) in publication.balances {
            commands.append(["SET", RedisKeys.balance(user), "\(balance)|\(publication.asOf)"])
        }
        for (target, entry) in publication.forwarded {
            commands.append(["SADD", RedisKeys.queues, target.tag])
            commands.append(["RPUSH", RedisKeys.pending(target), entry])
        }
        if let queue {
            if !publication.unreadable.isEmpty {
                commands.append(["RPUSH", RedisKeys.unreadable(queue)] + publication.unreadable)
            }
            let finished = publication.results.count + publication.forwarded.count + publication.unreadable.count
            if finished > 0 {
                commands.append(["INCRBY", RedisKeys.finished(queue), String(finished)])
            }
            commands.append(["DEL", RedisKeys.inflight(queue)])
        }
        for reply in try redis.pipeline(commands) {
            if case .error(let message) = reply { throw RedisError.server(message) }
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
