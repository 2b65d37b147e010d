import Foundation
@testable import IngestService
import ReservationCore
import Testing

/// The ingest's environment: defaults, and a clear refusal of values that would hurt buyers or make no sense.
@Suite("Ingest configuration")
struct IngestConfigurationTests {
    static let base = ["CONCERT_REDIS_URL": "redis://127.0.0.1:6379/0", "CONCERT_JWT_SECRET": String(repeating: "s", count: 32)]

    @Test("defaults: 2 Redis connections, 10 requests/s with bursts of 20 per user")
    func defaults() throws {
        let configuration = try IngestConfiguration.fromEnvironment(Self.base)
        #expect(configuration.redisConnections == 2)
        #expect(configuration.rateLimitPerSecond == 10 && configuration.rateLimitBurst == 20)
        #expect(try IngestConfiguration.fromEnvironment(Self.base.merging(["CONCERT_REDIS_CONNECTIONS": "1"]) { $1 })
            .redisConnections == 1)
    }

    @Test("refused at start-up", arguments: [
        ("CONCERT_REDIS_CONNECTIONS", "0"), ("CONCERT_REDIS_CONNECTIONS", "17"), ("CONCERT_REDIS_CONNECTIONS", "two"),
        ("CONCERT_RATE_LIMIT", "5"), ("CONCERT_RATE_BURST", "10"), ("CONCERT_REDIS_URL", "http://x"),
        ("CONCERT_JWT_SECRET", ""), ("CONCERT_REDIS_REPLICA_WAIT", "-1"), ("CONCERT_REDIS_REPLICA_WAIT", "1/0"),
        ("CONCERT_REDIS_REPLICA_WAIT", "1/100ms"), ("CONCERT_REDIS_REPLICA_WAIT", "1/2/3"),
    ])
    func refused(name: String, value: String) {
        #expect(throws: OperatorError.self) {
            try IngestConfiguration.fromEnvironment(Self.base.merging([name: value]) { $1 })
        }
    }

    @Test("replica wait: 1 replica within 100 ms on a cluster, off on a single server, as CONCERT_REDIS_REPLICA_WAIT says")
    func replicaWait() throws {
        #expect(try IngestConfiguration.fromEnvironment(Self.base).replicaWait == nil)
        let cluster = Self.base.merging(["CONCERT_REDIS_URL": "redis-cluster://127.0.0.1:17000,127.0.0.1:17001"]) { $1 }
        let clusterWait = try #require(try IngestConfiguration.fromEnvironment(cluster).replicaWait)
        #expect(clusterWait.replicas == 1 && clusterWait.timeout == .milliseconds(100))
        #expect(try IngestConfiguration.fromEnvironment(cluster.merging(["CONCERT_REDIS_REPLICA_WAIT": "0"]) { $1 }).replicaWait == nil)
        let explicit = try #require(
            try IngestConfiguration.fromEnvironment(Self.base.merging(["CONCERT_REDIS_REPLICA_WAIT": "2/250"]) { $1 }).replicaWait
        )
        #expect(explicit.replicas == 2 && explicit.timeout == .milliseconds(250))
    }
}
