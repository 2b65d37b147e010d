import ReservationCore

/// The product's promises that the tables alone can break (`concert-admin verify` reads them). Each check is one
/// query whose rows are violations, so a reader can run any of them by hand.
extension ReservationDatabase {
    static let invariantQueries: [(rule: String, sql: String)] = [
        ("a seat is in two live reservations", """
            SELECT CONCAT('performance ', rs.performance_id, ' seat ', rs.seat_id, ': reservations ',
                          GROUP_CONCAT(r.id ORDER BY r.id))
            FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id
            WHERE r.state IN ('held', 'confirmed')
            GROUP BY rs.performance_id, rs.seat_id HAVING COUNT(*) > 1 LIMIT 100
            """),
        ("a reservation's seats disagree with its state", """
            SELECT CONCAT('reservation ', r.id, ' is ', r.state, ' but seat ', rs.seat_id, ' is ',
                          IF(rs.live IS NULL, 'free', 'live'))
            FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id
            WHERE (r.state IN ('held', 'confirmed')) <> (rs.live IS NOT NULL) LIMIT 100
            """),
        ("a user has more than \(seatLimitPerUser) seats of one performance", """
            SELECT CONCAT('user ', r.user_id, ' performance ', r.performance_id, ': ', COUNT(*), ' seats')
            FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id
            WHERE rs.live = 1 GROUP BY r.performance_id, r.user_id HAVING COUNT(*) > \(seatLimitPerUser) LIMIT 100
            """),
        ("a request was decided more than once", """
            SELECT CONCAT('request ', request_id, ': ', COUNT(*), ' outcomes (batches ', GROUP_CONCAT(batch_key), ')')
            FROM request_outcomes GROUP BY request_id HAVING COUNT(*) > 1 LIMIT 100
            """),
        ("a reservation was created by more than one request", """
            SELECT CONCAT('request ', request_id, ' created ', COUNT(*), ' reservations')
            FROM reservations GROUP BY request_id HAVING COUNT(*) > 1 LIMIT 100
            """),
        ("a reservation has no recorded outcome", """
            SELECT CONCAT('reservation ', r.id, ' (request ', r.request_id, ')')
            FROM reservations r
            WHERE r.request_id NOT IN (SELECT request_id FROM request_outcomes WHERE request_id IS NOT NULL) LIMIT 100
            """),
        ("a balance differs from its ledger", """
            SELECT CONCAT('user ', b.user_id, ': balance ', b.balance, ', ledger ', COALESCE(l.total, 0))
            FROM balances b LEFT JOIN (SELECT user_id, SUM(amount) AS total FROM ledger GROUP BY user_id) l
              ON l.user_id = b.user_id
            WHERE b.balance <> COALESCE(l.total, 0) LIMIT 100
            """),
        ("a ledger has no balance row", """
            SELECT CONCAT('user ', l.user_id, ': ledger ', SUM(l.amount)) FROM ledger l
            LEFT JOIN balances b ON b.user_id = l.user_id WHERE b.user_id IS NULL GROUP BY l.user_id LIMIT 100
            """),
        ("a balance is negative", """
            SELECT CONCAT('user ', user_id, ': ', balance) FROM balances WHERE balance < 0 LIMIT 100
            """),
        ("a reservation's payments do not match its state", """
            SELECT CONCAT('reservation ', r.id, ' is ', r.state, ' with ', COALESCE(p.payments, 0), ' payments and ',
                          COALESCE(p.refunds, 0), ' refunds')
            FROM reservations r LEFT JOIN (
              SELECT reservation_id, SUM(kind = 'payment') AS payments, SUM(kind = 'refund') AS refunds,
                     SUM(CASE WHEN kind = 'payment' THEN -amount ELSE 0 END) AS paid
              FROM ledger WHERE reservation_id IS NOT NULL GROUP BY reservation_id) p ON p.reservation_id = r.id
            WHERE CASE r.state
              WHEN 'confirmed' THEN COALESCE(p.payments, 0) <> 1 OR COALESCE(p.refunds, 0) <> 0 OR p.paid <> r.amount
              WHEN 'cancelled' THEN COALESCE(p.payments, 0) > 1 OR COALESCE(p.payments, 0) <> COALESCE(p.refunds, 0)
              ELSE COALESCE(p.payments, 0) <> 0 OR COALESCE(p.refunds, 0) <> 0 END
            LIMIT 100
            """),
    ]

    /// Every violation of those promises now (at most 100 per rule): the rule broken and what breaks it.
    public func invariantViolations() throws -> [(rule: String, detail: String)] {
        var violations: [(rule: String, detail: String)] = []
        for check in Self.invariantQueries {
            for row in try connection.query(check.sql) {
                violations.append((rule: check.rule, detail: row.first?.text ?? "?"))
            }
        }
        return violations
    }
}
