import Foundation
import RedisStore
import ReservationCore

/// The ingest's settings, from the environment (flags of the same meaning win, in `concert-ingest`).
public struct IngestConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var redisURL: RedisURL
    public var jwtSecret: String
    /// Redis connections, each with its own thread that sends everything queued as one pipeline
    /// (`CONCERT_REDIS_CONNECTIONS`, 1…16).
    public var redisConnections = 2
    /// Replicas each Redis pipeline waits for before its 202s are sent (`WAIT n ms`, once per pipeline, not per
    /// request): `CONCERT_REDIS_REPLICA_WAIT` = `n` or `n/ms`. Default 1 replica within 100 ms on a cluster (a master
    /// that dies keeps no 202 its replica lacks), 0 (off) on a single server, which has no replica to wait for.
    /// A wait that reaches fewer replicas in time still answers 202 and is counted
    /// (`concert_redis_replica_wait_short_total`).
    public var replicaWait: (replicas: Int, timeout: Duration)?
    /// Per-user token bucket: sustained requests per second and burst (`CONCERT_RATE_LIMIT`, `CONCERT_RATE_BURST`).
    public var rateLimitPerSecond: Double = 10
    public var rateLimitBurst: Double = 20
    /// Per-client (remote address) token bucket of the public routes: sustained requests per second and burst
    /// (`CONCERT_PUBLIC_RATE_LIMIT`, `CONCERT_PUBLIC_RATE_BURST`); 0 turns it off. Generous, because an office NAT or
    /// a CDN puts many people behind one address: 1,000 people each refreshing once a second still pass.
    public var publicRateLimitPerSecond: Double = 1_000
    public var publicRateLimitBurst: Double = 2_000
    /// Largest request body accepted.
    public var maxBodyBytes = 16 * 1024
    /// Connections idle this long are closed (slow and idle clients).
    public var idleTimeoutSeconds: Int64 = 30

    public init(redisURL: RedisURL, jwtSecret: String) {
        self.redisURL = redisURL
        self.jwtSecret = jwtSecret
        self.replicaWait = redisURL.isCluster ? (replicas: 1, timeout: .milliseconds(100)) : nil
    }

    /// Reads `CONCERT_REDIS_URL`, `CONCERT_JWT_SECRET` and the optional settings above; throws `OperatorError`
    /// naming the variable that is missing or wrong.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> IngestConfiguration {
        let settings = EnvironmentSettings(environment)
        let redis = try settings.required("CONCERT_REDIS_URL", hint: "e.g. redis://127.0.0.1:6379/0")
        let secret = try settings.required("CONCERT_JWT_SECRET", hint: "an HS256 key of at least 32 bytes")
        let url = try settings.parsed("CONCERT_REDIS_URL", redis, RedisURL.init(parsing:))
        var configuration = IngestConfiguration(redisURL: url, jwtSecret: secret)
        if let value = try settings.number(
            "CONCERT_RATE_LIMIT", as: Double.self, expected: "at least 10 requests/s per user", where: { $0 >= 10 }
        ) {
            configuration.rateLimitPerSecond = value
        }
        if let value = try settings.number(
            "CONCERT_RATE_BURST", as: Double.self, expected: "at least 20 requests per user", where: { $0 >= 20 }
        ) {
            configuration.rateLimitBurst = value
        }
        if let value = try settings.number(
            "CONCERT_PUBLIC_RATE_LIMIT", as: Double.self,
            expected: "0 (no limit) or at least 100 requests/s per client address (many people can share one)",
            where: { $0 == 0 || $0 >= 100 }
        ) {
            configuration.publicRateLimitPerSecond = value
        }
        if let value = try settings.number(
            "CONCERT_PUBLIC_RATE_BURST", as: Double.self, expected: "at least 200 requests per client address", where: { $0 >= 200 }
        ) {
            configuration.publicRateLimitBurst = value
        }
        if let value = try settings.number(
            "CONCERT_REDIS_CONNECTIONS", as: Int.self, expected: "a whole number from 1 to 16", where: { (1...16).contains($0) }
        ) {
            configuration.redisConnections = value
        }
        if let text = settings.text("CONCERT_REDIS_REPLICA_WAIT") {
            configuration.replicaWait = try parseReplicaWait(text)
        }
        return configuration
    }
}

/// `n` (replicas, within 100 ms) or `n/ms`; `0` turns the wait off.
private func parseReplicaWait(_ text: String) throws -> (replicas: Int, timeout: Duration)? {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard (1...2).contains(parts.count), let replicas = Int(parts[0]), (0...5).contains(replicas),
        let millis = parts.count == 2 ? Int(parts[1]) : 100, (1...5_000).contains(millis)
    else {
        throw OperatorError(
            "CONCERT_REDIS_REPLICA_WAIT must be a replica count 0-5, optionally /milliseconds 1-5000 (e.g. 1/100), not '\(text)'"
        )
    }
    return replicas == 0 ? nil : (replicas: replicas, timeout: .milliseconds(millis))
}
