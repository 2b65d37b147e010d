import Foundation
import MariaDBStore
import RedisStore
import ReservationCore

/// `concert-admin verify`: the product's promises, checked against MariaDB (`ReservationDatabase.invariantViolations`)
/// and Redis as they are now.
public struct InvariantCheck {
    public struct Violation: Sendable, CustomStringConvertible {
        public var rule: String
        public var detail: String
        public var description: String { "\(rule): \(detail)" }
    }

    let database: MariaDBConnection
    let redis: any RedisCommanding
    let leaseMillis: Int

    public init(database: MariaDBConnection, redis: any RedisCommanding, leaseMillis: Int) {
        self.database = database
        self.redis = redis
        self.leaseMillis = leaseMillis
    }

    public func run() throws -> [Violation] {
        var violations: [Violation] = []
        for found in try ReservationDatabase(connection: database).invariantViolations() {
            violations.append(Violation(rule: found.rule, detail: found.detail))
        }
        violations += try redisChecks()
        return violations
    }

    /// Queue checks in Redis: in-flight work must belong to a live owner (entries taken longer than a lease ago
    /// from a queue whose lease nobody holds mean an owner died and no process has taken the queue since), and
    /// no queue holds a request twice.
    func redisChecks() throws -> [Violation] {
        let queues = PassQueues(redis: redis)
        let known = try queues.knownQueues()
        let holders = try QueueLeases(redis: redis, holder: "verify", leaseMillis: leaseMillis).holders(known)
        var violations: [Violation] = []
        let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)
        for queue in known {
            if holders[queue] == nil {
                let entries = try queues.inflight(queue).flatMap(\.entries)
                let stale = entries.compactMap { try? QueuedRequest(wireFormat: $0) }
                    .filter { nowMillis - $0.acceptedAtMillis > Int64(leaseMillis) }
                if !stale.isEmpty {
                    violations.append(Violation(
                        rule: "requests in flight with no process owning the queue",
                        detail: "queue \(queue): \(stale.count) requests (run concert-batch flush to finish them)"
                    ))
                }
            }
            let ids = (try redis.command(["LRANGE", RedisKeys.pending(queue), "0", "-1"]).array ?? [])
                .compactMap(\.string).compactMap { try? QueuedRequest(wireFormat: $0).id }
            let repeated = Dictionary(grouping: ids, by: { $0 }).filter { $0.value.count > 1 }.keys
            if !repeated.isEmpty {
                violations.append(Violation(
                    rule: "a queue holds a request twice",
                    detail: "queue \(queue): \(repeated.map(\.rawValue).sorted().prefix(5).joined(separator: ", "))"
                ))
            }
        }
        return violations
    }
}
