import Foundation
import TestSupport
import Testing
@testable import ReservationCore

/// The API's UTC timestamps, written and read without Foundation's formatter, checked against it.
@Suite("ISO 8601 timestamps")
struct TimestampTests {
    /// Foundation's own answer, the reference the hand-written conversion must agree with.
    static func reference(_ seconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    @Test(
        "known instants",
        arguments: [
            (Int64(0), "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_795_550_400, "2026-11-24T20:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),  // 2100 is not a leap year
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ]
    )
    func knownInstants(seconds: Int64, text: String) {
        #expect(Timestamp.iso8601(seconds: seconds) == text)
        #expect(Timestamp.parseISO8601(text) == seconds)
    }

    @Test("1795550400 is what Foundation says it is")
    func agreesWithFoundationOnTheContractExample() {
        #expect(Timestamp.iso8601(seconds: 1_795_550_400) == Self.reference(1_795_550_400))
    }

    @Test("agrees with Foundation across 1900…2200, and parses its own output back")
    func agreesWithFoundation() {
        var random = SplitMix64(state: 2026)
        let instants = (0..<2_000).map { _ in Int64.random(in: -2_208_988_800...7_258_118_400, using: &random) }
            + [86_399, 86_400, 68_169_600, 946_684_799, 946_684_800, 1_709_164_800]  // day edges, 1972-02-29, 2024-02-29
        for seconds in instants {
            let text = Timestamp.iso8601(seconds: seconds)
            #expect(text == Self.reference(seconds), "\(seconds)")
            #expect(Timestamp.parseISO8601(text) == seconds, "\(text)")
        }
    }

    @Test(
        "offsets and fractions name the same instant",
        arguments: [
            "2026-11-24T20:00:00Z", "2026-11-24T20:00:00+00:00", "2026-11-24T20:00:00-00:00",
            "2026-11-24T21:30:00+01:30", "2026-11-24T15:00:00-05:00", "2026-11-25T05:00:00+09:00",
            "2026-11-24T20:00:00.999Z", "2026-11-24T20:00:00.5+00:00", "2026-11-24 20:00:00Z",
        ]
    )
    func offsets(text: String) {
        #expect(Timestamp.parseISO8601(text) == 1_795_550_400)
    }

    @Test("parsing agrees with Foundation for offsets across a day boundary")
    func offsetsAgainstFoundation() throws {
        let formatter = ISO8601DateFormatter()
        for text in ["2000-03-01T01:00:00+02:00", "1999-12-31T23:30:00-01:00", "2024-02-29T00:00:00+14:00"] {
            let date = try #require(formatter.date(from: text))
            #expect(Timestamp.parseISO8601(text) == Int64(date.timeIntervalSince1970), "\(text)")
        }
    }

    @Test(
        "anything else is refused",
        arguments: [
            "", "2026-11-24", "2026-11-24T20:00:00", "2026-11-24T20:00Z", "2026-11-24T20:00:00z",
            "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-32T00:00:00Z",
            "2026-11-24T24:00:00Z", "2026-11-24T20:60:00Z", "2026-11-24T20:00:62Z",
            "2026-11-24T20:00:00+0100", "2026-11-24T20:00:00+01", "2026-11-24T20:00:00+01:00Z",
            "2026-11-24T20:00:00Zjunk", "20261124T200000Z", "2026/11/24T20:00:00Z", "+2026-11-24T20:00:00Z",
            "2026-11-24T20:00:00.Zx", "2026-1l-24T20:00:00Z", " 2026-11-24T20:00:00Z",
        ]
    )
    func refused(text: String) {
        #expect(Timestamp.parseISO8601(text) == nil)
    }
}
