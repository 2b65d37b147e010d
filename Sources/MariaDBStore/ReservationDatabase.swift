import Foundation
import ReservationCore

/// The product's tables, for `concert-batch` and `concert-admin`, on one blocking connection owned by the
/// calling thread. Every statement is prepared with bound parameters; nothing from a request is ever spliced
/// into SQL text (the only text we build is placeholder lists).
public final class ReservationDatabase {
    public let connection: MariaDBConnection

    public init(connection: MariaDBConnection) {
        self.connection = connection
    }

    // MARK: Performances

    public struct PerformanceSummary: Sendable, Equatable {
        public var id: Int64
        public var title: String
        public var startsAt: Int64
        public var seats: Int
        public var available: Int
    }

    /// Creates a performance and its seats (labels `SECTION-ROW-NUMBER`, 20 seats a row) in one transaction.
    public func createPerformance(title: String, startsAt: Int64, seats: Int, price: Int64, sections: Int) throws -> Int64 {
        try connection.transaction {
            try connection.execute(
                "INSERT INTO performances (title, starts_at, seat_count) VALUES (?, ?, ?)",
                [.text(title), .int(startsAt), .int(Int64(seats))]
            )
            let id = connection.lastInsertID
            let perSection = (seats + sections - 1) / sections
            var rows: [[SQLValue]] = []
            rows.reserveCapacity(seats)
            for seat in 0..<seats {
                let section = seat / perSection
                let inSection = seat % perSection
                let label = "\(Self.sectionName(section))-\(inSection / 20 + 1)-\(inSection % 20 + 1)"
                rows.append([.int(id), .int(Int64(seat + 1)), .text(label), .int(price)])
            }
            try connection.insertRows(
                "INSERT INTO seats (performance_id, seat_id, label, price) VALUES", rowPlaceholder: "(?,?,?,?)", rows: rows
            )
            return id
        }
    }

    /// A, B, …, Z, AA, AB, …
    static func sectionName(_ index: Int) -> String {
        var index = index
        var name = ""
        repeat {
            name = String(UnicodeScalar(UInt8(65 + index % 26))) + name
            index = index / 26 - 1
        } while index >= 0
        return name
    }

    /// Performances that have not started at `now`, soonest first, with their free seat counts.
    public func upcomingPerformances(now: Int64) throws -> [PerformanceSummary] {
        try connection.query("""
            SELECT p.id, p.title, p.starts_at, p.seat_count,
                   p.seat_count - (SELECT COUNT(*) FROM reservation_seats rs WHERE rs.performance_id = p.id AND rs.live = 1)
            FROM performances p WHERE p.starts_at > ? ORDER BY p.starts_at, p.id
            """, [.int(now)]).map { row in
            PerformanceSummary(
                id: row[0].int ?? 0, title: row[1].text ?? "", startsAt: row[2].int ?? 0,
                seats: Int(row[3].int ?? 0), available: Int(row[4].int ?? 0)
            )
        }
    }

    /// Ids of the performances not started at `now`: what the pass visits every sweep, without the free-seat
    /// counts of `upcomingPerformances` (a count over every live seat, which the list cache alone needs).
    public func upcomingPerformanceIDs(now: Int64) throws -> [Int64] {
        try connection.query("SELECT id FROM performances WHERE starts_at > ? ORDER BY id", [.int(now)]).compactMap { $0.first?.int }
    }

    public func allPerformanceIDs() throws -> Set<Int64> {
        Set(try connection.query("SELECT id FROM performances").compactMap { $0.first?.int })
    }

    /// The seat map JSON of `GET /v1/performances/{id}/seats`, nil when the performance does not exist.
    public func seatMapJSON(performance: Int64, asOf now: Int64) throws -> String? {
        guard try connection.query("SELECT 1 FROM performances WHERE id = ?", [.int(performance)]).count == 1 else {
            return nil
        }
        let rows = try connection.query("""
            SELECT s.seat_id, s.label, s.price, r.state
            FROM seats s
            LEFT JOIN reservation_seats rs ON rs.performance_id = s.performance_id AND rs.seat_id = s.seat_id AND rs.live = 1
            LEFT JOIN reservations r ON r.id = rs.reservation_id
            WHERE s.performance_id = ? ORDER BY s.seat_id
            """, [.int(performance)])
        var json = "{\"performanceId\":\(performance),\"asOf\":\"\(Timestamp.iso8601(seconds: now))\",\"seats\":["
        json.reserveCapacity(rows.count * 64 + 80)
        for (index, row) in rows.enumerated() {
            if index > 0 { json += "," }
            let status = switch row[3].text {
            case "held": "held"
            case "confirmed": "sold"
            default: "available"
            }
            json += "{\"id\":\(row[0].int ?? 0),\"label\":" + JSONText.quoted(row[1].text ?? "")
            json += ",\"price\":\(row[2].int ?? 0),\"status\":\"\(status)\"}"
        }
        json += "]}"
        return json
    }

