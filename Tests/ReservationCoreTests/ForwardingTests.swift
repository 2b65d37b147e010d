import Testing
@testable import ReservationCore

/// The general queue holds what the ingest could not route; its pass moves work to the performance that owns it.
@Suite("Forwarding from the general queue")
struct ForwardingTests {
    @Test("a reserve for a known performance is forwarded to that performance's queue, undecided")
    func reserveForKnownPerformance() {
        var make = RequestMaker(queue: .general)
        var state = BatchState(inventory: nil, performances: [7: Fixture.later, 9: Fixture.later])
        let request = make.reserve(user: 1, seats: [1, 2], performance: 9)
        var ids = ReservationIDBlock(first: 1, count: 1)
        let plan = Allocator.decide(
            [request], from: .general, state: &state, ids: &ids, clock: DecisionClock(now: Fixture.now),
            holdSeconds: Fixture.holdSeconds
        )

        #expect(plan.forwarded.map(\.0) == [.performance(9)])
        #expect(plan.forwarded.map(\.1) == [request])
        #expect(plan.results.isEmpty, "a forwarded request is decided by its performance's pass, not here")
        #expect(plan.created.isEmpty)
        #expect(ids.next == 1)
    }

    @Test("a reserve for a performance that does not exist is PERFORMANCE_UNKNOWN", arguments: [Int64(8), 0, -7])
    func reserveForUnknownPerformance(performance: Int64) {
        var make = RequestMaker(queue: .general)
        var state = BatchState(inventory: nil, performances: [7: Fixture.later, 9: Fixture.later])
        let plan = decide([make.reserve(user: 1, seats: [1], performance: performance)], from: .general, state: &state)

        #expect(plan.outcomes == [.rejected(.performanceUnknown)])
        #expect(plan.forwarded.isEmpty)
    }

    @Test("a reserve for a performance that has begun is PERFORMANCE_STARTED, in the general queue and in its own")
    func reserveAfterTheStart() {
        var make = RequestMaker(queue: .general)
        let started = Fixture.now - 3_600
        var general = BatchState(inventory: nil, performances: [7: started, 9: Fixture.later])
        let plan = decide(
            [make.reserve(user: 1, seats: [1], performance: 7), make.reserve(user: 1, seats: [1], performance: 9)],
            from: .general, state: &general
        )
        #expect(plan.outcomes == [.rejected(.performanceStarted)])
        #expect(plan.forwarded.map(\.0) == [.performance(9)])

        var own = RequestMaker()
        var state = BatchState(inventory: PerformanceInventory(
            performanceID: 7, startsAt: started, prices: [1: 10], taken: [], liveSeatsByUser: [:]
        ))
        var late = own.reserve(user: 1, seats: [1])
        late.acceptedAtMillis = started * 1000
        var early = own.reserve(user: 2, seats: [1])
        early.acceptedAtMillis = started * 1000 - 1  // accepted before the start: decided as then, however late
        #expect(decide([early, late], state: &state).outcomes.map(\.label) == ["done", "PERFORMANCE_STARTED"])
    }

    @Test("the owner's pay and cancel for a reservation of performance 7 met in the general queue go to performance 7")
    func payAndCancelForwardedToTheirPerformance() {
        var make = RequestMaker(queue: .general)
        let hold = Fixture.reservation(10, user: 1, seats: [1], expiresAt: Fixture.now - 1)  // even an expired one
        var state = BatchState(inventory: nil, reservations: [10: hold], balances: [1: 50_000])
        let before = state
        let pay = make.pay(user: 1, reservation: 10)
        let cancel = make.cancel(user: 1, reservation: 10)
        let plan = decide([pay, cancel], from: .general, state: &state)

        #expect(plan.forwarded.map(\.0) == [.performance(7), .performance(7)])
        #expect(plan.forwarded.map(\.1) == [pay, cancel])
        #expect(plan.results.isEmpty && plan.ledger.isEmpty && plan.changed.isEmpty)
        #expect(state == before)
    }

    @Test("a stranger's pay or cancel is RESERVATION_UNKNOWN: it learns nothing, not even that the id exists")
    func strangerLearnsNothing() {
        var make = RequestMaker(queue: .general)
        let hold = Fixture.reservation(10, user: 1, seats: [1])
        var state = BatchState(inventory: nil, reservations: [10: hold], balances: [2: 50_000])
        let plan = decide(
            [make.pay(user: 2, reservation: 10), make.cancel(user: 2, reservation: 10), make.pay(user: 2, reservation: 11)],
            from: .general, state: &state
        )
        #expect(plan.outcomes == Array(repeating: .rejected(.reservationUnknown), count: 3))
        #expect(plan.forwarded.isEmpty)
    }

    @Test("a pay that reached another performance's queue is forwarded to the reservation's performance")
    func payInTheWrongPerformanceQueue() {
        var make = RequestMaker(queue: .performance(8))
        let hold = Fixture.reservation(10, user: 1, seats: [1])
        var state = BatchState(
            inventory: Fixture.inventory(performance: 8), reservations: [10: hold], balances: [1: 50_000]
        )
        let plan = decide([make.pay(user: 1, reservation: 10)], from: .performance(8), state: &state)

        #expect(plan.forwarded.map(\.0) == [.performance(7)])
        #expect(plan.results.isEmpty && plan.ledger.isEmpty)
    }

    @Test("the general queue decides what needs no performance: charges and unknown reservations")
    func generalQueueDecidesTheRest() {
        var make = RequestMaker(queue: .general)
        var state = BatchState(inventory: nil, performances: [7: Fixture.later])
        let plan = decide(
            [make.charge(user: 1, amount: 100), make.pay(user: 1, reservation: 123)], from: .general, state: &state
        )

        #expect(plan.outcomes == [.balance(100), .rejected(.reservationUnknown)])
        #expect(plan.forwarded.isEmpty)
    }
}
