import ReservationCore

/// A batch taken from a queue, to be decided and committed in one transaction.
public struct PendingBatch: Sendable {
    public var queue: QueueName
    /// The fencing token of the lease under which the batch was taken.
    public var fence: Int64
    /// Its requests, oldest first, each numbered in the queue.
    public var requests: [QueuedRequest]

    public init(queue: QueueName, fence: Int64, requests: [QueuedRequest]) {
        self.queue = queue
        self.fence = fence
        self.requests = requests
    }
}

/// What one batch transaction did.
public struct CommittedBatch: Sendable {
    /// What was decided now (empty when every request had been decided before).
    public var plan: BatchPlan
    /// Requests of the batch decided by an earlier transaction (a batch handed out again, or a forward pushed
    /// twice): their recorded outcomes, to publish again, never to apply again.
    public var replayed: [RecordedOutcome]
    /// Requests of the batch an earlier transaction forwarded to another queue: to push again (the push is
    /// idempotent), never to decide.
    public var replayedForwards: [(queue: QueueName, request: QueuedRequest)]
    /// The state after the batch: the performance's inventory and the balances the batch changed.
    public var state: BatchState
    /// The version of each balance the batch changed, for the cache (newest wins).
    public var balanceVersions: [Int64: Int64]
    /// The record's key, or nil when the batch changed nothing.
    public var key: String?
    /// The queue's commit number of this transaction (its publication notes it in Redis as published).
    public var commitNumber: Int64
    /// Where the transaction's time went, by step (seconds): to show where a batch's time goes.
    public var timings = StoreTimings()
}

extension ReservationDatabase {
    /// Ids a queue takes from the shared counter at a time: the counter row is touched once per block, not by
    /// every batch of every queue.
    static let reservationIDBlock: Int64 = 1_000

    /// Decides and stores one batch, all or nothing, in one transaction that the store owns:
    /// 1. the queue's fence: refused (`StaleFenceError`) if a newer owner has claimed the queue;
    /// 2. requests already decided (numbered at or below what the queue has decided, or forwards already
    ///    claimed) come back as `replayed`, from their records;
    /// 3. the rest are decided by `decide` from the state read here (their reservations, and their users'
    ///    balances, row-locked) and the caller's `inventory`;
    /// 4. every decision is written — releases before claims, so any sequence the core decides is storable —
    ///    with the batch's record and the queue's new high-water mark.
    public func commit(
        _ batch: PendingBatch, inventory: PerformanceInventory?, performances: [Int64: Int64] = [:],
        decide: (_ requests: [QueuedRequest], _ state: inout BatchState, _ ids: inout ReservationIDBlock) -> BatchPlan
    ) throws -> CommittedBatch {
        let clock = ContinuousClock()
        let start = clock.now
        var committed = try connection.transaction { () throws -> CommittedBatch in
            try commitInTransaction(batch, inventory: inventory, performances: performances, decide: decide)
        }
        // What the transaction took beyond its steps: START TRANSACTION and COMMIT (the log flush).
        let (whole, fraction) = (clock.now - start).components
        let steps = committed.timings.seconds.values.reduce(0, +)
        committed.timings.add(.commit, max(0, Double(whole) + Double(fraction) / 1e18 - steps))
        return committed
    }

