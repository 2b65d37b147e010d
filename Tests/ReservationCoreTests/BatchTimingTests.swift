import Foundation
import TestSupport
import Testing
@testable import ReservationCore

/// The batch history's one format: what the pass writes to Redis and MariaDB and the live page and report read.
@Suite("Batch timings")
struct BatchTimingTests {
    static let sample = BatchTiming(
        endedAtMillis: 1_795_550_400_123, queue: .performance(17), size: 2_500, seconds: 0.2468013579,
        oldestWaitSeconds: 3.5, expired: 12,
        outcomes: [.reserve: ["done": 2_000, "SEAT_TAKEN": 450, "USER_LIMIT": 10], .pay: ["done": 40]]
    )

    @Test("the Redis text form reads back exactly, outcomes sorted")
    func redisRoundTrip() throws {
        let text = Self.sample.redisText
        #expect(text == "1|1795550400123|p17|2500|0.2468013579|3.5|12|reserve:SEAT_TAKEN=450,reserve:USER_LIMIT=10,reserve:done=2000,pay:done=40")
        #expect(BatchTiming(redisText: text) == Self.sample)

        let general = BatchTiming(
            endedAtMillis: 5, queue: .general, size: 0, seconds: 0, oldestWaitSeconds: 0, expired: 0, outcomes: [:]
        )
        #expect(general.redisText == "1|5|g|0|0.0|0.0|0|")
        #expect(BatchTiming(redisText: general.redisText) == general)
    }

    @Test("random timings survive both forms", arguments: 0..<3)
    func randomRoundTrips(seed: UInt64) throws {
        var random = SplitMix64(state: seed)
        let labels = ["done"] + RejectionReason.allCases.map(\.rawValue)
        for _ in 0..<200 {
            var outcomes: [RequestKind: [String: Int]] = [:]
            for kind in RequestKind.allCases where Bool.random(using: &random) {
                for label in labels where Int.random(in: 0..<4, using: &random) == 0 {
                    outcomes[kind, default: [:]][label] = Int.random(in: 1...50_000, using: &random)
                }
            }
            let timing = BatchTiming(
                endedAtMillis: Int64.random(in: 0...4_000_000_000_000, using: &random),
                queue: Bool.random(using: &random) ? .general : .performance(Int64.random(in: 1...1_000_000, using: &random)),
                size: Int.random(in: 0...50_000, using: &random), seconds: Double.random(in: 0...30, using: &random),
                oldestWaitSeconds: Double.random(in: 0...3_600, using: &random),
                expired: Int.random(in: 0...1_000, using: &random), outcomes: outcomes
            )
            #expect(BatchTiming(redisText: timing.redisText) == timing)
            #expect(BatchTiming.outcomes(json: timing.outcomesJSON) == timing.outcomes)
        }
    }

    @Test("outcomes as MariaDB's JSON column")
    func outcomesJSON() throws {
        #expect(Self.sample.outcomesJSON == #"{"reserve":{"SEAT_TAKEN":450,"USER_LIMIT":10,"done":2000},"pay":{"done":40}}"#)
        #expect(BatchTiming.outcomes(json: Self.sample.outcomesJSON) == Self.sample.outcomes)
        #expect(BatchTiming.outcomes(json: "{}") == [:])
        #expect(BatchTiming.outcomes(json: #"{"reserve":{"done":-1}}"#) == nil)
        #expect(BatchTiming.outcomes(json: #"{"book":{"done":1}}"#) == nil)
        #expect(BatchTiming.outcomes(json: #"{"reserve":{"a\"b":1}}"#) == nil)
        #expect(BatchTiming.outcomes(json: "[]") == nil)
    }

    @Test("damaged or foreign texts are refused, not half read")
    func refusesOtherTexts() {
        let good = Self.sample.redisText
        for bad in [
            "", "2" + good.dropFirst(), good + "|x", String(good.dropLast(good.count - 20)),
            good.replacingOccurrences(of: "|p17|", with: "|q17|"),
            good.replacingOccurrences(of: "|2500|", with: "|-1|"),
            good.replacingOccurrences(of: "|3.5|", with: "|nan|"),
            good.replacingOccurrences(of: "reserve:done", with: "reserve:do ne"),
            good.replacingOccurrences(of: "pay:done=40", with: "pay:done=0"),
            good.replacingOccurrences(of: "pay:done=40", with: "pay=40"),
        ] {
            #expect(BatchTiming(redisText: bad) == nil, "read \(bad)")
        }
    }

    @Test("the pass's form: size and oldest wait from the entries, end time from take plus seconds")
    func fromThePass() throws {
        let first = QueuedRequest(
            id: RequestID(queue: .performance(3), random: (1, 2)), kind: .reserve, userID: 9, performanceID: 3,
            seatIDs: [1], acceptedAtMillis: 1_000_000
        )
        let second = QueuedRequest(
            id: RequestID(queue: .performance(3), random: (3, 4)), kind: .reserve, userID: 8, performanceID: 3,
            seatIDs: [2], acceptedAtMillis: 1_001_000
        )
        let timing = BatchTiming(
            queue: .performance(3), takenAtMillis: 1_004_500, seconds: 0.25,
            entries: [first.wireFormat, second.wireFormat], outcomes: [.reserve: ["done": 2, "SEAT_TAKEN": 0]]
        )
        #expect(timing.size == 2)
        #expect(timing.oldestWaitSeconds == 4.5)
        #expect(timing.endedAtMillis == 1_004_750)
        #expect(timing.outcomes == [.reserve: ["done": 2]])
        #expect(timing.decided == 2)
        // An unreadable first entry gives no wait rather than a made-up one.
        let odd = BatchTiming(queue: .general, takenAtMillis: 10, seconds: 0, entries: ["junk"], outcomes: [:])
        #expect(odd.oldestWaitSeconds == 0 && odd.size == 1)
    }

    @Test("a batch's outcomes are the running totals' difference")
    func differences() {
        let before: [RequestKind: [String: Int]] = [.reserve: ["done": 5, "SEAT_TAKEN": 2]]
        let after: [RequestKind: [String: Int]] = [.reserve: ["done": 9, "SEAT_TAKEN": 2, "USER_LIMIT": 1], .charge: ["done": 3]]
        #expect(BatchTiming.outcomes(after, since: before) == [.reserve: ["done": 4, "USER_LIMIT": 1], .charge: ["done": 3]])
        #expect(BatchTiming.outcomes(after, since: after) == [:])
    }
}
