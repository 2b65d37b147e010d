import ReservationCore

/// A lease on one queue: the right to work on it until `leaseMillis` after the last renewal, with a fencing token
/// that grows with every acquisition. A lease is not a lock — its holder can be paused past it and wake up
/// believing it still owns the queue — so every step that changes the queue carries the token, and Redis's
/// scripts and MariaDB's fence row refuse an older one.
public struct QueueLease: Sendable, Equatable {
    public let queue: QueueName
    public let token: Int64
    public let holder: String

    /// The lease key's value: `<token>|<holder>`.
    var value: String { "\(token)|\(holder)" }
}

/// Takes, renews and gives back leases, on the pass's blocking connection. The lease and the token counter live
/// in the queue's own slot (`RedisKeys.lease`, `RedisKeys.fence`).
public final class QueueLeases {
    public let redis: any RedisCommanding
    /// Who holds: this process, across machines (`host:pid:random`).
    public let holder: String
    public let leaseMillis: Int

    public init(redis: any RedisCommanding, holder: String, leaseMillis: Int) {
        self.redis = redis
        self.holder = holder
        self.leaseMillis = leaseMillis
    }

    /// Takes the queue's lease with a new token, or extends it if this process holds it already; nil when
    /// another process holds it.
    public func acquire(_ queue: QueueName) throws(RedisError) -> QueueLease? {
        let reply = try redis.command([
            "EVAL", QueueScripts.acquireLease, "2", RedisKeys.lease(queue), RedisKeys.fence(queue), holder, String(leaseMillis),
        ])
        guard let token = reply.int, token > 0 else { return nil }
        return QueueLease(queue: queue, token: token, holder: holder)
    }

    /// Extends the lease; false when it lapsed (another process may hold the queue now).
    public func renew(_ lease: QueueLease) throws(RedisError) -> Bool {
        try redis.command([
            "EVAL", QueueScripts.renewLease, "1", RedisKeys.lease(lease.queue), lease.value, String(leaseMillis),
        ]).int == 1
    }

    /// Gives the lease back, if it is still ours.
    public func release(_ lease: QueueLease) throws(RedisError) {
        _ = try redis.command(["EVAL", QueueScripts.releaseLease, "1", RedisKeys.lease(lease.queue), lease.value])
    }

    /// Who holds each queue's lease now (`<token>|<holder>`), nil for nobody.
    public func holders(_ queues: [QueueName]) throws(RedisError) -> [QueueName: String] {
        var holders: [QueueName: String] = [:]
        for (queue, reply) in zip(queues, try redis.pipeline(queues.map { ["GET", RedisKeys.lease($0)] })) {
            if let value = reply.string { holders[queue] = value }
        }
        return holders
    }
}
