/// Reservation ids handed out in blocks by the database (so ids are unique across concurrent passes),
/// then assigned here in arrival order.
public struct ReservationIDBlock: Sendable, Equatable {
    public private(set) var next: Int64
    public let end: Int64

    /// The ids `first ..< first + count`.
    public init(first: Int64, count: Int) {
        self.next = first
        self.end = first + Int64(count)
    }

    mutating func take() -> Int64? {
        guard next < end else { return nil }
        defer { next += 1 }
        return next
    }
}

/// One change to a user's balance; the balance is always the sum of its ledger.
public struct LedgerEntry: Sendable, Equatable {
    public enum Kind: String, Sendable { case charge, payment, refund }
    public var userID: Int64
    public var kind: Kind
    /// Positive for charges and refunds, negative for payments.
    public var amount: Int64
    public var requestID: RequestID
    public var reservationID: Int64?

    public init(userID: Int64, kind: Kind, amount: Int64, requestID: RequestID, reservationID: Int64?) {
        self.userID = userID
        self.kind = kind
        self.amount = amount
        self.requestID = requestID
        self.reservationID = reservationID
    }
}

/// What a batch knows before it decides: the performance (nil when it does not exist, or for the general
/// queue), the reservations its pays and cancels name, and the balances of the users who pay or charge.
public struct BatchState: Sendable, Equatable {
    public var inventory: PerformanceInventory?
    public var reservations: [Int64: Reservation]
    public var balances: [Int64: Int64]
    /// Performances that exist and when each begins (read by the general queue's pass to forward the reserves
    /// it holds, or refuse them).
    public var performances: [Int64: Int64]

    public init(
        inventory: PerformanceInventory?, reservations: [Int64: Reservation] = [:], balances: [Int64: Int64] = [:],
        performances: [Int64: Int64] = [:]
    ) {
        self.inventory = inventory
        self.reservations = reservations
        self.balances = balances
        self.performances = performances
    }
}

/// The clock of one batch's decisions.
public struct DecisionClock: Sendable, Equatable {
    /// The pass's clock (seconds since 1970): a new hold lasts `holdSeconds` from it.
    public var now: Int64
    /// Holds may expire through this instant (milliseconds since 1970), during and after the batch: no request
    /// still waiting after the batch — in this queue, or in the general queue, whose pays and cancels come here —
    /// was accepted before it. At most `now`.
    public var expireThroughMillis: Int64

    public init(now: Int64, expireThroughMillis: Int64) {
        self.now = now
        self.expireThroughMillis = min(expireThroughMillis, Reservation.millis(now))
    }

    /// Nothing else is waiting: holds expire through `now`.
    public init(now: Int64) {
        self.init(now: now, expireThroughMillis: Reservation.millis(now))
    }
}

/// Everything one batch decided, to be committed in one transaction.
public struct BatchPlan: Sendable, Equatable {
    /// One terminal result per request that was decided here, in arrival order.
    public var results: [RequestResult] = []
    /// Reservations this batch created, as they end the batch (held, or already paid or cancelled).
    public var created: [Reservation] = []
    /// Existing reservations whose state this batch changed (paid, cancelled, expired), as they end the batch.
    public var changed: [Reservation] = []
    /// Balance changes, in order.
    public var ledger: [LedgerEntry] = []
    /// Requests that belong in another queue (the ingest routed them to the general queue before it could
    /// know where they go): moved there, not decided here.
    public var forwarded: [(QueueName, QueuedRequest)] = []

    public init() {}

    /// Holds this batch expired.
    public var expiredCount: Int { changed.count { $0.state == .expired } }

    public static func == (lhs: BatchPlan, rhs: BatchPlan) -> Bool {
        lhs.results == rhs.results && lhs.created == rhs.created && lhs.changed == rhs.changed
            && lhs.ledger == rhs.ledger && lhs.forwarded.map(\.0) == rhs.forwarded.map(\.0)
            && lhs.forwarded.map(\.1) == rhs.forwarded.map(\.1)
    }
}

