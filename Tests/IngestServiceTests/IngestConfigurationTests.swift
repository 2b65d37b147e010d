import Foundation
@testable import IngestService
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
        ("CONCERT_JWT_SECRET", ""),
    ])
    func refused(name: String, value: String) {
        #expect(throws: IngestConfigurationError.self) {
            try IngestConfiguration.fromEnvironment(Self.base.merging([name: value]) { $1 })
        }
    }
}
