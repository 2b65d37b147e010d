/// The most seats one user may hold or own, together, for one performance.
public let seatLimitPerUser = 4

/// What the pass knows of one performance's seats while it holds that performance's lock:
/// loaded from MariaDB at the start of a pass and kept current as each batch commits.
public struct PerformanceInventory: Sendable, Equatable {
    public let performanceID: Int64
    /// Every seat of the performance and its price.
    public private(set) var prices: [Int64: Int64]
    /// Seats in a live (held or confirmed) reservation.
    public private(set) var taken: Set<Int64>
    /// Seats in live reservations, per user.
    public private(set) var liveSeatsByUser: [Int64: Int]

    public init(performanceID: Int64, prices: [Int64: Int64], taken: Set<Int64>, liveSeatsByUser: [Int64: Int]) {
        self.performanceID = performanceID
        self.prices = prices
        self.taken = taken
        self.liveSeatsByUser = liveSeatsByUser
    }

    /// The reserve rule: every seat exists (`SEAT_UNKNOWN`), none is taken nor named twice (`SEAT_TAKEN`), and the
    /// user stays within the limit (`USER_LIMIT`); then all the seats are taken, or none. Returns the amount.
    mutating func hold(_ seats: [Int64], for user: Int64) -> Result<Int64, RejectionReason> {
        var amount: Int64 = 0
        guard !seats.isEmpty else { return .failure(.seatUnknown) }
        for seat in seats {
            guard let price = prices[seat] else { return .failure(.seatUnknown) }
            amount += price
        }
        for (index, seat) in seats.enumerated() {
            if taken.contains(seat) || seats[..<index].contains(seat) { return .failure(.seatTaken) }
        }
        guard liveSeatsByUser[user, default: 0] + seats.count <= seatLimitPerUser else { return .failure(.userLimit) }
        taken.formUnion(seats)
        liveSeatsByUser[user, default: 0] += seats.count
        return .success(amount)
    }

    /// Gives seats back when a reservation is cancelled or expires.
    public mutating func release(_ seats: [Int64], of user: Int64) {
        taken.subtract(seats)
        let left = liveSeatsByUser[user, default: 0] - seats.count
        liveSeatsByUser[user] = left > 0 ? left : nil
    }
}

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

/// What a batch knows before it decides: the performance's seats (nil when the performance does not
/// exist), the reservations its pays and cancels name, and the balances of the users who pay or charge.
public struct BatchState: Sendable, Equatable {
    public var inventory: PerformanceInventory?
    public var reservations: [Int64: Reservation]
    public var balances: [Int64: Int64]
    /// Performances that exist (read by the general queue's pass to forward reserves it holds).
    public var knownPerformances: Set<Int64>

    public init(
        inventory: PerformanceInventory?, reservations: [Int64: Reservation] = [:], balances: [Int64: Int64] = [:],
        knownPerformances: Set<Int64> = []
    ) {
        self.inventory = inventory
        self.reservations = reservations
        self.balances = balances
        self.knownPerformances = knownPerformances
    }
}

/// Everything one batch decided, to be committed in one transaction.
public struct BatchPlan: Sendable, Equatable {
    /// One terminal result per request that was decided here, in arrival order.
    public var results: [RequestResult] = []
    /// Reservations this batch created (all `held`).
    public var created: [Reservation] = []
    /// Existing reservations whose state this batch changed, as they end the batch.
    public var changed: [Reservation] = []
    /// Balance changes, in order.
    public var ledger: [LedgerEntry] = []
    /// Requests that belong in another queue (the ingest routed them to the general queue before it could
    /// know where they go): moved there, not decided here.
    public var forwarded: [(QueueName, QueuedRequest)] = []

    public init() {}

    public static func == (lhs: BatchPlan, rhs: BatchPlan) -> Bool {
        lhs.results == rhs.results && lhs.created == rhs.created && lhs.changed == rhs.changed
            && lhs.ledger == rhs.ledger && lhs.forwarded.map(\.0) == rhs.forwarded.map(\.0)
            && lhs.forwarded.map(\.1) == rhs.forwarded.map(\.1)
    }
}

