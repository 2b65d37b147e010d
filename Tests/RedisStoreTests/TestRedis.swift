import Foundation
import RedisStore

/// Where the tests find a real redis-server. Missing configuration fails the test rather than
/// skipping it, so a green run always means the client was exercised against Redis.
enum TestRedis {
    static func url() throws -> RedisURL {
        guard let text = ProcessInfo.processInfo.environment["CONCERT_REDIS_URL"], !text.isEmpty else {
            throw SetupError(
                "CONCERT_REDIS_URL is not set. Start Redis with ./deploy/local-stack up, then run e.g. "
                    + "CONCERT_REDIS_URL=redis://127.0.0.1:16379/0 swift test --filter RedisStoreTests"
            )
        }
        return try RedisURL(parsing: text)
    }

    static func connection(commandTimeout: Duration = .seconds(5)) throws -> RedisConnection {
        try RedisConnection(url: url(), commandTimeout: commandTimeout)
    }

    /// A key prefix no other test run shares, so tests can run in parallel on a shared server.
    static func uniquePrefix(_ name: String) -> String {
        "redisstore-test:\(name):\(UUID().uuidString):"
    }

    /// Deletes every key under `prefix`.
    static func deleteKeys(prefix: String) {
        guard let connection = try? connection() else { return }
        defer { connection.close() }
        var cursor = "0"
        repeat {
            guard let reply = try? connection.command(["SCAN", cursor, "MATCH", "\(prefix)*", "COUNT", "1000"]),
                let parts = reply.array, parts.count == 2, let next = parts[0].string
            else { return }
            // Keys as bytes: some tests use keys that are not valid UTF-8.
            let keys: [[UInt8]] = (parts[1].array ?? []).compactMap(\.bytes)
            if !keys.isEmpty { _ = try? connection.command([Array("DEL".utf8)] + keys) }
            cursor = next
        } while cursor != "0"
    }
}

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
