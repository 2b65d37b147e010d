import Logging
import Metrics
import Synchronization

/// Counts replica waits and reports masters that fall short, once per episode (shared by all worker threads).
final class ReplicaWaitReport: Sendable {
    private let logger: Logger
    private let waits: Counter
    private let short: Counter
    private let reached: Recorder
    /// Nodes whose last WAIT fell short, so a lasting shortfall is logged once, not once per pipeline.
    private let shortNodes = Mutex<Set<String>>([])

    init(logger: Logger, metrics: any MetricsFactory) {
        self.logger = logger
        waits = Counter(label: "concert_redis_replica_wait_total", dimensions: [], factory: metrics)
        short = Counter(label: "concert_redis_replica_wait_short_total", dimensions: [], factory: metrics)
        reached = Recorder(label: "concert_redis_replica_wait_replicas", dimensions: [], aggregate: true, factory: metrics)
    }

    /// Records one WAIT's reply (the number of replicas that acknowledged, or an error reply).
    func record(_ reply: RedisValue, wanted: Int, node: String) {
        waits.increment()
        let count: Int64
        var problem: String?
        switch reply {
        case .integer(let value): count = value
        case .error(let message): count = 0; problem = message
        default: count = 0; problem = "unexpected reply \(reply)"
        }
        reached.record(count)
        let isShort = count < Int64(wanted)
        if isShort { short.increment() }
        let changed = shortNodes.withLock { nodes in
            isShort ? nodes.insert(node).inserted : nodes.remove(node) != nil
        }
        guard changed else { return }
        if isShort {
            logger.info("Redis replica wait fell short: writes were acknowledged before reaching enough replicas; a failover now may lose them. Check the master's replicas (INFO replication). Logged again only after it recovers.", metadata: [
                "redis.node": "\(node)", "redis.replicas.wanted": "\(wanted)", "redis.replicas.reached": "\(count)",
                "redis.error": "\(problem ?? "")",
            ])
        } else {
            logger.info("Redis replica wait reaches enough replicas again", metadata: ["redis.node": "\(node)", "redis.replicas.wanted": "\(wanted)"])
        }
    }
}
