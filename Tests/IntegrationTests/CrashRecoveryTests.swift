import Foundation
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

extension IntegrationSuite {
    @Suite(.serialized) struct CrashRecovery {
        /// `count` reserve requests with fixed ids from a seeded generator, over `seats` seats with heavy
        /// contention: 1–3 seats each, from `users` users (so some hit the 4-seat limit).
        static func requests(count: Int, seats: Int64, users: Int64, performance: Int64, seed: UInt64) -> [QueuedRequest] {
            var random = SplitMix64(state: seed)
            return (0..<count).map { _ in
                let first = Int64.random(in: 1...seats, using: &random)
                let width = Int64.random(in: 1...3, using: &random)
                let seatIDs = (0..<width).map { (first + $0 - 1) % seats + 1 }
                return QueuedRequest(
                    id: RequestID(queue: .performance(performance), random: (random.next(), random.next())),
                    kind: .reserve, userID: Int64.random(in: 1...users, using: &random), performanceID: performance,
                    seatIDs: seatIDs, acceptedAtMillis: Int64(Date().timeIntervalSince1970 * 1000)
                )
            }
        }

        static func outcomeCount() throws -> Int {
            Int(try Stack.database().query("SELECT COUNT(*) FROM request_outcomes").first?.first?.int ?? -1)
        }

        /// Queue 50,000 requests, SIGKILL `flush` mid-way, flush again: every accepted request has exactly one
        /// outcome, no seat is double-held, the queues are empty.
        @Test func sigkillMidFlushLosesNothing() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 20_000)
            let requests = Self.requests(count: 50_000, seats: 20_000, users: 15_000, performance: performance, seed: 42)
            #expect(try BulkIntake(redis: try Stack.redis()).enqueue(requests) == 50_000)

            // Small batches, so the pass is still running when it is killed.
            let first = try Stack.start("concert-batch", ["flush", "--batch-size", "200"])
            let decidedAtKill = try await Stack.waitForOutcomes(atLeast: 5_000) { first.kill(SIGKILL) }
            let killed = first.wait()
            #expect(killed.status != 0, "the first flush was killed, not finished")
            #expect(decidedAtKill > 0 && decidedAtKill < 50_000, "killed mid-way, after \(decidedAtKill) outcomes")

            // The next flush waits out the dead pass's lease, finishes its in-flight batch first, then the rest.
            let second = try Stack.run("concert-batch", ["flush", "--lock-timeout", "60"])
            try second.requireSuccess()

            #expect(try Self.outcomeCount() == 50_000)
            try Stack.run("concert-admin", ["verify"]).requireSuccess()
            #expect(try Stack.doubleBookedSeats() == 0)
            #expect(try Stack.inconsistentReservations() == 0)
            #expect(try Stack.usersOverLimit() == 0)
            #expect(try Stack.requestsLeftInQueues() == 0)

