import Testing
@testable import ReservationCore

/// Holds: who gets which seat when requests in one batch compete, and why the others are refused.
@Suite("Allocation of holds")
struct AllocationTests {
    @Test("two users want the same seat: the earlier request wins, the later one gets SEAT_TAKEN")
    func contestedSeatGoesToFirstArrival() {
        for (first, second) in [(Int64(1), Int64(2)), (2, 1)] {  // arrival order decides, not the user id
            var make = RequestMaker()
            var state = Fixture.state()
            let plan = decide(
                [make.reserve(user: first, seats: [1, 2]), make.reserve(user: second, seats: [2, 3])],
                state: &state
            )

            #expect(plan.outcomes.map(\.label) == ["done", "SEAT_TAKEN"])
            #expect(plan.created.map(\.userID) == [first])
            #expect(plan.created.first?.seatIDs == [1, 2])
            #expect(state.inventory?.taken == [1, 2], "the loser's free seat 3 must not be held")
            #expect(state.inventory?.liveSeatsByUser == [first: 2])
        }
    }

    @Test("a request for a free and a taken seat holds nothing, and the free seat stays free for later requests")
    func allOrNothing() throws {
        var make = RequestMaker()
        var state = Fixture.state(reservations: [Fixture.reservation(1, user: 9, seats: [2])])
        let plan = decide(
            [make.reserve(user: 1, seats: [1, 2]), make.reserve(user: 3, seats: [1])],
            state: &state
        )

        #expect(plan.outcomes.map(\.label) == ["SEAT_TAKEN", "done"])
        #expect(plan.created.count == 1)
        let held = try #require(plan.created.first)
        #expect(held.userID == 3 && held.seatIDs == [1])
        #expect(state.inventory?.taken == [1, 2])
        #expect(state.inventory?.liveSeatsByUser == [9: 1, 3: 1], "user 1 holds nothing after the refusal")
    }

    @Test("the same seats asked twice in one batch are held once")
    func duplicatesWithinOneBatch() {
        var make = RequestMaker()
        var state = Fixture.state()
        let plan = decide(
            [
                make.reserve(user: 1, seats: [4, 5]),
                make.reserve(user: 2, seats: [4, 5]),
                make.reserve(user: 1, seats: [4, 5]),  // the same user retrying must not get a second hold
            ],
            state: &state
        )

        #expect(plan.outcomes.map(\.label) == ["done", "SEAT_TAKEN", "SEAT_TAKEN"])
        #expect(plan.created.count == 1)
        #expect(state.inventory?.liveSeatsByUser == [1: 2])
    }

    @Test("one request naming a seat twice holds nothing")
    func repeatedSeatInOneRequest() {
        var make = RequestMaker()
        var state = Fixture.state()
        let plan = decide([make.reserve(user: 1, seats: [3, 3])], state: &state)

        #expect(plan.outcomes.map(\.reason) == [.seatTaken])
        #expect(plan.created.isEmpty)
        #expect(state.inventory?.taken == [])
        #expect(state.inventory?.liveSeatsByUser == [:])
    }

    @Test(
        "a user may hold 4 seats per performance, counting seats already held",
        arguments: [
            // (seats the user already holds, seats asked, expected outcome)
            (0, 4, "done"), (0, 5, "USER_LIMIT"), (3, 1, "done"), (3, 2, "USER_LIMIT"), (4, 1, "USER_LIMIT"),
        ]
    )
    func userLimit(alreadyHeld: Int, asked: Int, expected: String) {
        let owned = (0..<alreadyHeld).map { Int64(11 + $0) }  // seats 11… held by the user in earlier passes
        var existing = [Fixture.reservation(1, user: 1, seats: owned, state: .confirmed)]
        if owned.isEmpty { existing = [] }
        var state = Fixture.state(seats: 20, reservations: existing)
        #expect(state.inventory?.liveSeatsByUser[1, default: 0] == alreadyHeld)

        var make = RequestMaker()
        let plan = decide([make.reserve(user: 1, seats: (1...Int64(asked)).map { $0 })], state: &state)

        #expect(plan.outcomes.map(\.label) == [expected])
        let heldNow = expected == "done" ? alreadyHeld + asked : alreadyHeld
        #expect(state.inventory?.liveSeatsByUser[1, default: 0] == heldNow)
    }

    @Test("the fifth seat within one batch is refused, and the limit is per user")
    func userLimitAcrossOneBatch() {
        var make = RequestMaker()
        var state = Fixture.state()
        let plan = decide(
            [
                make.reserve(user: 1, seats: [1, 2]),
                make.reserve(user: 1, seats: [3, 4]),
                make.reserve(user: 1, seats: [5]),
                make.reserve(user: 2, seats: [5, 6, 7, 8]),
            ],
            state: &state
        )

        #expect(plan.outcomes.map(\.label) == ["done", "done", "USER_LIMIT", "done"])
        #expect(state.inventory?.liveSeatsByUser == [1: 4, 2: 4])
    }

