import Foundation
import MariaDBStore
import ReservationCore
import Testing

extension IntegrationSuite {
    /// Charge, pay, cancel and refund through a real `concert-ingest` and `concert-batch flush`, checked against
    /// MariaDB's ledger and what the API shows.
    @Suite(.serialized) struct Money {
        static let price: Int64 = 50_000
        static let users = Int64(1)...300

        /// What each user charges: users 1–100 once 150,000; 101–200 twice (100,000 + 50,000); 201–250 60,000
        /// (one seat, not two); 251–300 20,000 (not even one seat).
        static func charges(of user: Int64) -> [Int64] {
            switch user {
            case 1...100: [150_000]
            case 101...200: [100_000, 50_000]
            case 201...250: [60_000]
            default: [20_000]
            }
        }

        /// The seats come in 100 pairs, and users u, u+100 and u+200 want pair u % 100 (so the three have the same
        /// parity): odd users the whole pair (one of the three wins it), even users one seat each, two of them the same
        /// seat (two of the three win one). Whoever arrives first, 150 holds sell out the house and 150 are SEAT_TAKEN.
        static func seats(of user: Int64) -> [Int64] {
            let first = user % 100 * 2 + 1
            return user % 2 == 1 ? [first, first + 1] : [first + user / 100 % 2]
        }

        /// A live hold or reservation as a request's `done` status showed it.
        struct Booking {
            var user: Int64
            var id: Int64
            var seats: [Int64]
            var amount: Int64
        }

        /// 300 users charge (some too little), hold 1–2 seats of a 200-seat performance, pay; then cancellations with
        /// refunds, and every rejection a payment or cancellation can meet. After every pass: balance = ledger sum.
        @Test func threeHundredUsersChargeHoldPayAndCancel() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 200, price: Self.price)
            // The test sends a user's requests in bursts; rate limiting is not what it is about.
            let ingest = try await IngestHarness(environment: ["CONCERT_RATE_BURST": "200"])
            defer { ingest.stop() }
            var tokens: [Int64: String] = [:]
            for user in Self.users { tokens[user] = try Stack.token(user: user) }
            let db = try Stack.database()
            var accepted = 0  // requests answered 202, each of which must end in exactly one outcome

