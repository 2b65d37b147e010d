/// The shape checks the ingest makes before it queues anything (the contract's synchronous 400s).
/// The pass decides everything that depends on the database's state.
public enum RequestValidation {
    public static let maxSeatsPerRequest = 4
    public static let chargeRange: ClosedRange<Int64> = 1...10_000_000

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// 1 to 4 distinct, positive seat ids.
    public static func checkSeatSelection(_ seatIDs: [Int64]) throws(Failure) {
        guard !seatIDs.isEmpty else { throw Failure(message: "seatIds must name at least one seat") }
        guard seatIDs.count <= maxSeatsPerRequest else {
            throw Failure(message: "seatIds may name at most \(maxSeatsPerRequest) seats")
        }
        guard seatIDs.allSatisfy({ $0 > 0 }) else { throw Failure(message: "seatIds must be positive integers") }
        guard Set(seatIDs).count == seatIDs.count else { throw Failure(message: "seatIds must not repeat a seat") }
    }

    public static func checkChargeAmount(_ amount: Int64) throws(Failure) {
        guard chargeRange.contains(amount) else {
            throw Failure(message: "amount must be an integer from 1 to 10000000")
        }
    }

    /// Path ids (performances, reservations): positive 63-bit integers.
    public static func positiveID(_ text: some StringProtocol) -> Int64? {
        guard let value = Int64(text), value > 0, text.first != "+" else { return nil }
        return value
    }
}
