import Foundation
import Hummingbird
import HummingbirdTesting
import IngestService
import Logging
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

extension IntegrationSuite {
    /// What a 202, a 503 and an Idempotency-Key promise (issue 14, items 1, 2, 8 and 11), against the real Redis
    /// and MariaDB and the real batch pass; the ingest runs in-process (HummingbirdTesting's router client, its
    /// real `RedisClient` and `IntakeQueues`), since no socket is needed to show these.
    @Suite(.serialized) struct IngestPromises {
        /// An ingest over `CONCERT_REDIS_URL`, limits out of the way (these tests send more than a user's burst).
        static func withIngest<Value: Sendable>(_ test: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
            var configuration = try IngestConfiguration.fromEnvironment([
                "CONCERT_REDIS_URL": try Stack.environment("CONCERT_REDIS_URL"),
                "CONCERT_JWT_SECRET": try Stack.environment("CONCERT_JWT_SECRET"),
            ])
            configuration.rateLimitPerSecond = 100_000
            configuration.rateLimitBurst = 100_000
            var logger = Logger(label: "ingest-under-test")
            logger.logLevel = .critical
            return try await buildApplication(configuration: configuration, logger: logger).test(.router, test)
        }

        /// Runs `body` on a thread of its own (it blocks in hiredis), never on the concurrency pool.
        static func onThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
            try await withCheckedThrowingContinuation { continuation in
                Thread { continuation.resume(with: Result { try body() }) }.start()
            }
        }

        /// Keeps the test Redis busy for `seconds` with a Lua loop sent from a connection of its own (Redis 7 refuses
        /// DEBUG SLEEP by default): every other client's commands wait until it ends. Answers the seconds it took.
        static func busyRedis(seconds: Double) async throws -> Double {
            try await onThread {
                let redis = try RedisConnection(
                    url: try RedisURL(parsing: try Stack.environment("CONCERT_REDIS_URL")), commandTimeout: .seconds(seconds + 10)
                )
                defer { redis.close() }
                let started = Date()
                let reply = try Stack.redis().command(["EVAL", """
                    local t = redis.call('TIME')
                    local start = t[1] * 1000000 + t[2]
                    local loops = 0
                    repeat
                      loops = loops + 1
                      local now = redis.call('TIME')
                      if loops > 500000000 then return -1 end
                    until (now[1] * 1000000 + now[2]) - start >= \(Int(seconds * 1_000_000))
                    return loops
                    """, "0"])
                #expect((reply.int ?? -1) > 0, "the busy script ended early: \(reply)")
                return Date().timeIntervalSince(started)
            }
        }

        // MARK: Item 1

        /// Redis busy for 3 s (longer than the ingest's 2-s command timeout) while charges arrive without
        /// Idempotency-Keys: every charge answered 202 is credited exactly once, and none answered 503 is credited
        /// at all — a 503 means nothing was queued. (Before the fix a timed-out pipeline answered 503 for charges
        /// Redis then ran, and a client retrying them was credited twice.)
        @Test func aBusyRedisNeverTurnsAQueuedChargeInto503() async throws {
            try Stack.reset()
            let users = Array(Int64(5_001)...5_060)
            let tokens = try Dictionary(uniqueKeysWithValues: users.map { ($0, try Stack.token(user: $0)) })
            let answers = try await Self.withIngest { client in
                try await withThrowingTaskGroup(of: (Int64, Answer).self) { group in
                    let busy = Task { try await Self.busyRedis(seconds: 3) }
                    // 60 charges over 3 s, the first ones just before Redis turns busy.
                    for (index, user) in users.enumerated() {
                        group.addTask {
                            try await Task.sleep(for: .milliseconds(50 * index))
                            return (user, try await client.send(
                                .post, "/v1/me/balance/charges", token: tokens[user], json: #"{"amount":\#(1_000 + user)}"#
                            ))
                        }
                    }
                    var answers: [Int64: Answer] = [:]
                    for try await (user, answer) in group { answers[user] = answer }
                    let busySeconds = try await busy.value
                    #expect(busySeconds >= 2.9, "Redis was busy for \(busySeconds) s only")
                    return answers
                }
            }
            #expect(answers.count == users.count)
            #expect(answers.values.allSatisfy { $0.status == .accepted || $0.status == .serviceUnavailable },
                    "\(Set(answers.values.map(\.status.code)))")
            try Stack.run("concert-batch", ["flush"]).requireSuccess()

