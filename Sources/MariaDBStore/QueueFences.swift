import ReservationCore

extension ReservationDatabase {
    /// Makes `token` the queue's fence in MariaDB, before its new owner reads or decides anything there: from this
    /// commit on, every batch transaction of an older owner fails (`StaleFenceError`), whatever Redis says.
    ///
    /// An older owner stalled in the middle of a batch transaction holds the queue's row locked; waiting for it
    /// could take as long as the stall. So when the claim times out waiting for the row (the session's lock wait,
    /// see `limitLockWait`), it ends that owner's connection (`KILL CONNECTION`, which rolls its transaction
    /// back) and tries again. The caller holds the queue's lease in Redis with this newer token, so the other
    /// owner has lost the queue already.
    ///
    /// Throws `StaleFenceError` when the row already carries a newer token (another owner claimed it since).
    public func claimFence(queue: QueueName, token: Int64, holder: String) throws {
        // A consistent read first: INSERT IGNORE of an existing key would wait for a stalled owner's lock on it.
        if try connection.query("SELECT 1 FROM queue_fences WHERE queue_tag = ?", [.text(queue.tag)]).isEmpty {
            try connection.execute("INSERT IGNORE INTO queue_fences (queue_tag) VALUES (?)", [.text(queue.tag)])
        }
        var attempts = 0
        while true {
            attempts += 1
            do {
                try updateFence(queue: queue, token: token, holder: holder)
                return
            } catch let failure as MariaDBError {
                guard failure.isDeadlockOrLockTimeout, attempts < 3 else { throw failure }
                try endStalledOwner(of: queue)
            }
        }
    }

    /// How long this connection's statements wait for a row lock before failing (1205), instead of InnoDB's 50 s:
    /// a pass retries a batch that waited too long, and claims a queue from a stalled owner by ending it.
    public func limitLockWait(seconds: Int) throws {
        try connection.executeScript("SET SESSION innodb_lock_wait_timeout = \(max(1, seconds))")
    }

    /// One attempt: returns once the row carries `token`; throws `StaleFenceError` when it carries a newer one.
    private func updateFence(queue: QueueName, token: Int64, holder: String) throws {
        try connection.execute("""
            UPDATE queue_fences SET token = ?, holder = ?, holder_connection = CONNECTION_ID()
            WHERE queue_tag = ? AND token <= ?
            """, [.int(token), .text(String(holder.prefix(160))), .text(queue.tag), .int(token)])
        guard let current = try connection.query(
            "SELECT token FROM queue_fences WHERE queue_tag = ?", [.text(queue.tag)]
        ).first?.first?.int else {
            throw OperatorError("queue_fences has no row for \(queue.tag): run concert-admin migrate")
        }
        guard current == token else { throw StaleFenceError(queue: queue, token: token) }
    }

    /// Ends the connection of the last owner that committed on the queue, unless it is ours: a consistent
    /// (non-locking) read shows it even while that owner's open transaction holds the row.
    private func endStalledOwner(of queue: QueueName) throws {
        let row = try connection.query(
            "SELECT holder_connection, CONNECTION_ID() FROM queue_fences WHERE queue_tag = ?", [.text(queue.tag)]
        ).first
        if let victim = row?[0].int, victim != row?[1].int { try endConnection(victim) }
    }

    /// Ends another connection and its transaction; one that ended on its own meanwhile (unknown thread, 1094)
    /// is fine.
    private func endConnection(_ id: Int64) throws {
        let result = Result { try connection.executeScript("KILL CONNECTION \(id)") }
        if case .failure(let failure) = result, (failure as? MariaDBError)?.code != 1094 { throw failure }
    }

    /// The highest request number the queue has decided (0 before its first batch).
    public func decidedSequence(queue: QueueName) throws -> Int64 {
        try connection.query("SELECT decided_seq FROM queue_fences WHERE queue_tag = ?", [.text(queue.tag)]).first?.first?.int ?? 0
    }
}

/// The batch's transaction found a newer owner's token on the queue: this process lost the queue (its lease
/// lapsed while it was stalled) and must leave it alone. Nothing was written.
public struct StaleFenceError: Error, CustomStringConvertible {
    public let queue: QueueName
    public let token: Int64
    public var description: String {
        "queue \(queue.tag) has a newer owner than this process (fencing token \(token)): its lease lapsed while it was stalled; the batch was not committed"
    }
}
