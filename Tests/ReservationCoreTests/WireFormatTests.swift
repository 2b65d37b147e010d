import Testing
@testable import ReservationCore

/// Queue entries and request ids: what the ingest writes, the pass must read back exactly, and nothing else.
@Suite("Queue wire format and request ids")
struct WireFormatTests {
    static let hex = "0123456789abcdef0123456789abcdef"

    static let samples: [QueuedRequest] = [
        QueuedRequest(
            id: RequestID(queue: .performance(17), random: (0xDEAD_BEEF, 1)), kind: .reserve, userID: 42,
            performanceID: 17, seatIDs: [5, 6, 1_000_000], acceptedAtMillis: 1_795_550_400_123
        ),
        QueuedRequest(
            id: RequestID(queue: .performance(17), random: (0, 0)), kind: .reserve, userID: 1,
            performanceID: 17, seatIDs: [9], acceptedAtMillis: 0
        ),
        QueuedRequest(
            id: RequestID(queue: .general, random: (.max, .max)), kind: .pay, userID: .max, reservationID: 991,
            acceptedAtMillis: 1_795_550_400_000
        ),
        QueuedRequest(
            id: RequestID(queue: .performance(3), random: (1, 2)), kind: .cancel, userID: 8, reservationID: .max,
            acceptedAtMillis: 7
        ),
        QueuedRequest(
            id: RequestID(queue: .general, random: (12, 34)), kind: .charge, userID: 8, amount: 10_000_000,
            acceptedAtMillis: 7
        ),
    ]

    @Test("every kind survives the round trip through a queue line", arguments: samples)
    func roundTrip(request: QueuedRequest) throws {
        let line = request.wireFormat
        #expect(!line.contains("\n"))
        #expect(try QueuedRequest(wireFormat: line) == request)
        #expect(try QueuedRequest(wireFormat: Substring(line)) == request)
    }

    @Test("the line has the documented, versioned layout")
    func layout() {
        let request = Self.samples[0]
        #expect(request.wireFormat == "2|p17-00000000deadbeef0000000000000001|reserve|42|17|0|0|1795550400123|0|5,6,1000000")
        #expect(Self.samples[4].wireFormat.hasSuffix("|charge|8|0|0|10000000|7|0|"))
    }

    @Test(
        "malformed queue lines are refused, not half-read",
        arguments: [
            "",
            "garbage",
            "3|g-\(hex)|charge|8|0|0|100|7|3|",  // unknown version
            "1|g-\(hex)|charge|8|0|0|100|7|",  // version 1: no number (drain queues before upgrading)
            "2|g-\(hex)|charge|8|0|0|100|7|3",  // a field missing
            "2|g-\(hex)|charge|8|0|0|100|7|3|1|2",  // a field too many: the seat list must not swallow it
            "2|G-\(hex)|charge|8|0|0|100|7|3|",  // bad id
            "2|g-\(hex)|refund|8|0|0|100|7|3|",  // unknown kind
            "2|g-\(hex)|Charge|8|0|0|100|7|3|",
            "2|g-\(hex)|charge|0|0|0|100|7|3|",  // user 0
            "2|g-\(hex)|charge|-8|0|0|100|7|3|",
            "2|g-\(hex)|charge|eight|0|0|100|7|3|",
            "2|g-\(hex)|charge|8|0|0|1e3|7|3|",
            "2|g-\(hex)|charge|8|0|0|100||3|",  // accepted time missing
            "2|g-\(hex)|charge|8|0|0|100|7||",  // number missing
            "2|g-\(hex)|charge|8|0|0|100|7|-3|",  // negative number
            "2|g-\(hex)|charge|8|0|0|99999999999999999999|7|3|",  // overflow
            "2|p1-\(hex)|reserve|8|1|0|0|7|3|1,,2",  // empty seat
            "2|p1-\(hex)|reserve|8|1|0|0|7|3|1,2,",
            "2|p1-\(hex)|reserve|8|1|0|0|7|3|1;2",
            "2|p1-\(hex)|reserve|8|1|0|0|7|3| 1",
            " 2|p1-\(hex)|reserve|8|1|0|0|7|3|1",
        ]
    )
    func malformedLines(line: String) {
        #expect(throws: QueueEntryError.self) { try QueuedRequest(wireFormat: line) }
    }

