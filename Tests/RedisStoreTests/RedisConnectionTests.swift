import Foundation
import RedisStore
import Testing

@Suite("RedisConnection against a real redis-server")
struct RedisConnectionTests {
    @Test func binarySafeSetAndGet() throws {
        let prefix = TestRedis.uniquePrefix("binary")
        defer { TestRedis.deleteKeys(prefix: prefix) }
        let redis = try TestRedis.connection()
        let key: [UInt8] = Array(prefix.utf8) + [0, 13, 10, 0xFF]
        let value: [UInt8] = [0, 65, 13, 10, 0, 0xFF, 0xC3, 0x28, 13, 10]
        #expect(try redis.command([Array("SET".utf8), key, value]) == .status("OK"))
        let reply = try redis.command([Array("GET".utf8), key])
        #expect(reply == .bulk(value))
        #expect(reply.bytes == value)
        #expect(reply.string == nil, "invalid UTF-8 is not turned into text")
        // An empty argument is a real (empty) value, not a missing one.
        #expect(try redis.command(["SET", prefix + "empty", ""]) == .status("OK"))
        #expect(try redis.command(["GET", prefix + "empty"]) == .bulk([]))
    }

    @Test func integersArraysAndNil() throws {
        let prefix = TestRedis.uniquePrefix("types")
        defer { TestRedis.deleteKeys(prefix: prefix) }
        let redis = try TestRedis.connection()
        #expect(try redis.command(["INCR", prefix + "n"]) == .integer(1))
        #expect(try redis.command(["INCRBY", prefix + "n", "-5"]) == .integer(-4))
        #expect(try redis.command(["GET", prefix + "n"]).int == -4, "a counter read with GET is a bulk string")
        #expect(try redis.command(["RPUSH", prefix + "list", "a", "b", "c"]).int == 3)
        let list = try redis.command(["LRANGE", prefix + "list", "0", "-1"])
        #expect(list == .array([.bulk(Array("a".utf8)), .bulk(Array("b".utf8)), .bulk(Array("c".utf8))]))
        #expect(list.array?.compactMap(\.string) == ["a", "b", "c"])
        #expect(try redis.command(["GET", prefix + "missing"]).isNull)
        #expect(try redis.command(["LRANGE", prefix + "missing", "0", "-1"]) == .array([]))
        #expect(try redis.command(["PING"]) == .status("PONG"))
        // Nested arrays with a nil inside (Lua false becomes a nil bulk string).
        let nested = try redis.command(["EVAL", "return {1, {'x', false}, 'y'}", "0"])
        #expect(nested == .array([.integer(1), .array([.bulk(Array("x".utf8)), .null]), .bulk(Array("y".utf8))]))
    }

    @Test func errorReplyThrowsServerErrorAndConnectionStaysUsable() throws {
        let prefix = TestRedis.uniquePrefix("error")
        defer { TestRedis.deleteKeys(prefix: prefix) }
        let redis = try TestRedis.connection()
        _ = try redis.command(["SET", prefix + "text", "not a number"])
        let error = #expect(throws: RedisError.server) { try redis.command(["INCR", prefix + "text"]) }
        #expect(error?.message.hasPrefix("ERR") == true)
        #expect(error?.isServerError == true)
        #expect(error?.isConnectionError == false)
        #expect(try redis.command(["PING"]) == .status("PONG"))
        #expect(redis.isConnected)
    }

    @Test func tenThousandCommandPipeline() throws {
        let prefix = TestRedis.uniquePrefix("pipeline")
        defer { TestRedis.deleteKeys(prefix: prefix) }
        let redis = try TestRedis.connection()
        let commands: [[String]] = Array(repeating: ["INCR", prefix + "counter"], count: 10_000)
        let replies = try redis.pipeline(commands)
        #expect(replies == (1...10_000).map { RedisValue.integer(Int64($0)) })
    }

    @Test func hundredThousandCommandPipelineIsLinear() throws {
        let prefix = TestRedis.uniquePrefix("bigpipeline")
        defer { TestRedis.deleteKeys(prefix: prefix) }
        let redis = try TestRedis.connection()
        let value = String(repeating: "v", count: 100)
        let commands: [[String]] = (0..<100_000).map { ["RPUSH", prefix + "list", "\(value)\($0)"] }
        let start = ContinuousClock.now
        let replies = try redis.pipeline(commands)
        let elapsed = ContinuousClock.now - start
        #expect(replies.count == 100_000)
        #expect(replies.last == .integer(100_000))
        // Linear work takes well under a second here; quadratic buffer handling would take minutes.
        #expect(elapsed < .seconds(30), "100k-command pipeline took \(elapsed)")
    }