/// The allocation rules of the contract, applied to one batch in arrival order. Pure: no I/O, no clock of its own.
public enum Allocator {
    /// Decides `requests` (all taken from `queue`, oldest first) against `state`, which it updates as it goes
    /// so that later requests in the batch see the effect of earlier ones. Holds expire in the same walk: before
    /// each request, every hold whose deadline has passed by the time the remaining requests were accepted (and
    /// by `clock.expireThroughMillis`); after the last, through `clock.expireThroughMillis`.
    ///
    /// - Parameters:
    ///   - ids: enough reservation ids for every `reserve` in the batch.
    ///   - holdSeconds: how long a new hold lasts.
    public static func decide(
        _ requests: [QueuedRequest],
        from queue: QueueName,
        state: inout BatchState,
        ids: inout ReservationIDBlock,
        clock: DecisionClock,
        holdSeconds: Int64
    ) -> BatchPlan {
        var plan = BatchPlan()
        var changedIndex: [Int64: Int] = [:]
        var createdIndex: [Int64: Int] = [:]

        func record(_ request: QueuedRequest, _ outcome: RequestOutcome) {
            plan.results.append(RequestResult(request: request, outcome: outcome))
        }
        func change(_ reservation: Reservation) {
            state.reservations[reservation.id] = reservation
            if let index = changedIndex[reservation.id] {
                plan.changed[index] = reservation
            } else if let index = createdIndex[reservation.id] {
                plan.created[index] = reservation
            } else {
                changedIndex[reservation.id] = plan.changed.count
                plan.changed.append(reservation)
            }
        }
        func expireHolds(through millis: Int64) {
            guard state.inventory != nil else { return }
            for hold in state.inventory!.expire(through: millis) { change(hold) }
        }

        // The earliest acceptance among the requests not yet decided: a hold may only expire once none of them,
        // a pay or cancel judged at the moment Redis accepted it, could still be on time.
        var laterAccepted = [Int64](repeating: clock.expireThroughMillis, count: requests.count + 1)
        for index in requests.indices.reversed() {
            laterAccepted[index] = min(laterAccepted[index + 1], requests[index].acceptedAtMillis)
        }

        for (index, request) in requests.enumerated() {
            expireHolds(through: laterAccepted[index])
            switch request.kind {
            case .reserve:
                // The general queue holds reserves for performances the ingest had not seen yet.
                if queue == .general, state.inventory?.performanceID != request.performanceID {
                    if let startsAt = state.performances[request.performanceID] {
                        if request.acceptedAtMillis >= Reservation.millis(startsAt) {
                            record(request, .rejected(.performanceStarted))
                        } else {
                            plan.forwarded.append((.performance(request.performanceID), request))
                        }
                    } else {
                        record(request, .rejected(.performanceUnknown))
                    }
                    continue
                }
                guard state.inventory?.performanceID == request.performanceID else {
                    record(request, .rejected(.performanceUnknown))
                    continue
                }
                guard request.acceptedAtMillis < Reservation.millis(state.inventory!.startsAt) else {
                    record(request, .rejected(.performanceStarted))
                    continue
                }
                // Checked and taken in place: a local copy of the inventory would make the first mutation copy
                // every seat of the performance (copy-on-write), once per reservation.
                switch state.inventory!.check(request.seatIDs, for: request.userID) {
                case .failure(let reason):
                    record(request, .rejected(reason))
                case .success(let amount):
                    guard let id = ids.take() else {
                        preconditionFailure("the caller must reserve one id per reserve request")
                    }
                    let (deadline, overflow) = clock.now.addingReportingOverflow(holdSeconds)
                    guard !overflow else {
                        record(request, .rejected(.internalError))
                        continue
                    }
                    // Seats in ascending order, as the database lists them: every copy of a reservation reads the same.
                    let reservation = Reservation(
                        id: id, performanceID: request.performanceID, userID: request.userID,
                        seatIDs: request.seatIDs.sorted(), state: .held, amount: amount, holdExpiresAt: deadline
                    )
                    state.inventory!.add(reservation)
                    state.reservations[id] = reservation
                    createdIndex[id] = plan.created.count
                    plan.created.append(reservation)
                    record(request, .reservation(reservation))
                }

            case .pay, .cancel:
                // A hold in the inventory is the current one; anything else is as the batch loaded it.
                guard var reservation = state.inventory?.holds[request.reservationID] ?? state.reservations[request.reservationID],
                      reservation.userID == request.userID  // a stranger learns nothing, not even that the id exists
                else {
                    record(request, .rejected(.reservationUnknown))
                    continue
                }
                // Seats change hands only in their performance's queue: move the request there.
                if queue != .performance(reservation.performanceID) {
                    plan.forwarded.append((.performance(reservation.performanceID), request))
                    continue
                }
                // Judged at the moment Redis accepted it: late is late, however early the pass gets to it.
                if reservation.state == .held, !reservation.isBeforeDeadline(request.acceptedAtMillis) {
                    reservation.state = .expired
                    state.inventory?.release(reservation)
                    change(reservation)
                }
                switch (request.kind, reservation.state) {
                case (_, .cancelled):
                    record(request, .rejected(.alreadyCancelled))
                case (_, .expired):
                    record(request, .rejected(.holdExpired))
                case (.pay, .confirmed):
                    record(request, .rejected(.alreadyPaid))
                case (.pay, _):
                    let balance = state.balances[request.userID, default: 0]
                    guard balance >= reservation.amount else {
                        record(request, .rejected(.insufficientBalance))
                        continue
                    }
                    state.balances[request.userID] = balance - reservation.amount
                    plan.ledger.append(LedgerEntry(
                        userID: request.userID, kind: .payment, amount: -reservation.amount,
                        requestID: request.id, reservationID: reservation.id
                    ))
                    reservation.state = .confirmed
                    state.inventory?.confirm(reservation.id)
                    change(reservation)
                    record(request, .reservation(reservation))
                default:  // cancel of a held or confirmed reservation
                    if reservation.state == .confirmed {
                        let (balance, overflow) = state.balances[request.userID, default: 0]
                            .addingReportingOverflow(reservation.amount)
                        guard !overflow else {
                            record(request, .rejected(.internalError))
                            continue
                        }
                        state.balances[request.userID] = balance
                        plan.ledger.append(LedgerEntry(
                            userID: request.userID, kind: .refund, amount: reservation.amount,
                            requestID: request.id, reservationID: reservation.id
                        ))
                    }
                    reservation.state = .cancelled
                    state.inventory?.release(reservation)
                    change(reservation)
                    record(request, .reservation(reservation))
                }

            case .charge:
                let (balance, overflow) = state.balances[request.userID, default: 0].addingReportingOverflow(request.amount)
                guard !overflow, request.amount > 0 else {
                    record(request, .rejected(.internalError))
                    continue
                }
                state.balances[request.userID] = balance
                plan.ledger.append(LedgerEntry(
                    userID: request.userID, kind: .charge, amount: request.amount,
                    requestID: request.id, reservationID: nil
                ))
                record(request, .balance(balance))
            }
        }
        expireHolds(through: clock.expireThroughMillis)
        return plan
    }
}
