import Foundation
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

extension IntegrationSuite {
    /// Whatever the core decides, the store writes — and what it cannot write stops one request, never a queue.
    @Suite(.serialized) struct BatchStorage {
        /// The everyday sequence that once wedged every queue: a cancel, then someone else holding that seat, in
        /// one batch. Through HTTP, as a buyer would send it.
        @Test func cancelAndAnotherHoldOfTheSeatInOneBatch() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 10)
            let ingest = try await IngestHarness()
            defer { ingest.stop() }
            let (first, second) = (try Stack.token(user: 501), try Stack.token(user: 502))
            let seats = "/v1/performances/\(performance)/reservations"

            let (status, body) = try await ingest.send("POST", seats, token: first, json: #"{"seatIds":[1]}"#)
            #expect(status == 202)
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            let held = try await Expiry.reservation(ingest, request: try #require(body?["requestId"] as? String), token: first)
            #expect(held.state == "held" && held.seats == [1])

            let cancel = try await Expiry.request(ingest, "DELETE", "/v1/reservations/\(held.id)", first, nil)
            let hold = try await Expiry.request(ingest, "POST", seats, second, #"{"seatIds":[1]}"#)
            let flush = try Stack.run("concert-batch", ["flush"])
            try flush.requireSuccess()
            #expect(flush.stdout.contains("  reserve: done 1\n"), "\(flush.stdout)")
            #expect(flush.stdout.contains("  cancel: done 1\n"), "\(flush.stdout)")

            #expect(Money.reservationState(try await Expiry.final(ingest, cancel, first)) == "cancelled")
            let taken = try await Expiry.reservation(ingest, request: hold, token: second)
            #expect(taken.state == "held" && taken.seats == [1])
            // And the queue keeps working afterwards.
            let again = try await Expiry.request(ingest, "POST", seats, first, #"{"seatIds":[2]}"#)
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            #expect(try await Expiry.reservation(ingest, request: again, token: first).seats == [2])
            try Stack.run("concert-admin", ["verify"]).requireSuccess()
        }

        /// A request the database refuses alone — here a charge of 4242 against a constraint the rules did not
        /// foresee — is isolated by committing the batch in halves, rejected INTERNAL_ERROR, logged with its id and
        /// counted; every other request of its batch and queue is decided, and the other queues go on.
        @Test func poisonRequestIsIsolated() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 50)
            let db = try Stack.database()
            try db.execute("ALTER TABLE ledger ADD CONSTRAINT test_poison CHECK (amount <> 4242)")
            defer { _ = try? db.execute("ALTER TABLE ledger DROP CONSTRAINT test_poison") }

            var random = SplitMix64(state: 4242)
            func id(_ queue: QueueName) -> RequestID { RequestID(queue: queue, random: (random.next(), random.next())) }
            var requests: [QueuedRequest] = []
            for user in Int64(1)...40 {
                requests.append(QueuedRequest(id: id(.general), kind: .charge, userID: user, amount: user == 17 ? 4242 : 1000,
                                              acceptedAtMillis: 1))
                requests.append(QueuedRequest(id: id(.performance(performance)), kind: .reserve, userID: user,
                                              performanceID: performance, seatIDs: [user], acceptedAtMillis: 1))
            }
            try BulkIntake(redis: try Stack.redis()).enqueue(requests)
            let metrics = FileManager.default.temporaryDirectory.appendingPathComponent("concert-poison-\(UUID().uuidString).prom")
            let flush = try Stack.run("concert-batch", ["flush", "--batch-size", "40"], environment: ["CONCERT_METRICS_FILE": metrics.path])
            try flush.requireSuccess()

            let poison = requests[32].id  // user 17's charge
            let statuses = try Stack.statuses(requests.map(\.id))
            guard case .final(_, let json)? = statuses[poison] else {
                Issue.record("the poison request has no terminal status")
                return
            }
            #expect(json.contains(#""reason":"INTERNAL_ERROR""#))
            let done = statuses.filter { if case .final(_, let json) = $0.value { json.contains(#""status":"done""#) } else { false } }
            #expect(done.count == 79, "every other request is done")
            #expect(flush.stdout.contains("charge: INTERNAL_ERROR 1, done 39"), "\(flush.stdout)")
            #expect(flush.stdout.contains(poison.rawValue), "the log names the request")
            let text = try String(contentsOf: metrics, encoding: .utf8)
            #expect(text.contains(#"concert_batch_requests_total{kind="charge",outcome="INTERNAL_ERROR"} 1"#), "\(text)")
            #expect(try Stack.requestsLeftInQueues() == 0)
            try Stack.run("concert-admin", ["verify"]).requireSuccess()
        }
    }
}
