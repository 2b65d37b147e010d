import Foundation
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

/// The product on the scaled-out shape of `./deploy/local-stack up --cluster`: a Redis Cluster of 3 masters and 3
/// replicas, and a 3-node Galera cluster. These tests kill and fail over cluster nodes, so `./deploy/test` runs them
/// alone, after every other test (`swift test --filter ScaledOut`); each leaves both clusters healthy.
@Suite("Scaled out", .serialized)
struct ScaledOut {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../..").standardized

    /// The existing on-sale test, once on the clusters.
    @Test func onSaleOnTheClusters() async throws {
        try await Stack.$target.withValue(.cluster) {
            try await IntegrationSuite.OnSale.twoThousandRequestsForTwoHundredSeats()
        }
    }

    /// Two ingests and three runners, 100,000 mixed requests over 8 performances through HTTP. Meanwhile a runner is
    /// SIGKILLed (and others paused), one Redis master is SIGKILLed (its replica takes over), another master is
    /// failed over gracefully, and the Galera node the runners write through is stopped. Afterwards: every 202 has
    /// exactly one terminal status, MariaDB recorded each request once, no seat is sold twice, `verify` is clean,
    /// and every runner committed batches.
    @Test func twoIngestsThreeRunnersAndNodesFailing() async throws {
        try await Stack.$target.withValue(.cluster) {
            defer { Self.restoreClusters() }
            try Stack.reset()
            var performances: [Int64] = []
            for _ in 0..<8 { performances.append(try Stack.createPerformance(seats: 3_000, price: 5_000)) }
            let unlimited = ["CONCERT_RATE_LIMIT": "100000", "CONCERT_RATE_BURST": "100000"]
            let ingests = [try await IngestHarness(environment: unlimited), try await IngestHarness(environment: unlimited)]
            defer { for ingest in ingests { ingest.stop() } }
            let runners = try RunnerChaos(slots: 3)
            var random = SplitMix64(state: 15)
            let users = Int64(1)...4_000
            var tokens: [Int64: String] = [:]
            for user in users { tokens[user] = try Stack.token(user: user) }

            // Phase 1: 70,000 reserves and charges, while the nodes fail.
            var phase1: [Call] = []
            for index in 0..<70_000 {
                let user = Int64.random(in: users, using: &random)
                if index % 8 == 7 {
                    phase1.append(Call("POST", "/v1/me/balance/charges", user: user, json: #"{"amount":20000}"#))
                } else {
                    let performance = performances[Int.random(in: 0..<8, using: &random)]
                    let seat = Int64.random(in: 1...2_999, using: &random)
                    phase1.append(Call("POST", "/v1/performances/\(performance)/reservations", user: user,
                                       json: "{\"seatIds\":[\(seat),\(seat + 1)]}"))
                }
            }
            async let chaos: Void = runners.run(seconds: 40, seed: 15)
            async let failures: Void = Self.failNodes()
            var accepted = try await Self.send(phase1, through: ingests, tokens: tokens)
            try await failures
            try await chaos

            // Phase 2: 30,000 pays and cancels of the reservations that exist, by their owners.
            let held = try Stack.database().query("SELECT id, user_id FROM reservations ORDER BY id")
            #expect(held.count > 1_000)
            let phase2 = (0..<30_000).map { index -> Call in
                let row = held[Int.random(in: 0..<held.count, using: &random)]
                let reservation = row[0].int ?? 0
                return index % 3 == 0
                    ? Call("DELETE", "/v1/reservations/\(reservation)", user: row[1].int ?? 0, json: nil)
                    : Call("POST", "/v1/reservations/\(reservation)/payment", user: row[1].int ?? 0, json: "{}")
            }
            async let moreChaos: Void = runners.run(seconds: 15, seed: 16)
            accepted += try await Self.send(phase2, through: ingests, tokens: tokens)
            try await moreChaos
            try Stack.run("concert-batch", ["flush", "--lock-timeout", "60"]).requireSuccess()

            #expect(accepted.count > 95_000, "nearly every request is accepted (202): \(accepted.count)")
            let ids = accepted.map(\.id)
            try IntegrationSuite.Ownership.expectDecidedOnce(ids: ids)
            let statuses = try Stack.statuses(ids)
            let terminal = statuses.values.filter { if case .final = $0 { true } else { false } }.count
            #expect(terminal == ids.count, "every 202 has a terminal status")
            for (slot, batches) in try runners.batchesCommitted().enumerated() {
                #expect(batches > 0, "runner \(slot) committed batches")
            }
        }
    }

    struct Call: Sendable {
        let method: String
        let path: String
        let user: Int64
        let json: String?
        init(_ method: String, _ path: String, user: Int64, json: String?) {
            self.method = method
            self.path = path
            self.user = user
            self.json = json
        }
    }

    /// Sends the calls, 64 at a time, spread over the ingests; answers the requests accepted (202).
    static func send(_ calls: [Call], through ingests: [IngestHarness], tokens: [Int64: String]) async throws
        -> [(id: RequestID, user: Int64)] {
        try await withThrowingTaskGroup(of: (RequestID, Int64)?.self) { group in
            var accepted: [(id: RequestID, user: Int64)] = []
            var next = 0
            func add() {
                let call = calls[next]
                let ingest = ingests[next % ingests.count]
                let token = tokens[call.user]!
                next += 1
                group.addTask {
                    let (status, body) = try await ingest.send(call.method, call.path, token: token, json: call.json)
                    guard status == 202, let id = (body?["requestId"] as? String).flatMap(RequestID.init) else {
                        #expect(status == 202 || status == 503, "\(call.method) \(call.path): \(status) \(body ?? [:])")
                        return nil
                    }
                    return (id, call.user)
                }
            }
            for _ in 0..<min(64, calls.count) { add() }
            while let result = try await group.next() {
                if let result { accepted.append((result.0, result.1)) }
                if next < calls.count { add() }
            }
            return accepted
        }
    }

    /// A Redis master SIGKILLed at 4 s (its replica is promoted), another failed over gracefully at 12 s, and the
    /// Galera node the runners write through stopped at 20 s.
    static func failNodes() async throws {
        try await Task.sleep(for: .seconds(4))
        let masters = try redisMasters()
        try #require(masters.count == 3, "three masters before the failures: \(masters)")
        let killed = masters[0]
        let pid = try String(contentsOf: repository.appendingPathComponent(".run/cluster/redis/\(killed.port)/redis.pid"), encoding: .utf8)
        #expect(kill(pid_t(pid.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, SIGKILL) == 0)
        try await Task.sleep(for: .seconds(8))
        let replica = try redisReplica(of: masters[1].id)
        try shell("redis-cli", ["-h", "127.0.0.1", "-p", String(replica), "CLUSTER", "FAILOVER"])
        try await Task.sleep(for: .seconds(8))
        let socket = repository.appendingPathComponent(".run/cluster/galera/node1/mysqld.sock").path
        try shell("mariadb-admin", ["--no-defaults", "-uroot", "-S", socket, "shutdown"])
    }

    /// Starts what the failures stopped, so later runs find both clusters whole.
    static func restoreClusters() {
        for script in ["deploy/cluster/redis-cluster", "deploy/cluster/galera"] {
            do { try shell(repository.appendingPathComponent(script).path, ["up"]) } catch {
                Issue.record("\(script) up could not restore the cluster: \(error)")
            }
        }
    }

    /// The masters (id and port) that are serving, from CLUSTER NODES.
    static func redisMasters() throws -> [(id: String, port: Int)] {
        try clusterNodes().filter { $0.flags.contains("master") && !$0.flags.contains("fail") }.map { ($0.id, $0.port) }
    }

    /// The port of a live replica of the master `id`.
    static func redisReplica(of id: String) throws -> Int {
        try #require(clusterNodes().first { $0.master == id && !$0.flags.contains("fail") }?.port, "a replica of \(id)")
    }

    static func clusterNodes() throws -> [(id: String, port: Int, flags: String, master: String)] {
        var nodes: [(id: String, port: Int, flags: String, master: String)] = []
        for port in 17_000...17_005 {
            guard let text = try? shell("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "CLUSTER", "NODES"]) else { continue }
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ").map(String.init)
                guard fields.count >= 8, let address = fields[1].split(separator: "@").first,
                      let port = address.split(separator: ":").last.flatMap({ Int($0) }) else { continue }
                nodes.append((fields[0], port, fields[2], fields[3]))
            }
            return nodes
        }
        return nodes
    }
}
