import Foundation
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

extension IntegrationSuite {
    @Suite(.serialized) struct Verify {
        /// `concert-admin verify` passes on a healthy database and names each broken promise when one is broken.
        @Test func findsEachKindOfViolation() throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 10)
            let requests = (1...3).map { user in
                QueuedRequest(
                    id: .random(queue: .performance(performance)), kind: .reserve, userID: Int64(user),
                    performanceID: performance, seatIDs: [Int64(user)], acceptedAtMillis: 0
                )
            }
            try BulkIntake(redis: try Stack.redis()).enqueue(requests)
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            try Stack.run("concert-admin", ["verify"]).requireSuccess()

            let db = try Stack.database()
            // Money from nowhere, a sale without a payment, a seat sold twice, and a dead pass's leftovers.
            try db.execute("INSERT INTO balances (user_id, balance) VALUES (99, 500)")
            try db.execute("UPDATE reservations SET state = 'confirmed' WHERE user_id = 1")
            try db.execute("SET FOREIGN_KEY_CHECKS = 0")
            try db.execute("""
                INSERT INTO reservations (id, performance_id, user_id, state, amount, hold_expires_at, request_id)
                VALUES (9999, ?, 4, 'held', 50000, 0, 'forged')
                """, [.int(performance)])
            try db.execute("INSERT INTO reservation_seats (reservation_id, performance_id, seat_id, live) VALUES (9999, ?, 2, NULL)",
                           [.int(performance)])
            // A batch taken and never finished: its entry first in pending, `<number>:<count>` in the in-flight list.
            let queue = QueueName.performance(performance)
            _ = try Stack.redis().command([
                "RPUSH", RedisKeys.pending(queue),
                QueuedRequest(id: .random(queue: queue), kind: .reserve, userID: 5,
                              performanceID: performance, seatIDs: [7], acceptedAtMillis: 1).wireFormat,
            ])
            _ = try Stack.redis().command(["RPUSH", RedisKeys.inflightBatches(queue), "77:1"])

            let result = try Stack.run("concert-admin", ["verify"])
            #expect(result.status == 1)
            for rule in [
                "a balance differs from its ledger", "a reservation's payments do not match its state",
                "a reservation has no recorded outcome", "a reservation's seats disagree with its state",
                "requests in flight with no process owning the queue",
            ] {
                #expect(result.stdout.contains(rule), "verify names '\(rule)': \(result.stdout)")
            }
            #expect(result.stderr.contains("invariant violations"))
        }
    }
}
