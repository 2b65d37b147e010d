import ReservationCore

/// What commits whose publication never finished changed: published again from what MariaDB holds now.
public struct UnpublishedChanges: Sendable {
    public var outcomes: [RecordedOutcome] = []
    public var reservationIDs: [Int64] = []
    public var balanceUsers: [Int64] = []
    public init() {}
}

extension ReservationDatabase {
    /// What the queue's commits after `published` changed (their records), and the last commit number: what a dead
    /// owner may have committed without finishing its publication.
    public func commits(of queue: QueueName, after published: Int64) throws -> (through: Int64, changes: UnpublishedChanges) {
        let last = try connection.query("SELECT batches FROM queue_fences WHERE queue_tag = ?", [.text(queue.tag)])
            .first?.first?.int ?? 0
        var changes = UnpublishedChanges()
        guard last > published else { return (last, changes) }
        for row in try connection.query("""
            SELECT outcomes, reservation_ids, balance_users FROM batch_outcomes
            WHERE queue_tag = ? AND commit_number > ? ORDER BY commit_number
            """, [.text(queue.tag), .int(published)]) {
            changes.outcomes += try BatchRecord.readOutcomes(row[0].text ?? "[]")
            changes.reservationIDs += try BatchRecord.readIDs(row[1].text ?? "[]")
            changes.balanceUsers += try BatchRecord.readIDs(row[2].text ?? "[]")
        }
        return (last, changes)
    }
}