    // MARK: The pass

    /// The performance's seats and live reservations, or nil when it does not exist.
    public func loadInventory(performance: Int64) throws -> PerformanceInventory? {
        guard try connection.query("SELECT 1 FROM performances WHERE id = ?", [.int(performance)]).count == 1 else {
            return nil
        }
        var prices: [Int64: Int64] = [:]
        for row in try connection.query("SELECT seat_id, price FROM seats WHERE performance_id = ?", [.int(performance)]) {
            if let seat = row[0].int, let price = row[1].int { prices[seat] = price }
        }
        var taken: Set<Int64> = []
        var perUser: [Int64: Int] = [:]
        for row in try connection.query("""
            SELECT rs.seat_id, r.user_id FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id
            WHERE rs.performance_id = ? AND rs.live = 1
            """, [.int(performance)]) {
            if let seat = row[0].int, let user = row[1].int {
                taken.insert(seat)
                perUser[user, default: 0] += 1
            }
        }
        return PerformanceInventory(performanceID: performance, prices: prices, taken: taken, liveSeatsByUser: perUser)
    }

    /// Expires the performance's holds whose deadline is past, in one transaction, and returns them as they are now.
    public func expireHolds(performance: Int64, now: Int64) throws -> [Reservation] {
        try connection.transaction {
            let ids = try connection.query("""
                SELECT id FROM reservations WHERE performance_id = ? AND state = 'held' AND hold_expires_at <= ? FOR UPDATE
                """, [.int(performance), .int(now)]).compactMap { $0.first?.int }
            guard !ids.isEmpty else { return [] }
            var expired = try lockReservations(ids)
            try updateState(of: ids, to: .expired)
            try releaseSeats(of: ids)
            for id in ids { expired[id]?.state = .expired }
            return ids.compactMap { expired[$0] }
        }
    }

    /// Hands out `count` reservation ids no other pass will use, inside the caller's transaction (the batch's:
    /// one commit, one log flush, fewer per batch). The counter row stays locked until that commit, which only
    /// matters if two passes ever ran at once; ids of a batch that rolls back are handed out again.
    public func reserveIDsInTransaction(count: Int) throws -> ReservationIDBlock {
        guard count > 0 else { return ReservationIDBlock(first: 1, count: 0) }
        return try takeIDs(count: count)
    }

    /// LAST_INSERT_ID is per connection, and inside a transaction the adapter never reconnects between the two
    /// statements, so the value read back is the one just set.
    private func takeIDs(count: Int) throws -> ReservationIDBlock {
        try connection.execute(
            "UPDATE id_blocks SET next_id = LAST_INSERT_ID(next_id + ?) WHERE name = 'reservation'", [.int(Int64(count))]
        )
        guard let end = try connection.query("SELECT LAST_INSERT_ID()").first?.first?.int, end > Int64(count) else {
            throw SchemaError("id_blocks has no 'reservation' row: run concert-admin migrate")
        }
        return ReservationIDBlock(first: end - Int64(count), count: count)
    }

    /// The server's `max_allowed_packet`: the largest statement (and so batch record) it accepts.
    public func maxAllowedPacket() throws -> Int {
        Int(try connection.query("SELECT @@max_allowed_packet").first?.first?.int ?? Int64(16 << 20))
    }

    /// What a committed batch recorded, or nil when no batch with `key` was committed.
    public func recordedBatch(_ key: String) throws -> RecordedBatch? {
        guard let row = try connection.query(
            "SELECT outcomes, forwarded FROM batch_outcomes WHERE batch_key = ?", [.text(key)]
        ).first else { return nil }
        guard let outcomes = row[0].text, let forwarded = row[1].text,
              let results = try? JSONSerialization.jsonObject(with: Data(outcomes.utf8)) as? [[Any]],
              let forwards = try? JSONSerialization.jsonObject(with: Data(forwarded.utf8)) as? [[Any]]
        else { throw SchemaError("batch_outcomes row \(key) is not in the recorded shape") }
        var batch = RecordedBatch()
        for result in results {
            guard result.count == 7, let id = (result[0] as? String).flatMap(RequestID.init),
                  let kind = result[1] as? String, let user = (result[2] as? NSNumber)?.int64Value,
                  let outcome = result[3] as? String
            else { throw SchemaError("batch_outcomes row \(key) has an unreadable outcome") }
            let json = result[6] as? String ?? RequestResult.rejectionJSON(id: id.rawValue, kind: kind, reason: outcome)
            batch.results.append((id, user, json))
            if outcome == "done" {
                if let reservation = (result[4] as? NSNumber)?.int64Value { batch.reservationIDs.append(reservation) }
                if kind != RequestKind.reserve.rawValue { batch.balanceUsers.append(user) }
            }
        }
        for forward in forwards {
            guard forward.count == 2, let tag = forward[0] as? String, let queue = QueueName(tag: Substring(tag)),
                  let entry = forward[1] as? String
            else { throw SchemaError("batch_outcomes row \(key) has an unreadable forward") }
            batch.forwarded.append((queue, entry))
        }
        return batch
    }

