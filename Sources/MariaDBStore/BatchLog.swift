import ReservationCore

/// The batch history in MariaDB (`batch_log`, sql/003_batch_log.sql): written by the pass after each visit, read by
/// `concert-batch report`.
///
/// Times go in and out as milliseconds since 1970 through `FROM_UNIXTIME` / `UNIX_TIMESTAMP`, each statement run
/// with `time_zone = '+00:00'` (`SET STATEMENT … FOR`), so neither the server's nor the session's zone (nor a
/// daylight-saving hour) can shift a row.
extension ReservationDatabase {
    /// Appends `timings` with one multi-row INSERT. Call outside any batch transaction: the history must never
    /// hold a batch's row locks or make a batch fail.
    public func logBatches(_ timings: [BatchTiming]) throws {
        guard !timings.isEmpty else { return }
        var sql = "SET STATEMENT time_zone = '+00:00' FOR INSERT INTO batch_log "
            + "(ended_at, queue_tag, size, seconds, oldest_wait_seconds, expired, decided, outcomes) VALUES "
        var parameters: [SQLValue] = []
        parameters.reserveCapacity(timings.count * 8)
        for (index, timing) in timings.enumerated() {
            sql += index == 0 ? "" : ","
            sql += "(FROM_UNIXTIME(? / 1000),?,?,?,?,?,?,?)"
            parameters += [
                .int(timing.endedAtMillis), .text(timing.queue.tag), .int(Int64(timing.size)), .double(timing.seconds),
                .double(timing.oldestWaitSeconds), .int(Int64(timing.expired)), .int(Int64(timing.decided)),
                .text(timing.outcomesJSON),
            ]
        }
        try connection.execute(sql, parameters)
    }

    /// The batches that ended in `[fromMillis, toMillis)`, oldest first.
    public func loggedBatches(fromMillis: Int64, toMillis: Int64) throws -> [BatchTiming] {
        let rows = try connection.query("""
            SET STATEMENT time_zone = '+00:00' FOR
            SELECT ROUND(UNIX_TIMESTAMP(ended_at) * 1000), queue_tag, size, seconds, oldest_wait_seconds, expired, outcomes
            FROM batch_log WHERE ended_at >= FROM_UNIXTIME(? / 1000) AND ended_at < FROM_UNIXTIME(? / 1000)
            ORDER BY ended_at, id
            """, [.int(fromMillis), .int(toMillis)])
        return try rows.map { row in
            guard let ended = row[0].int, let tag = row[1].text, let queue = QueueName(tag: Substring(tag)),
                  let size = row[2].int, let seconds = row[3].double, let oldest = row[4].double, let expired = row[5].int,
                  let outcomesText = row[6].text, let outcomes = BatchTiming.outcomes(json: outcomesText)
            else { throw OperatorError("batch_log has a row not in the shape this build writes: \(row)") }
            return BatchTiming(
                endedAtMillis: ended, queue: queue, size: Int(size), seconds: seconds, oldestWaitSeconds: oldest,
                expired: Int(expired), outcomes: outcomes
            )
        }
    }

    /// Titles of the given performances (those that exist).
    public func performanceTitles(_ ids: [Int64]) throws -> [Int64: String] {
        var titles: [Int64: String] = [:]
        for chunk in Self.paddedChunks(Array(Set(ids)).sorted().map { .int($0) }) {
            for row in try connection.query(
                "SELECT id, title FROM performances WHERE id IN \(Self.placeholders(chunk.count))", chunk
            ) {
                if let id = row[0].int, let title = row[1].text { titles[id] = title }
            }
        }
        return titles
    }

    /// Reservations by state now, for the performances given (the report's "still held" and totals).
    public func reservationStates(performances ids: [Int64]) throws -> [ReservationState: Int] {
        var counts: [ReservationState: Int] = [:]
        for chunk in Self.paddedChunks(Array(Set(ids)).sorted().map { .int($0) }) {
            for row in try connection.query(
                "SELECT state, COUNT(*) FROM reservations WHERE performance_id IN \(Self.placeholders(chunk.count)) GROUP BY state",
                chunk
            ) {
                if let state = row[0].text.flatMap(ReservationState.init(rawValue:)), let count = row[1].int {
                    counts[state, default: 0] += Int(count)
                }
            }
        }
        return counts
    }
}
