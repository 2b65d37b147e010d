import ReservationCore

/// Every Redis key the product uses, in one place.
///
/// A queue's keys share a Redis Cluster hash tag (`{p17}`, `{g}`), so the scripts that touch a queue, its
/// in-flight list, its counters, its lease and fence, and its requests' statuses only ever touch one slot.
/// Every other key is used alone (one key per command or script call), so it may live in any slot.
public enum RedisKeys {
    static func tagged(_ queue: QueueName, _ suffix: String) -> String { "concert:{\(queue.tag)}:\(suffix)" }

    /// Requests waiting, oldest at the head (RPUSH by the ingest, taken from the left by the pass).
    public static func pending(_ queue: QueueName) -> String { tagged(queue, "pending") }
    /// `<number>:<count>` of each batch a pass has taken from the queue and not yet published, oldest first. The
    /// batches' entries are the first ones of `pending`, in that order (see `QueueScripts.take`).
    public static func inflightBatches(_ queue: QueueName) -> String { tagged(queue, "inflight") }
    /// The last batch number handed out for the queue.
    public static func batchCounter(_ queue: QueueName) -> String { tagged(queue, "batches") }
    /// The queue's lease: `<fencing token>|<holder>` with a PX expiry, so a crashed holder blocks only until it lapses.
    public static func lease(_ queue: QueueName) -> String { tagged(queue, "lease") }
    /// The queue's fencing token counter: it grows with every acquisition of the lease, and the queue's scripts
    /// refuse any token but the newest.
    public static func fence(_ queue: QueueName) -> String { tagged(queue, "fence") }
    /// Set by a batch process waiting for work: the name of its wake-up list. The next enqueue takes it and
    /// tells the ingest to push the queue's tag there.
    public static func wakeArm(_ queue: QueueName) -> String { tagged(queue, "wake-arm") }
    /// Marks a request forwarded into this queue (its value: the number it got here), so a forward pushed again
    /// is not queued twice.
    public static func forwarded(into queue: QueueName, _ id: RequestID) -> String { tagged(queue, "fwd:\(id.rawValue)") }
    /// How many requests ever entered the queue (each gets the next number).
    public static func accepted(_ queue: QueueName) -> String { tagged(queue, "accepted") }
    /// The last commit number (`queue_fences.batches` in MariaDB) whose publication finished.
    public static func publishedCommit(_ queue: QueueName) -> String { tagged(queue, "published") }
    /// How many of them have a terminal status.
    public static func finished(_ queue: QueueName) -> String { tagged(queue, "finished") }
    /// Status of a request; the id names its queue, so no lookup is needed.
    public static func status(_ id: RequestID) -> String { tagged(id.queue, "req:\(id.rawValue)") }
    /// The request a user's Idempotency-Key named first (`<id>` while it is being queued, `<id>|<position>` once
    /// answered): per user, whatever queue the request went to.
    public static func idempotency(user: Int64, key: String) -> String { "concert:{u\(user)}:idem:\(key)" }
    /// Entries the pass could not parse: kept for an operator, never silently dropped.
    public static func unreadable(_ queue: QueueName) -> String { tagged(queue, "unreadable") }

    /// The seat map JSON of a performance (`GET /v1/performances/{id}/seats`).
    public static func seatMap(performance: Int64) -> String { tagged(.performance(performance), "seats") }

    /// Tags of every queue that has ever received a request (the pass's list of queues to look at).
    public static let queues = "concert:queues"
    /// A batch process's wake-up list: queue tags pushed by the ingest when a request arrives in a queue it armed.
    public static func wake(runner: String) -> String { "concert:wake:\(runner)" }
    /// JSON of `GET /v1/performances`.
    public static let performanceList = "concert:performances"
    /// Ids of existing performances, for the ingest's routing.
    public static let performanceIDs = "concert:performance-ids"
    /// A reservation's cache (routing of pays and cancels, `GET /v1/reservations/{id}`): see `ReadCaches`.
    public static func reservation(_ id: Int64) -> String { "concert:reservation:\(id)" }
    /// A user's balance cache (`GET /v1/me/balance`): see `ReadCaches`.
    public static func balance(_ user: Int64) -> String { "concert:balance:\(user)" }
    /// Set (to the time, in seconds) once every balance MariaDB holds has a cache in this Redis: from then on a
    /// user without one never charged (balance 0). Missing after Redis lost its data, until a pass rebuilds them.
    public static let balancesComplete = "concert:balances-complete"
    /// The batch cost model's recent samples and fit, kept between runs and read by the ingest for ETAs.
    public static let costModel = "concert:batch:cost-model"
}

/// How long statuses and caches stay in Redis (MariaDB keeps the record for ever).
public enum RedisRetention {
    public static let statusSeconds = 7 * 86_400
    public static let idempotencySeconds = 86_400
    public static let reservationSeconds = 30 * 86_400
}