            // Every request has exactly one terminal status in Redis, and it is the one MariaDB recorded.
            let statuses = try Stack.statuses(requests.map(\.id))
            let finals = statuses.values.filter { if case .final = $0 { true } else { false } }
            #expect(finals.count == 50_000)
            let db = try Stack.database()
            let recorded = try db.query("SELECT request_id, status_json FROM request_outcomes")
            var mismatches = 0
            for row in recorded {
                guard let id = row[0].text.flatMap(RequestID.init), case .final(_, let json)? = statuses[id], json == row[1].text
                else { mismatches += 1; continue }
            }
            #expect(mismatches == 0)
            // Held seats agree with the done outcomes.
            let doneSeats = try db.query("""
                SELECT COALESCE(SUM(JSON_LENGTH(JSON_EXTRACT(status_json, '$.reservation.seatIds'))), 0)
                FROM request_outcomes WHERE outcome = 'done'
                """).first?.first?.int ?? -1
            #expect(try db.query("SELECT COUNT(*) FROM reservation_seats WHERE live = 1").first?.first?.int == doneSeats)
        }

        /// A pass that died after committing a batch and before publishing it leaves the batch in flight; the next
        /// pass finds the batch's record, publishes the recorded statuses again and decides nothing twice.
        @Test func committedButUnpublishedBatchIsPublishedFromItsRecord() throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 100)
            let queue = QueueName.performance(performance)
            let requests = Self.requests(count: 200, seats: 100, users: 60, performance: performance, seed: 3)
            let redis = try Stack.redis()
            #expect(try BulkIntake(redis: redis).enqueue(requests) == 200)
            // The entries as Redis holds them (numbered and stamped by the enqueue script).
            let entries = (try redis.command(["LRANGE", RedisKeys.pending(queue), "0", "-1"]).array ?? []).compactMap(\.string)
            #expect(entries.count == 200)
            try Stack.run("concert-batch", ["flush", "--batch-size", "200"]).requireSuccess()
            let recorded = try Stack.database().query("SELECT request_id, status_json FROM request_outcomes")
            #expect(recorded.count == 200)

            // Put the world back as the dead pass left it: batch 1 in flight, its statuses never published.
            _ = try redis.command(["RPUSH", RedisKeys.pending(queue)] + entries)
            _ = try redis.command(["RPUSH", RedisKeys.inflightBatches(queue), "1:200"])
            _ = try redis.command(["DEL"] + requests.map { RedisKeys.status($0.id) })
            let held = try Stack.database().query("SELECT id FROM reservations").compactMap { $0[0].int }
            #expect(!held.isEmpty)
            _ = try redis.command(["DEL"] + held.map { RedisKeys.reservation($0) })

            let again = try Stack.run("concert-batch", ["flush"])
            try again.requireSuccess()
            #expect(again.stdout.contains("0 decided, 200 replayed"), "\(again.stdout.suffix(1500))")
            #expect(try Self.outcomeCount() == 200, "nothing decided twice")
            let statuses = try Stack.statuses(requests.map(\.id))
            for row in recorded {
                guard let id = row[0].text.flatMap(RequestID.init), case .final(_, let json)? = statuses[id] else {
                    Issue.record("no status published again for \(row[0].text ?? "?")")
                    continue
                }
                #expect(json == row[1].text)
            }
            for id in held {
                #expect(try redis.command(["EXISTS", RedisKeys.reservation(id)]) == .integer(1), "reservation \(id) cached again")
            }
            #expect(try Stack.requestsLeftInQueues() == 0)
            try Stack.run("concert-admin", ["verify"]).requireSuccess()
        }

        /// Two flushes started at once both finish, and the result is the one a single flush gives.
        @Test func twoFlushesAtOnceMatchOne() async throws {
            func outcomes() throws -> [String: String] {
                var byRequest: [String: String] = [:]
                for row in try Stack.database().query("SELECT request_id, outcome, status_json FROM request_outcomes") {
                    // Reservation ids depend on batch boundaries; the outcome and the seats do not.
                    let json = row[2].text ?? ""
                    let seats = json.range(of: "\"seatIds\":[").map { json[$0.upperBound...].prefix { $0 != "]" } } ?? ""
                    byRequest[row[0].text ?? ""] = "\(row[1].text ?? "") \(seats)"
                }
                return byRequest
            }

            try Stack.reset()
            var performance = try Stack.createPerformance(seats: 1_000)
            try BulkIntake(redis: try Stack.redis()).enqueue(
                Self.requests(count: 5_000, seats: 1_000, users: 1_500, performance: performance, seed: 7)
            )
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            let single = try outcomes()
            #expect(single.count == 5_000)

            try Stack.reset()
            performance = try Stack.createPerformance(seats: 1_000)
            try BulkIntake(redis: try Stack.redis()).enqueue(
                Self.requests(count: 5_000, seats: 1_000, users: 1_500, performance: performance, seed: 7)
            )
            let a = try Stack.start("concert-batch", ["flush"])
            let b = try Stack.start("concert-batch", ["flush"])
            let (resultA, resultB) = (a.wait(), b.wait())
            try resultA.requireSuccess()
            try resultB.requireSuccess()
            #expect(try outcomes() == single)
            #expect(try Stack.doubleBookedSeats() == 0)
            #expect(try Stack.requestsLeftInQueues() == 0)
        }
    }
}