    private func commitInTransaction(
        _ batch: PendingBatch, inventory: PerformanceInventory?, performances: [Int64: Int64],
        decide: (_ requests: [QueuedRequest], _ state: inout BatchState, _ ids: inout ReservationIDBlock) -> BatchPlan
    ) throws -> CommittedBatch {
            let tag = batch.queue.tag
            var timings = StoreTimings()
            // The fence first: it also locks the queue's row, so a new owner claiming the queue waits for (or ends)
            // this transaction instead of reading around it.
            let row = try timings.measure(.fence) { () throws -> [SQLValue]? in
                let fenced = try connection.execute("""
                    UPDATE queue_fences SET holder_connection = CONNECTION_ID(), batches = batches + 1
                    WHERE queue_tag = ? AND token <= ?
                    """, [.text(tag), .int(batch.fence)])
                guard fenced == 1 else { throw StaleFenceError(queue: batch.queue, token: batch.fence) }
                return try connection.query(
                    "SELECT decided_seq, next_reservation_id, reservation_id_end, batches FROM queue_fences WHERE queue_tag = ?",
                    [.text(tag)]
                ).first
            }
            guard let row, let decidedSeq = row[0].int, var nextID = row[1].int, var idEnd = row[2].int, let commit = row[3].int else {
                throw OperatorError("queue_fences has no row for \(tag) after its fence was checked")
            }

            let (replayed, forwards, toDecide) = try timings.measure(.reconcile) { try reconcile(batch, decidedThrough: decidedSeq) }
            var state = BatchState(inventory: inventory, performances: performances)
            var committed = CommittedBatch(
                plan: BatchPlan(), replayed: replayed, replayedForwards: forwards, state: state, balanceVersions: [:], key: nil,
                commitNumber: commit
            )
            let highest = batch.requests.map(\.sequence).max() ?? 0
            // Decided even when empty: the decision also expires the holds whose time has come.
            do {
                let reserves = Int64(toDecide.count { $0.kind == .reserve })
                if idEnd - nextID < reserves {
                    let block = max(reserves, Self.reservationIDBlock)
                    try connection.execute(
                        "UPDATE id_blocks SET next_id = LAST_INSERT_ID(next_id + ?) WHERE name = 'reservation'", [.int(block)]
                    )
                    guard let end = try connection.query("SELECT LAST_INSERT_ID()").first?.first?.int, end > block else {
                        throw OperatorError("id_blocks has no 'reservation' row: run concert-admin migrate")
                    }
                    nextID = end - block
                    idEnd = end
                }
                var ids = ReservationIDBlock(first: nextID, count: Int(reserves))
                let before = try timings.measure(.reads) { () throws -> [Int64: VersionedBalance] in
                    let named = toDecide.filter { $0.kind == .pay || $0.kind == .cancel }.map(\.reservationID)
                    state.reservations = named.isEmpty ? [:] : try reservations(named)
                    let payers = toDecide.filter { $0.kind != .reserve }.map(\.userID)
                    return payers.isEmpty ? [:] : try lockBalances(payers)
                }
                state.balances = before.mapValues(\.balance)

                let plan = timings.measure(.decide) { decide(toDecide, &state, &ids) }
                nextID = ids.next

                let versions = try write(plan, balances: state.balances, before: before, timings: &timings)
                committed.plan = plan
                committed.state = state
                committed.balanceVersions = versions
                // Recorded whenever it changed anything: its outcomes and forwards, and what it changed (holds it
                // expired included), so a publication that never finished can be repeated.
                if !plan.results.isEmpty || !plan.forwarded.isEmpty || !plan.created.isEmpty || !plan.changed.isEmpty {
                    let key = BatchRecord.key(queue: batch.queue, commit: commit)
                    try timings.measure(.record) { try record(plan, key: key, commit: commit, queue: batch.queue, decided: toDecide) }
                    committed.key = key
                }
            }
            try timings.measure(.fence) {
                try connection.execute("""
                    UPDATE queue_fences SET decided_seq = GREATEST(decided_seq, ?), next_reservation_id = ?, reservation_id_end = ?
                    WHERE queue_tag = ?
                    """, [.int(highest), .int(nextID), .int(idEnd), .text(tag)])
            }
            committed.timings = timings
            return committed
    }