    /// Reservations with their seats, row-locked until the transaction ends.
    public func lockReservations(_ ids: [Int64]) throws -> [Int64: Reservation] {
        try reservations(ids, forUpdate: true)
    }

    /// Reservations with their seats as they are now, without locking.
    public func reservations(_ ids: [Int64]) throws -> [Int64: Reservation] {
        try reservations(ids, forUpdate: false)
    }

    private func reservations(_ ids: [Int64], forUpdate: Bool) throws -> [Int64: Reservation] {
        var reservations: [Int64: Reservation] = [:]
        let unique = Array(Set(ids)).sorted()
        for chunk in Self.paddedChunks(unique.map { .int($0) }) {
            let list = Self.placeholders(chunk.count)
            for row in try connection.query("""
                SELECT id, performance_id, user_id, state, amount, hold_expires_at FROM reservations
                WHERE id IN \(list)\(forUpdate ? " FOR UPDATE" : "")
                """, chunk) {
                guard let id = row[0].int, let state = ReservationState(rawValue: row[3].text ?? "") else { continue }
                reservations[id] = Reservation(
                    id: id, performanceID: row[1].int ?? 0, userID: row[2].int ?? 0, seatIDs: [], state: state,
                    amount: row[4].int ?? 0, holdExpiresAt: row[5].int ?? 0
                )
            }
            for row in try connection.query(
                "SELECT reservation_id, seat_id FROM reservation_seats WHERE reservation_id IN \(list) ORDER BY seat_id", chunk
            ) {
                if let id = row[0].int, let seat = row[1].int { reservations[id]?.seatIDs.append(seat) }
            }
        }
        return reservations
    }

    /// Balances, row-locked until the transaction ends (in user order, so concurrent passes cannot deadlock on them).
    public func lockBalances(_ users: [Int64]) throws -> [Int64: Int64] {
        try balances(users, forUpdate: true)
    }

    /// Balances as they are now, without locking; a user with no row has 0.
    public func balances(_ users: [Int64]) throws -> [Int64: Int64] {
        try balances(users, forUpdate: false)
    }

    private func balances(_ users: [Int64], forUpdate: Bool) throws -> [Int64: Int64] {
        var balances: [Int64: Int64] = [:]
        for chunk in Self.paddedChunks(Array(Set(users)).sorted().map { .int($0) }) {
            for row in try connection.query(
                "SELECT user_id, balance FROM balances WHERE user_id IN \(Self.placeholders(chunk.count)) ORDER BY user_id"
                    + (forUpdate ? " FOR UPDATE" : ""),
                chunk
            ) {
                if let user = row[0].int, let balance = row[1].int { balances[user] = balance }
            }
        }
        return balances
    }

    public func balance(of user: Int64) throws -> Int64 {
        try connection.query("SELECT balance FROM balances WHERE user_id = ?", [.int(user)]).first?.first?.int ?? 0
    }

