import ReservationCore

/// Seconds a batch transaction spent in each of its steps.
public struct StoreTimings: Sendable {
    public enum Step: String, CaseIterable, Sendable {
        case fence, reconcile, reads, decide, reservations = "reservation rows", seats = "seat rows", money, record, commit
    }

    public private(set) var seconds: [Step: Double] = [:]
    public init() {}

    mutating func add(_ step: Step, _ value: Double) {
        seconds[step, default: 0] += value
    }

    @discardableResult
    mutating func measure<T>(_ step: Step, _ body: () throws -> T) rethrows -> T {
        let clock = ContinuousClock()
        let start = clock.now
        defer { seconds[step, default: 0] += (clock.now - start).seconds }
        return try body()
    }
}
