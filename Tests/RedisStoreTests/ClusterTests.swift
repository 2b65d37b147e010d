import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MetricsTestKit
import RedisStore
import Testing

/// Against the real Redis Cluster of `./deploy/cluster/redis-cluster up` (3 masters, 3 replicas), named by
/// `CONCERT_CLUSTER_REDIS_URL`. Serialized: some tests move slots or kill a master, and each leaves the cluster
/// healthy (3 masters with slots, each with an in-sync replica) for the next.
@Suite("RedisClusterConnection and RedisClient against a real Redis Cluster", .serialized)
struct ClusterTests {
    // MARK: Routing

    @Test func keysAreRoutedToEachOfTheThreeMasters() throws {
        let prefix = TestRedis.uniquePrefix("cluster-route")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        let layout = try TestCluster.layout()
        #expect(Set(cluster.masters) == Set(layout.masters.map(\.endpoint)))
        let keys = try TestCluster.keysOnEveryMaster(prefix: prefix, layout: layout)
        #expect(keys.count == 3)
        for (master, key) in keys {
            #expect(try cluster.command(["SET", key, "on \(master)"]) == .status("OK"))
            // The key is where the cluster says: its master answers a plain GET without redirecting.
            let direct = try RedisConnection(url: RedisURL(host: master.host, port: master.port))
            defer { direct.close() }
            #expect(try direct.command(["GET", key]).string == "on \(master)")
            #expect(try cluster.command(["GET", key]).string == "on \(master)")
        }
        // Keyless commands go to some master.
        #expect(try cluster.command(["PING"]) == .status("PONG"))
        #expect(try cluster.command(["EVAL", "return 7", "0"]) == .integer(7))
    }

    @Test func aPipelineOverAllMastersAnswersInTheCallersOrder() throws {
        let prefix = TestRedis.uniquePrefix("cluster-pipeline")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        let keys = (0..<30).map { "\(prefix)k\($0)" }
        #expect(Set(keys.compactMap { cluster.master(forSlot: RedisClusterSlot.of($0)) }).count == 3, "30 keys should cover every master")
        var commands: [[String]] = []
        for round in 1...20 {
            for key in keys { commands.append(["INCR", key]) }
            commands.append(["GET", keys[round % keys.count]])
        }
        commands.append(["INCR", keys[0], "extra"])  // an error reply stays in its place
        let replies = try cluster.pipeline(commands)
        #expect(replies.count == commands.count)
        var index = 0
        for round in 1...20 {
            for _ in keys {
                #expect(replies[index] == .integer(Int64(round)))
                index += 1
            }
            #expect(replies[index].int == Int64(round))
            index += 1
        }
        guard case .error(let message) = replies[index] else {
            Issue.record("expected an error reply in place, got \(replies[index])")
            return
        }
        #expect(message.hasPrefix("ERR"))

        // The protocol-bytes form routes the same way.
        var buffer = RedisCommandBuffer()
        for key in keys { buffer.command("GET", key) }
        #expect(try cluster.pipeline(buffer).map(\.int) == Array(repeating: Int64(20), count: keys.count))
    }

    @Test func aPipelineOverThreeMastersCostsOneWaitNotThree() throws {
        let prefix = TestRedis.uniquePrefix("cluster-concurrent")
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        let keys = try TestCluster.keysOnEveryMaster(prefix: prefix, layout: TestCluster.layout())
        // Each BLPOP waits 0.4 s on an empty list. Written to every master before any reply is read, they wait
        // together (about 0.4 s); sent master after master they would take 1.2 s or more.
        let start = ContinuousClock.now
        let replies = try cluster.pipeline(keys.values.map { ["BLPOP", $0, "0.4"] })
        let elapsed = ContinuousClock.now - start
        #expect(replies == [.null, .null, .null])
        #expect(elapsed < .milliseconds(1_000), "three 0.4 s waits on three masters took \(elapsed): sent one after another?")
    }

    @Test func aTransactionGoesWholeToItsSlotsMaster() throws {
        let prefix = TestRedis.uniquePrefix("cluster-multi")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        let tag = "{\(prefix)}"
        let replies = try cluster.pipeline([
            ["SET", prefix + "elsewhere", "1"],
            ["MULTI"], ["RPUSH", tag + "list", "a"], ["INCR", tag + "n"], ["EXEC"],
            ["GET", tag + "n"],
        ])
        #expect(replies.count == 6)
        #expect(replies[1] == .status("OK"))
        #expect(replies[2] == .status("QUEUED"))
        #expect(replies[4] == .array([.integer(1), .integer(1)]))
        #expect(replies[5].int == 1)
    }

