import Foundation
import Logging
import MariaDBStore
import RedisStore
import ReservationCore
import Synchronization
import Testing
@testable import BatchRunner

extension IntegrationSuite {
    /// The pass run in-process over the real stores, with a clock the test moves: deadlines are judged at the
    /// moment Redis accepted a request, and holds expire when their time has come, with nothing queued.
    @Suite(.serialized) struct PassClock {
        /// A wall clock the test sets.
        final class TestClock: Sendable {
            let millis: Mutex<Int64>
            init(_ millis: Int64) { self.millis = Mutex(millis) }
            func advance(seconds: Int64) { millis.withLock { $0 += seconds * 1000 } }
            var clock: BatchRunner.PassClock { BatchRunner.PassClock { [self] in millis.withLock { $0 } } }
        }

        static func configuration(_ clock: TestClock) throws -> BatchConfiguration {
            var configuration = try BatchConfiguration.fromEnvironment()
            configuration.clock = clock.clock
            configuration.holdSeconds = 60
            configuration.metricsFile = nil
            return configuration
        }

        static func pass(_ clock: TestClock) throws {
            let pass = try BatchPass(configuration: try configuration(clock), logger: .init(label: "test"))
            guard case .completed = try pass.execute(.run(budgetSeconds: nil)) else {
                Issue.record("the pass claimed nothing")
                return
            }
        }

        static func state(_ reservation: Int64) throws -> String? {
            try Stack.database().query("SELECT state FROM reservations WHERE id = ?", [.int(reservation)]).first?.first?.text
        }

        @Test func payAcceptedBeforeTheDeadlineIsOnTimeAndUnpaidHoldsExpireWithNothingQueued() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 10, price: 100)
            let clock = TestClock(Int64(Date().timeIntervalSince1970 * 1000))
            let redis = try Stack.redis()
            var random = SplitMix64(state: 77)
            func id(_ queue: QueueName) -> RequestID { RequestID(queue: queue, random: (random.next(), random.next())) }
            let queue = QueueName.performance(performance)
            try BulkIntake(redis: redis).enqueue([
                QueuedRequest(id: id(.general), kind: .charge, userID: 1, amount: 1_000, acceptedAtMillis: 0),
                QueuedRequest(id: id(queue), kind: .reserve, userID: 1, performanceID: performance, seatIDs: [1], acceptedAtMillis: 0),
                QueuedRequest(id: id(queue), kind: .reserve, userID: 2, performanceID: performance, seatIDs: [2], acceptedAtMillis: 0),
            ])
            try Self.pass(clock)
            let holds = try Stack.database().query("SELECT id, user_id FROM reservations ORDER BY user_id").compactMap { $0[0].int }
            try #require(holds.count == 2)

            // User 1 pays now, well before the deadline; the pass only gets to it after the deadline has passed.
            try BulkIntake(redis: redis).enqueue([
                QueuedRequest(id: id(queue), kind: .pay, userID: 1, reservationID: holds[0], acceptedAtMillis: 0),
            ])
            clock.advance(seconds: 61)
            try Self.pass(clock)
            #expect(try Self.state(holds[0]) == "confirmed", "accepted before the deadline: on time")
            #expect(try Self.state(holds[1]) == "expired", "the unpaid hold expired in the same pass")

            // The expired hold's cache says so, and its seat sells again.
            let cached = try redis.command(["GET", RedisKeys.reservation(holds[1])]).string ?? ""
            #expect(cached.contains(#""state":"expired""#))
            try BulkIntake(redis: redis).enqueue([
                QueuedRequest(id: id(queue), kind: .reserve, userID: 3, performanceID: performance, seatIDs: [2], acceptedAtMillis: 0),
            ])
            try Self.pass(clock)
            #expect(try Stack.database().query("SELECT COUNT(*) FROM reservations WHERE user_id = 3 AND state = 'held'").first?.first?.int == 1)
            try Stack.run("concert-admin", ["verify"]).requireSuccess()
        }

        @Test func holdsExpireInAQueueNobodyWritesTo() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 10, price: 100)
            let clock = TestClock(Int64(Date().timeIntervalSince1970 * 1000))
            try BulkIntake(redis: try Stack.redis()).enqueue([
                QueuedRequest(id: .random(queue: .performance(performance)), kind: .reserve, userID: 9, performanceID: performance,
                              seatIDs: [5, 6], acceptedAtMillis: 0),
            ])
            try Self.pass(clock)
            let hold = try #require(try Stack.database().query("SELECT id FROM reservations").first?.first?.int)
            clock.advance(seconds: 59)
            try Self.pass(clock)
            #expect(try Self.state(hold) == "held", "not yet due")
            clock.advance(seconds: 2)
            try Self.pass(clock)
            #expect(try Self.state(hold) == "expired")
            #expect(try Stack.database().query("SELECT COUNT(*) FROM reservation_seats WHERE live = 1").first?.first?.int == 0)
        }
    }
}
