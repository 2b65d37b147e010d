import Foundation
import MariaDBStore
import ReservationCore
import Testing

/// Everything that drains queues shares the servers, so the integration suites run one test at a time.
@Suite("Integration", .serialized)
struct IntegrationSuite {}

extension IntegrationSuite {
    @Suite(.serialized) struct OnSale {
        /// 2,000 requests from 500 users for 200 seats through the HTTP API, then one flush.
        @Test func twoThousandRequestsForTwoHundredSeats() async throws {
            try await Self.twoThousandRequestsForTwoHundredSeats()
        }

        /// The on-sale above, on whatever servers `Stack.target` names (the scaled-out suite runs it on the clusters).
        static func twoThousandRequestsForTwoHundredSeats() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 200)
            let ingest = try await IngestHarness()
            defer { ingest.stop() }

            // User u asks for seats 4u … 4u+3 (mod 200), one per request: each seat is wanted by 10 users,
            // and no user wants more than 4, so every seat must end up held exactly once.
            var tokens: [Int64: String] = [:]
            for user in Int64(1)...500 { tokens[user] = try Stack.token(user: user) }
            var work: [(Int64, Int64)] = []
            for round in Int64(0)..<4 {
                for user in Int64(1)...500 { work.append((user, (user * 4 + round) % 200 + 1)) }
            }

            let accepted = try await withThrowingTaskGroup(of: (Int, String?, Int64).self) { group in
                var results: [(Int, String?, Int64)] = []
                var next = 0
                func add() {
                    let (user, seat) = work[next]
                    let token = tokens[user]!
                    next += 1
                    group.addTask {
                        let (status, body) = try await ingest.send(
                            "POST", "/v1/performances/\(performance)/reservations", token: token, json: #"{"seatIds":[\#(seat)]}"#
                        )
                        return (status, body?["requestId"] as? String, user)
                    }
                }
                for _ in 0..<48 { add() }
                while let result = try await group.next() {
                    results.append(result)
                    if next < work.count { add() }
                }
                return results
            }
            #expect(accepted.count == 2_000)
            #expect(accepted.allSatisfy { $0.0 == 202 }, "every request is accepted: \(Set(accepted.map(\.0)))")
            let owned = accepted.compactMap { result in result.1.flatMap(RequestID.init).map { ($0, result.2) } }
            #expect(Set(owned.map(\.0)).count == 2_000)

            let flush = try Stack.run("concert-batch", ["flush"])
            try flush.requireSuccess()
            #expect(flush.stdout.contains("reserve: SEAT_TAKEN 1800, done 200"), "summary: \(flush.stdout)")

            // In MariaDB: exactly 200 live seats, none twice, 2,000 outcomes.
            let db = try Stack.database()
            #expect(try db.query("SELECT COUNT(*) FROM reservation_seats WHERE live = 1").first?.first?.int == 200)
            #expect(try Stack.doubleBookedSeats() == 0)
            #expect(try Stack.inconsistentReservations() == 0)
            #expect(try db.query("SELECT COUNT(*) FROM request_outcomes").first?.first?.int == 2_000)
            #expect(try Stack.requestsLeftInQueues() == 0)

            // Every 202 has exactly one terminal status, as the API shows it to its owner.
            var outcomes: [String: Int] = [:]
            for (id, user) in owned {
                let (status, body) = try await ingest.send("GET", "/v1/requests/\(id.rawValue)", token: tokens[user]!)
                #expect(status == 200)
                let state = body?["status"] as? String ?? "?"
                let reason = body?["reason"] as? String
                outcomes[reason ?? state, default: 0] += 1
            }
            #expect(outcomes == ["done": 200, "SEAT_TAKEN": 1_800])

            // The seat map shows every seat held.
            let (status, seatMap) = try await ingest.send("GET", "/v1/performances/\(performance)/seats")
            #expect(status == 200)
            let seats = seatMap?["seats"] as? [[String: Any]] ?? []
            #expect(seats.count == 200)
            #expect(seats.allSatisfy { $0["status"] as? String == "held" })
        }
    }
}