    @Test func serverErrorInsidePipelineIsReturnedInPlace() throws {
        let prefix = TestRedis.uniquePrefix("pipeline-error")
        defer { TestRedis.deleteKeys(prefix: prefix) }
        let redis = try TestRedis.connection()
        let replies = try redis.pipeline([
            ["SET", prefix + "k", "text"],
            ["INCR", prefix + "k"],
            ["GET", prefix + "k"],
        ])
        #expect(replies.count == 3)
        #expect(replies[0] == .status("OK"))
        guard case .error(let message) = replies[1] else {
            Issue.record("expected an error reply in place, got \(replies[1])")
            return
        }
        #expect(message.hasPrefix("ERR"))
        #expect(replies[2].string == "text")
    }

    @Test func reconnectsAfterTheServerKillsTheConnection() throws {
        let redis = try TestRedis.connection()
        let killer = try TestRedis.connection()
        let firstID = try #require(try redis.command(["CLIENT", "ID"]).int)
        // CLIENT KILL ID rather than TYPE normal: the server is shared, other test runs keep their connections.
        #expect(try killer.command(["CLIENT", "KILL", "ID", String(firstID)]) == .integer(1))

        // The first call after the kill may fail (and must then say it is a connection error) ...
        do {
            _ = try redis.command(["PING"])
        } catch {
            #expect(error.isConnectionError, "unexpected error \(error)")
        }
        // ... the next one reconnects and works.
        #expect(try redis.command(["PING"]) == .status("PONG"))
        let secondID = try #require(try redis.command(["CLIENT", "ID"]).int)
        #expect(secondID != firstID)
    }

    @Test func commandTimeoutDropsTheConnectionAndTheNextCallReconnects() throws {
        let prefix = TestRedis.uniquePrefix("timeout")
        let redis = try TestRedis.connection(commandTimeout: .milliseconds(300))
        // BLPOP blocks for 3 s and would then answer nil; an .io error proves the 300 ms timeout cut it short
        // (no wall-clock assertion: the machine is shared and noisy).
        let error = #expect(throws: RedisError.io) { try redis.command(["BLPOP", prefix + "empty", "3"]) }
        #expect(error?.isConnectionError == true)
        #expect(!redis.isConnected)
        #expect(try redis.command(["PING"]) == .status("PONG"))
    }

    @Test func selectsTheDatabaseFromTheURL() throws {
        var url = try TestRedis.url()
        url.database = 9
        let redis = try RedisConnection(url: url)
        let info = try #require(try redis.command(["CLIENT", "INFO"]).string)
        #expect(info.contains(" db=9 "))
    }

    @Test func wrongPasswordIsAConnectErrorThatSaysWhy() throws {
        var url = try TestRedis.url()
        url.password = "definitely-wrong"
        let error = #expect(throws: RedisError.connectFailed) { try RedisConnection(url: url) }
        #expect(error?.message.contains("AUTH") == true || error?.message.contains("WRONGPASS") == true, "\(String(describing: error))")
        #expect(error?.message.contains("check the password") == true)
    }

    @Test func closedPortFailsToConnect() {
        let url = RedisURL(host: "127.0.0.1", port: 1)
        let error = #expect(throws: RedisError.connectFailed) { try RedisConnection(url: url) }
        #expect(error?.isConnectionError == true)
        #expect(error?.message.contains("127.0.0.1:1") == true)
    }

    @Test func closeAndEmptyCommandsAreRejected() throws {
        let redis = try TestRedis.connection()
        #expect(throws: RedisError.protocolError) { try redis.command([String]()) }
        #expect(throws: RedisError.protocolError) { try redis.pipeline([["PING"], []]) }
        #expect(try redis.pipeline([[String]]()) == [])
        #expect(try redis.command(["PING"]) == .status("PONG"))
        redis.close()
        #expect(throws: RedisError.closed) { try redis.command(["PING"]) }
    }
}