            // MARK: 1. Charges and holds, in one shuffled burst, then one flush.
            var work: [(user: Int64, call: Call)] = []
            for user in Self.users {
                for amount in Self.charges(of: user) {
                    work.append((user, Call("POST", "/v1/me/balance/charges", token: tokens[user], json: #"{"amount":\#(amount)}"#)))
                }
                let seats = Self.seats(of: user).map(String.init).joined(separator: ",")
                work.append((user, Call(
                    "POST", "/v1/performances/\(performance)/reservations", token: tokens[user], json: #"{"seatIds":[\#(seats)]}"#
                )))
            }
            var random = SplitMix64(state: 3)
            work.shuffle(using: &random)  // rich and poor users race for the same seats
            let phase1 = try await Self.sendAll(ingest, work.map(\.call))
            #expect(phase1.allSatisfy { $0.status == 202 }, "every write is accepted: \(Set(phase1.map(\.status)))")
            accepted += phase1.count
            let phase1IDs = phase1.map { $0.json?["requestId"] as? String ?? "" }

            let flush1 = try Stack.run("concert-batch", ["flush"])
            try flush1.requireSuccess()
            let charged = Dictionary(uniqueKeysWithValues: Self.users.map { ($0, Self.charges(of: $0).reduce(0, +)) })
            let totalCharged = charged.values.reduce(0, +)
            #expect(flush1.stdout.contains("  charge: done 400\n"), "summary: \(flush1.stdout)")
            #expect(flush1.stdout.contains("money moved: charges \(totalCharged)\n"), "summary: \(flush1.stdout)")

            let finals1 = try await Self.finalStatuses(ingest, ids: phase1IDs, tokens: work.map { tokens[$0.user]! })
            var holds: [Int64: Booking] = [:]  // by user
            var seatTaken = 0
            for ((user, call), status) in zip(work, finals1) {
                if call.path.hasSuffix("/charges") {
                    #expect(status["status"] as? String == "done", "charge of user \(user): \(status)")
                    #expect(Self.int(status["balance"]).map { $0 > 0 && $0 <= charged[user]! } == true)
                } else if let booking = Self.booking(status, user: user) {
                    #expect(booking.seats == Self.seats(of: user))
                    #expect(booking.amount == Self.price * Int64(booking.seats.count))
                    #expect(Self.reservationState(status) == "held")
                    holds[user] = booking
                } else {
                    #expect(status["reason"] as? String == "SEAT_TAKEN", "reserve of user \(user): \(status)")
                    seatTaken += 1
                }
            }
            #expect(holds.count == 150 && seatTaken == 150)
            #expect(flush1.stdout.contains("  reserve: SEAT_TAKEN 150, done 150\n"), "summary: \(flush1.stdout)")
            let soldOut = try await ingest.send("GET", "/v1/performances/\(performance)/seats").1?["seats"] as? [[String: Any]]
            #expect(soldOut?.count == 200 && soldOut?.allSatisfy { $0["status"] as? String == "held" } == true, "every seat held")
            // The seeded shuffle gives each class of buyer some holds; without them the checks below prove little.
            let poorHolds = holds.values.filter { $0.amount > charged[$0.user]! }
            try #require(poorHolds.count >= 3 && holds.count - poorHolds.count >= 20, "holds: \(holds.count), unaffordable: \(poorHolds.count)")
            #expect(holds.values.contains { $0.user > 200 && $0.amount <= charged[$0.user]! }, "a 60,000 balance pays one seat")

            // Every user sees exactly what they charged.
            try await Self.expectBalances(ingest, tokens: tokens, equal: charged)
            try Self.expectLedgerConsistent(db)

            // MARK: 2. Everyone with a hold pays for it.
            let payers = holds.values.sorted { $0.user < $1.user }
            let phase2 = try await Self.sendAll(ingest, payers.map {
                Call("POST", "/v1/reservations/\($0.id)/payment", token: tokens[$0.user], json: "{}")
            })
            #expect(phase2.allSatisfy { $0.status == 202 })
            accepted += phase2.count
            let flush2 = try Stack.run("concert-batch", ["flush"])
            try flush2.requireSuccess()

            let finals2 = try await Self.finalStatuses(
                ingest, ids: phase2.map { $0.json?["requestId"] as? String ?? "" }, tokens: payers.map { tokens[$0.user]! }
            )
            var confirmed: [Booking] = []
            var unpaid: [Booking] = []
            for (booking, status) in zip(payers, finals2) {
                let affordable = booking.amount <= charged[booking.user]!
                if affordable {
                    #expect(status["status"] as? String == "done", "user \(booking.user) can afford \(booking.amount): \(status)")
                    #expect(Self.reservationState(status) == "confirmed")
                    confirmed.append(booking)
                } else {
                    #expect(status["reason"] as? String == "INSUFFICIENT_BALANCE", "user \(booking.user): \(status)")
                    unpaid.append(booking)
                }
            }
            let paidTotal = confirmed.map(\.amount).reduce(0, +)
            #expect(flush2.stdout.contains("  pay: INSUFFICIENT_BALANCE \(unpaid.count), done \(confirmed.count)\n"), "summary: \(flush2.stdout)")
            #expect(flush2.stdout.contains("money moved: payments \(paidTotal)\n"), "summary: \(flush2.stdout)")

            // In MariaDB: confirmed seats = successful payments, money taken = confirmed amounts = −payment ledger rows.
            #expect(try Self.scalar(db, """
                SELECT COUNT(*) FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id
                WHERE r.state = 'confirmed' AND rs.live = 1
                """) == Int64(confirmed.map(\.seats.count).reduce(0, +)))
            #expect(try Self.scalar(db, "SELECT COUNT(*) FROM reservations WHERE state = 'confirmed'") == Int64(confirmed.count))
            #expect(try Self.scalar(db, "SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE state = 'confirmed'") == paidTotal)
            #expect(try Self.scalar(db, "SELECT COALESCE(-SUM(amount), 0) FROM ledger WHERE kind = 'payment'") == paidTotal)
            #expect(try Self.scalar(db, "SELECT COUNT(*) FROM reservations WHERE state = 'held'") == Int64(unpaid.count))
            // Each payment row names its reservation and takes exactly its amount.
            let paymentRows = try db.query("SELECT reservation_id, user_id, amount FROM ledger WHERE kind = 'payment' ORDER BY user_id")
            #expect(paymentRows.map { [$0[0].int, $0[1].int, $0[2].int] } == confirmed.map { [$0.id, $0.user, -$0.amount] })
            var balances = charged
            for booking in confirmed { balances[booking.user]! -= booking.amount }
            try Self.expectLedgerConsistent(db)
            #expect(try Self.databaseBalances(db) == balances)
            try await Self.expectBalances(ingest, tokens: tokens, equal: balances)
            for booking in confirmed.prefix(5) + unpaid.prefix(5) {
                let (status, body) = try await ingest.send("GET", "/v1/reservations/\(booking.id)", token: tokens[booking.user])
                #expect(status == 200)
                #expect(body?["state"] as? String == (booking.amount <= charged[booking.user]! ? "confirmed" : "held"))
            }

            // MARK: 3. Cancellations with refunds, and every way a payment or cancellation is refused.
            try #require(confirmed.count >= 12 && unpaid.count >= 2)
            let refunded = Array(confirmed.prefix(10))
            let alreadyPaid = confirmed[10]
            let othersConfirmed = confirmed[11]
            let cancelledHold = unpaid[0]
            let victim = unpaid[1]
            // A user with the money to pay the victim's hold, so only the owner check can refuse it.
            let thief = try #require(Self.users.filter { $0 != victim.user && balances[$0]! >= victim.amount }.first)

            var calls: [(Call, expected: String)] = []
            for booking in refunded {
                calls.append((Call("DELETE", "/v1/reservations/\(booking.id)", token: tokens[booking.user]), "done"))
            }
            calls.append((Call("DELETE", "/v1/reservations/\(refunded[0].id)", token: tokens[refunded[0].user]), "ALREADY_CANCELLED"))
            calls.append((Call("DELETE", "/v1/reservations/\(cancelledHold.id)", token: tokens[cancelledHold.user]), "done"))
            calls.append((Call("POST", "/v1/reservations/\(alreadyPaid.id)/payment", token: tokens[alreadyPaid.user], json: "{}"), "ALREADY_PAID"))
            // A stranger learns nothing: another user's reservation answers as if it did not exist.
            calls.append((Call("POST", "/v1/reservations/\(victim.id)/payment", token: tokens[thief], json: "{}"), "RESERVATION_UNKNOWN"))
            calls.append((Call("DELETE", "/v1/reservations/\(othersConfirmed.id)", token: tokens[thief]), "RESERVATION_UNKNOWN"))
            calls.append((Call("POST", "/v1/reservations/9999999/payment", token: tokens[thief], json: "{}"), "RESERVATION_UNKNOWN"))

            // Reads of another user's reservation answer 404, as if it did not exist; the owner sees it.
            #expect(try await ingest.send("GET", "/v1/reservations/\(victim.id)", token: tokens[thief]).0 == 404)
            #expect(try await ingest.send("GET", "/v1/reservations/\(victim.id)", token: tokens[victim.user]).0 == 200)

            // Sent one at a time: the double cancel must reach Redis after the first.
            var phase3: [Reply] = []
            for (call, _) in calls { phase3 += try await Self.sendAll(ingest, [call]) }
            #expect(phase3.allSatisfy { $0.status == 202 }, "\(phase3.map(\.status))")
            accepted += phase3.count
            let flush3 = try Stack.run("concert-batch", ["flush"])
            try flush3.requireSuccess()
            let refundTotal = refunded.map(\.amount).reduce(0, +)
            #expect(flush3.stdout.contains("  cancel: ALREADY_CANCELLED 1, RESERVATION_UNKNOWN 1, done 11\n"), "summary: \(flush3.stdout)")
            #expect(flush3.stdout.contains("  pay: ALREADY_PAID 1, RESERVATION_UNKNOWN 2\n"), "summary: \(flush3.stdout)")
            #expect(flush3.stdout.contains("money moved: refunds \(refundTotal)\n"), "summary: \(flush3.stdout)")

            let phase3IDs = phase3.map { $0.json?["requestId"] as? String ?? "" }
            let finals3 = try await Self.finalStatuses(ingest, ids: phase3IDs, tokens: calls.map { $0.0.token! })
            for ((call, expected), status) in zip(calls, finals3) {
                let got = status["status"] as? String == "done" ? "done" : status["reason"] as? String
                #expect(got == expected, "\(call.method) \(call.path): \(status)")
            }
            #expect(Self.reservationState(finals3[0]) == "cancelled")
            // The thief's requests are the thief's: their owner sees them, the victim gets 404.
            let thiefRequest = phase3IDs[calls.count - 3]
            #expect(try await ingest.send("GET", "/v1/requests/\(thiefRequest)", token: tokens[victim.user]).0 == 404)

            for booking in refunded { balances[booking.user]! += booking.amount }
            try Self.expectLedgerConsistent(db)
            #expect(try Self.databaseBalances(db) == balances)
            try await Self.expectBalances(ingest, tokens: tokens, equal: balances)
            for booking in refunded { #expect(balances[booking.user] == charged[booking.user], "user \(booking.user) got all back") }
            let refundRows = try db.query("SELECT reservation_id, user_id, amount FROM ledger WHERE kind = 'refund' ORDER BY user_id")
            #expect(refundRows.map { [$0[0].int, $0[1].int, $0[2].int] } == refunded.map { [$0.id, $0.user, $0.amount] })
            let states = try Dictionary(uniqueKeysWithValues: db.query("SELECT id, state FROM reservations").map {
                ($0[0].int ?? 0, $0[1].text ?? "")
            })
            for booking in refunded { #expect(states[booking.id] == "cancelled") }
            #expect(states[cancelledHold.id] == "cancelled")
            #expect(states[victim.id] == "held", "the thief's payment changed nothing")
            #expect(states[othersConfirmed.id] == "confirmed", "the thief's cancel changed nothing")
            #expect(states[alreadyPaid.id] == "confirmed")

            // MARK: 4. A later pass: paying or cancelling a cancelled reservation is ALREADY_CANCELLED and moves nothing.
            let late = [
                Call("POST", "/v1/reservations/\(refunded[1].id)/payment", token: tokens[refunded[1].user], json: "{}"),
                Call("DELETE", "/v1/reservations/\(refunded[2].id)", token: tokens[refunded[2].user]),
                Call("POST", "/v1/reservations/\(cancelledHold.id)/payment", token: tokens[cancelledHold.user], json: "{}"),
            ]
            let phase4 = try await Self.sendAll(ingest, late)
            #expect(phase4.allSatisfy { $0.status == 202 })
            accepted += phase4.count
            let flush4 = try Stack.run("concert-batch", ["flush"])
            try flush4.requireSuccess()
            #expect(!flush4.stdout.contains("money moved"), "summary: \(flush4.stdout)")
            let finals4 = try await Self.finalStatuses(
                ingest, ids: phase4.map { $0.json?["requestId"] as? String ?? "" }, tokens: late.map { $0.token! }
            )
            #expect(finals4.map { $0["reason"] as? String } == ["ALREADY_CANCELLED", "ALREADY_CANCELLED", "ALREADY_CANCELLED"])
            #expect(try Self.databaseBalances(db) == balances)
            try await Self.expectBalances(ingest, tokens: tokens, equal: balances)

            // MARK: The whole run, from MariaDB and the caches.
            try Self.expectLedgerConsistent(db)
            let ledgerByKind = try Dictionary(uniqueKeysWithValues: db.query("SELECT kind, SUM(amount) FROM ledger GROUP BY kind").map {
                ($0[0].text ?? "", $0[1].int ?? 0)
            })
            #expect(ledgerByKind == ["charge": totalCharged, "payment": -paidTotal, "refund": refundTotal])
            #expect(try Self.scalar(db, "SELECT SUM(balance) FROM balances") == totalCharged - paidTotal + refundTotal)
            #expect(try Self.scalar(db, "SELECT COUNT(*) FROM request_outcomes") == Int64(accepted))
            #expect(try Stack.requestsLeftInQueues() == 0)
            #expect(try Stack.doubleBookedSeats() == 0)
            #expect(try Stack.inconsistentReservations() == 0)
            try Stack.run("concert-admin", ["verify"]).requireSuccess()

            // The seat map: confirmed seats sold, unpaid holds held, cancelled and never-held seats available.
            var expected = [String](repeating: "available", count: 201)
            for booking in confirmed where states[booking.id] == "confirmed" { for seat in booking.seats { expected[Int(seat)] = "sold" } }
            for booking in unpaid where states[booking.id] == "held" { for seat in booking.seats { expected[Int(seat)] = "held" } }
            let (mapStatus, seatMap) = try await ingest.send("GET", "/v1/performances/\(performance)/seats")
            #expect(mapStatus == 200)
            let seats = seatMap?["seats"] as? [[String: Any]] ?? []
            #expect(seats.count == 200)
            var mismatched: [String] = []
            for seat in seats {
                let id = Int(Self.int(seat["id"]) ?? 0)
                if !(1...200).contains(id) || seat["status"] as? String != expected[id] { mismatched.append("\(seat)") }
            }
            #expect(mismatched.isEmpty, "seats not as the reservations say: \(mismatched.prefix(5))")
            let (_, list) = try await ingest.send("GET", "/v1/performances")
            let listed = (list?["performances"] as? [[String: Any]])?.first { Self.int($0["id"]) == performance }
            #expect(Self.int(listed?["available"]) == Int64(expected.dropFirst().filter { $0 == "available" }.count))
        }

        /// A charge sent twice with one Idempotency-Key is queued and credited once; the key is per user; a user
        /// who never charged has balance 0; the largest allowed charge goes through and one more is refused.
        @Test func idempotentChargeAndBalanceReads() async throws {
            try Stack.reset()
            let ingest = try await IngestHarness()
            defer { ingest.stop() }
            let (never, twice, sameKey) = (Int64(901), Int64(902), Int64(903))
            let tokens = try [never, twice, sameKey].map { try Stack.token(user: $0) }

            // Before any pass the ingest cannot tell "never charged" from "cache lost": it says so. A pass (nothing
            // queued) gives every balance a cache and marks them complete; then a missing one is 0.
            let (unknownStatus, unknown) = try await ingest.send("GET", "/v1/me/balance", token: tokens[0])
            #expect(unknownStatus == 503 && (unknown?["error"] as? [String: Any])?["code"] as? String == "UNAVAILABLE")
            try Stack.run("concert-batch", ["run"]).requireSuccess()
            let (zeroStatus, zero) = try await ingest.send("GET", "/v1/me/balance", token: tokens[0])
            #expect(zeroStatus == 200)
            #expect(Self.int(zero?["balance"]) == 0)
            #expect((zero?["asOf"] as? String).flatMap(Timestamp.parseISO8601) != nil, "asOf is a timestamp: \(zero ?? [:])")
            #expect(try await ingest.send("GET", "/v1/me/balance").0 == 401)

            let key = ["Idempotency-Key": "charge-7f3a"]
            let body = Data(#"{"amount":70000}"#.utf8)
            let first = try await ingest.raw("POST", "/v1/me/balance/charges", token: tokens[1], body: body, headers: key)
            let second = try await ingest.raw("POST", "/v1/me/balance/charges", token: tokens[1], body: body, headers: key)
            #expect(first.0 == 202 && second.0 == 202)
            #expect(second.2 == first.2, "the first answer is replayed byte for byte")
            let requestID = try #require((try JSONSerialization.jsonObject(with: first.2) as? [String: Any])?["requestId"] as? String)
            // Another user with the same key is another request; the largest charge is allowed, one more is not.
            let other = try await ingest.raw(
                "POST", "/v1/me/balance/charges", token: tokens[2], body: Data(#"{"amount":10000000}"#.utf8), headers: key
            )
            #expect(other.0 == 202)
            #expect(other.2 != first.2)
            #expect(try await ingest.send("POST", "/v1/me/balance/charges", token: tokens[2], json: #"{"amount":10000001}"#).0 == 400)
            #expect(try await ingest.send("POST", "/v1/me/balance/charges", token: tokens[2], json: #"{"amount":0}"#).0 == 400)

            let flush = try Stack.run("concert-batch", ["flush"])
            try flush.requireSuccess()
            #expect(flush.stdout.contains("  charge: done 2\n"), "summary: \(flush.stdout)")
            #expect(flush.stdout.contains("money moved: charges 10070000\n"), "summary: \(flush.stdout)")

            let (status, done) = try await ingest.send("GET", "/v1/requests/\(requestID)", token: tokens[1])
            #expect(status == 200)
            #expect(done?["status"] as? String == "done")
            #expect(done?["kind"] as? String == "charge")
            #expect(Self.int(done?["balance"]) == 70_000)
            #expect(Self.int(try await ingest.send("GET", "/v1/me/balance", token: tokens[1]).1?["balance"]) == 70_000)
            #expect(Self.int(try await ingest.send("GET", "/v1/me/balance", token: tokens[2]).1?["balance"]) == 10_000_000)
            #expect(Self.int(try await ingest.send("GET", "/v1/me/balance", token: tokens[0]).1?["balance"]) == 0)

            // The same key after the pass still answers the first request, and queues nothing.
            let third = try await ingest.raw("POST", "/v1/me/balance/charges", token: tokens[1], body: body, headers: key)
            #expect(third.0 == 202 && third.2 == first.2)
            #expect(try Stack.requestsLeftInQueues() == 0)

            let db = try Stack.database()
            #expect(try db.query("SELECT user_id, kind, amount, request_id FROM ledger ORDER BY user_id").map {
                [$0[0].int.map(String.init), $0[1].text, $0[2].int.map(String.init)]
            } == [["902", "charge", "70000"], ["903", "charge", "10000000"]])
            #expect(try db.query("SELECT request_id FROM ledger WHERE user_id = 902").first?.first?.text == requestID)
            #expect(try Self.databaseBalances(db) == [twice: 70_000, sameKey: 10_000_000])
            try Self.expectLedgerConsistent(db)
            #expect(try Self.scalar(db, "SELECT COUNT(*) FROM request_outcomes") == 2)
        }

        // MARK: Helpers

        /// One HTTP call to make.
        struct Call: Sendable {
            var method: String
            var path: String
            var token: String?
            var json: String?

            init(_ method: String, _ path: String, token: String?, json: String? = nil) {
                self.method = method
                self.path = path
                self.token = token
                self.json = json
            }
        }

        struct Reply: Sendable {
            var status: Int
            var body: Data
            var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
        }

        /// Sends every call with at most 48 in flight; answers in the order of `calls`.
        static func sendAll(_ ingest: IngestHarness, _ calls: [Call]) async throws -> [Reply] {
            try await withThrowingTaskGroup(of: (Int, Reply).self) { group in
                var replies = [Reply?](repeating: nil, count: calls.count)
                var next = 0
                func add() {
                    let (index, call) = (next, calls[next])
                    next += 1
                    group.addTask {
                        let (status, _, data) = try await ingest.raw(
                            call.method, call.path, token: call.token, body: call.json.map { Data($0.utf8) }
                        )
                        return (index, Reply(status: status, body: data))
                    }
                }
                for _ in 0..<min(48, calls.count) { add() }
                while let (index, reply) = try await group.next() {
                    replies[index] = reply
                    if next < calls.count { add() }
                }
                return replies.map { $0! }
            }
        }

        /// `GET /v1/requests/{id}` for each id with its owner's token; every one must be terminal (the pass has run).
        static func finalStatuses(_ ingest: IngestHarness, ids: [String], tokens: [String]) async throws -> [[String: Any]] {
            let replies = try await sendAll(ingest, zip(ids, tokens).map { Call("GET", "/v1/requests/\($0)", token: $1) })
            return replies.enumerated().map { index, reply in
                let json = reply.json ?? [:]
                #expect(reply.status == 200 && ["done", "rejected"].contains(json["status"] as? String),
                        "request \(ids[index]) is not terminal: \(reply.status) \(json)")
                return json
            }
        }

        /// Every user's `GET /v1/me/balance` (0 for users not in `expected`'s keys is not checked here).
        static func expectBalances(_ ingest: IngestHarness, tokens: [Int64: String], equal expected: [Int64: Int64]) async throws {
            let users = expected.keys.sorted()
            let replies = try await sendAll(ingest, users.map { Call("GET", "/v1/me/balance", token: tokens[$0]) })
            var wrong: [String] = []
            for (user, reply) in zip(users, replies) where reply.status != 200 || int(reply.json?["balance"]) != expected[user] {
                wrong.append("user \(user): \(reply.status) \(String(decoding: reply.body, as: UTF8.self)), expected \(expected[user]!)")
            }
            #expect(wrong.isEmpty, "balances the API shows: \(wrong.prefix(5))")
        }

        /// Every balance equals the sum of its ledger, every ledger user has a balance row, none is negative.
        static func expectLedgerConsistent(_ db: MariaDBConnection, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let mismatched = try scalar(db, """
                SELECT COUNT(*) FROM balances b
                LEFT JOIN (SELECT user_id, SUM(amount) AS total FROM ledger GROUP BY user_id) l ON l.user_id = b.user_id
                WHERE b.balance <> COALESCE(l.total, 0)
                """)
            #expect(mismatched == 0, "balances that are not their ledger sum", sourceLocation: sourceLocation)
            let orphans = try scalar(db, """
                SELECT COUNT(DISTINCT l.user_id) FROM ledger l LEFT JOIN balances b ON b.user_id = l.user_id WHERE b.user_id IS NULL
                """)
            #expect(orphans == 0, "ledger rows of users without a balance", sourceLocation: sourceLocation)
            #expect(try scalar(db, "SELECT COUNT(*) FROM balances WHERE balance < 0") == 0, sourceLocation: sourceLocation)
            let negativeRunning = try scalar(db, """
                SELECT COUNT(*) FROM (SELECT SUM(amount) OVER (PARTITION BY user_id ORDER BY id) AS running FROM ledger) AS r
                WHERE running < 0
                """)
            #expect(negativeRunning == 0, "a balance went below zero at some point of its ledger", sourceLocation: sourceLocation)
        }

        static func databaseBalances(_ db: MariaDBConnection) throws -> [Int64: Int64] {
            Dictionary(uniqueKeysWithValues: try db.query("SELECT user_id, balance FROM balances").map { ($0[0].int ?? 0, $0[1].int ?? 0) })
        }

        static func scalar(_ db: MariaDBConnection, _ sql: String) throws -> Int64? {
            try db.query(sql).first?.first?.int
        }

        static func int(_ value: Any?) -> Int64? {
            (value as? NSNumber)?.int64Value
        }

        static func reservationState(_ status: [String: Any]) -> String? {
            (status["reservation"] as? [String: Any])?["state"] as? String
        }

        /// The reservation of a `done` reserve, pay or cancel status.
        static func booking(_ status: [String: Any], user: Int64) -> Booking? {
            guard status["status"] as? String == "done", let reservation = status["reservation"] as? [String: Any],
                  let id = int(reservation["id"]), let amount = int(reservation["amount"])
            else { return nil }
            let seats = (reservation["seatIds"] as? [Any] ?? []).compactMap { int($0) }
            return Booking(user: user, id: id, seats: seats, amount: amount)
        }
    }
}
