import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IngestService
import Logging
import RedisStore
import Synchronization
import Testing
import TokenAuth

/// An ingest over a `MemoryIntakeStore`, driven in-process through HummingbirdTesting's router client (no socket).
struct RouterHarness {
    static let secret = "router-tests-secret-of-32-bytes!!"
    /// Seconds since 1970 as the ingest sees them (tokens are checked against it).
    static let start: Int64 = 1_795_550_400

    let store: MemoryIntakeStore
    let configuration: IngestConfiguration
    let clock: TestClock

    /// A clock the test moves (wall and monotonic time together); it never moves by itself, so a loaded machine
    /// cannot refill a bucket or age a cache while a test runs.
    final class TestClock: Sendable {
        private let elapsed = Mutex<Double>(0)
        /// Seconds since 1970.
        var now: Int64 { RouterHarness.start + Int64(elapsed.withLock { $0 }) }
        var ingestClock: IngestClock {
            IngestClock(wallSeconds: { self.now }, uptime: { self.elapsed.withLock { $0 } })
        }
        func advance(_ seconds: Double) { elapsed.withLock { $0 += seconds } }
    }

    /// Limits out of the way unless a test sets them: most tests send more than a burst from one user or client.
    init(store: MemoryIntakeStore = MemoryIntakeStore(), configure: (inout IngestConfiguration) -> Void = { _ in }) throws {
        self.store = store
        // Never connected: the store is in memory.
        var configuration = IngestConfiguration(redisURL: try RedisURL(parsing: "redis://127.0.0.1:1/0"), jwtSecret: Self.secret)
        configuration.rateLimitPerSecond = 100_000
        configuration.rateLimitBurst = 100_000
        configuration.publicRateLimitPerSecond = 0
        configure(&configuration)
        self.configuration = configuration
        self.clock = TestClock()
    }

    func token(user: Int64, ttl: Int64 = 3_600) throws -> String {
        try BearerTokenSigner(secret: Self.secret).token(userID: user, issuedAt: clock.now, ttlSeconds: ttl)
    }

    func run<Value: Sendable>(_ test: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        var logger = Logger(label: "ingest-router-test")
        logger.logLevel = .critical
        let clock = self.clock
        let app = try buildApplication(configuration: configuration, store: store, logger: logger, clock: clock.ingestClock)
        return try await app.test(.router, test)
    }
}