/// The allocation rules of the contract, applied to one batch in arrival order. Pure: no I/O, no clock.
public enum Allocator {
    /// Decides `requests` (all taken from `queue`, oldest first) against `state`, which it updates as it goes
    /// so that later requests in the batch see the effect of earlier ones.
    ///
    /// - Parameters:
    ///   - ids: enough reservation ids for every `reserve` in the batch.
    ///   - reservationQueue: where a pay or cancel for a given reservation belongs (from `state.reservations`);
    ///     used to forward requests out of the general queue.
    ///   - now: seconds since 1970, the pass's clock.
    ///   - holdSeconds: how long a new hold lasts.
    public static func decide(
        _ requests: [QueuedRequest],
        from queue: QueueName,
        state: inout BatchState,
        ids: inout ReservationIDBlock,
        now: Int64,
        holdSeconds: Int64
    ) -> BatchPlan {
        var plan = BatchPlan()
        var changedIndex: [Int64: Int] = [:]

        func record(_ request: QueuedRequest, _ outcome: RequestOutcome) {
            plan.results.append(RequestResult(request: request, outcome: outcome))
        }
        func change(_ reservation: Reservation) {
            state.reservations[reservation.id] = reservation
            if let index = changedIndex[reservation.id] {
                plan.changed[index] = reservation
            } else if let index = plan.created.firstIndex(where: { $0.id == reservation.id }) {
                plan.created[index] = reservation
            } else {
                changedIndex[reservation.id] = plan.changed.count
                plan.changed.append(reservation)
            }
        }

        for request in requests {
            switch request.kind {
            case .reserve:
                // The general queue holds reserves for performances the ingest had not seen yet.
                if queue == .general, state.inventory?.performanceID != request.performanceID {
                    if request.performanceID > 0, state.knownPerformances.contains(request.performanceID) {
                        plan.forwarded.append((.performance(request.performanceID), request))
                    } else {
                        record(request, .rejected(.performanceUnknown))
                    }
                    continue
                }
                guard state.inventory?.performanceID == request.performanceID else {
                    record(request, .rejected(.performanceUnknown))
                    continue
                }
                // Checked and taken in place: a local copy of the inventory would make the first mutation copy
                // every seat of the performance (copy-on-write), once per reservation.
                switch state.inventory!.hold(request.seatIDs, for: request.userID) {
                case .failure(let reason):
                    record(request, .rejected(reason))
                case .success(let amount):
                    guard let id = ids.take() else {
                        preconditionFailure("the caller must reserve one id per reserve request")
                    }
                    let reservation = Reservation(
                        id: id, performanceID: request.performanceID, userID: request.userID, seatIDs: request.seatIDs,
                        state: .held, amount: amount, holdExpiresAt: now + holdSeconds
                    )
                    state.reservations[id] = reservation
                    plan.created.append(reservation)
                    record(request, .reservation(reservation))
                }

            case .pay, .cancel:
                guard var reservation = state.reservations[request.reservationID] else {
                    record(request, .rejected(.reservationUnknown))
                    continue
                }
                // Seats change hands only under their performance's lock: move the request to that queue.
                if queue != .performance(reservation.performanceID) {
                    plan.forwarded.append((.performance(reservation.performanceID), request))
                    continue
                }
                guard reservation.userID == request.userID else {
                    record(request, .rejected(.notOwner))
                    continue
                }
                // A hold past its deadline is expired even if the pass's bulk expiry has not reached it yet.
                if reservation.state == .held, reservation.holdExpiresAt <= now {
                    reservation.state = .expired
                    state.inventory?.release(reservation.seatIDs, of: reservation.userID)
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
                    change(reservation)
                    record(request, .reservation(reservation))
                default:  // cancel of a held or confirmed reservation
                    if reservation.state == .confirmed {
                        state.balances[request.userID, default: 0] += reservation.amount
                        plan.ledger.append(LedgerEntry(
                            userID: request.userID, kind: .refund, amount: reservation.amount,
                            requestID: request.id, reservationID: reservation.id
                        ))
                    }
                    reservation.state = .cancelled
                    state.inventory?.release(reservation.seatIDs, of: reservation.userID)
                    change(reservation)
                    record(request, .reservation(reservation))
                }

            case .charge:
                let balance = state.balances[request.userID, default: 0] + request.amount
                state.balances[request.userID] = balance
                plan.ledger.append(LedgerEntry(
                    userID: request.userID, kind: .charge, amount: request.amount,
                    requestID: request.id, reservationID: nil
                ))
                record(request, .balance(balance))
            }
        }
        return plan
    }
}