    @Test func multiKeyCommandsAcrossSlotsAreRefusedBeforeSending() throws {
        let prefix = TestRedis.uniquePrefix("cluster-crossslot")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        let (first, second) = try TestCluster.twoKeysInDifferentSlots(prefix: prefix)
        let error = #expect(throws: RedisError.protocolError) { try cluster.command(["MSET", first, "1", second, "2"]) }
        #expect(error?.message.contains("CROSSSLOT") == true)
        #expect(error?.message.contains(first) == true && error?.message.contains(second) == true, "\(String(describing: error))")
        // A pipeline with one such command is refused whole: its good commands did not run either.
        #expect(throws: RedisError.protocolError) {
            try cluster.pipeline([["SET", first, "ran"], ["RENAME", first, second]])
        }
        #expect(try cluster.command(["EXISTS", first]) == .integer(0))
        #expect(try cluster.command(["EXISTS", second]) == .integer(0))
        // SELECT is never sent to a cluster.
        #expect(throws: RedisError.protocolError) { try cluster.command(["SELECT", "0"]) }
        #expect(try cluster.command(["PING"]) == .status("PONG"))
    }

    @Test func connectingPicksTheKindOfConnectionByTheURL() throws {
        let clusterURL = try TestCluster.url()
        let viaFactory = try connectRedis(url: clusterURL)
        defer { viaFactory.close() }
        #expect(viaFactory is RedisClusterConnection)
        #expect(try viaFactory.command(["PING"]) == .status("PONG"))
        #expect(throws: RedisError.invalidURL) { try RedisConnection(url: clusterURL) }
        #expect(throws: RedisError.invalidURL) { try RedisClusterConnection(url: RedisURL(host: "127.0.0.1", port: 1)) }
        // Seeds that do not answer are skipped; none answering is a connect error that says what to check.
        var seeds = clusterURL.clusterSeeds
        seeds.insert(RedisEndpoint(host: "127.0.0.1", port: 1), at: 0)
        let partly = try RedisClusterConnection(url: RedisURL(clusterSeeds: seeds))
        defer { partly.close() }
        #expect(try partly.command(["PING"]) == .status("PONG"))
        let error = #expect(throws: RedisError.connectFailed) {
            try RedisClusterConnection(url: RedisURL(clusterSeeds: [RedisEndpoint(host: "127.0.0.1", port: 1)]))
        }
        #expect(error?.message.contains("cluster info") == true)
    }

    @Test func aCommandThatMayHaveRunIsNotSentAgain() throws {
        let prefix = TestRedis.uniquePrefix("cluster-timeout")
        let cluster = try RedisClusterConnection(url: try TestCluster.url(), commandTimeout: .milliseconds(300))
        defer { cluster.close() }
        // BLPOP blocks past the 300 ms timeout: its fate is unknown to the client, so it must fail, not be retried.
        let error = #expect(throws: RedisError.io) { try cluster.command(["BLPOP", prefix + "empty", "2"]) }
        #expect(error?.message.contains("may or may not have run") == true, "\(String(describing: error))")
        #expect(try cluster.command(["PING"]) == .status("PONG"))
    }

    // MARK: Redirections

    @Test func movedAfterASlotMovesIsFollowed() throws {
        let prefix = TestRedis.uniquePrefix("cluster-moved")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        let key = prefix + "key"
        let slot = RedisClusterSlot.of(key)
        #expect(try cluster.command(["SET", key, "before"]) == .status("OK"))
        let layout = try TestCluster.layout()
        let source = try #require(layout.master(ofSlot: slot))
        let target = try #require(layout.masters.first { $0.id != source.id })
        #expect(cluster.master(forSlot: slot) == source.endpoint)

        try TestCluster.moveSlot(slot, from: source, to: target, layout: layout)
        defer { try? TestCluster.moveSlot(slot, from: target, to: source, layout: TestCluster.layout()) }

        // The client's map still says `source`; the source answers MOVED and the client follows and learns.
        #expect(try cluster.command(["GET", key]).string == "before")
        #expect(cluster.master(forSlot: slot) == target.endpoint)
        #expect(try cluster.pipeline([["SET", key, "after"], ["GET", key]]) == [.status("OK"), .bulk(Array("after".utf8))])

        // Moved back: the client now holds the stale map, and follows MOVED inside a pipeline too.
        try TestCluster.moveSlot(slot, from: target, to: source, layout: TestCluster.layout())
        let replies = try cluster.pipeline([["GET", key], ["PING"]])
        #expect(replies == [.bulk(Array("after".utf8)), .status("PONG")])
        #expect(cluster.master(forSlot: slot) == source.endpoint)
    }

    @Test func askDuringASlotMigrationIsFollowedOnce() throws {
        let prefix = TestRedis.uniquePrefix("cluster-ask")
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        let tag = "{\(prefix)}"
        let stays = tag + "stays", moved = tag + "moved", created = tag + "created"
        let slot = RedisClusterSlot.of(stays)
        #expect(try cluster.pipeline([["SET", stays, "v1"], ["SET", moved, "v2"]]) == [.status("OK"), .status("OK")])
        let layout = try TestCluster.layout()
        let source = try #require(layout.master(ofSlot: slot))
        let target = try #require(layout.masters.first { $0.id != source.id })
        let sourceConnection = try RedisConnection(url: RedisURL(host: source.endpoint.host, port: source.endpoint.port))
        let targetConnection = try RedisConnection(url: RedisURL(host: target.endpoint.host, port: target.endpoint.port))
        defer {
            // Keys that reached the target go; the slot is stable on its source again.
            _ = try? targetConnection.pipeline([["ASKING"], ["DEL", moved], ["ASKING"], ["DEL", created]])
            _ = try? targetConnection.command(["CLUSTER", "SETSLOT", String(slot), "STABLE"])
            _ = try? sourceConnection.command(["CLUSTER", "SETSLOT", String(slot), "STABLE"])
            _ = try? sourceConnection.command(["DEL", stays])
            sourceConnection.close()
            targetConnection.close()
        }
        #expect(try targetConnection.command(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", source.id]) == .status("OK"))
        #expect(try sourceConnection.command(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", target.id]) == .status("OK"))
        #expect(try sourceConnection.command([
            "MIGRATE", target.endpoint.host, String(target.endpoint.port), "", "0", "5000", "KEYS", moved,
        ]) == .status("OK"))

        // `moved` is gone from the source: it answers ASK, the client sends ASKING + GET to the target.
        #expect(try cluster.command(["GET", moved]).string == "v2")
        #expect(try cluster.command(["GET", stays]).string == "v1")
        // A new key in a migrating slot is created on the target.
        #expect(try cluster.command(["SET", created, "v3"]) == .status("OK"))
        #expect(try targetConnection.pipeline([["ASKING"], ["GET", created]]).last?.string == "v3")
        // The source does not have it: for a missing key of a migrating slot it answers ASK itself.
        let notOnSource = #expect(throws: RedisError.server) { try sourceConnection.command(["EXISTS", created]) }
        #expect(notOnSource?.message.hasPrefix("ASK \(slot) ") == true)
        // ASK is for one command: the slot still belongs to the source in the client's map.
        #expect(cluster.master(forSlot: slot) == source.endpoint)
        // Inside a pipeline, next to keys on other masters, in order.
        let elsewhere = prefix + "elsewhere"
        defer { _ = try? cluster.command(["DEL", elsewhere]) }
        let replies = try cluster.pipeline([["GET", stays], ["SET", elsewhere, "x"], ["GET", moved], ["GET", created]])
        #expect(replies == [.bulk(Array("v1".utf8)), .status("OK"), .bulk(Array("v2".utf8)), .bulk(Array("v3".utf8))])
    }

    @Test func noscriptAfterAScriptFlushOnOneMasterIsAnswered() throws {
        let prefix = TestRedis.uniquePrefix("cluster-noscript")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        let layout = try TestCluster.layout()
        let keys = try TestCluster.keysOnEveryMaster(prefix: prefix, layout: layout)
        // A unique script, so no other run's cached copy helps.
        let source = "-- \(prefix)\nreturn redis.call('INCR', KEYS[1])"
        // SCRIPT LOAD goes to every master, and Redis's SHA1 is ours.
        let loaded = try cluster.command(["SCRIPT", "LOAD", source]).string
        let script = RedisScript(source)
        #expect(loaded == script.sha1)
        for master in layout.masters {
            let direct = try RedisConnection(url: RedisURL(host: master.endpoint.host, port: master.endpoint.port))
            defer { direct.close() }
            #expect(try direct.command(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]), "not loaded on \(master.endpoint)")
        }
        for key in keys.values { #expect(try cluster.command(["EVALSHA", script.sha1, "1", key]) == .integer(1)) }

        // One master forgets its scripts; the next EVALSHA there is answered by loading the source and again.
        let (flushed, key) = try #require(keys.first)
        let direct = try RedisConnection(url: RedisURL(host: flushed.host, port: flushed.port))
        defer { direct.close() }
        #expect(try direct.command(["SCRIPT", "FLUSH"]) == .status("OK"))
        #expect(try cluster.command(["EVALSHA", script.sha1, "1", key]) == .integer(2))
        #expect(try direct.command(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
        // In a pipeline over every master as well.
        _ = try direct.command(["SCRIPT", "FLUSH"])
        let replies = try cluster.pipeline(keys.values.map { ["EVALSHA", script.sha1, "1", $0] })
        #expect(replies.compactMap(\.int).sorted() == [2, 2, 3])

        // A script this process never created or loaded stays NOSCRIPT: nothing to load.
        let unknown = String(repeating: "0", count: 40)
        let error = #expect(throws: RedisError.server) { try cluster.command(["EVALSHA", unknown, "1", key]) }
        #expect(error?.message.hasPrefix("NOSCRIPT") == true)
    }

    @Test func aScriptCreatedInProcessIsLoadedWhereItIsMissing() throws {
        let prefix = TestRedis.uniquePrefix("cluster-script")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        // Never loaded anywhere: the first EVALSHA on each master meets NOSCRIPT and is answered from the registry.
        let script = RedisScript("-- \(prefix)\nreturn redis.call('RPUSH', KEYS[1], ARGV[1])")
        for key in try TestCluster.keysOnEveryMaster(prefix: prefix, layout: TestCluster.layout()).values {
            #expect(try cluster.command(["EVALSHA", script.sha1, "1", key, "a"]) == .integer(1))
            #expect(try cluster.command(["EVALSHA", script.sha1, "1", key, "b"]) == .integer(2))
        }
    }

    // MARK: Failover

    @Test(.timeLimit(.minutes(2)))
    func aKilledMastersReplicaTakesOverAndTheConnectionRecovers() throws {
        let prefix = TestRedis.uniquePrefix("cluster-failover")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let layout = try TestCluster.layout()
        let keys = try TestCluster.keysOnEveryMaster(prefix: prefix, layout: layout)
        let cluster = try TestCluster.connection()
        defer { cluster.close() }
        for key in keys.values { #expect(try cluster.command(["SET", key, "1"]) == .status("OK")) }

        let (victim, victimKey) = try #require(keys.first { $0.key != layout.masters[0].endpoint })
        let victimConnection = try RedisConnection(url: RedisURL(host: victim.host, port: victim.port))
        // The write is on the replica before the master dies (WAIT on the connection that wrote it).
        #expect(try victimConnection.pipeline([["SET", victimKey, "1"], ["WAIT", "1", "2000"]]).last == .integer(1))
        let info = try #require(try victimConnection.command(["INFO", "server"]).string)
        let pid = try #require(info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("process_id:") }
            .flatMap { Int32($0.dropFirst("process_id:".count)) })
        victimConnection.close()
        defer { TestCluster.restore(afterKilling: victim) }

        #expect(kill(pid, SIGKILL) == 0)
        let killed = ContinuousClock.now
        // Gone, sockets closed, as a crashed master is by the time the next request comes: it refuses connections.
        // (The process may look dead before its last thread has closed them, e.g. one finishing an fsync; a command
        // written then fails as "may or may not have run", which is right, but not this test.)
        while ContinuousClock.now - killed < .seconds(5) {
            guard let probe = try? RedisConnection(url: RedisURL(host: victim.host, port: victim.port), connectTimeout: .milliseconds(200)) else { break }
            probe.close()
            Thread.sleep(forTimeInterval: 0.005)
        }
        // The next command on the dead master's slot waits out the failover (nothing was sent to the dead node).
        #expect(try cluster.command(["INCR", victimKey]) == .integer(2))
        let recovery = ContinuousClock.now - killed
        #expect(recovery < .seconds(15), "the failover took \(recovery)")
        #expect(cluster.master(forSlot: RedisClusterSlot.of(victimKey)) != victim)
        // Every master answers again, in one pipeline.
        let replies = try cluster.pipeline(keys.values.map { ["INCR", $0] })
        #expect(replies.compactMap(\.int).sorted() == [2, 2, 3])
    }

    // MARK: RedisClient

    @Test func theClientGroupCommitsAcrossMastersForConcurrentCallers() async throws {
        let prefix = TestRedis.uniquePrefix("cluster-client")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let client = RedisClient(url: try TestCluster.url(), connections: 2)
        defer { client.shutdown() }
        let (first, second) = try TestCluster.twoKeysInDifferentSlots(prefix: prefix)
        let results = try await withThrowingTaskGroup(of: (Int, Int64?, String?).self) { group in
            for index in 0..<400 {
                group.addTask {
                    let count = try await client.send(["INCR", prefix + "counter:\(index % 20)"]).int
                    let own = try await client.pipeline([["SET", prefix + "own:\(index)", "v\(index)"], ["GET", prefix + "own:\(index)"]])
                    return (index, count, own.last?.string)
                }
            }
            // A caller's cross-slot mistake fails that caller alone, before it is queued.
            group.addTask {
                do throws(RedisError) {
                    _ = try await client.send(["MGET", first, second])
                    Issue.record("a cross-slot MGET was sent")
                } catch {
                    #expect(error == .protocolError)
                    #expect(error.message.contains("CROSSSLOT"))
                }
                return (-1, nil, nil)
            }
            var results: [(Int, Int64?, String?)] = []
            for try await result in group where result.0 >= 0 { results.append(result) }
            return results
        }
        #expect(results.count == 400)
        for (index, _, own) in results { #expect(own == "v\(index)") }
        var countsPerKey: [Int: [Int64]] = [:]
        for (index, count, _) in results { countsPerKey[index % 20, default: []].append(count ?? -1) }
        for counts in countsPerKey.values { #expect(counts.sorted() == Array(1...20)) }
        // One call spanning the masters keeps its order.
        let keys = (0..<12).map { "\(prefix)counter:\($0)" }
        #expect(try await client.pipeline(keys.map { ["GET", $0] }).map(\.int) == Array(repeating: Int64(20), count: 12))
    }

    @Test func theReplicaWaitEndsEachMastersPipelineAndIsCounted() async throws {
        let prefix = TestRedis.uniquePrefix("cluster-wait")
        defer { TestCluster.deleteKeys(prefix: prefix) }
        let layout = try TestCluster.layout()
        let waitsBefore = try TestCluster.waitCalls(layout)
        let metrics = TestMetrics()
        let client = RedisClient(
            url: try TestCluster.url(), connections: 1, replicaWait: (replicas: 1, timeout: .milliseconds(500)), metrics: metrics
        )
        defer { client.shutdown() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let reply = try await client.send(["SET", prefix + "k\(index)", "v"])
                    #expect(reply == .status("OK"))
                }
            }
            try await group.waitForAll()
        }
        let waits = metrics.counterTotal(label: "concert_redis_replica_wait_total")
        let pipelines = metrics.counterTotal(label: "concert_redis_round_trips_total")
        // One WAIT per master per pipeline, never one per request: exactly what the masters counted.
        #expect(try TestCluster.waitCalls(layout) - waitsBefore == Int(waits))
        #expect(waits >= pipelines && waits <= 3 * pipelines, "\(waits) waits for \(pipelines) pipelines")
        #expect(metrics.counterTotal(label: "concert_redis_replica_wait_short_total") == 0)
        #expect(try metrics.expectRecorder("concert_redis_replica_wait_replicas").values.allSatisfy { $0 == 1 })

        // Asking for more replicas than there are: the writes still succeed, the shortfall is counted.
        let short = TestMetrics()
        let greedy = RedisClient(
            url: try TestCluster.url(), connections: 1, replicaWait: (replicas: 2, timeout: .milliseconds(20)), metrics: short
        )
        defer { greedy.shutdown() }
        #expect(try await greedy.send(["SET", prefix + "greedy", "v"]) == .status("OK"))
        #expect(short.counterTotal(label: "concert_redis_replica_wait_short_total") == 1)
    }
}

