import Foundation
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

extension IntegrationSuite {
    @Suite(.serialized) struct KillLoop {
        /// 100,000 requests — reserves, charges, then pays and cancels of the reservations made — with
        /// `concert-batch flush` SIGKILLed at 20 random moments and restarted each time. Afterwards every
        /// request has exactly one outcome, published once, and `concert-admin verify` is clean.
        @Test func twentyKillsOverAHundredThousandMixedRequests() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 20_000, price: 10_000)
            var random = SplitMix64(state: 2026)
            let environment = ["CONCERT_LOCK_LEASE_SECONDS": "3"]
            func id(_ queue: QueueName) -> RequestID { RequestID(queue: queue, random: (random.next(), random.next())) }

            // Phase 1: 50,000 reserves and 10,000 charges from 8,000 users.
            var phase1: [QueuedRequest] = []
            for index in 0..<60_000 {
                let user = Int64.random(in: 1...8_000, using: &random)
                if index % 6 == 5 {
                    phase1.append(QueuedRequest(id: id(.general), kind: .charge, userID: user,
                                                amount: Int64.random(in: 5_000...40_000, using: &random), acceptedAtMillis: 1))
                } else {
                    let first = Int64.random(in: 1...20_000, using: &random)
                    phase1.append(QueuedRequest(id: id(.performance(performance)), kind: .reserve, userID: user,
                                                performanceID: performance, seatIDs: [first, first % 20_000 + 1],
                                                acceptedAtMillis: 1))
                }
            }
            try BulkIntake(redis: try Stack.redis()).enqueue(phase1)
            try await killAndRestart(times: 10, environment: environment)
            // The restart after the tenth kill runs to the end, so phase 2 can pay for what phase 1 held.
            try Stack.run("concert-batch", ["flush"], environment: environment).requireSuccess()

            // Phase 2: pays and cancels of the reservations that exist (mostly by their owners), and a few strays.
            let reservations = try Stack.database().query("SELECT id, user_id FROM reservations ORDER BY id")
            #expect(reservations.count > 1_000)
            var phase2: [QueuedRequest] = []
            for index in 0..<40_000 {
                let row = reservations[Int.random(in: 0..<reservations.count, using: &random)]
                let owner = row[1].int ?? 0
                let user = index % 20 == 0 ? Int64.random(in: 1...8_000, using: &random) : owner
                let reservation = index % 50 == 0 ? Int64.random(in: 1_000_000...2_000_000, using: &random) : (row[0].int ?? 0)
                phase2.append(QueuedRequest(id: id(.performance(performance)), kind: index % 3 == 0 ? .cancel : .pay,
                                            userID: user, reservationID: reservation, acceptedAtMillis: 1))
            }
            try BulkIntake(redis: try Stack.redis()).enqueue(phase2)
            try await killAndRestart(times: 10, environment: environment)

            try Stack.run("concert-batch", ["flush"], environment: environment).requireSuccess()
            let all = phase1 + phase2
            #expect(try Stack.database().query("SELECT COUNT(*) FROM request_outcomes").first?.first?.int == Int64(all.count))
            let statuses = try Stack.statuses(all.map(\.id))
            #expect(statuses.values.filter { if case .final = $0 { true } else { false } }.count == all.count)
            #expect(try Stack.requestsLeftInQueues() == 0)
            try Stack.run("concert-admin", ["verify"]).requireSuccess()
            // The mix really exercised money: payments, refunds and rejections all happened.
            let outcomes = Set(try Stack.database().query("SELECT DISTINCT CONCAT(kind, ' ', outcome) FROM request_outcomes")
                .compactMap { $0.first?.text })
            for expected in ["reserve done", "reserve SEAT_TAKEN", "charge done", "pay done", "cancel done",
                             "pay ALREADY_PAID", "pay RESERVATION_UNKNOWN"] {
                #expect(outcomes.contains(expected), "outcomes include \(expected): \(outcomes.sorted())")
            }
        }

        /// Starts `flush`, kills it with SIGKILL after a random moment, `times` times.
        func killAndRestart(times: Int, environment: [String: String]) async throws {
            var random = SplitMix64(state: UInt64(times) &* 7919)
            for _ in 0..<times {
                let flush = try Stack.start("concert-batch", ["flush", "--batch-size", "1000"], environment: environment)
                try await Task.sleep(for: .milliseconds(Int.random(in: 200...1_500, using: &random)))
                flush.kill(SIGKILL)
                _ = flush.wait()
            }
        }
    }
}