            let credited = try Stack.database().query(
                "SELECT user_id, COUNT(*), SUM(amount) FROM ledger WHERE kind = 'charge' GROUP BY user_id"
            ).reduce(into: [Int64: (count: Int64, sum: Int64)]()) { $0[$1[0].int ?? 0] = ($1[1].int ?? 0, $1[2].int ?? 0) }
            var wrong: [String] = []
            for user in users {
                let answer = answers[user]!
                let entry = credited[user]
                if answer.status == .accepted, entry?.count != 1 || entry?.sum != 1_000 + user {
                    wrong.append("user \(user): 202 but credited \(String(describing: entry))")
                }
                if answer.status == .serviceUnavailable, entry != nil {
                    wrong.append("user \(user): 503 but credited \(entry!)")
                }
            }
            #expect(wrong.isEmpty, "\(wrong)")
            let accepted = answers.values.filter { $0.status == .accepted }.count
            // Those that arrived while Redis was busy waited for it (the ingest retries the same request id) rather
            // than being refused: a 503 is for a send that never reached Redis.
            #expect(accepted >= users.count - 5, "only \(accepted) of \(users.count) charges accepted")
            #expect(try Stack.requestsLeftInQueues() == 0)
        }

        // MARK: Item 2

        /// One Idempotency-Key, one request, whatever the ingest's routing did in between: a reserve sent before the
        /// ingest knew its performance (general queue) and again after (the performance's queue); a payment sent
        /// before and after its reservation's cache expired (the performance's queue, then the general one).
        @Test func anIdempotencyKeyNamesOneRequestWhicheverQueueARepeatWouldTake() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 20)
            // Not yet known to the ingest: as if the pass had not published the new performance's id yet.
            _ = try Stack.redis().command(["SREM", RedisKeys.performanceIDs, String(performance)])
            let token = try Stack.token(user: 31)
            let reserve = "/v1/performances/\(performance)/reservations"
            try await Self.withIngest { client in
                let early = try await client.send(.post, reserve, token: token, json: #"{"seatIds":[7]}"#, headers: ["Idempotency-Key": "hold-7"])
                #expect(early.status == .accepted && early.requestID.hasPrefix("g-"), "routed to the general queue: \(early.text)")

                _ = try Stack.redis().command(["SADD", RedisKeys.performanceIDs, String(performance)])
                try await Task.sleep(for: Self.routingRefresh)
                let probe = try await client.send(.post, reserve, token: token, json: #"{"seatIds":[8]}"#)
                #expect(probe.requestID.hasPrefix("p\(performance)-"), "the ingest now knows the performance: \(probe.text)")
                let late = try await client.send(.post, reserve, token: token, json: #"{"seatIds":[7]}"#, headers: ["Idempotency-Key": "hold-7"])
                #expect(late.status == .accepted && late.requestID == early.requestID, "\(late.text) vs \(early.text)")
                #expect(late.headers[.init("Idempotent-Replayed")!] == "true")
                #expect(try Self.accepted(.general) == 1 && (try Self.accepted(.performance(performance))) == 1,
                        "the repeat queued nothing: one reserve in each queue (the keyed one and the probe)")
            }
            let generalAfterReserve = try Self.accepted(.general)
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            let db = try Stack.database()
            let holds = try db.query("SELECT COUNT(*) FROM reservations r JOIN reservation_seats s ON s.reservation_id = r.id WHERE s.seat_id = 7")
            #expect(holds.first?.first?.int == 1, "seat 7 was asked for once")

            // A payment before and after its reservation's cache expired.
            let reservation = try #require(try db.query("SELECT r.id FROM reservations r JOIN reservation_seats s ON s.reservation_id = r.id WHERE s.seat_id = 7").first?.first?.int)
            try await Self.withIngest { client in
                let charge = try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":200000}"#)
                #expect(charge.status == .accepted)
                try Stack.run("concert-batch", ["flush"]).requireSuccess()
                let payment = "/v1/reservations/\(reservation)/payment"
                let first = try await client.send(.post, payment, token: token, json: "{}", headers: ["Idempotency-Key": "pay-7"])
                #expect(first.status == .accepted && first.requestID.hasPrefix("p\(performance)-"), "\(first.text)")
                _ = try Stack.redis().command(["DEL", RedisKeys.reservation(reservation)])
                let again = try await client.send(.post, payment, token: token, json: "{}", headers: ["Idempotency-Key": "pay-7"])
                #expect(again.status == .accepted && again.requestID == first.requestID, "\(again.text) vs \(first.text)")
                #expect(try Self.accepted(.general) == generalAfterReserve + 1, "only the charge went to the general queue")
            }
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            #expect(try db.query("SELECT COUNT(*) FROM ledger WHERE user_id = 31 AND kind = 'payment'").first?.first?.int == 1)
            #expect(try db.query("SELECT state FROM reservations WHERE id = ?", [.int(reservation)]).first?.first?.text == "confirmed")
        }

        /// Long enough for the ingest's routing snapshot (refreshed every second) to see a change.
        static let routingRefresh: Duration = .milliseconds(2_100)

        static func accepted(_ queue: QueueName) throws -> Int64 {
            try Stack.redis().command(["GET", RedisKeys.accepted(queue)]).int ?? 0
        }

        // MARK: Item 8

        /// The balance and the performance list say what is true of the real caches: 503 (with a reason) until a
        /// pass has published them, then the values; a balance cache lost with Redis's mark is 503 again.
        @Test func balanceAndListAreTrueOfTheRealCaches() async throws {
            try Stack.reset()
            let charger = try Stack.token(user: 41)
            let never = try Stack.token(user: 42)
            try await Self.withIngest { client in
                for (path, token) in [("/v1/me/balance", never), ("/v1/performances", nil)] as [(String, String?)] {
                    let answer = try await client.send(.get, path, token: token)
                    #expect(answer.status == .serviceUnavailable, "GET \(path) before any pass: \(answer.text)")
                    answer.expectError("UNAVAILABLE", "GET \(path) before any pass")
                }
                #expect(try await client.send(.post, "/v1/me/balance/charges", token: charger, json: #"{"amount":700}"#).status == .accepted)
                try Stack.run("concert-batch", ["flush"]).requireSuccess()
                let markedAt = try #require(try Stack.redis().command(["GET", RedisKeys.balancesComplete]).int)
                try await Task.sleep(for: .milliseconds(1_100))  // the list's absence is remembered for up to a second

                let charged = try await client.send(.get, "/v1/me/balance", token: charger)
                #expect(charged.status == .ok && charged.json?["balance"] as? Int == 700, "\(charged.text)")
                let zero = try await client.send(.get, "/v1/me/balance", token: never)
                #expect(zero.status == .ok && zero.json?["balance"] as? Int == 0, "\(zero.text)")
                #expect(zero.json?["asOf"] as? String == Timestamp.iso8601(seconds: markedAt), "\(zero.text)")
                let list = try await client.send(.get, "/v1/performances")
                #expect(list.status == .ok && list.text == #"{"performances":[]}"#, "\(list.text)")

                // Redis lost the mark (a restart without its data, say): a missing cache is unknown again.
                _ = try Stack.redis().command(["DEL", RedisKeys.balancesComplete])
                #expect(try await client.send(.get, "/v1/me/balance", token: never).status == .serviceUnavailable)
                #expect(try await client.send(.get, "/v1/me/balance", token: charger).json?["balance"] as? Int == 700)
            }
        }

        // MARK: Item 11

        /// A reserve sent before the ingest knew its performance waits in the general queue, is forwarded to the
        /// performance's queue, and then reports its place there — counted once, not also as finished in the general
        /// queue (which made it look nearly served).
        @Test func aForwardedRequestsPositionCountsTheQueueItWaitsIn() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 20)
            let queue = QueueName.performance(performance)
            // Another runner holds the performance's queue, so its requests stay waiting while passes work on the
            // general queue.
            let other = QueueLeases(redis: try Stack.redis(), holder: "another-runner", leaseMillis: 120_000)
            let lease = try #require(try other.acquire(queue))
            defer { try? other.release(lease) }
            let tokens = try (1...7).map { try Stack.token(user: Int64($0)) }
            try await Self.withIngest { client in
                for user in 0..<3 {  // the general queue: charges, decided by the next pass
                    #expect(try await client.send(.post, "/v1/me/balance/charges", token: tokens[user], json: #"{"amount":100}"#).status == .accepted)
                }
                for user in 0..<5 {  // the performance's queue: 5 waiting
                    let answer = try await client.send(.post, "/v1/performances/\(performance)/reservations", token: tokens[user],
                                                       json: "{\"seatIds\":[\(user + 1)]}")
                    #expect(answer.requestID.hasPrefix("p\(performance)-") && answer.json?["position"] as? Int == user, "\(answer.text)")
                }
                try Stack.run("concert-batch", ["run"]).requireSuccess()
                #expect(try Redis.finished(.general) == 3)

                // The ingest stops knowing the performance (as if not yet published): the next reserve takes the
                // general queue, and a pass forwards it behind the 5.
                _ = try Stack.redis().command(["SREM", RedisKeys.performanceIDs, String(performance)])
                try await Task.sleep(for: Self.routingRefresh)
                let sixth = try await client.send(.post, "/v1/performances/\(performance)/reservations", token: tokens[5], json: #"{"seatIds":[6]}"#)
                #expect(sixth.requestID.hasPrefix("g-"), "\(sixth.text)")
                try Stack.run("concert-batch", ["run"]).requireSuccess()
                #expect(try Stack.redis().command(["LLEN", RedisKeys.pending(queue)]).int ?? 0 >= 6, "forwarded behind the 5")

                let status = try await client.send(.get, "/v1/requests/\(sixth.requestID)", token: tokens[5])
                #expect(status.json?["status"] as? String == "queued", "\(status.text)")
                let ahead = Int(try Stack.redis().command(["LLEN", RedisKeys.pending(queue)]).int ?? 0) - 1
                #expect(status.json?["position"] as? Int == ahead, "\(ahead) wait ahead of it in the performance's queue: \(status.text)")
                if let fit = try Stack.redis().command(["GET", RedisKeys.costModel]).string.flatMap({ BatchCostModel(serialized: $0).fit }) {
                    let eta = try #require(status.json?["etaSeconds"] as? Double)
                    #expect(eta + 0.05 >= fit.costPerRequest * Double(ahead + 1) + fit.overhead, "ETA \(eta) for \(ahead) ahead")
                }
            }
        }

        enum Redis {
            static func finished(_ queue: QueueName) throws -> Int64 {
                try Stack.redis().command(["GET", RedisKeys.finished(queue)]).int ?? 0
            }
        }
    }
}