/// The cluster the tests use, and what they need to know about it.
enum TestCluster {
    static func url() throws -> RedisURL {
        guard let text = ProcessInfo.processInfo.environment["CONCERT_CLUSTER_REDIS_URL"], !text.isEmpty else {
            throw SetupError(
                "CONCERT_CLUSTER_REDIS_URL is not set. Start the cluster with ./deploy/cluster/redis-cluster up, then run e.g. "
                    + "CONCERT_CLUSTER_REDIS_URL=$(./deploy/cluster/redis-cluster url) swift test --filter ClusterTests "
                    + "(./deploy/test does both)"
            )
        }
        let url = try RedisURL(parsing: text)
        guard url.isCluster else { throw SetupError("CONCERT_CLUSTER_REDIS_URL must be a redis-cluster:// URL, not \(url)") }
        return url
    }

    static func connection() throws -> RedisClusterConnection {
        try RedisClusterConnection(url: url())
    }

    struct Node {
        let id: String
        let endpoint: RedisEndpoint
        let flags: String
        let slots: [ClosedRange<Int>]
        var isMaster: Bool { flags.contains("master") }
    }

    struct Layout {
        let nodes: [Node]
        var masters: [Node] { nodes.filter { $0.isMaster && !$0.slots.isEmpty }.sorted { $0.endpoint.port < $1.endpoint.port } }
        func master(ofSlot slot: Int) -> Node? { masters.first { $0.slots.contains { $0.contains(slot) } } }
    }