    @Test("the error names the entry, cut short, so an operator can find it")
    func errorDescription() {
        let line = "2|" + String(repeating: "x", count: 500)
        do {
            _ = try QueuedRequest(wireFormat: line)
            Issue.record("a malformed line was accepted")
        } catch {
            #expect(error.entry == line)
            #expect(error.description.hasPrefix("unreadable queue entry: 2|xxx"))
            #expect(error.description.count < 200)
        }
    }

    // MARK: Request ids

    @Test("a new id is the queue tag, a dash and 32 lowercase hex digits, and parses back to itself")
    func generatedIDs() throws {
        for queue in [QueueName.general, .performance(1), .performance(17), .performance(.max)] {
            let id = RequestID.random(queue: queue)
            #expect(id.rawValue.hasPrefix(queue.tag + "-"))
            #expect(id.rawValue.count == queue.tag.count + 33)
            let parsed = try #require(RequestID(id.rawValue))
            #expect(parsed == id && parsed.queue == queue)
        }
        #expect(RequestID(queue: .performance(5), random: (0xAB, 0x1)).rawValue == "p5-00000000000000ab0000000000000001")
        #expect(RequestID.random(queue: .general) != RequestID.random(queue: .general))
    }

    @Test(
        "ids of exactly our shape are accepted",
        arguments: ["g-\(hex)", "p1-\(hex)", "p17-\(hex)", "p9223372036854775807-\(hex)", "g-" + String(repeating: "0", count: 32)]
    )
    func acceptedIDs(text: String) throws {
        let id = try #require(RequestID(text))
        #expect(id.rawValue == text)
        #expect(id.description == text)
    }

    @Test(
        "anything else is refused",
        arguments: [
            "", "-", "g", "g-", "p-\(hex)", "p0-\(hex)", "p01-\(hex)", "p-1-\(hex)", "p+1-\(hex)", "P1-\(hex)",
            "G-\(hex)", "q1-\(hex)", "p1x-\(hex)", "p 1-\(hex)", "p9223372036854775808-\(hex)", "p١-\(hex)",
            "g-0123456789ABCDEF0123456789ABCDEF", "g-0123456789abcdef0123456789abcdeF",
            "g-0123456789abcdef0123456789abcde", "g-0123456789abcdef0123456789abcdef0",
            "g-0123456789abcdef0123456789abcdeg", "g-0123456789abcdef-123456789abcdef",
            "g_\(hex)", "g\(hex)", " g-\(hex)", "g-\(hex) ", "g-\(hex)\n", "g-\(hex)\0",
            "g-\(hex)|charge|1", "g-../../../etc/passwd", "g-\(hex);DEL *", "g-'; DROP TABLE requests; --",
            "p1-\(hex)?x=1", "g-０１２３４５６７８９abcdef0123456789abcdef",
        ]
    )
    func refusedIDs(text: String) {
        #expect(RequestID(text) == nil)
        #expect(RequestID(Substring(text)) == nil)
    }

    @Test("queue tags parse back to their queue and reject look-alikes")
    func queueTags() {
        for queue in [QueueName.general, .performance(1), .performance(123_456)] {
            #expect(QueueName(tag: Substring(queue.tag)) == queue)
            #expect(queue.description == queue.tag)
        }
        for tag in ["", "p", "p0", "p-1", "p01", "p+1", "gg", "G", "P1", "p1 "] {
            #expect(QueueName(tag: Substring(tag)) == nil, "tag \(tag)")
        }
    }
}

@Suite("Queue entries: numbers out of range")
struct WireFormatOverflowTests {
    @Test("a 19- or 20-digit number that overflows Int64 is refused, not a crash")
    func overflowingNumbersAreRefused() {
        let id = "p1-" + String(repeating: "a", count: 32)
        for line in [
            "2|\(id)|reserve|9999999999999999999|1|0|0|0|0|1",
            "2|\(id)|reserve|7|1|0|0|0|0|99999999999999999999",
            "2|\(id)|reserve|7|1|0|0|-9999999999999999999|0|1",
        ] {
            #expect(throws: QueueEntryError.self) { try QueuedRequest(wireFormat: line) }
        }
        #expect((try? QueuedRequest(wireFormat: "2|\(id)|reserve|9223372036854775807|1|0|0|0|0|1"))?.userID == .max)
        #expect(throws: QueueEntryError.self) { try QueuedRequest(wireFormat: "2|\(id)|reserve|7|1|0|0|0|-1|1") }
        #expect(throws: QueueEntryError.self, "version 1 (no number) is not read") {
            try QueuedRequest(wireFormat: "1|\(id)|reserve|7|1|0|0|0|1")
        }
    }
}
