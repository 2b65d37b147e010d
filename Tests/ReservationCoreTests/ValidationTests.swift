import Testing
@testable import ReservationCore

/// The ingest's synchronous 400s: shape checks that need no database.
@Suite("Request validation")
struct ValidationTests {
    @Test("1 to 4 distinct positive seats are accepted", arguments: [[Int64(1)], [1, 2], [3, 1, 2], [4, 3, 2, 1], [.max]])
    func acceptedSeatSelections(seats: [Int64]) {
        #expect(throws: Never.self) { try RequestValidation.checkSeatSelection(seats) }
    }

    @Test(
        "no seats, more than 4, a repeated seat or a non-positive id are refused",
        arguments: [[Int64](), [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6, 7, 8], [1, 1], [2, 3, 2], [0], [1, -2], [.min]]
    )
    func refusedSeatSelections(seats: [Int64]) {
        #expect(throws: RequestValidation.Failure.self) { try RequestValidation.checkSeatSelection(seats) }
    }

    @Test("the refusal says what is wrong")
    func seatMessages() {
        func message(_ seats: [Int64]) -> String? {
            do {
                try RequestValidation.checkSeatSelection(seats)
                return nil
            } catch {
                return error.message
            }
        }
        #expect(message([])?.contains("at least one") == true)
        #expect(message([1, 2, 3, 4, 5])?.contains("at most 4") == true)
        #expect(message([1, 1])?.contains("repeat") == true)
        #expect(message([0])?.contains("positive") == true)
    }

    @Test("charges from 1 to 10,000,000 are accepted", arguments: [Int64(1), 2, 50_000, 9_999_999, 10_000_000])
    func acceptedCharges(amount: Int64) {
        #expect(throws: Never.self) { try RequestValidation.checkChargeAmount(amount) }
    }

    @Test("charges outside 1…10,000,000 are refused", arguments: [Int64(0), -1, 10_000_001, .max, .min])
    func refusedCharges(amount: Int64) {
        #expect(throws: RequestValidation.Failure.self) { try RequestValidation.checkChargeAmount(amount) }
    }

    @Test("path ids are positive decimal integers")
    func pathIDs() {
        #expect(RequestValidation.positiveID("1") == 1)
        #expect(RequestValidation.positiveID("991") == 991)
        #expect(RequestValidation.positiveID("9223372036854775807") == .max)
        for text in ["", "0", "-1", "+1", "1.5", "abc", "1e3", " 1", "1 ", "9223372036854775808", "0x10"] {
            #expect(RequestValidation.positiveID(text) == nil, "\(text)")
        }
    }

    @Test("the validation limits agree with the allocator's")
    func limitsAgree() {
        #expect(RequestValidation.maxSeatsPerRequest == seatLimitPerUser)
        #expect(RequestValidation.chargeRange == 1...10_000_000)
    }
}