    /// `CLUSTER NODES` as the first seed that answers sees it.
    static func layout() throws -> Layout {
        var lastError: (any Error)?
        for seed in try url().clusterSeeds {
            do {
                let connection = try RedisConnection(url: RedisURL(host: seed.host, port: seed.port), connectTimeout: .milliseconds(500))
                defer { connection.close() }
                let text = try #require(try connection.command(["CLUSTER", "NODES"]).string)
                return Layout(nodes: text.split(whereSeparator: \.isNewline).map { (line: Substring) -> Node in
                    let fields = line.split(separator: " ")
                    let address = fields[1].split(separator: "@")[0]
                    var slots: [ClosedRange<Int>] = []
                    for field in fields.dropFirst(8) where !field.hasPrefix("[") {
                        let bounds = field.split(separator: "-").compactMap { Int($0) }
                        if let low = bounds.first, let high = bounds.last { slots.append(low...high) }
                    }
                    return Node(
                        id: String(fields[0]), endpoint: RedisEndpoint(redisAddress: address), flags: String(fields[2]), slots: slots
                    )
                })
            } catch {
                lastError = error
            }
        }
        throw SetupError("no seed of the test cluster answered CLUSTER NODES: \(String(describing: lastError))")
    }

    /// One key per master, named `<prefix><n>`.
    static func keysOnEveryMaster(prefix: String, layout: Layout) throws -> [RedisEndpoint: String] {
        var keys: [RedisEndpoint: String] = [:]
        for index in 0..<1_000 where keys.count < layout.masters.count {
            let key = "\(prefix)\(index)"
            if let master = layout.master(ofSlot: RedisClusterSlot.of(key)), keys[master.endpoint] == nil { keys[master.endpoint] = key }
        }
        guard keys.count == 3 else { throw SetupError("expected 3 masters with slots, found \(layout.masters.map(\.endpoint))") }
        return keys
    }

