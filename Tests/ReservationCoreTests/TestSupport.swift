import Testing
@testable import ReservationCore

/// Shared numbers of the hand-made batches.
enum Fixture {
    static let performanceID: Int64 = 7
    static let now: Int64 = 1_795_550_400  // 2026-11-24T20:00:00Z
    static let holdSeconds: Int64 = 300
    static let firstReservationID: Int64 = 1_000
    /// A start far after every test's clock.
    static let later: Int64 = now + 86_400 * 365

    /// Seat `n` costs `1_000 × n`, so every amount names the seats it was summed from.
    static func price(of seat: Int64) -> Int64 { 1_000 * seat }

    /// Seats 1…`seats` of `performance`, all free unless a reservation below takes them.
    static func inventory(
        performance: Int64 = performanceID, seats: Int64 = 10, holding reservations: [Reservation] = []
    ) -> PerformanceInventory {
        var prices: [Int64: Int64] = [:]
        for seat in 1...seats { prices[seat] = price(of: seat) }
        var taken: Set<Int64> = []
        var perUser: [Int64: Int] = [:]
        for reservation in reservations where reservation.state.isLive && reservation.performanceID == performance {
            taken.formUnion(reservation.seatIDs)
            perUser[reservation.userID, default: 0] += reservation.seatIDs.count
        }
        return PerformanceInventory(
            performanceID: performance, prices: prices, taken: taken, liveSeatsByUser: perUser,
            holds: reservations.filter { $0.state == .held && $0.performanceID == performance }
        )
    }

    /// A reservation as the database would hand it to the pass.
    static func reservation(
        _ id: Int64, user: Int64, seats: [Int64], state: ReservationState = .held,
        performance: Int64 = performanceID, expiresAt: Int64 = now + 100
    ) -> Reservation {
        Reservation(
            id: id, performanceID: performance, userID: user, seatIDs: seats, state: state,
            amount: seats.map(price(of:)).reduce(0, +), holdExpiresAt: expiresAt
        )
    }

    /// The state a performance's pass starts from: its inventory (consistent with `reservations`), the
    /// reservations its pays and cancels name, and balances.
    static func state(
        seats: Int64 = 10, reservations: [Reservation] = [], balances: [Int64: Int64] = [:]
    ) -> BatchState {
        BatchState(
            inventory: inventory(seats: seats, holding: reservations),
            reservations: Dictionary(uniqueKeysWithValues: reservations.map { ($0.id, $0) }),
            balances: balances
        )
    }
}

/// Makes queued requests with distinct ids, in the order a test writes them (= arrival order).
struct RequestMaker {
    var queue: QueueName = .performance(Fixture.performanceID)
    private var counter: UInt64 = 0

    init(queue: QueueName = .performance(Fixture.performanceID)) { self.queue = queue }

    mutating func nextID() -> RequestID {
        counter += 1
        return RequestID(queue: queue, random: (counter, 0xFEED_FACE_CAFE_BEEF))
    }

    mutating func reserve(user: Int64, seats: [Int64], performance: Int64 = Fixture.performanceID) -> QueuedRequest {
        QueuedRequest(
            id: nextID(), kind: .reserve, userID: user, performanceID: performance, seatIDs: seats,
            acceptedAtMillis: 1_795_550_000_000 + Int64(counter)
        )
    }

    /// Pays, cancels and charges are accepted at `Fixture.now` unless a test says otherwise: a hold whose deadline
    /// is `now` or earlier is late for them.
    mutating func pay(user: Int64, reservation: Int64, acceptedAt: Int64 = Fixture.now * 1000) -> QueuedRequest {
        QueuedRequest(id: nextID(), kind: .pay, userID: user, reservationID: reservation, acceptedAtMillis: acceptedAt)
    }

    mutating func cancel(user: Int64, reservation: Int64, acceptedAt: Int64 = Fixture.now * 1000) -> QueuedRequest {
        QueuedRequest(id: nextID(), kind: .cancel, userID: user, reservationID: reservation, acceptedAtMillis: acceptedAt)
    }

    mutating func charge(user: Int64, amount: Int64) -> QueuedRequest {
        QueuedRequest(id: nextID(), kind: .charge, userID: user, amount: amount, acceptedAtMillis: Fixture.now * 1000)
    }
}

/// Runs one batch the way the pass does: one reservation id per request, the fixture's clock and hold, nothing
/// else waiting (holds due by `now` expire).
func decide(
    _ requests: [QueuedRequest], from queue: QueueName = .performance(Fixture.performanceID),
    state: inout BatchState, now: Int64 = Fixture.now, firstID: Int64 = Fixture.firstReservationID
) -> BatchPlan {
    var ids = ReservationIDBlock(first: firstID, count: requests.count)
    return Allocator.decide(
        requests, from: queue, state: &state, ids: &ids, clock: DecisionClock(now: now), holdSeconds: Fixture.holdSeconds
    )
}

extension RequestOutcome {
    var reason: RejectionReason? {
        if case .rejected(let reason) = self { return reason }
        return nil
    }

    var reservation: Reservation? {
        if case .reservation(let reservation) = self { return reservation }
        return nil
    }

    var balance: Int64? {
        if case .balance(let balance) = self { return balance }
        return nil
    }
}

extension BatchPlan {
    /// The outcome of each request, in the order they were decided.
    var outcomes: [RequestOutcome] { results.map(\.outcome) }
}

extension QueuedRequest {
    /// The request with the number a queue gave it.
    func renumbered(_ sequence: Int64) -> QueuedRequest {
        var copy = self
        copy.sequence = sequence
        return copy
    }
}