    /// Writes everything a batch decided, and its record under `batchKey`. Call inside the batch's transaction.
    /// `balances` are the final balances of every user the plan's ledger touches.
    public func write(_ plan: BatchPlan, balances: [Int64: Int64], batchKey: String) throws {
        if !plan.created.isEmpty {
            try connection.insertRows(
                "INSERT INTO reservations (id, performance_id, user_id, state, amount, hold_expires_at, request_id) VALUES",
                rowPlaceholder: "(?,?,?,?,?,?,?)",
                rows: zip(plan.created, Self.creatingRequests(plan)).map { reservation, requestID in
                    [.int(reservation.id), .int(reservation.performanceID), .int(reservation.userID),
                     .text(reservation.state.rawValue), .int(reservation.amount), .int(reservation.holdExpiresAt),
                     .text(requestID)]
                }
            )
            var seatRows: [[SQLValue]] = []
            for reservation in plan.created {
                for seat in reservation.seatIDs {
                    seatRows.append([.int(reservation.id), .int(reservation.performanceID), .int(seat),
                                     reservation.state.isLive ? .int(1) : .null])
                }
            }
            try connection.insertRows(
                "INSERT INTO reservation_seats (reservation_id, performance_id, seat_id, live) VALUES",
                rowPlaceholder: "(?,?,?,?)", rows: seatRows
            )
        }
        for state in [ReservationState.held, .confirmed, .expired, .cancelled] {
            let ids = plan.changed.filter { $0.state == state }.map(\.id)
            guard !ids.isEmpty else { continue }
            try updateState(of: ids, to: state)
            if !state.isLive { try releaseSeats(of: ids) }
        }
        if !plan.ledger.isEmpty {
            try connection.insertRows(
                "INSERT INTO ledger (user_id, kind, amount, request_id, reservation_id) VALUES",
                rowPlaceholder: "(?,?,?,?,?)",
                rows: plan.ledger.map { entry in
                    [.int(entry.userID), .text(entry.kind.rawValue), .int(entry.amount), .text(entry.requestID.rawValue),
                     entry.reservationID.map { .int($0) } ?? .null]
                }
            )
            let touched = Set(plan.ledger.map(\.userID)).sorted()
            try connection.insertRows(
                "INSERT INTO balances (user_id, balance) VALUES", rowPlaceholder: "(?,?)",
                rows: touched.map { [.int($0), .int(balances[$0] ?? 0)] },
                suffix: "ON DUPLICATE KEY UPDATE balance = VALUES(balance)"
            )
        }
        try connection.execute(
            "INSERT INTO batch_outcomes (batch_key, request_count, outcomes, forwarded) VALUES (?, ?, ?, ?)",
            [.text(batchKey), .int(Int64(plan.results.count)), .text(BatchRecord.outcomesJSON(plan.results)),
             .text(BatchRecord.forwardedJSON(plan.forwarded))]
        )
    }

    /// The request id that created each reservation of `plan.created`, in the same order.
    private static func creatingRequests(_ plan: BatchPlan) -> [String] {
        var byReservation: [Int64: String] = [:]
        byReservation.reserveCapacity(plan.created.count)
        // By index: `for result in plan.results` would copy (retain) every result of the batch.
        for index in plan.results.indices where plan.results[index].request.kind == .reserve {
            if case .reservation(let reservation) = plan.results[index].outcome {
                byReservation[reservation.id] = plan.results[index].request.id.rawValue
            }
        }
        return plan.created.map { byReservation[$0.id] ?? "" }
    }

    private func updateState(of ids: [Int64], to state: ReservationState) throws {
        for chunk in Self.paddedChunks(ids.map { .int($0) }) {
            try connection.execute(
                "UPDATE reservations SET state = ? WHERE id IN \(Self.placeholders(chunk.count))", [.text(state.rawValue)] + chunk
            )
        }
    }

    private func releaseSeats(of ids: [Int64]) throws {
        for chunk in Self.paddedChunks(ids.map { .int($0) }) {
            try connection.execute(
                "UPDATE reservation_seats SET live = NULL WHERE reservation_id IN \(Self.placeholders(chunk.count))", chunk
            )
        }
    }

    // MARK: IN lists

    /// Splits values into IN lists of 1, 2, 4, … 512 placeholders, padding with the last value (harmless in IN),
    /// so only ten statement shapes ever get prepared, whatever the batch sizes.
    static func paddedChunks(_ values: [SQLValue]) -> [[SQLValue]] {
        var chunks: [[SQLValue]] = []
        var start = 0
        while start < values.count {
            let chunk = Array(values[start..<min(start + 512, values.count)])
            var size = 1
            while size < chunk.count { size *= 2 }
            chunks.append(chunk + Array(repeating: chunk[chunk.count - 1], count: size - chunk.count))
            start += 512
        }
        return chunks
    }

    static func placeholders(_ count: Int) -> String {
        "(" + Array(repeating: "?", count: count).joined(separator: ",") + ")"
    }
}

/// The database is not in the shape this build expects.
public struct SchemaError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The outcomes and forwards a committed batch recorded (see `BatchRecord`).
public struct RecordedBatch {
    public var results: [(id: RequestID, userID: Int64, json: String)] = []
    public var forwarded: [(queue: QueueName, entry: String)] = []
    /// Reservations the batch created or changed, and users whose balance it changed: their caches are published
    /// again from what MariaDB holds now.
    public var reservationIDs: [Int64] = []
    public var balanceUsers: [Int64] = []
}
