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

    /// Every performance and when it begins (the general queue's pass forwards reserves by it).
    public func performanceStarts() throws -> [Int64: Int64] {
        var starts: [Int64: Int64] = [:]
        for row in try connection.query("SELECT id, starts_at FROM performances") {
            if let id = row[0].int, let startsAt = row[1].int { starts[id] = startsAt }
        }
        return starts
    }

    /// Performances with a hold whose deadline is at or before `now`: the queues a sweep must visit even when
    /// nothing waits in them (from the `reservations_to_expire` index alone).
    public func performancesWithHoldsDue(now: Int64) throws -> [Int64] {
        try connection.query(
            "SELECT DISTINCT performance_id FROM reservations WHERE state = 'held' AND hold_expires_at <= ?", [.int(now)]
        ).compactMap { $0.first?.int }.sorted()
    }

    /// The performance's seats, live reservations and unpaid holds, or nil when it does not exist.
    public func loadInventory(performance: Int64) throws -> PerformanceInventory? {
        guard let startsAt = try connection.query(
            "SELECT starts_at FROM performances WHERE id = ?", [.int(performance)]
        ).first?.first?.int else { return nil }
        var prices: [Int64: Int64] = [:]
        var labels: [Int64: String] = [:]
        // Row by row: a hall of hundreds of thousands of seats is never held as query values.
        try connection.forEachRow("SELECT seat_id, price, label FROM seats WHERE performance_id = ?", [.int(performance)]) { row in
            if let seat = row[0].int, let price = row[1].int {
                prices[seat] = price
                labels[seat] = row[2].text ?? ""
            }
        }
        var taken: Set<Int64> = []
        var perUser: [Int64: Int] = [:]
        var holds: [Int64: Reservation] = [:]
        try connection.forEachRow("""
            SELECT rs.seat_id, r.user_id, r.id, r.state, r.amount, r.hold_expires_at
            FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id
            WHERE rs.performance_id = ? AND rs.live = 1 ORDER BY r.id, rs.seat_id
            """, [.int(performance)]) { row in
            guard let seat = row[0].int, let user = row[1].int, let id = row[2].int else { return }
            taken.insert(seat)
            perUser[user, default: 0] += 1
            if row[3].text == ReservationState.held.rawValue {
                holds[id, default: Reservation(
                    id: id, performanceID: performance, userID: user, seatIDs: [], state: .held,
                    amount: row[4].int ?? 0, holdExpiresAt: row[5].int ?? 0
                )].seatIDs.append(seat)
            }
        }
        return PerformanceInventory(
            performanceID: performance, startsAt: startsAt, prices: prices, labels: labels, taken: taken,
            liveSeatsByUser: perUser, holds: Array(holds.values)
        )
    }

    /// The server's `max_allowed_packet`: the largest statement (and so batch record) it accepts.
    public func maxAllowedPacket() throws -> Int {
        Int(try connection.query("SELECT @@max_allowed_packet").first?.first?.int ?? Int64(16 << 20))
    }

    /// Reservations with their seats as they are now (without locking: a reservation changes only in its
    /// performance's queue, whose owner is the only writer).
    public func reservations(_ ids: [Int64]) throws -> [Int64: Reservation] {
        var reservations: [Int64: Reservation] = [:]
        let unique = Array(Set(ids)).sorted()
        for chunk in Self.paddedChunks(unique.map { .int($0) }) {
            let list = Self.placeholders(chunk.count)
            for row in try connection.query("""
                SELECT id, performance_id, user_id, state, amount, hold_expires_at FROM reservations WHERE id IN \(list)
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

    /// A balance and its version (which grows with every change; a user with no row has 0 and version 0).
    public struct VersionedBalance: Sendable, Equatable {
        public var balance: Int64
        public var version: Int64
        public init(balance: Int64, version: Int64) {
            self.balance = balance
            self.version = version
        }
    }

    /// Balances, row-locked until the transaction ends (in user order, so concurrent passes of different queues,
    /// which may change one user's balance each, cannot deadlock on them).
    public func lockBalances(_ users: [Int64]) throws -> [Int64: VersionedBalance] {
        try balances(users, forUpdate: true)
    }

    /// Balances as they are now, without locking.
    public func balances(_ users: [Int64]) throws -> [Int64: VersionedBalance] {
        try balances(users, forUpdate: false)
    }

    private func balances(_ users: [Int64], forUpdate: Bool) throws -> [Int64: VersionedBalance] {
        var balances: [Int64: VersionedBalance] = [:]
        for chunk in Self.paddedChunks(Array(Set(users)).sorted().map { .int($0) }) {
            for row in try connection.query(
                "SELECT user_id, balance, version FROM balances WHERE user_id IN \(Self.placeholders(chunk.count)) ORDER BY user_id"
                    + (forUpdate ? " FOR UPDATE" : ""),
                chunk
            ) {
                if let user = row[0].int, let balance = row[1].int {
                    balances[user] = VersionedBalance(balance: balance, version: row[2].int ?? 0)
                }
            }
        }
        return balances
    }

    /// Every balance with a user id above `after`, in user order, at most `limit` (to walk them all in pages).
    public func balances(after: Int64, limit: Int) throws -> [(userID: Int64, balance: VersionedBalance)] {
        try connection.query(
            "SELECT user_id, balance, version FROM balances WHERE user_id > ? ORDER BY user_id LIMIT ?",
            [.int(after), .int(Int64(limit))]
        ).compactMap { row in
            guard let user = row[0].int, let balance = row[1].int else { return nil }
            return (user, VersionedBalance(balance: balance, version: row[2].int ?? 0))
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
