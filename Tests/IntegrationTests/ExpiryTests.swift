import Foundation
import MariaDBStore
import ReservationCore
import Testing

extension IntegrationSuite {
    /// Unpaid holds expire at the start of the next pass (`concert-batch run` with nothing queued, or `flush`), their
    /// seats go back on sale, and the hold can no longer be paid or cancelled.
    @Suite(.serialized) struct Expiry {
        static let shortHold = ["CONCERT_HOLD_SECONDS": "2"]
        static let longHold = ["CONCERT_HOLD_SECONDS": "300"]

        @Test func unpaidHoldsExpireAndTheirSeatsSellAgain() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 20)
            let ingest = try await IngestHarness()
            defer { ingest.stop() }
            var tokens: [Int64: String] = [:]
            for user in Int64(1)...5 { tokens[user] = try Stack.token(user: user) }
            let db = try Stack.database()

            // Long holds first (so no pass runs while the short ones are live): user 3 keeps a hold on seats 4–5,
            // user 4 pays for seat 6; user 2 charges enough to pay for a seat.
            let hold3 = try await Self.request(ingest, "POST", "/v1/performances/\(performance)/reservations", tokens[3]!, #"{"seatIds":[4,5]}"#)
            let hold4 = try await Self.request(ingest, "POST", "/v1/performances/\(performance)/reservations", tokens[4]!, #"{"seatIds":[6]}"#)
            _ = try await Self.request(ingest, "POST", "/v1/me/balance/charges", tokens[4]!, #"{"amount":100000}"#)
            _ = try await Self.request(ingest, "POST", "/v1/me/balance/charges", tokens[2]!, #"{"amount":100000}"#)
            try Stack.run("concert-batch", ["flush"], environment: Self.longHold).requireSuccess()
            let reservation3 = try await Self.reservation(ingest, request: hold3, token: tokens[3]!)
            let reservation4 = try await Self.reservation(ingest, request: hold4, token: tokens[4]!)
            #expect(reservation3.deadline >= Int64(Date().timeIntervalSince1970) + 290, "CONCERT_HOLD_SECONDS=300")
            let pay4 = try await Self.request(ingest, "POST", "/v1/reservations/\(reservation4.id)/payment", tokens[4]!, "{}")
            let payRun = try Stack.run("concert-batch", ["run", "--budget", "1"], environment: Self.longHold)
            try payRun.requireSuccess()
            let paySummary = Self.passDone(payRun.stdout)
            #expect(paySummary?["payments"] == "1" && paySummary?["money.payments"] == "50000", "run log: \(payRun.stdout)")
            #expect(try await Self.final(ingest, pay4, tokens[4]!)["status"] as? String == "done")
            // A confirmed reservation never expires, even long past the deadline its hold had.
            try db.execute("UPDATE reservations SET hold_expires_at = ? WHERE id = ?", [
                .int(Int64(Date().timeIntervalSince1970) - 60), .int(reservation4.id),
            ])

            // Two-second holds: user 1 on seats 1–2, user 2 on seat 3.
            let hold1 = try await Self.request(ingest, "POST", "/v1/performances/\(performance)/reservations", tokens[1]!, #"{"seatIds":[1,2]}"#)
            let hold2 = try await Self.request(ingest, "POST", "/v1/performances/\(performance)/reservations", tokens[2]!, #"{"seatIds":[3]}"#)
            let before = Int64(Date().timeIntervalSince1970)
            let shortFlush = try Stack.run("concert-batch", ["flush"], environment: Self.shortHold)
            try shortFlush.requireSuccess()
            let after = Int64(Date().timeIntervalSince1970)
            #expect(shortFlush.stdout.contains("holds expired: 0\n"), "summary: \(shortFlush.stdout)")
            let reservation1 = try await Self.reservation(ingest, request: hold1, token: tokens[1]!)
            let reservation2 = try await Self.reservation(ingest, request: hold2, token: tokens[2]!)
            for reservation in [reservation1, reservation2] {
                #expect(reservation.state == "held")
                #expect((before + 2 - 1)...(after + 2) ~= reservation.deadline, "CONCERT_HOLD_SECONDS=2: \(reservation)")
            }
            #expect(try await Self.seatStatuses(ingest, performance)[1...6] == ["held", "held", "held", "held", "held", "sold"])

            // Past the deadline, `run` with nothing queued expires both holds and frees their seats.
            try await Self.sleep(untilPast: max(reservation1.deadline, reservation2.deadline))
            #expect(try Stack.requestsLeftInQueues() == 0)
            let run = try Stack.run("concert-batch", ["run", "--budget", "1"])
            try run.requireSuccess()
            // `run` logs JSON lines; its "pass done" line is its summary.
            let runSummary = Self.passDone(run.stdout)
            #expect(runSummary?["expired"] == "2", "run log: \(run.stdout)")
            #expect(runSummary?["requests"] == "0" && runSummary?["money.payments"] == "0", "run log: \(run.stdout)")

            let states = try Self.states(db)
            #expect(states[reservation1.id] == "expired")
            #expect(states[reservation2.id] == "expired")
            #expect(states[reservation3.id] == "held", "a hold with time left stays")
            #expect(states[reservation4.id] == "confirmed", "a paid reservation never expires")
            #expect(try Self.liveSeats(db) == [4, 5, 6])
            #expect(try Stack.inconsistentReservations() == 0)
            for (reservation, user) in [(reservation1, Int64(1)), (reservation2, 2)] {
                let (status, body) = try await ingest.send("GET", "/v1/reservations/\(reservation.id)", token: tokens[user])
                #expect(status == 200)
                #expect(body?["state"] as? String == "expired", "GET /v1/reservations/\(reservation.id): \(body ?? [:])")
            }
            let seats = try await Self.seatStatuses(ingest, performance)
            #expect(seats[1...6] == ["available", "available", "available", "held", "held", "sold"])
            #expect(seats[7...20].allSatisfy { $0 == "available" })
            #expect(try await Self.available(ingest, performance) == 17)

            // The expired hold can be neither paid (user 2 has the money) nor cancelled; another user gets its seats.
            let latePay = try await Self.request(ingest, "POST", "/v1/reservations/\(reservation2.id)/payment", tokens[2]!, "{}")
            let lateCancel = try await Self.request(ingest, "DELETE", "/v1/reservations/\(reservation1.id)", tokens[1]!, nil)
            let resale = try await Self.request(ingest, "POST", "/v1/performances/\(performance)/reservations", tokens[5]!, #"{"seatIds":[1,2,3]}"#)
            let resaleFlush = try Stack.run("concert-batch", ["flush"], environment: Self.shortHold)
            try resaleFlush.requireSuccess()
            #expect(resaleFlush.stdout.contains("holds expired: 0\n"), "summary: \(resaleFlush.stdout)")
            #expect(resaleFlush.stdout.contains("  pay: HOLD_EXPIRED 1\n"), "summary: \(resaleFlush.stdout)")
            #expect(resaleFlush.stdout.contains("  cancel: HOLD_EXPIRED 1\n"), "summary: \(resaleFlush.stdout)")
            #expect(resaleFlush.stdout.contains("  reserve: done 1\n"), "summary: \(resaleFlush.stdout)")
            #expect(!resaleFlush.stdout.contains("money moved"), "summary: \(resaleFlush.stdout)")
            #expect(try await Self.final(ingest, latePay, tokens[2]!)["reason"] as? String == "HOLD_EXPIRED")
            #expect(try await Self.final(ingest, lateCancel, tokens[1]!)["reason"] as? String == "HOLD_EXPIRED")
            let reservation5 = try await Self.reservation(ingest, request: resale, token: tokens[5]!)
            #expect(reservation5.state == "held")
            #expect(reservation5.seats == [1, 2, 3])
            #expect(try Self.states(db)[reservation2.id] == "expired")
            #expect(try Self.liveSeats(db) == [1, 2, 3, 4, 5, 6])
            // User 2's balance is untouched: no payment row, the API shows the full charge.
            #expect(try db.query("SELECT COUNT(*) FROM ledger WHERE user_id = 2 AND kind <> 'charge'").first?.first?.int == 0)
            #expect(try db.query("SELECT balance FROM balances WHERE user_id = 2").first?.first?.int == 100_000)
            let balance = try await ingest.send("GET", "/v1/me/balance", token: tokens[2])
            #expect((balance.1?["balance"] as? NSNumber)?.int64Value == 100_000)
            #expect(try await Self.seatStatuses(ingest, performance)[1...3] == ["held", "held", "held"])

            // The resold seats expire again, this time at the start of a `flush` that also sells one of them on.
            try await Self.sleep(untilPast: reservation5.deadline)
            let again = try await Self.request(ingest, "POST", "/v1/performances/\(performance)/reservations", tokens[1]!, #"{"seatIds":[2]}"#)
            let secondFlush = try Stack.run("concert-batch", ["flush"], environment: Self.longHold)
            try secondFlush.requireSuccess()
            #expect(secondFlush.stdout.contains("holds expired: 1\n"), "summary: \(secondFlush.stdout)")
            #expect(secondFlush.stdout.contains("  reserve: done 1\n"), "summary: \(secondFlush.stdout)")
            #expect(try await Self.reservation(ingest, request: again, token: tokens[1]!).state == "held")
            #expect(try Self.states(db)[reservation5.id] == "expired")
            #expect(try Self.liveSeats(db) == [2, 4, 5, 6])
            #expect(try await Self.seatStatuses(ingest, performance)[1...6] == ["available", "held", "available", "held", "held", "sold"])
            #expect(try await Self.available(ingest, performance) == 16)
            #expect(try Stack.doubleBookedSeats() == 0)
            #expect(try Stack.inconsistentReservations() == 0)
            #expect(try Stack.requestsLeftInQueues() == 0)
            try Stack.run("concert-admin", ["verify"]).requireSuccess()
        }

        // MARK: Helpers

        struct Held: CustomStringConvertible {
            var id: Int64
            var state: String
            var seats: [Int64]
            var deadline: Int64
            var description: String { "reservation \(id) \(state) seats \(seats) until \(deadline)" }
        }

        /// Sends one write and returns its request id (it must be accepted with 202).
        static func request(
            _ ingest: IngestHarness, _ method: String, _ path: String, _ token: String, _ json: String?,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> String {
            let (status, body) = try await ingest.send(method, path, token: token, json: json)
            #expect(status == 202, "\(method) \(path): \(status) \(body ?? [:])", sourceLocation: sourceLocation)
            return try #require(body?["requestId"] as? String, sourceLocation: sourceLocation)
        }

        /// The terminal status of a request, as its owner reads it.
        static func final(_ ingest: IngestHarness, _ request: String, _ token: String) async throws -> [String: Any] {
            let (status, body) = try await ingest.send("GET", "/v1/requests/\(request)", token: token)
            #expect(status == 200)
            let json = body ?? [:]
            #expect(["done", "rejected"].contains(json["status"] as? String), "request \(request) is not terminal: \(json)")
            return json
        }

        /// The reservation a `done` reserve request created.
        static func reservation(_ ingest: IngestHarness, request: String, token: String) async throws -> Held {
            let status = try await final(ingest, request, token)
            let reservation = try #require(status["reservation"] as? [String: Any], "reserve \(request): \(status)")
            return Held(
                id: try #require((reservation["id"] as? NSNumber)?.int64Value),
                state: reservation["state"] as? String ?? "",
                seats: (reservation["seatIds"] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.int64Value },
                deadline: try #require((reservation["holdExpiresAt"] as? String).flatMap(Timestamp.parseISO8601))
            )
        }

        /// The metadata of the "pass done" JSON log line `concert-batch` writes on stdout.
        static func passDone(_ stdout: String) -> [String: String]? {
            for line in stdout.split(separator: "\n") {
                guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                      object["msg"] as? String == "pass done"
                else { continue }
                return object.compactMapValues { $0 as? String }
            }
            return nil
        }

        /// Waits until the clock is safely past `deadline` (seconds since 1970).
        static func sleep(untilPast deadline: Int64) async throws {
            let wait = Double(deadline) + 1.2 - Date().timeIntervalSince1970
            if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
        }

        /// Seat statuses from `GET /v1/performances/{id}/seats`, indexed by seat id (index 0 unused).
        static func seatStatuses(_ ingest: IngestHarness, _ performance: Int64) async throws -> [String] {
            let (status, body) = try await ingest.send("GET", "/v1/performances/\(performance)/seats")
            #expect(status == 200)
            let seats = body?["seats"] as? [[String: Any]] ?? []
            var statuses = [String](repeating: "missing", count: seats.count + 1)
            for seat in seats {
                if let id = (seat["id"] as? NSNumber)?.intValue, statuses.indices.contains(id) {
                    statuses[id] = seat["status"] as? String ?? "?"
                }
            }
            return statuses
        }

        /// `available` of the performance in `GET /v1/performances`.
        static func available(_ ingest: IngestHarness, _ performance: Int64) async throws -> Int64? {
            let (_, body) = try await ingest.send("GET", "/v1/performances")
            let listed = (body?["performances"] as? [[String: Any]])?.first { ($0["id"] as? NSNumber)?.int64Value == performance }
            return (listed?["available"] as? NSNumber)?.int64Value
        }

        static func states(_ db: MariaDBConnection) throws -> [Int64: String] {
            Dictionary(uniqueKeysWithValues: try db.query("SELECT id, state FROM reservations").map { ($0[0].int ?? 0, $0[1].text ?? "") })
        }

        static func liveSeats(_ db: MariaDBConnection) throws -> [Int64] {
            try db.query("SELECT seat_id FROM reservation_seats WHERE live = 1 ORDER BY seat_id").compactMap { $0.first?.int }
        }
    }
}
