import ReservationCore

/// The batch pass's side of the queues, on one blocking connection owned by the calling thread.
/// (`concert-batch` is a plain command-line process: no event loop to protect, so it calls hiredis directly.)
///
/// Everything that changes a queue runs under the queue's fencing token (`QueueLeases`): a process that lost the
/// queue while it was stalled gets `QueueFencedError` from Redis, as it gets `StaleFenceError` from MariaDB.
public final class PassQueues {
    public let redis: any RedisCommanding

    public init(redis: any RedisCommanding) {
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

    /// How many entries each queue holds (waiting or in flight), in one round trip: a sweep looks at every known
    /// queue this way and visits only those with work.
    public func entryCounts(_ queues: [QueueName]) throws(RedisError) -> [QueueName: Int] {
        let replies = try redis.pipeline(queues.map { ["LLEN", RedisKeys.pending($0)] })
        var counts: [QueueName: Int] = [:]
        for (queue, reply) in zip(queues, replies) {
            if case .error(let message) = reply { throw RedisError(.server, message) }
            counts[queue] = Int(reply.int ?? 0)
        }
        return counts
    }

    // MARK: Draining

    /// Batches a dead or stalled owner left in flight, oldest first: they go before anything newer.
    public func inflight(_ queue: QueueName) throws(RedisError) -> [TakenBatch] {
        let records = (try redis.command(["LRANGE", RedisKeys.inflightBatches(queue), "0", "-1"]).array ?? [])
            .compactMap(\.string)
        var batches: [TakenBatch] = []
        var offset = 0
        for record in records {
            let parts = record.split(separator: ":")
            guard parts.count == 2, let number = Int64(parts[0]), let count = Int(parts[1]), count > 0 else {
                throw RedisError(.protocolError, "in-flight batch record '\(record)' of \(queue) is not <number>:<count>")
            }
            let entries = try redis.command([
                "LRANGE", RedisKeys.pending(queue), String(offset), String(offset + count - 1),
            ]).array ?? []
            offset += count
            batches.append(TakenBatch(
                queue: queue, number: number, entries: entries.compactMap(\.string),
                nextAcceptedAtMillis: try acceptedAt(queue, index: offset)
            ))
        }
        return batches
    }

    /// How many batches are in flight.
    public func inflightCount(_ queue: QueueName) throws(RedisError) -> Int {
        Int(try redis.command(["LLEN", RedisKeys.inflightBatches(queue)]).int ?? 0)
    }

    /// The next batch: up to `limit` entries of the queue after those already in flight, numbered, atomically,
    /// under the fencing token. nil when there are none.
    public func take(_ queue: QueueName, fence: Int64, limit: Int) throws -> TakenBatch? {
        let reply = try fenced(queue) { () throws(RedisError) -> RedisValue in
            try redis.command([
                "EVAL", QueueScripts.take, "4", RedisKeys.pending(queue), RedisKeys.batchCounter(queue),
                RedisKeys.inflightBatches(queue), RedisKeys.fence(queue), String(fence), String(limit),
            ])
        }
        guard case .array(let parts) = reply, parts.count == 3, let number = parts[0].int, number > 0 else { return nil }
        let next = parts[2].int ?? -1
        return TakenBatch(
            queue: queue, number: number, entries: (parts[1].array ?? []).compactMap(\.string),
            nextAcceptedAtMillis: next >= 0 ? next : nil
        )
    }

    /// Requests waiting or in flight in the queue (in-flight entries stay in pending until their batch finishes).
    public func depth(_ queue: QueueName) throws(RedisError) -> Int {
        Int(try redis.command(["LLEN", RedisKeys.pending(queue)]).int ?? 0)
    }

    /// When the oldest entry (waiting or in flight) was accepted (milliseconds since 1970), nil when empty.
    public func oldestAcceptedAt(_ queue: QueueName) throws(RedisError) -> Int64? {
        try acceptedAt(queue, index: 0)
    }

    /// When the entry at `index` of the queue's list was accepted, nil if there is none.
    public func acceptedAt(_ queue: QueueName, index: Int) throws(RedisError) -> Int64? {
        guard let entry = try redis.command(["LINDEX", RedisKeys.pending(queue), String(index)]).string else { return nil }
        return (try? QueuedRequest(wireFormat: entry))?.acceptedAtMillis
    }

    // MARK: Publishing

    /// What a committed batch makes visible.
    public struct Publication {
        /// Statuses decided by this batch (their JSON is rendered while publishing).
        public var decided: [RequestResult] = []
        /// Statuses recorded by an earlier transaction, published again.
        public var replayed: [RecordedOutcome] = []
        /// Reservations the batch created or changed, as they are now.
        public var reservations: [Reservation] = []
        /// Balances after the batch, with their versions and the time they are as of.
        public var balances: [(userID: Int64, balance: Int64, version: Int64)] = []
        public var asOf: Int64 = 0
        /// Requests moved to another queue (decided there).
        public var forwarded: [(queue: QueueName, request: QueuedRequest)] = []
        /// Entries that could not be read: kept for an operator.
        public var unreadable: [String] = []
        /// The queue's last commit this publication completes (MariaDB's commit number).
        public var commitNumber: Int64 = 0
        public init() {}
    }

    /// Publishes a committed batch, then finishes it under the queue's fence. In three steps, each safe to repeat
    /// (a pass that dies between them leaves the batch in flight; the next owner commits nothing twice and
    /// publishes again):
    /// 1. read caches, newest-wins, and the terminal statuses of requests whose status lives in another queue's
    ///    slot (forwarded here) — before the finish, so a client that sees a status finds its reservation;
    /// 2. forwards into their queues, once each (a marker per request);
    /// 3. the finish script in this queue's slot: drop the batch from flight, set its requests' statuses.
    public func publish(_ publication: Publication, finishing batch: TakenBatch?, queue: QueueName, fence: Int64) throws {
        try writeCaches(publication, queue: queue)
        var forwardedStatuses: [(key: String, value: String)] = []
        for target in Set(publication.forwarded.map(\.queue)).sorted(by: { $0.tag < $1.tag }) {
            let requests = publication.forwarded.filter { $0.queue == target }.map(\.request)
            let numbers = try forward(requests, into: target)
            for (request, number) in zip(requests, numbers) where request.id.queue == queue {
                forwardedStatuses.append((RedisKeys.status(request.id), "\(number)|\(target.tag)"))
            }
        }

        var keys = [
            RedisKeys.fence(queue), RedisKeys.inflightBatches(queue), RedisKeys.pending(queue), RedisKeys.finished(queue),
            RedisKeys.unreadable(queue), RedisKeys.publishedCommit(queue),
        ]
        var terminal: [String] = []
        for index in publication.decided.indices where publication.decided[index].request.id.queue == queue {
            let request = publication.decided[index].request
            keys.append(RedisKeys.status(request.id))
            terminal.append(RequestStatus.finalPrefix(userID: request.userID) + publication.decided[index].statusJSON)
        }
        for outcome in publication.replayed where outcome.requestID.queue == queue {
            keys.append(RedisKeys.status(outcome.requestID))
            terminal.append(RequestStatus.finalPrefix(userID: outcome.userID) + outcome.statusJSON)
        }
        keys += forwardedStatuses.map(\.key)
        var arguments = [
            String(fence), batch?.inflightRecord ?? "", String(batch?.entries.count ?? 0), String(batch?.entries.count ?? 0),
            String(RedisRetention.statusSeconds), String(publication.unreadable.count), String(terminal.count),
            String(publication.commitNumber),
        ]
        arguments += publication.unreadable
        arguments += terminal
        arguments += forwardedStatuses.map(\.value)
        _ = try fenced(queue) { () throws(RedisError) -> RedisValue in
            try redis.command(["EVAL", QueueScripts.finish, String(keys.count)] + keys + arguments)
        }
    }

    /// Step 1 of `publish`: caches and the statuses that live in other slots.
    private func writeCaches(_ publication: Publication, queue: QueueName) throws(RedisError) {
        var commands: [[String]] = []
        commands += setCaches(
            publication.reservations.map { (RedisKeys.reservation($0.id), ReadCaches.reservationValue($0)) },
            ttl: RedisRetention.reservationSeconds
        )
        commands += setCaches(
            publication.balances.map {
                (RedisKeys.balance($0.userID), ReadCaches.balanceValue(balance: $0.balance, version: $0.version, asOf: publication.asOf))
            },
            ttl: 0
        )
        let ttl = String(RedisRetention.statusSeconds)
        for index in publication.decided.indices where publication.decided[index].request.id.queue != queue {
            let request = publication.decided[index].request
            commands.append([
                "SET", RedisKeys.status(request.id),
                RequestStatus.finalPrefix(userID: request.userID) + publication.decided[index].statusJSON, "EX", ttl,
            ])
        }
        for outcome in publication.replayed where outcome.requestID.queue != queue {
            commands.append([
                "SET", RedisKeys.status(outcome.requestID), RequestStatus.finalPrefix(userID: outcome.userID) + outcome.statusJSON,
                "EX", ttl,
            ])
        }
        guard !commands.isEmpty else { return }
        for reply in try redis.pipeline(commands) {
            if case .error(let message) = reply { throw RedisError(.server, message) }
        }
    }

    /// `setCaches` calls for these keys and values: one for all of them on a single server; on a cluster, one per
    /// slot (a script may only touch keys of one slot; these caches are untagged, so nearly one per key).
    private func setCaches(_ entries: [(key: String, value: String)], ttl: Int) -> [[String]] {
        guard !entries.isEmpty else { return [] }
        let groups: [[(key: String, value: String)]] = redis is RedisClusterConnection
            ? Array(Dictionary(grouping: entries, by: { RedisClusterSlot.of($0.key) }).values)
            : [entries]
        return groups.map { group in
            ["EVAL", QueueScripts.setCaches, String(group.count)] + group.map(\.key) + [String(ttl)] + group.map(\.value)
        }
    }

    /// Step 2 of `publish`: pushes requests into `target` once each; returns the number each has there.
    private func forward(_ requests: [QueuedRequest], into target: QueueName) throws(RedisError) -> [Int64] {
        _ = try redis.command(["SADD", RedisKeys.queues, target.tag])
        var keys = [RedisKeys.accepted(target), RedisKeys.pending(target), RedisKeys.wakeArm(target)]
        keys += requests.map { RedisKeys.forwarded(into: target, $0.id) }
        var arguments = [String(RedisRetention.statusSeconds)]
        for request in requests {
            arguments += [request.wireHead, String(request.acceptedAtMillis), request.wireSeats]
        }
        let reply = try redis.command(["EVAL", QueueScripts.forward, String(keys.count)] + keys + arguments)
        guard let parts = reply.array, parts.count == requests.count + 1 else {
            throw RedisError(.protocolError, "the forward script answered \(reply)")
        }
        if let wake = parts[0].string, !wake.isEmpty { try wakeUp(wake, for: target) }
        return parts.dropFirst().map { $0.int ?? 0 }
    }

    /// Writes balance caches (newest version wins), in one round trip.
    public func publishBalances(_ balances: [(userID: Int64, balance: Int64, version: Int64)], asOf: Int64) throws(RedisError) {
        let commands = setCaches(
            balances.map { (RedisKeys.balance($0.userID), ReadCaches.balanceValue(balance: $0.balance, version: $0.version, asOf: asOf)) },
            ttl: 0
        )
        guard !commands.isEmpty else { return }
        for reply in try redis.pipeline(commands) {
            if case .error(let message) = reply { throw RedisError(.server, message) }
        }
    }

    /// Whether every balance has a cache in this Redis (see `RedisKeys.balancesComplete`).
    public func balancesComplete() throws(RedisError) -> Bool {
        try redis.command(["EXISTS", RedisKeys.balancesComplete]).int == 1
    }

    public func markBalancesComplete(asOf: Int64) throws(RedisError) {
        _ = try redis.command(["SET", RedisKeys.balancesComplete, String(asOf)])
    }

    /// The last commit of the queue whose publication finished (0 for none).
    public func publishedCommit(_ queue: QueueName) throws(RedisError) -> Int64 {
        try redis.command(["GET", RedisKeys.publishedCommit(queue)]).int ?? 0
    }

    /// Replaces a performance's seat map, under its queue's fence.
    public func publishSeatMap(performance: Int64, json: String, fence: Int64) throws {
        let queue = QueueName.performance(performance)
        _ = try fenced(queue) { () throws(RedisError) -> RedisValue in
            try redis.command([
                "EVAL", QueueScripts.setUnderFence, "2", RedisKeys.fence(queue), RedisKeys.seatMap(performance: performance),
                String(fence), json,
            ])
        }
    }

    /// Replaces the seat map without a fence (`concert-admin create-performance`, before any pass owns the queue).
    public func publishSeatMap(performance: Int64, json: String) throws(RedisError) {
        _ = try redis.command(["SET", RedisKeys.seatMap(performance: performance), json])
    }

    public func hasSeatMap(performance: Int64) throws(RedisError) -> Bool {
        try redis.command(["EXISTS", RedisKeys.seatMap(performance: performance)]).int == 1
    }

    /// Replaces the performance list and the ids the ingest routes by (each key alone: no RENAME across slots).
    public func publishPerformanceList(json: String, ids: [Int64]) throws(RedisError) {
        // The id set is replaced in MULTI/EXEC (one key, so one slot): readers never see it empty in between.
        var commands: [[String]] = [["SET", RedisKeys.performanceList, json], ["MULTI"], ["DEL", RedisKeys.performanceIDs]]
        if !ids.isEmpty { commands.append(["SADD", RedisKeys.performanceIDs] + ids.map(String.init)) }
        commands.append(["EXEC"])
        for reply in try redis.pipeline(commands) {
            if case .error(let message) = reply { throw RedisError(.server, message) }
        }
    }

    // MARK: Waiting for work

    /// Arms the queues' wake-ups for `runner`, except those with work waiting; returns the queues armed.
    public func armWake(_ queues: [QueueName], runner: String, seconds: Int) throws(RedisError) -> [QueueName] {
        let replies = try redis.pipeline(queues.map { queue in
            ["EVAL", QueueScripts.armWake, "2", RedisKeys.wakeArm(queue), RedisKeys.pending(queue),
             RedisKeys.wake(runner: runner), String(seconds)]
        })
        var armed: [QueueName] = []
        for (queue, reply) in zip(queues, replies) {
            if case .error(let message) = reply { throw RedisError(.server, message) }
            if reply.int == 1 { armed.append(queue) }
        }
        return armed
    }

    /// Waits up to `seconds` (whole seconds ≥ 1, or fractions for BLPOP's decimal timeout) for a wake-up; returns
    /// the queues named (empty on timeout).
    public func waitForWake(runner: String, seconds: Double) throws(RedisError) -> [QueueName] {
        let key = RedisKeys.wake(runner: runner)
        let reply = try redis.command(["BLPOP", key, String(max(0.01, seconds))])
        guard let parts = reply.array, parts.count == 2, let first = parts[1].string else { return [] }
        var tags = [first]
        let rest = try redis.pipeline([["LRANGE", key, "0", "-1"], ["DEL", key]])
        tags += (rest.first?.array ?? []).compactMap(\.string)
        return Array(Set(tags.compactMap { QueueName(tag: Substring($0)) })).sorted { $0.tag < $1.tag }
    }

    /// Pushes `queue`'s tag to a waiting process's wake-up list (it expires if nobody reads it).
    func wakeUp(_ list: String, for queue: QueueName) throws(RedisError) {
        for reply in try redis.pipeline([["RPUSH", list, queue.tag], ["EXPIRE", list, "60"]]) {
            if case .error(let message) = reply { throw RedisError(.server, message) }
        }
    }

    // MARK: Cost model

    public func loadCostModel() throws(RedisError) -> String? {
        try redis.command(["GET", RedisKeys.costModel]).string
    }

    public func saveCostModel(_ text: String) throws(RedisError) {
        _ = try redis.command(["SET", RedisKeys.costModel, text])
    }

    // MARK: Fences

    /// Runs a fenced script; Redis's `FENCED` refusal becomes `QueueFencedError`.
    private func fenced(_ queue: QueueName, _ body: () throws(RedisError) -> RedisValue) throws -> RedisValue {
        let outcome = Result { () throws(RedisError) -> RedisValue in try body() }
        switch outcome {
        case .success(let value):
            return value
        case .failure(let failure) where failure.code == .server && failure.message.hasPrefix("FENCED"):
            throw QueueFencedError(queue: queue)
        case .failure(let failure):
            throw failure
        }
    }
}

/// Redis refused a step on a queue because a newer owner holds it: this process's lease lapsed (it was stalled)
/// and another took the queue. Nothing was changed; leave the queue alone.
public struct QueueFencedError: Error, CustomStringConvertible {
    public let queue: QueueName
    public init(queue: QueueName) { self.queue = queue }
    public var description: String {
        "queue \(queue.tag) has a newer owner: this process's lease lapsed while it was stalled; it leaves the queue alone"
    }
}

/// Entries a pass took from a queue as one numbered batch (they stay the first entries of its pending list until
/// the batch is finished).
public struct TakenBatch: Sendable {
    public let queue: QueueName
    public let number: Int64
    public let entries: [String]
    /// When the first entry after the batch was accepted (nil if none waited): holds may expire only up to there,
    /// since that request could be a pay or cancel on time.
    public let nextAcceptedAtMillis: Int64?

    public init(queue: QueueName, number: Int64, entries: [String], nextAcceptedAtMillis: Int64? = nil) {
        self.queue = queue
        self.number = number
        self.entries = entries
        self.nextAcceptedAtMillis = nextAcceptedAtMillis
    }

    /// How the queue's in-flight list names the batch: `<number>:<count>`.
    public var inflightRecord: String { "\(number):\(entries.count)" }
}