    static func twoKeysInDifferentSlots(prefix: String) throws -> (String, String) {
        let first = prefix + "a"
        let second = (0..<100).map { "\(prefix)b\($0)" }.first { RedisClusterSlot.of($0) != RedisClusterSlot.of(first) }
        return (first, try #require(second))
    }

    /// Moves one slot (and its keys) between masters, the way `redis-cli --cluster reshard` does.
    static func moveSlot(_ slot: Int, from source: Node, to target: Node, layout: Layout) throws {
        let from = try RedisConnection(url: RedisURL(host: source.endpoint.host, port: source.endpoint.port))
        let to = try RedisConnection(url: RedisURL(host: target.endpoint.host, port: target.endpoint.port))
        defer { from.close(); to.close() }
        let slotText = String(slot)
        _ = try to.command(["CLUSTER", "SETSLOT", slotText, "IMPORTING", source.id])
        _ = try from.command(["CLUSTER", "SETSLOT", slotText, "MIGRATING", target.id])
        while true {
            let keys = (try from.command(["CLUSTER", "GETKEYSINSLOT", slotText, "100"]).array ?? []).compactMap(\.string)
            if keys.isEmpty { break }
            _ = try from.command(["MIGRATE", target.endpoint.host, String(target.endpoint.port), "", "0", "5000", "KEYS"] + keys)
        }
        _ = try to.command(["CLUSTER", "SETSLOT", slotText, "NODE", target.id])
        _ = try from.command(["CLUSTER", "SETSLOT", slotText, "NODE", target.id])
        for other in layout.masters where other.id != source.id && other.id != target.id {
            let connection = try RedisConnection(url: RedisURL(host: other.endpoint.host, port: other.endpoint.port))
            defer { connection.close() }
            _ = try connection.command(["CLUSTER", "SETSLOT", slotText, "NODE", target.id])
        }
    }

    /// How many WAITs the masters have run (INFO commandstats).
    static func waitCalls(_ layout: Layout) throws -> Int {
        var total = 0
        for master in layout.masters {
            let connection = try RedisConnection(url: RedisURL(host: master.endpoint.host, port: master.endpoint.port))
            defer { connection.close() }
            let stats = try #require(try connection.command(["INFO", "commandstats"]).string)
            if let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_wait:calls=") }) {
                total += Int(line.dropFirst("cmdstat_wait:calls=".count).prefix { $0.isNumber }) ?? 0
            }
        }
        return total
    }

