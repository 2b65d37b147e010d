import Foundation
import MariaDBStore
import RedisStore
import ReservationCore

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
    /// The lease of a queue (`CONCERT_LOCK_LEASE_SECONDS`, default 10): a process killed with SIGKILL, or stalled,
    /// keeps others off its queue for at most this long. Renewed after every batch, so it must exceed the longest
    /// batch by a margin; a process stalled past it finds its queue fenced off when it wakes.
    public var leaseMillis: Int = Self.defaultLeaseMillis
    /// The lease when `CONCERT_LOCK_LEASE_SECONDS` is unset.
    public static let defaultLeaseMillis = 10_000
    /// Who this process is, in leases and logs: host, process id and a random part (unique across restarts).
    public var holder: String = PassIdentity.make()
    /// The clock decisions read (hold deadlines, expiry); tests put a fake one here.
    public var clock = PassClock.system
    /// Asked between batches: true once the process should stop (SIGTERM from systemd or an operator) — the pass
    /// then takes no new batch, finishes what it committed, gives its leases back and ends as if its budget were spent.
    public var shouldStop: @Sendable () -> Bool = { false }

    public init(redisURL: RedisURL, mariaDBURL: MariaDBURL, holdSeconds: Int64, metricsFile: String?) {
        self.redisURL = redisURL
        self.mariaDBURL = mariaDBURL
        self.holdSeconds = holdSeconds
        self.metricsFile = metricsFile
    }

    /// Reads `CONCERT_REDIS_URL`, `CONCERT_MARIADB_URL`, `CONCERT_HOLD_SECONDS`, `CONCERT_METRICS_FILE`,
    /// `CONCERT_LOCK_LEASE_SECONDS`; throws `OperatorError` naming the variable that is missing or wrong.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> BatchConfiguration {
        let settings = EnvironmentSettings(environment)
        let redis = try settings.required("CONCERT_REDIS_URL", hint: "e.g. redis://127.0.0.1:6379/0")
        let maria = try settings.required("CONCERT_MARIADB_URL", hint: "e.g. mariadb://concert:pw@127.0.0.1:3306/concert")
        let redisURL = try settings.parsed("CONCERT_REDIS_URL", redis, RedisURL.init(parsing:))
        let mariaURL = try settings.parsed("CONCERT_MARIADB_URL", maria, MariaDBURL.init(parsing:))
        let holdSeconds = try settings.number(
            "CONCERT_HOLD_SECONDS", as: Int64.self, expected: "a positive number of seconds", where: { $0 > 0 }
        ) ?? 300
        var configuration = BatchConfiguration(
            redisURL: redisURL, mariaDBURL: mariaURL, holdSeconds: holdSeconds, metricsFile: settings.text("CONCERT_METRICS_FILE")
        )
        configuration.leaseMillis = try leaseMillis(settings)
        return configuration
    }

    /// `CONCERT_LOCK_LEASE_SECONDS` in milliseconds, or the default: the passes' lease, which `concert-admin verify`
    /// also needs (a batch in flight longer than a lease, with no holder, is a violation).
    public static func leaseMillis(_ settings: EnvironmentSettings) throws -> Int {
        let seconds = try settings.number(
            "CONCERT_LOCK_LEASE_SECONDS", as: Double.self, expected: "1…600 seconds", where: { (1...600).contains($0) }
        )
        return seconds.map { Int($0 * 1000) } ?? defaultLeaseMillis
    }
}

/// The wall clock of the pass's decisions: when holds are granted and when they lapse. Durations (batch times,
/// budgets) use `ContinuousClock`, which a test does not need to move.
public struct PassClock: Sendable {
    /// Milliseconds since 1970.
    public var nowMillis: @Sendable () -> Int64

    public init(nowMillis: @escaping @Sendable () -> Int64) {
        self.nowMillis = nowMillis
    }

    public static let system = PassClock { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Seconds since 1970.
    public var nowSeconds: Int64 { nowMillis() / 1000 }
}

/// This process's name in leases: `host:pid:random`.
public enum PassIdentity {
    public static func make() -> String {
        let host = ProcessInfo.processInfo.hostName.prefix(64)
        return "\(host):\(getpid()):\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }
}
