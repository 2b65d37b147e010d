import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MetricsTestKit
import RedisStore
import Testing

@Suite("RedisClient (group commit) against a real redis-server")
struct RedisClientTests {
    @Test func fiveHundredConcurrentSendsGetTheirOwnReplies() async throws {
        let prefix = TestRedis.uniquePrefix("client-incr")
        defer { TestRedis.deleteKeys(prefix: prefix) }
        let client = RedisClient(url: try TestRedis.url())
        defer { client.shutdown() }

        let counts = try await withThrowingTaskGroup(of: (Int, Int64?, String?).self) { group in
            for index in 0..<500 {
                group.addTask {
                    // Each task also reads back its own key, so a reply delivered to the wrong caller shows up.
                    let count = try await client.send(["INCR", prefix + "counter"]).int
                    let own = try await client.pipeline([["SET", prefix + "own:\(index)", "v\(index)"], ["GET", prefix + "own:\(index)"]])
                    return (index, count, own.last?.string)
                }
            }
            var results: [(Int, Int64?, String?)] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(Set(counts.compactMap(\.1)) == Set(1...500))
        for (index, _, own) in counts { #expect(own == "v\(index)") }
        #expect(try await client.send(["GET", prefix + "counter"]).int == 500)
    }

    @Test func pipelinesStayTogetherAndInOrder() async throws {
        let prefix = TestRedis.uniquePrefix("client-pipeline")
        defer { TestRedis.deleteKeys(prefix: prefix) }
        let client = RedisClient(url: try TestRedis.url(), connections: 2)
        defer { client.shutdown() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<100 {
                group.addTask {
                    let key = prefix + "list:\(index)"
                    let replies = try await client.pipeline([
                        ["RPUSH", key, "a"], ["RPUSH", key, "b"], ["INCR", key], ["LRANGE", key, "0", "-1"],
                    ])
                    #expect(replies.count == 4)
                    #expect(replies[0] == .integer(1))
                    #expect(replies[1] == .integer(2))
                    #expect(replies[2].isServerErrorReply, "WRONGTYPE comes back in place")
                    #expect(replies[3].array?.compactMap(\.string) == ["a", "b"])
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func serverErrorIsThrownBySend() async throws {
        let client = RedisClient(url: try TestRedis.url(), connections: 1)
        defer { client.shutdown() }
        await #expect(throws: RedisError.server) { try await client.send(["NO-SUCH-COMMAND"]) }
        #expect(try await client.send(["PING"]) == .status("PONG"))
    }

    @Test func closedPortThrowsAConnectionError() async throws {
        let client = RedisClient(url: RedisURL(host: "127.0.0.1", port: 1), connections: 1)
        defer { client.shutdown() }
        let error = await #expect(throws: RedisError.connectFailed) { try await client.send(["PING"]) }
        #expect(error?.isConnectionError == true)
    }

    @Test func recoversAfterTheServerKillsItsConnection() async throws {
        let client = RedisClient(url: try TestRedis.url(), connections: 1)
        defer { client.shutdown() }
        let firstID = try #require(try await client.send(["CLIENT", "ID"]).int)
        let killer = try TestRedis.connection()
        #expect(try killer.command(["CLIENT", "KILL", "ID", String(firstID)]) == .integer(1))
        do {
            _ = try await client.send(["PING"])
        } catch {
            #expect(error.isConnectionError, "unexpected error \(error)")
        }
        #expect(try await client.send(["PING"]) == .status("PONG"))
    }

    @Test func startsWhileRedisIsDownAndWorksOnceItIsUp() async throws {
        guard let serverPath = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first(where: FileManager.default.isExecutableFile) else {
            throw SetupError("redis-server is not installed; this test starts its own instance (apt-get install redis-server)")
        }
        // Below the kernel's ephemeral range (32768–60999), where a busy machine's outgoing connections may hold the port.
        let port = Int.random(in: 10_000..<12_000)
        let client = RedisClient(url: RedisURL(host: "127.0.0.1", port: port), connections: 1, connectTimeout: .milliseconds(500))
        defer { client.shutdown() }
        await #expect(throws: RedisError.connectFailed) { try await client.send(["PING"]) }

        // Daemonized (the launcher exits at once) and stopped with SHUTDOWN NOSAVE below.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redisstore-test-\(port)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let status = try runToCompletion(serverPath, [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "yes", "--dir", directory.path, "--logfile", directory.appendingPathComponent("log").path,
            "--pidfile", directory.appendingPathComponent("pid").path,
        ])
        #expect(status == 0, "redis-server --daemonize yes exited with status \(status)")
        defer {
            // The server drops the connection as it exits, so this "fails" by design.
            _ = try? RedisConnection(url: RedisURL(host: "127.0.0.1", port: port)).command(["SHUTDOWN", "NOSAVE"])
            try? FileManager.default.removeItem(at: directory)
        }

        // The same client, no restart: calls fail until the server listens, then succeed.
        // Generous: beside the other suites on two cores, this task can wait seconds for a cooperative thread.
        let deadline = ContinuousClock.now + .seconds(30)
        var reply: RedisValue?
        while reply == nil, ContinuousClock.now < deadline {
            do {
                reply = try await client.send(["PING"])
            } catch {
                #expect(error.isConnectionError, "unexpected error \(error)")
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(reply == .status("PONG"), """
            no PONG within 30 s; the server's log: \((try? String(contentsOf: directory.appendingPathComponent("log"), encoding: .utf8)) ?? "none")
            """)
    }

    @Test func aReplicaWaitThatFallsShortDoesNotFailTheCallers() async throws {
        let prefix = TestRedis.uniquePrefix("client-wait")
        defer { TestRedis.deleteKeys(prefix: prefix) }
        // The test server has no replicas: every WAIT reaches 0 of the 1 asked for.
        let metrics = TestMetrics()
        let client = RedisClient(url: try TestRedis.url(), connections: 1, replicaWait: (replicas: 1, timeout: .milliseconds(10)), metrics: metrics)
        defer { client.shutdown() }
        #expect(try await client.pipeline([["SET", prefix + "k", "v"], ["GET", prefix + "k"]]) == [.status("OK"), .bulk(Array("v".utf8))])
        #expect(try await client.send(["INCR", prefix + "n"]) == .integer(1))
        #expect(metrics.counterTotal(label: "concert_redis_replica_wait_total") == 2, "one WAIT per pipeline")
        #expect(metrics.counterTotal(label: "concert_redis_replica_wait_short_total") == 2)
        #expect(try metrics.expectRecorder("concert_redis_replica_wait_replicas").values == [0, 0])
    }

    @Test func shutdownFailsLaterCallsWithClosed() async throws {
        let client = RedisClient(url: try TestRedis.url(), connections: 1)
        #expect(try await client.send(["PING"]) == .status("PONG"))
        client.shutdown()
        await #expect(throws: RedisError.closed) { try await client.send(["PING"]) }
        client.shutdown()  // idempotent
    }
}

/// Runs a program and waits for it with posix_spawn + waitpid (shared by the cluster tests). Foundation's `Process.waitUntilExit`
/// never noticed the daemonizing redis-server exit inside the test runner, and hung.
func runToCompletion(_ path: String, _ arguments: [String]) throws -> Int32 {
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { (argument: String) in strdup(argument) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, nil, nil, argv, environ)
    guard spawned == 0 else { throw SetupError("cannot start \(path): posix_spawn returned \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return status
}

extension RedisValue {
    fileprivate var isServerErrorReply: Bool {
        if case .error = self { true } else { false }
    }
}
