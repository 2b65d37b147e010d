import Foundation
import MariaDBStore
import RedisStore

/// Everything a pass needs to know, read once from the environment (flags override) by `concert-batch`.
public struct BatchConfiguration: Sendable {
    public var redisURL: RedisURL
    public var mariaDBURL: MariaDBURL
    /// How long a new hold waits for payment (`CONCERT_HOLD_SECONDS`, default 300).
    public var holdSeconds: Int64
    /// Where the Prometheus textfile goes (`CONCERT_METRICS_FILE`); nil writes none.
    public var metricsFile: String?
    /// The batch time the cost model aims for.
    public var targetBatchSeconds: Double = 0.25
    /// Bounds of the chosen batch size.
    public var batchSizeBounds: ClosedRange<Int> = 50...50_000
    /// A fixed batch size instead of the model's choice (benchmarks compare against size 1).
    public var fixedBatchSize: Int?
    /// The pass lock's lease (`CONCERT_LOCK_LEASE_SECONDS`, default 10): a pass killed with SIGKILL blocks the next
    /// one for at most this long. Renewed after every batch, so it must exceed the longest batch by a margin.
    public var leaseMillis: Int = 10_000

    public init(redisURL: RedisURL, mariaDBURL: MariaDBURL, holdSeconds: Int64, metricsFile: String?) {
        self.redisURL = redisURL
        self.mariaDBURL = mariaDBURL
        self.holdSeconds = holdSeconds
        self.metricsFile = metricsFile
    }

    /// Reads `CONCERT_REDIS_URL`, `CONCERT_MARIADB_URL`, `CONCERT_HOLD_SECONDS`, `CONCERT_METRICS_FILE`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> BatchConfiguration {
        guard let redis = environment["CONCERT_REDIS_URL"], !redis.isEmpty else {
            throw ConfigurationError("CONCERT_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
        }
        guard let maria = environment["CONCERT_MARIADB_URL"], !maria.isEmpty else {
            throw ConfigurationError("CONCERT_MARIADB_URL is not set (e.g. mariadb://concert:pw@127.0.0.1:3306/concert)")
        }
        let redisURL: RedisURL
        do { redisURL = try RedisURL(parsing: redis) } catch {
            throw ConfigurationError("CONCERT_REDIS_URL: \(error)")
        }
        let mariaURL: MariaDBURL
        do { mariaURL = try MariaDBURL(parsing: maria) } catch {
            throw ConfigurationError("CONCERT_MARIADB_URL: \(error)")
        }
        var holdSeconds: Int64 = 300
        if let text = environment["CONCERT_HOLD_SECONDS"], !text.isEmpty {
            guard let value = Int64(text), value > 0 else {
                throw ConfigurationError("CONCERT_HOLD_SECONDS must be a positive number of seconds, not '\(text)'")
            }
            holdSeconds = value
        }
        let metrics = environment["CONCERT_METRICS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        var configuration = BatchConfiguration(redisURL: redisURL, mariaDBURL: mariaURL, holdSeconds: holdSeconds, metricsFile: metrics)
        if let text = environment["CONCERT_LOCK_LEASE_SECONDS"], !text.isEmpty {
            guard let seconds = Double(text), seconds >= 1, seconds <= 600 else {
                throw ConfigurationError("CONCERT_LOCK_LEASE_SECONDS must be 1…600 seconds, not '\(text)'")
            }
            configuration.leaseMillis = Int(seconds * 1000)
        }
        return configuration
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
