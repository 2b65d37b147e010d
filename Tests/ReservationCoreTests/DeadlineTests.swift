import Testing
@testable import ReservationCore

/// Deadlines are judged at the moment Redis accepted a request, and holds expire inside the same walk as the
/// requests around them — never before a request that could still pay them on time.
@Suite("Hold deadlines and expiry")
struct DeadlineTests {
    /// User 1 holds seats 1 and 2 until `Fixture.now`.
    static let hold = Fixture.reservation(10, user: 1, seats: [1, 2], expiresAt: Fixture.now)

    @Test("a pay accepted a millisecond before the deadline is on time, however late the pass decides it")
    func payAcceptedOnTime() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [1: 10_000])
        let pay = make.pay(user: 1, reservation: 10, acceptedAt: Fixture.now * 1000 - 1)
        let plan = decide([pay], state: &state, now: Fixture.now + 3_600)  // the pass ran an hour late

        #expect(plan.outcomes.map(\.label) == ["done"])
        #expect(plan.changed.map(\.state) == [.confirmed])
        #expect(state.inventory?.holds.isEmpty == true, "a paid hold no longer expires")
    }

    @Test("a pay accepted at the deadline is late: HOLD_EXPIRED, and the seats are free")
    func payAcceptedAtTheDeadline() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [1: 10_000])
        let plan = decide([make.pay(user: 1, reservation: 10, acceptedAt: Fixture.now * 1000)], state: &state)
        #expect(plan.outcomes == [.rejected(.holdExpired)])
        #expect(state.inventory?.taken == [])
    }

    @Test("no hold expires while a request accepted before its deadline still waits elsewhere (the general queue)")
    func waitingPayKeepsTheHold() {
        var state = Fixture.state(reservations: [Self.hold])
        var ids = ReservationIDBlock(first: 1, count: 0)
        let clock = DecisionClock(now: Fixture.now + 600, expireThroughMillis: Fixture.now * 1000 - 5)
        let plan = Allocator.decide([], from: .performance(Fixture.performanceID), state: &state, ids: &ids,
                                    clock: clock, holdSeconds: Fixture.holdSeconds)
        #expect(plan.changed.isEmpty)
        #expect(state.inventory?.holds.keys.sorted() == [10])

        let later = DecisionClock(now: Fixture.now + 600)
        let expired = Allocator.decide([], from: .performance(Fixture.performanceID), state: &state, ids: &ids,
                                       clock: later, holdSeconds: Fixture.holdSeconds)
        #expect(expired.changed.map(\.state) == [.expired])
        #expect(expired.expiredCount == 1)
        #expect(state.inventory?.taken == [])
    }

    @Test("holds expire in arrival order: a reserve accepted after a deadline gets the seat, one accepted before does not")
    func expiryInsideTheBatch() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold])
        var before = make.reserve(user: 2, seats: [1])
        before.acceptedAtMillis = Fixture.now * 1000 - 1
        var after = make.reserve(user: 3, seats: [1])
        after.acceptedAtMillis = Fixture.now * 1000
        let plan = decide([before, after], state: &state, now: Fixture.now + 1)

        #expect(plan.outcomes.map(\.label) == ["SEAT_TAKEN", "done"])
        #expect(plan.changed.map(\.id) == [10] && plan.changed.map(\.state) == [.expired])
        #expect(plan.created.map(\.userID) == [3])
    }

    @Test("a pay forwarded late but accepted on time keeps its hold, even behind later requests in the batch")
    func forwardedPayBehindLaterRequests() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [1: 10_000])
        var later = make.reserve(user: 2, seats: [5])
        later.acceptedAtMillis = Fixture.now * 1000 + 500
        let pay = make.pay(user: 1, reservation: 10, acceptedAt: Fixture.now * 1000 - 100)
        let plan = decide([later, pay], state: &state, now: Fixture.now + 1)
        #expect(plan.outcomes.map(\.label) == ["done", "done"])
        #expect(plan.changed.map(\.state) == [.confirmed])
    }

    @Test("a cancel and a new hold of the same seat in one batch: the seat goes to the new hold")
    func cancelThenHoldAgain() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Fixture.reservation(10, user: 501, seats: [1], expiresAt: Fixture.later)])
        let plan = decide([make.cancel(user: 501, reservation: 10), make.reserve(user: 502, seats: [1])], state: &state)
        #expect(plan.outcomes.map(\.label) == ["done", "done"])
        #expect(plan.changed.map(\.state) == [.cancelled])
        #expect(plan.created.map(\.userID) == [502])
        #expect(state.inventory?.liveSeatsByUser == [502: 1])
    }

    @Test("amounts that would overflow are INTERNAL_ERROR, not a crash")
    func overflow() {
        var make = RequestMaker()
        var state = Fixture.state(balances: [1: .max - 5])
        let plan = decide([make.charge(user: 1, amount: 10), make.charge(user: 1, amount: 5)], state: &state)
        #expect(plan.outcomes.map(\.label) == ["INTERNAL_ERROR", "done"])
        #expect(plan.ledger.count == 1)
    }
}
