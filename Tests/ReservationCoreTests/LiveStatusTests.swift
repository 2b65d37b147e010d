import Foundation
import TestSupport
import Testing
@testable import ReservationCore

/// The live page's JSON: seat maps reduced to states and a layout, and the status document built from the caches.
@Suite("Live status")
struct LiveStatusTests {
    /// Labels exactly as `concert-admin create-performance` makes them (`SECTION-ROW-SEAT`, 20 a row).
    static func labels(seats: Int, sections: Int) -> [String] {
        let perSection = (seats + sections - 1) / sections
        return (0..<seats).map { seat in
            let section = String(UnicodeScalar(UInt8(65 + seat / perSection)))
            let inSection = seat % perSection
            return "\(section)-\(inSection / 20 + 1)-\(inSection % 20 + 1)"
        }
    }

    /// The seat map JSON as the pass publishes it.
    static func seatMapJSON(labels: [String], states: [String], asOf: String = "2026-11-24T20:00:00Z") -> String {
        var json = "{\"performanceId\":1,\"asOf\":\"\(asOf)\",\"seats\":["
        for (index, label) in labels.enumerated() {
            if index > 0 { json += "," }
            json += "{\"id\":\(index + 1),\"label\":\(JSONText.quoted(label)),\"price\":50000,\"status\":\"\(states[index])\"}"
        }
        return json + "]}"
    }