    /// Splits a batch into requests decided before (with their recorded outcomes) and requests to decide now.
    private func reconcile(
        _ batch: PendingBatch, decidedThrough decidedSeq: Int64
    ) throws -> ([RecordedOutcome], [(queue: QueueName, request: QueuedRequest)], [QueuedRequest]) {
        var recorded: [RequestID: RecordedOutcome] = [:]
        var forwarded: [RequestID: QueueName] = [:]
        // Numbered at or below the high-water mark: the queue handed these out before. Their records say which
        // were committed (a request whose record is missing was not: Redis lost the entry's first numbering).
        let seen = batch.requests.filter { $0.sequence > 0 && $0.sequence <= decidedSeq }
        if let low = seen.map(\.sequence).min(), let high = seen.map(\.sequence).max() {
            for row in try connection.query("""
                SELECT outcomes, forwarded FROM batch_outcomes WHERE queue_tag = ? AND last_seq >= ? AND first_seq <= ?
                ORDER BY last_seq
                """, [.text(batch.queue.tag), .int(low), .int(high)]) {
                for outcome in try BatchRecord.readOutcomes(row[0].text ?? "") { recorded[outcome.requestID] = outcome }
                for (queue, entry) in try BatchRecord.readForwards(row[1].text ?? "") {
                    if let request = try? QueuedRequest(wireFormat: entry) { forwarded[request.id] = queue }
                }
            }
        }
        // Forwarded here from the general queue: claimed by the batch that decides them, so a second push of the
        // same forward finds the claim and the first decision's record.
        let forwardedIn = batch.requests.filter { $0.id.queue != batch.queue }.map(\.id.rawValue)
        var claimed: Set<String> = []
        for chunk in Self.paddedChunks(Array(Set(forwardedIn)).sorted().map { .text($0) }) {
            for row in try connection.query("""
                SELECT request_id, decided_in FROM forwarded_requests WHERE request_id IN \(Self.placeholders(chunk.count))
                ORDER BY request_id FOR UPDATE
                """, chunk) {
                guard let id = row[0].text, let key = row[1].text else { continue }
                claimed.insert(id)
                if let text = try connection.query("SELECT outcomes FROM batch_outcomes WHERE batch_key = ?", [.text(key)])
                    .first?[0].text {
                    for outcome in try BatchRecord.readOutcomes(text) where outcome.requestID.rawValue == id {
                        recorded[outcome.requestID] = outcome
                    }
                }
            }
        }
        var replayed: [RecordedOutcome] = []
        var replayedForwards: [(queue: QueueName, request: QueuedRequest)] = []
        var toDecide: [QueuedRequest] = []
        toDecide.reserveCapacity(batch.requests.count)
        for request in batch.requests {
            if let outcome = recorded[request.id] {
                replayed.append(outcome)
            } else if let target = forwarded[request.id] {
                replayedForwards.append((target, request))
            } else if claimed.contains(request.id.rawValue) {
                throw OperatorError("forwarded request \(request.id) is claimed by a batch whose record does not list it")
            } else {
                toDecide.append(request)
            }
        }
        return (replayed, replayedForwards, toDecide)
    }

