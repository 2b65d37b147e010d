import Foundation
import RedisStore

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

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> IngestConfiguration {
        guard let redis = environment["CONCERT_REDIS_URL"], !redis.isEmpty else {
            throw IngestConfigurationError("CONCERT_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
        }
        guard let secret = environment["CONCERT_JWT_SECRET"], !secret.isEmpty else {
            throw IngestConfigurationError("CONCERT_JWT_SECRET is not set (an HS256 key of at least 32 bytes)")
        }
        let url: RedisURL
        do { url = try RedisURL(parsing: redis) } catch { throw IngestConfigurationError("CONCERT_REDIS_URL: \(error)") }
        var configuration = IngestConfiguration(redisURL: url, jwtSecret: secret)
        if let text = environment["CONCERT_RATE_LIMIT"], !text.isEmpty {
            guard let value = Double(text), value >= 10 else {
                throw IngestConfigurationError("CONCERT_RATE_LIMIT must be at least 10 requests/s per user, not '\(text)'")
            }
            configuration.rateLimitPerSecond = value
        }
        if let text = environment["CONCERT_RATE_BURST"], !text.isEmpty {
            guard let value = Double(text), value >= 20 else {
                throw IngestConfigurationError("CONCERT_RATE_BURST must be at least 20 requests per user, not '\(text)'")
            }
            configuration.rateLimitBurst = value
        }
        if let text = environment["CONCERT_PUBLIC_RATE_LIMIT"], !text.isEmpty {
            guard let value = Double(text), value == 0 || value >= 100 else {
                throw IngestConfigurationError(
                    "CONCERT_PUBLIC_RATE_LIMIT must be 0 (no limit) or at least 100 requests/s per client address (many people can share one), not '\(text)'"
                )
            }
            configuration.publicRateLimitPerSecond = value
        }
        if let text = environment["CONCERT_PUBLIC_RATE_BURST"], !text.isEmpty {
            guard let value = Double(text), value >= 200 else {
                throw IngestConfigurationError("CONCERT_PUBLIC_RATE_BURST must be at least 200 requests per client address, not '\(text)'")
            }
            configuration.publicRateLimitBurst = value
        }
        if let text = environment["CONCERT_REDIS_CONNECTIONS"], !text.isEmpty {
            guard let value = Int(text), (1...16).contains(value) else {
                throw IngestConfigurationError("CONCERT_REDIS_CONNECTIONS must be a whole number from 1 to 16, not '\(text)'")
            }
            configuration.redisConnections = value
        }
        if let text = environment["CONCERT_REDIS_REPLICA_WAIT"], !text.isEmpty {
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
        throw IngestConfigurationError(
            "CONCERT_REDIS_REPLICA_WAIT must be a replica count 0-5, optionally /milliseconds 1-5000 (e.g. 1/100), not '\(text)'"
        )
    }
    return replicas == 0 ? nil : (replicas: replicas, timeout: .milliseconds(millis))
}

public struct IngestConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