    /// After a master was killed: starts it again (`redis-cluster up`, which waits until every master has an in-sync
    /// replica), then hands it its master role back, so the next test and the next run find the usual layout.
    static func restore(afterKilling victim: RedisEndpoint) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/cluster/redis-cluster").path
        do {
            let status = try runToCompletion("/bin/bash", [script, "up"])
            #expect(status == 0, "\(script) up exited with \(status)")
            let node = try RedisConnection(url: RedisURL(host: victim.host, port: victim.port))
            defer { node.close() }
            // A node restarted from its append-only file answers LOADING until it has read it.
            let loaded = ContinuousClock.now + .seconds(30)
            while try node.command(["INFO", "persistence"]).string?.contains("loading:1") == true, ContinuousClock.now < loaded {
                Thread.sleep(forTimeInterval: 0.1)
            }
            // Back as a replica of the promoted node, unless it returned before its replica was promoted.
            if try node.command(["ROLE"]).array?.first?.string != "master" {
                #expect(try node.command(["CLUSTER", "FAILOVER"]) == .status("OK"))
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if try node.command(["ROLE"]).array?.first?.string == "master", try healthy() { return }
                Thread.sleep(forTimeInterval: 0.1)
            }
            Issue.record("the cluster did not become healthy with \(victim) as a master again; run ./deploy/cluster/redis-cluster up")
        } catch {
            Issue.record("restoring the cluster failed: \(error); run ./deploy/cluster/redis-cluster up")
        }
    }

    /// Every master has slots and an in-sync replica, and every node says the cluster is ok.
    static func healthy() throws -> Bool {
        let layout = try layout()
        guard layout.masters.count == 3, !layout.nodes.contains(where: { $0.flags.contains("fail") }) else { return false }
        for node in layout.nodes {
            let connection = try RedisConnection(url: RedisURL(host: node.endpoint.host, port: node.endpoint.port))
            defer { connection.close() }
            guard try connection.command(["CLUSTER", "INFO"]).string?.contains("cluster_state:ok") == true else { return false }
            if node.isMaster, try connection.command(["INFO", "replication"]).string?.contains("state=online") != true { return false }
        }
        return true
    }

    /// Deletes every key under `prefix` on every master.
    static func deleteKeys(prefix: String) {
        guard let cluster = try? connection() else { return }
        defer { cluster.close() }
        _ = try? cluster.forEachMaster { (_, connection) throws(RedisError) -> Void in
            var cursor = "0"
            repeat {
                let reply = try connection.command(["SCAN", cursor, "MATCH", "\(prefix)*", "COUNT", "1000"])
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string else { return }
                for key in (parts[1].array ?? []).compactMap(\.bytes) { _ = try connection.command([Array("DEL".utf8), key]) }
                cursor = next
            } while cursor != "0"
        }
    }
}

extension RedisEndpoint {
    /// `host:port` as `CLUSTER NODES` writes it.
    fileprivate init(redisAddress text: Substring) {
        let colon = text.lastIndex(of: ":")!
        self.init(host: String(text[..<colon]), port: Int(text[text.index(after: colon)...])!)
    }
}