    static func object(_ json: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test("a small hall: states in seat order, counts, and rows grouped per section")
    func smallHall() throws {
        let labels = Self.labels(seats: 45, sections: 2)
        var states = Array(repeating: "available", count: 45)
        states[0] = "held"
        states[1] = "sold"
        states[44] = "held"
        let digest = try #require(SeatMapDigest(seatMapJSON: Array(Self.seatMapJSON(labels: labels, states: states).utf8)))
        #expect(String(decoding: digest.states, as: UTF8.self) == "hs" + String(repeating: "a", count: 42) + "h")
        #expect((digest.available, digest.held, digest.sold) == (42, 2, 1))
        #expect(digest.asOf == "2026-11-24T20:00:00Z")
        // 23 seats a section: a row of 20 and a row of 3 (A), a row of 20 and a row of 2 (B).
        #expect(digest.sections == [
            .init(name: "A", groups: [.init(firstRow: "1", rows: 1, seatsPerRow: 20, start: 0), .init(firstRow: "2", rows: 1, seatsPerRow: 3, start: 20)]),
            .init(name: "B", groups: [.init(firstRow: "1", rows: 1, seatsPerRow: 20, start: 23), .init(firstRow: "2", rows: 1, seatsPerRow: 2, start: 43)]),
        ])
        let fragment = try Self.object(digest.json)
        #expect(fragment["states"] as? String == String(decoding: digest.states, as: UTF8.self))
        #expect(fragment["counts"] as? [String: Int] == ["available": 42, "held": 2, "sold": 1])
        #expect((fragment["sections"] as? [[String: Any]])?.count == 2)
    }

    @Test("a 100,000-seat hall in 20 sections: one group of 250 rows per section, every seat once")
    func bigHall() throws {
        let labels = Self.labels(seats: 100_000, sections: 20)
        var random = SplitMix64(state: 7)
        let states = labels.indices.map { _ in ["available", "held", "sold"][Int.random(in: 0..<3, using: &random)] }
        let digest = try #require(SeatMapDigest(seatMapJSON: Array(Self.seatMapJSON(labels: labels, states: states).utf8)))
        #expect(digest.states.count == 100_000)
        #expect(digest.sections.count == 20)
        for (index, section) in digest.sections.enumerated() {
            #expect(section.groups == [.init(firstRow: "1", rows: 250, seatsPerRow: 20, start: index * 5_000)])
        }
        #expect(digest.available + digest.held + digest.sold == 100_000)
        #expect(digest.held == states.count { $0 == "held" })
        #expect(digest.sold == states.count { $0 == "sold" })
        // The layout is a few hundred bytes; the states one byte a seat.
        #expect(digest.json.utf8.count < 100_000 + 2_000)
    }

    @Test("keys in any order, spaces, extra fields, escapes and odd labels are read; anything else is refused")
    func tolerantButStrict() throws {
        let json = """
            { "seats" : [ {"status":"sold", "extra": {"a":[1,2.5e3,null,true]}, "label":"Stalls-East-3-1", "id":1},
                          {"label":"Stalls-East-3-2","status":"held"},
                          {"label":"Box \\"7\\"","status":"available"},
                          {"label":"","status":"available"} ],
              "asOf": "2026-01-01T00:00:00Z", "performanceId": 4 }
            """
        let digest = try #require(SeatMapDigest(seatMapJSON: Array(json.utf8)))
        #expect(String(decoding: digest.states, as: UTF8.self) == "shaa")
        #expect(digest.sections.map(\.name) == ["Stalls-East", ""])
        #expect(digest.sections[0].groups == [.init(firstRow: "3", rows: 1, seatsPerRow: 2, start: 0)])
        // Labels without dashes go to an unnamed section, consecutive ones in one row.
        #expect(digest.sections[1].groups == [.init(firstRow: "", rows: 1, seatsPerRow: 2, start: 2)])

        for bad in [
            "", "{}", "[]", #"{"seats":[{"label":"A-1-1","status":"gone"}]}"#, #"{"seats":[{"label":"A-1-1"}]}"#,
            #"{"seats":[{"label":"A-1-1","status":"held"}"#, #"{"seats":[{"label":"A-1-1","status":"held"}]} x"#,
            #"{"seats":[{"label":"A-1-1","status":"held",}]}"#,
        ] {
            #expect(SeatMapDigest(seatMapJSON: Array(bad.utf8)) == nil, "read \(bad)")
        }
        #expect(SeatMapDigest(seatMapJSON: Array(#"{"seats":[]}"#.utf8))?.states == [])
    }

    @Test("rows continue a group only when numbered one after another and of equal length")
    func grouping() {
        let seats: [(label: String, state: UInt8)] = ["A-1-1", "A-1-2", "A-2-1", "A-2-2", "A-4-1", "A-4-2", "A-5-1", "A-X-1", "B-1-1", "A-6-1"]
            .map { ($0, SeatMapDigest.availableState) }
        let digest = SeatMapDigest(seats: seats, asOf: nil)
        #expect(digest.sections == [
            .init(name: "A", groups: [
                .init(firstRow: "1", rows: 2, seatsPerRow: 2, start: 0),
                .init(firstRow: "4", rows: 1, seatsPerRow: 2, start: 4),
                .init(firstRow: "5", rows: 1, seatsPerRow: 1, start: 6),
                .init(firstRow: "X", rows: 1, seatsPerRow: 1, start: 7),
                .init(firstRow: "6", rows: 1, seatsPerRow: 1, start: 9),
            ]),
            .init(name: "B", groups: [.init(firstRow: "1", rows: 1, seatsPerRow: 1, start: 8)]),
        ])
        // Every seat is in exactly one group.
        let covered = digest.sections.flatMap(\.groups).flatMap { $0.start..<($0.start + $0.rows * $0.seatsPerRow) }
        #expect(covered.sorted() == Array(0..<seats.count))
    }

    @Test("a run of seats longer than a real row is cut into rows of 100, so unlabelled halls still draw as a block")
    func longRuns() {
        let digest = SeatMapDigest(seats: (0..<250).map { ("seat \($0)", SeatMapDigest.soldState) }, asOf: nil)
        #expect(digest.sections.count == 1)
        #expect(digest.sections[0].groups.map(\.seatsPerRow) == [100, 100, 50])
        #expect(digest.sold == 250)
    }

    @Test("the published list: only performances not yet started, in the list's order")
    func upcoming() {
        let list = #"{"performances":[{"id":3,"title":"Started","startsAt":"2026-11-24T19:59:59Z","seats":5,"available":5},"#
            + #"{"id":1,"title":"Soon \"live\"","startsAt":"2026-11-24T20:00:01Z","seats":20,"available":3},"#
            + #"{"id":2,"title":"Later","startsAt":"2026-12-24T20:00:00Z","seats":100000,"available":100000}]}"#
        let upcoming = LiveStatus.upcoming(performanceListJSON: list, nowSeconds: Fixture.now)
        #expect(upcoming == [
            .init(id: 1, title: "Soon \"live\"", startsAt: "2026-11-24T20:00:01Z", seats: 20),
            .init(id: 2, title: "Later", startsAt: "2026-12-24T20:00:00Z", seats: 100_000),
        ])
        #expect(LiveStatus.upcoming(performanceListJSON: nil, nowSeconds: Fixture.now) == [])
        #expect(LiveStatus.upcoming(performanceListJSON: "not json", nowSeconds: Fixture.now) == [])
    }

    @Test("the status document: queues, rates per aligned bucket, recent batches, the fit and each seat map")
    func statusDocument() throws {
        let start = Fixture.now * 1000  // a multiple of 5 s: bucket 59 is [start, start + 5 s)
        let now = start + 2_000
        let performance = LiveStatus.Upcoming(id: 7, title: "Gala", startsAt: "2026-12-01T20:00:00Z", seats: 45)
        let labels = Self.labels(seats: 45, sections: 2)
        var states = Array(repeating: "available", count: 45)
        states[3] = "held"
        let digest = try #require(SeatMapDigest(seatMapJSON: Array(Self.seatMapJSON(labels: labels, states: states).utf8)))
        func batch(_ at: Int64, _ queue: QueueName, size: Int, done: Int) -> BatchTiming {
            BatchTiming(endedAtMillis: start + at, queue: queue, size: size, seconds: 0.05, oldestWaitSeconds: 1.25,
                        expired: 0, outcomes: [.reserve: ["done": done]])
        }
        // Newest first, as Redis keeps them.
        let batches = [
            batch(1_000, .performance(7), size: 50, done: 50),       // last bucket
            batch(0, .performance(7), size: 25, done: 25),           // last bucket (its first millisecond)
            batch(-1, .performance(8), size: 10, done: 10),          // the bucket before, another performance
            .expiry(queue: .performance(7), holds: 3, atMillis: start - 3_000),
            batch(-295_000, .performance(7), size: 5, done: 5),      // first bucket
            batch(-295_001, .performance(7), size: 100, done: 100),  // outside the window
        ]
        func render(at now: Int64) -> String {
            LiveStatus.json(
                nowMillis: now,
                performances: [.init(performance: performance, seatMapJSON: digest.json, queueDepth: 12, oldestAcceptedAtMillis: start - 500)],
                generalQueueDepth: 0, generalOldestAcceptedAtMillis: nil,
                fit: BatchCostModel.Fit(costPerRequest: 0.000012, overhead: 0.035), batches: batches
            )
        }
        let status = try Self.object(render(at: now))
        #expect(status["window"] as? [String: Int] == ["seconds": 300, "bucketSeconds": 5])
        #expect(status["lastBatchEndedAtMillis"] as? Int64 == start + 1_000)
        let model = try #require(status["costModel"] as? [String: Double])
        #expect(model["costPerRequestSeconds"] == 0.000012 && model["overheadSeconds"] == 0.035)
        let all = try #require(status["decidedPerSecond"] as? [Double])
        #expect(all.count == 60)
        #expect(all[59] == 15)  // 75 requests in 5 s
        #expect(all[58] == 2)   // 10 in 5 s
        #expect(all[0] == 1)    // 5 in 5 s
        #expect(all.reduce(0, +) == 18)
        // The scatter leaves out the expiry record (size 0) but keeps batches older than the rate window.
        let listed = try #require(status["batches"] as? [[String: Any]])
        #expect(listed.map { $0["size"] as? Int } == [50, 25, 10, 5, 100])
        #expect(status["generalQueue"] as? [String: Double] == ["depth": 0, "oldestWaitSeconds": 0])

        let performances = try #require(status["performances"] as? [[String: Any]])
        #expect(performances.count == 1)
        let gala = performances[0]
        #expect(gala["title"] as? String == "Gala")
        #expect(gala["queue"] as? [String: Double] == ["depth": 12, "oldestWaitSeconds": 2.5])
        let rates = try #require(gala["decidedPerSecond"] as? [Double])
        #expect(rates[59] == 15 && rates[58] == 0 && rates[0] == 1)
        let seatMap = try #require(gala["seatMap"] as? [String: Any])
        #expect(seatMap["counts"] as? [String: Int] == ["available": 44, "held": 1, "sold": 0])
        #expect((seatMap["states"] as? String)?.count == 45)
    }

    @Test("an idle sale renders the same bytes a second later (so viewers get 304), a waiting queue does not")
    func stableWhenIdle() {
        let performance = LiveStatus.Upcoming(id: 1, title: "Idle", startsAt: "2030-01-01T00:00:00Z", seats: 3)
        func render(at now: Int64, waiting: Bool) -> String {
            LiveStatus.json(
                nowMillis: now,
                performances: [.init(performance: performance, seatMapJSON: nil, queueDepth: waiting ? 1 : 0,
                                     oldestAcceptedAtMillis: waiting ? 1_000 : nil)],
                generalQueueDepth: 0, generalOldestAcceptedAtMillis: nil, fit: nil, batches: []
            )
        }
        #expect(render(at: 10_000, waiting: false) == render(at: 14_999, waiting: false))
        #expect(render(at: 10_000, waiting: false) == render(at: 70_000, waiting: false))
        #expect(render(at: 10_000, waiting: true) != render(at: 11_000, waiting: true))
    }

    @Test("no fit, no batches, no seat map yet: nulls, zeros and empty lists, still valid JSON")
    func emptyDocument() throws {
        let json = LiveStatus.json(
            nowMillis: 1_000_000,
            performances: [.init(performance: .init(id: 1, title: "New", startsAt: "2030-01-01T00:00:00Z", seats: 3),
                                 seatMapJSON: nil, queueDepth: 0, oldestAcceptedAtMillis: nil)],
            generalQueueDepth: 2, generalOldestAcceptedAtMillis: 999_000, fit: nil, batches: []
        )
        let status = try Self.object(json)
        #expect(status["costModel"] is NSNull)
        #expect(status["lastBatchEndedAtMillis"] is NSNull)
        #expect((status["batches"] as? [Any])?.isEmpty == true)
        #expect(status["generalQueue"] as? [String: Double] == ["depth": 2, "oldestWaitSeconds": 1])
        let performance = try #require((status["performances"] as? [[String: Any]])?.first)
        #expect(performance["seatMap"] is NSNull)
        #expect(performance["lastBatchEndedAtMillis"] is NSNull)
    }

    @Test("numbers: rounded, never an exponent, never -0")
    func numbers() {
        #expect(LiveStatus.number(0.000012, 9) == "0.000012")
        #expect(LiveStatus.number(2.50, 1) == "2.5")
        #expect(LiveStatus.number(3, 1) == "3")
        #expect(LiveStatus.number(-0.00001, 2) == "0")
        #expect(LiveStatus.number(.nan, 2) == "0")
    }
}
