import Testing
@testable import ReservationCore

/// Payments, cancellations, refunds and charges: the balance always moves with the reservation, all or nothing.
@Suite("Money rules")
struct MoneyRulesTests {
    /// User 1 holds reservation 10 on seats 1 and 2 (amount 3_000), due to expire after `Fixture.now`.
    static let hold = Fixture.reservation(10, user: 1, seats: [1, 2])

    @Test("paying with enough balance confirms the reservation and takes exactly its amount", arguments: [3_000, 50_000])
    func payWithEnoughBalance(balance: Int64) throws {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [1: balance])
        let pay = make.pay(user: 1, reservation: 10)
        let plan = decide([pay], state: &state)

        var confirmed = Self.hold
        confirmed.state = .confirmed
        #expect(plan.outcomes == [.reservation(confirmed)])
        #expect(plan.changed == [confirmed])
        #expect(plan.ledger == [
            LedgerEntry(userID: 1, kind: .payment, amount: -3_000, requestID: pay.id, reservationID: 10),
        ])
        #expect(state.balances[1] == balance - 3_000)
        #expect(state.inventory?.taken == [1, 2], "a confirmed reservation keeps its seats")
    }

    @Test("paying with too little balance changes nothing", arguments: [nil, 0, 2_999] as [Int64?])
    func payWithInsufficientBalance(balance: Int64?) {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: balance.map { [1: $0] } ?? [:])
        let before = state
        let plan = decide([make.pay(user: 1, reservation: 10)], state: &state)

        #expect(plan.outcomes == [.rejected(.insufficientBalance)])
        #expect(plan.ledger.isEmpty && plan.changed.isEmpty)
        #expect(state.balances[1, default: 0] == before.balances[1, default: 0])
        #expect(state.reservations[10]?.state == .held)
        #expect(state.inventory == before.inventory)
    }

    @Test("pay then cancel in one batch: refunded, seats freed, balance restored")
    func payThenCancel() throws {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [1: 5_000])
        let pay = make.pay(user: 1, reservation: 10)
        let cancel = make.cancel(user: 1, reservation: 10)
        let plan = decide([pay, cancel], state: &state)

        #expect(plan.outcomes.map { $0.reservation?.state } == [.confirmed, .cancelled])
        #expect(plan.ledger == [
            LedgerEntry(userID: 1, kind: .payment, amount: -3_000, requestID: pay.id, reservationID: 10),
            LedgerEntry(userID: 1, kind: .refund, amount: 3_000, requestID: cancel.id, reservationID: 10),
        ])
        #expect(state.balances[1] == 5_000)
        #expect(plan.ledger.map(\.amount).reduce(0, +) == 0)
        // The commit writes `changed`: it must hold the reservation once, as the batch leaves it.
        #expect(plan.changed.map(\.id) == [10])
        #expect(plan.changed.first?.state == .cancelled)
        #expect(state.inventory?.taken == [])
        #expect(state.inventory?.liveSeatsByUser[1] == nil)
    }

    @Test("cancel then pay: the payment is ALREADY_CANCELLED and takes nothing")
    func cancelThenPay() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [1: 5_000])
        let plan = decide([make.cancel(user: 1, reservation: 10), make.pay(user: 1, reservation: 10)], state: &state)

        #expect(plan.outcomes.map(\.label) == ["done", "ALREADY_CANCELLED"])
        #expect(plan.ledger.isEmpty, "cancelling a hold that was never paid refunds nothing")
        #expect(state.balances[1] == 5_000)
        #expect(plan.changed.map(\.state) == [.cancelled])
        #expect(state.inventory?.taken == [])
    }

    @Test("a reservation cancelled in an earlier pass refuses both pay and cancel")
    func alreadyCancelled() {
        var make = RequestMaker()
        var cancelled = Self.hold
        cancelled.state = .cancelled
        var state = Fixture.state(reservations: [cancelled], balances: [1: 5_000])
        let plan = decide([make.cancel(user: 1, reservation: 10), make.pay(user: 1, reservation: 10)], state: &state)

        #expect(plan.outcomes.map(\.reason) == [.alreadyCancelled, .alreadyCancelled])
        #expect(plan.ledger.isEmpty && plan.changed.isEmpty)
    }

    @Test("two payments racing for one reservation: charged once, the second is ALREADY_PAID")
    func twoPaymentsRacing() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [1: 100_000])
        let plan = decide([make.pay(user: 1, reservation: 10), make.pay(user: 1, reservation: 10)], state: &state)

        #expect(plan.outcomes.map(\.label) == ["done", "ALREADY_PAID"])
        #expect(plan.ledger.count == 1)
        #expect(state.balances[1] == 97_000)
    }

    @Test("paying a hold at or past its deadline is HOLD_EXPIRED: the hold expires and frees its seats")
    func paymentAfterExpiry() throws {
        for deadline in [Fixture.now, Fixture.now - 1] {
            var make = RequestMaker()
            let late = Fixture.reservation(10, user: 1, seats: [1, 2], expiresAt: deadline)
            var state = Fixture.state(reservations: [late], balances: [1: 100_000])
            let plan = decide(
                [make.pay(user: 1, reservation: 10), make.reserve(user: 2, seats: [1, 2])],
                state: &state
            )

            #expect(plan.outcomes.map(\.label) == ["HOLD_EXPIRED", "done"], "deadline \(deadline)")
            #expect(plan.changed.map(\.id) == [10])
            #expect(plan.changed.first?.state == .expired)
            #expect(state.reservations[10]?.state == .expired)
            #expect(plan.ledger.isEmpty)
            #expect(state.balances[1] == 100_000)
            #expect(state.inventory?.liveSeatsByUser == [2: 2], "user 1's expired seats no longer count")
        }
    }

    @Test("one second before the deadline the payment still goes through")
    func paymentJustBeforeExpiry() {
        var make = RequestMaker()
        let hold = Fixture.reservation(10, user: 1, seats: [1], expiresAt: Fixture.now + 1)
        var state = Fixture.state(reservations: [hold], balances: [1: 1_000])
        let plan = decide([make.pay(user: 1, reservation: 10)], state: &state)

        #expect(plan.outcomes.map { $0.reservation?.state } == [.confirmed])
    }

    @Test("cancelling an expired hold is HOLD_EXPIRED and refunds nothing")
    func cancelAfterExpiry() {
        var make = RequestMaker()
        let late = Fixture.reservation(10, user: 1, seats: [1, 2], expiresAt: Fixture.now - 60)
        var state = Fixture.state(reservations: [late], balances: [1: 0])
        let plan = decide([make.cancel(user: 1, reservation: 10)], state: &state)

        #expect(plan.outcomes == [.rejected(.holdExpired)])
        #expect(plan.changed.map(\.state) == [.expired])
        #expect(plan.ledger.isEmpty)
        #expect(state.inventory?.taken == [])
    }

    @Test("a confirmed reservation never expires: cancelling it long after the hold deadline refunds it")
    func confirmedReservationDoesNotExpire() {
        var make = RequestMaker()
        let sold = Fixture.reservation(10, user: 1, seats: [1, 2], state: .confirmed, expiresAt: Fixture.now - 86_400)
        var state = Fixture.state(reservations: [sold], balances: [1: 0])
        let plan = decide([make.pay(user: 1, reservation: 10), make.cancel(user: 1, reservation: 10)], state: &state)

        #expect(plan.outcomes.map(\.label) == ["ALREADY_PAID", "done"])
        #expect(plan.ledger.map(\.kind) == [.refund])
        #expect(state.balances[1] == 3_000)
        #expect(state.inventory?.taken == [])
    }

    @Test("another user's reservation answers RESERVATION_UNKNOWN for pay and cancel (never NOT_OWNER), and nothing moves")
    func notOwner() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [1: 100_000, 2: 100_000])
        let before = state
        let plan = decide([make.pay(user: 2, reservation: 10), make.cancel(user: 2, reservation: 10)], state: &state)

        #expect(plan.outcomes == [.rejected(.reservationUnknown), .rejected(.reservationUnknown)])
        #expect(plan.ledger.isEmpty && plan.changed.isEmpty)
        #expect(state == before)
    }

    @Test("a reservation the pass has never heard of is RESERVATION_UNKNOWN")
    func reservationUnknown() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [1: 100_000])
        let plan = decide([make.pay(user: 1, reservation: 11), make.cancel(user: 1, reservation: 0)], state: &state)

        #expect(plan.outcomes == [.rejected(.reservationUnknown), .rejected(.reservationUnknown)])
        #expect(plan.ledger.isEmpty)
    }

    @Test("charges add to the balance, up to the maximum amount, and the result carries the new balance")
    func charges() {
        var make = RequestMaker(queue: .general)
        var state = BatchState(inventory: nil, balances: [1: 5])
        let first = make.charge(user: 1, amount: 10_000_000)
        let second = make.charge(user: 1, amount: 1)
        let stranger = make.charge(user: 2, amount: 10_000_000)
        let plan = decide([first, second, stranger], from: .general, state: &state)

        #expect(plan.outcomes == [.balance(10_000_005), .balance(10_000_006), .balance(10_000_000)])
        #expect(plan.ledger == [
            LedgerEntry(userID: 1, kind: .charge, amount: 10_000_000, requestID: first.id, reservationID: nil),
            LedgerEntry(userID: 1, kind: .charge, amount: 1, requestID: second.id, reservationID: nil),
            LedgerEntry(userID: 2, kind: .charge, amount: 10_000_000, requestID: stranger.id, reservationID: nil),
        ])
        #expect(state.balances == [1: 10_000_006, 2: 10_000_000])
    }

    @Test("a charge earlier in the batch pays for a reservation later in it")
    func chargeThenPay() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold], balances: [:])
        let plan = decide([make.pay(user: 1, reservation: 10), make.charge(user: 1, amount: 3_000),
                           make.pay(user: 1, reservation: 10)], state: &state)

        #expect(plan.outcomes.map(\.label) == ["INSUFFICIENT_BALANCE", "done", "done"])
        #expect(state.balances[1] == 0)
    }

    @Test("cancelling a hold gives the seats back to the next request in the same batch")
    func cancelFreesSeatsForLaterRequests() {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Self.hold])
        let plan = decide(
            [make.reserve(user: 2, seats: [2]), make.cancel(user: 1, reservation: 10), make.reserve(user: 2, seats: [2])],
            state: &state
        )

        #expect(plan.outcomes.map(\.label) == ["SEAT_TAKEN", "done", "done"])
        #expect(state.inventory?.taken == [2])
        #expect(state.inventory?.liveSeatsByUser == [2: 1])
    }
}
