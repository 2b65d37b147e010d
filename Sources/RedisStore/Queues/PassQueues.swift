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
    /// 1. read caches, newest wins, then the requests' terminal statuses — before the finish, so a client that sees
    ///    a status finds its reservation. Statuses need no fence: they are what MariaDB committed, whoever writes
    ///    them, and a process that lost the queue before committing never gets here;
    /// 2. forwards into their queues, once each (a marker per request);
    /// 3. the finish script in this queue's slot, under the fence: drop the batch from flight and its entries from
    ///    pending, count them, and note the commit as published.
    public func publish(_ publication: Publication, finishing batch: TakenBatch?, queue: QueueName, fence: Int64) throws {
        try writeCachesAndStatuses(publication)
        var forwardedStatuses: [(key: String, value: String)] = []
        for target in Set(publication.forwarded.map(\.queue)).sorted(by: { $0.tag < $1.tag }) {
            let requests = publication.forwarded.filter { $0.queue == target }.map(\.request)
            let numbers = try forward(requests, into: target)
            for (request, number) in zip(requests, numbers) where request.id.queue == queue {
                forwardedStatuses.append((RedisKeys.status(request.id), "\(number)|\(target.tag)"))
            }
        }

        let keys = [
            RedisKeys.fence(queue), RedisKeys.inflightBatches(queue), RedisKeys.pending(queue), RedisKeys.finished(queue),
            RedisKeys.unreadable(queue), RedisKeys.publishedCommit(queue),
        ] + forwardedStatuses.map(\.key)
        let arguments = [
            String(fence), batch?.inflightRecord ?? "", String(batch?.entries.count ?? 0), String(batch?.entries.count ?? 0),
            String(RedisRetention.statusSeconds), String(publication.unreadable.count), String(publication.commitNumber),
        ] + publication.unreadable + forwardedStatuses.map(\.value)
        _ = try fenced(queue) { () throws(RedisError) -> RedisValue in
            try redis.command(["EVAL", QueueScripts.finish, String(keys.count)] + keys + arguments)
        }
    }

    /// Step 1 of `publish`, as one pipeline: caches (a new hold's with `SET NX` — nothing older than a hold exists —
    /// the others through `setCaches`), then every terminal status. Wrapped in MULTI/EXEC — one per slot on a
    /// cluster — so Redis applies them in one event-loop round and, with `appendfsync always`, syncs its append-only
    /// file once, not once per 16 KiB of commands it reads.
    private func writeCachesAndStatuses(_ publication: Publication) throws(RedisError) {
        var writes: [(key: String, command: [String])] = []
        writes.reserveCapacity(publication.reservations.count + publication.decided.count + publication.replayed.count)
        let reservationTTL = String(RedisRetention.reservationSeconds)
        var changed: [(key: String, value: String)] = []
        for reservation in publication.reservations {
            let key = RedisKeys.reservation(reservation.id)
            if reservation.state == .held {
                writes.append((key, ["SET", key, ReadCaches.reservationValue(reservation), "NX", "EX", reservationTTL]))
            } else {
                changed.append((key, ReadCaches.reservationValue(reservation)))
            }
        }
        let balances = publication.balances.map {
            (RedisKeys.balance($0.userID), ReadCaches.balanceValue(balance: $0.balance, version: $0.version, asOf: publication.asOf))
        }
        for command in setCaches(changed, ttl: RedisRetention.reservationSeconds) + setCaches(balances, ttl: 0) {
            writes.append((command[3], command))  // EVAL script numkeys key…: routed by its first key
        }
        let statusTTL = String(RedisRetention.statusSeconds)
        // By index, rendering each status here (on the publisher's thread): copying each result would retain it.
        for index in publication.decided.indices {
            let request = publication.decided[index].request
            let key = RedisKeys.status(request.id)
            writes.append((key, ["SET", key, RequestStatus.finalPrefix(userID: request.userID) + publication.decided[index].statusJSON,
                                 "EX", statusTTL]))
        }
        for outcome in publication.replayed {
            let key = RedisKeys.status(outcome.requestID)
            writes.append((key, ["SET", key, RequestStatus.finalPrefix(userID: outcome.userID) + outcome.statusJSON, "EX", statusTTL]))
        }
        guard !writes.isEmpty else { return }
        let groups: [[(key: String, command: [String])]] = redis is RedisClusterConnection
            ? Array(Dictionary(grouping: writes, by: { RedisClusterSlot.of($0.key) }).values)
            : [writes]
        var commands = RedisCommandBuffer(capacity: writes.count * 200 + 64)
        for group in groups {
            if group.count > 1 { commands.command("MULTI") }
            for write in group { commands.command(write.command) }
            if group.count > 1 { commands.command("EXEC") }
        }
        for reply in try redis.pipeline(commands) {
            if case .error(let message) = reply { throw RedisError(.server, message) }
            if case .array(let results) = reply {  // an EXEC: its commands' replies
                for result in results {
                    if case .error(let message) = result { throw RedisError(.server, message) }
                }
            }
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
    /// The map's bytes go into the command as they are (a 400,000-seat map is some 28 MB: no copies as strings).
    public func publishSeatMap(performance: Int64, json: [UInt8], fence: Int64) throws {
        let queue = QueueName.performance(performance)
        var command = RedisCommandBuffer(capacity: json.count + 512)
        command.begin(arguments: 7)
        for argument in ["EVAL", QueueScripts.setUnderFence, "2", RedisKeys.fence(queue), RedisKeys.seatMap(performance: performance),
                         String(fence)] {
            command.argument(argument)
        }
        command.argument(json)
        _ = try fenced(queue) { () throws(RedisError) -> RedisValue in
            let reply = try redis.pipeline(command).first ?? .null
            if case .error(let message) = reply { throw RedisError(.server, message) }
            return reply
        }
    }

    /// Replaces the seat map without a fence (`concert-admin create-performance`, before any pass owns the queue).
    public func publishSeatMap(performance: Int64, json: [UInt8]) throws(RedisError) {
        _ = try redis.command([Array("SET".utf8), Array(RedisKeys.seatMap(performance: performance).utf8), json])
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