    /// Writes everything a batch decided, in an order the schema accepts whatever the mix: each reservation is
    /// written once, as it ends the batch, and seats are released before any new hold claims them (the unique
    /// key on live seats would otherwise refuse a seat cancelled and held again in one batch). Returns the new
    /// version of each balance it changed.
    private func write(
        _ plan: BatchPlan, balances: [Int64: Int64], before: [Int64: VersionedBalance], timings: inout StoreTimings
    ) throws -> [Int64: Int64] {
        try timings.measure(.reservations) {
            // 1. Existing reservations that end the batch dead give their seats back first.
            for state in [ReservationState.cancelled, .expired] {
                let ids = plan.changed.filter { $0.state == state }.map(\.id)
                guard !ids.isEmpty else { continue }
                try updateState(of: ids, to: state)
                try releaseSeats(of: ids)
            }
            // 2. Paid ones keep theirs.
            let confirmed = plan.changed.filter { $0.state == .confirmed }.map(\.id)
            if !confirmed.isEmpty { try updateState(of: confirmed, to: .confirmed) }
        }
        // 3. New ones, as they end the batch: one cancelled in the same batch never holds a live seat.
        if !plan.created.isEmpty {
            try timings.measure(.reservations) {
                try connection.insertRows(
                    "INSERT INTO reservations (id, performance_id, user_id, state, amount, hold_expires_at, request_id) VALUES",
                    rowPlaceholder: "(?,?,?,?,?,?,?)",
                    rows: zip(plan.created, Self.creatingRequests(plan)).map { reservation, requestID in
                        [.int(reservation.id), .int(reservation.performanceID), .int(reservation.userID),
                         .text(reservation.state.rawValue), .int(reservation.amount), .int(reservation.holdExpiresAt),
                         .text(requestID)]
                    }
                )
            }
            var seatRows: [[SQLValue]] = []
            seatRows.reserveCapacity(plan.created.count * 2)
            for reservation in plan.created {
                for seat in reservation.seatIDs {
                    seatRows.append([.int(reservation.id), .int(reservation.performanceID), .int(seat),
                                     reservation.state.isLive ? .int(1) : .null])
                }
            }
            try timings.measure(.seats) {
                try connection.insertRows(
                    "INSERT INTO reservation_seats (reservation_id, performance_id, seat_id, live) VALUES",
                    rowPlaceholder: "(?,?,?,?)", rows: seatRows
                )
            }
        }
        // 4. Money.
        var versions: [Int64: Int64] = [:]
        try timings.measure(.money) { try writeMoney(plan, balances: balances, before: before, versions: &versions) }
        return versions
    }

    private func writeMoney(
        _ plan: BatchPlan, balances: [Int64: Int64], before: [Int64: VersionedBalance], versions: inout [Int64: Int64]
    ) throws {
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
            for user in touched { versions[user] = (before[user]?.version ?? 0) + 1 }
            try connection.insertRows(
                "INSERT INTO balances (user_id, balance, version) VALUES", rowPlaceholder: "(?,?,?)",
                rows: touched.map { [.int($0), .int(balances[$0] ?? 0), .int(versions[$0] ?? 1)] },
                suffix: "ON DUPLICATE KEY UPDATE balance = VALUES(balance), version = VALUES(version)"
            )
        }
    }

    /// The batch's record (its outcomes, forwards and changes, keyed by its commit and numbered by its requests)
    /// and the claims on forwards.
    private func record(_ plan: BatchPlan, key: String, commit: Int64, queue: QueueName, decided: [QueuedRequest]) throws {
        let numbers = decided.map(\.sequence).filter { $0 > 0 }
        let reservations = (plan.created + plan.changed).map(\.id)
        let users = Array(Set(plan.ledger.map(\.userID))).sorted()
        try connection.execute("""
            INSERT INTO batch_outcomes (batch_key, request_count, outcomes, forwarded, queue_tag, first_seq, last_seq,
                                        commit_number, reservation_ids, balance_users)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(key), .int(Int64(plan.results.count)), .text(BatchRecord.outcomesJSON(plan.results)),
             .text(BatchRecord.forwardedJSON(plan.forwarded)), .text(queue.tag),
             numbers.min().map { .int($0) } ?? .null, numbers.max().map { .int($0) } ?? .null,
             .int(commit), .text(BatchRecord.idsJSON(reservations)), .text(BatchRecord.idsJSON(users))]
        )
        let forwardedIn = decided.filter { $0.id.queue != queue }.map { SQLValue.text($0.id.rawValue) }
        for chunk in Self.paddedChunks(forwardedIn) {
            try connection.execute(
                "UPDATE forwarded_requests SET decided_in = ? WHERE request_id IN \(Self.placeholders(chunk.count))",
                [.text(key)] + chunk
            )
        }
        if !plan.forwarded.isEmpty {
            try connection.insertRows(
                "INSERT IGNORE INTO forwarded_requests (request_id, target_queue, forwarded_in) VALUES",
                rowPlaceholder: "(?,?,?)",
                rows: plan.forwarded.map { [.text($0.1.id.rawValue), .text($0.0.tag), .text(key)] }
            )
        }
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
}