    @Test("cancelled and expired reservations no longer count toward the limit")
    func limitCountsOnlyLiveSeats() {
        var make = RequestMaker()
        var state = Fixture.state(seats: 20, reservations: [
            Fixture.reservation(1, user: 1, seats: [11, 12, 13, 14]),
            Fixture.reservation(2, user: 1, seats: [15], state: .cancelled),
            Fixture.reservation(3, user: 1, seats: [16], state: .expired),
        ])
        let plan = decide(
            [
                make.reserve(user: 1, seats: [1]),
                make.cancel(user: 1, reservation: 1),
                make.reserve(user: 1, seats: [1, 2, 3, 4]),
                make.reserve(user: 2, seats: [11, 15, 16]),
            ],
            state: &state
        )

        #expect(plan.outcomes.map(\.label) == ["USER_LIMIT", "done", "done", "done"])
        #expect(state.inventory?.liveSeatsByUser == [1: 4, 2: 3])
    }

    @Test(
        "a seat the performance does not have is SEAT_UNKNOWN and holds nothing",
        arguments: [[Int64(1), 99], [0], [-1], [Int64]()]
    )
    func unknownSeat(seats: [Int64]) {
        var make = RequestMaker()
        var state = Fixture.state()
        let plan = decide([make.reserve(user: 1, seats: seats), make.reserve(user: 2, seats: [1])], state: &state)

        #expect(plan.outcomes.map(\.label) == ["SEAT_UNKNOWN", "done"])
        #expect(plan.created.map(\.userID) == [2])
    }

    @Test("a reserve for a performance the pass does not know is PERFORMANCE_UNKNOWN")
    func unknownPerformance() {
        var make = RequestMaker()

        var noInventory = BatchState(inventory: nil)
        let nilPlan = decide([make.reserve(user: 1, seats: [1])], state: &noInventory)
        #expect(nilPlan.outcomes.map(\.reason) == [.performanceUnknown])
        #expect(nilPlan.created.isEmpty && nilPlan.forwarded.isEmpty)

        var otherPerformance = BatchState(inventory: Fixture.inventory(performance: 8))
        let before = otherPerformance
        let otherPlan = decide([make.reserve(user: 1, seats: [1], performance: 7)], state: &otherPerformance)
        #expect(otherPlan.outcomes.map(\.reason) == [.performanceUnknown])
        #expect(otherPlan.created.isEmpty)
        #expect(otherPerformance == before, "performance 8's seats must not be touched by a reserve for 7")
    }

    @Test("a new hold costs the sum of its seats' prices and lasts holdSeconds from now")
    func holdAmountAndDeadline() throws {
        var make = RequestMaker()
        var state = Fixture.state()
        let request = make.reserve(user: 5, seats: [9, 2, 4])
        let plan = decide([request], state: &state, now: 1_000_000)

        let held = try #require(plan.created.first)
        #expect(held.amount == 9_000 + 2_000 + 4_000)
        #expect(held.holdExpiresAt == 1_000_000 + Fixture.holdSeconds)
        #expect(held.state == .held)
        #expect(held.userID == 5 && held.performanceID == Fixture.performanceID)
        #expect(held.seatIDs == [2, 4, 9], "in ascending order, as the database lists them")
        #expect(plan.results == [RequestResult(request: request, outcome: .reservation(held))])
        #expect(state.reservations[held.id] == held, "a pay later in the same batch must find the new hold")
        #expect(plan.changed.isEmpty && plan.ledger.isEmpty)
    }

    @Test("reservation ids come from the block in arrival order; refusals use none")
    func reservationIDsInArrivalOrder() {
        var make = RequestMaker()
        var state = Fixture.state()
        var ids = ReservationIDBlock(first: 500, count: 4)
        let plan = Allocator.decide(
            [
                make.reserve(user: 1, seats: [3]),
                make.reserve(user: 2, seats: [3]),  // refused: takes no id
                make.reserve(user: 3, seats: [1]),
                make.reserve(user: 4, seats: [2]),
            ],
            from: .performance(Fixture.performanceID), state: &state, ids: &ids,
            clock: DecisionClock(now: Fixture.now), holdSeconds: Fixture.holdSeconds
        )

        #expect(plan.created.map(\.id) == [500, 501, 502])
        #expect(plan.created.map(\.userID) == [1, 3, 4])
        #expect(plan.results.compactMap(\.outcome.reservation?.id) == [500, 501, 502])
        #expect(ids.next == 503, "the unused id stays in the block for the next batch")
    }

    @Test("every request gets exactly one result, in arrival order")
    func oneResultPerRequestInOrder() {
        var make = RequestMaker()
        var state = Fixture.state(balances: [1: 100_000])
        let requests = [
            make.reserve(user: 1, seats: [1]),
            make.charge(user: 2, amount: 10),
            make.reserve(user: 2, seats: [1]),
            make.pay(user: 1, reservation: Fixture.firstReservationID),
            make.cancel(user: 3, reservation: 424_242),
        ]
        let plan = decide(requests, state: &state)

        #expect(plan.results.map(\.request) == requests)
        #expect(plan.outcomes.map(\.label) == ["done", "done", "SEAT_TAKEN", "done", "RESERVATION_UNKNOWN"])
    }
}
