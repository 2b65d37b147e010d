import Foundation
import Testing
@testable import ReservationCore

/// The row MariaDB keeps per committed batch: what the `request_outcomes` view and a recovering pass read back.
@Suite("Batch records")
struct BatchRecordTests {
    static func array(_ json: String) throws -> [[Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[Any]])
    }

    @Test("outcomes render as positional arrays; a rejection stores no JSON, and its JSON follows from the fields")
    func outcomes() throws {
        var make = RequestMaker()
        let held = Fixture.reservation(1_000, user: 3, seats: [4, 5])
        let reserve = make.reserve(user: 3, seats: [4, 5])
        let taken = make.reserve(user: 4, seats: [5])
        let charge = make.charge(user: 9, amount: 500)
        let pay = make.pay(user: 3, reservation: 1_000)
        let results = [
            RequestResult(request: reserve, outcome: .reservation(held)),
            RequestResult(request: taken, outcome: .rejected(.seatTaken)),
            RequestResult(request: charge, outcome: .balance(500)),
            RequestResult(request: pay, outcome: .rejected(.insufficientBalance)),
        ]
        let rows = try Self.array(BatchRecord.outcomesJSON(results))
        #expect(rows.count == 4)
        for (row, result) in zip(rows, results) {
            #expect(row.count == 7)
            #expect(row[0] as? String == result.request.id.rawValue)
            #expect(row[1] as? String == result.request.kind.rawValue)
            #expect((row[2] as? NSNumber)?.int64Value == result.request.userID)
            #expect(row[3] as? String == result.outcome.label)
            #expect((row[5] as? NSNumber)?.int64Value == result.request.acceptedAtMillis)
            if case .rejected(let reason) = result.outcome {
                #expect(row[6] is NSNull)
                #expect(RequestResult.rejectionJSON(
                    id: result.request.id.rawValue, kind: result.request.kind.rawValue, reason: reason.rawValue
                ) == result.statusJSON)
            } else {
                #expect(row[6] as? String == result.statusJSON, "the status JSON survives quoting exactly")
            }
        }
        #expect((rows[0][4] as? NSNumber)?.int64Value == 1_000, "the reservation a reserve created")
        #expect(rows[1][4] is NSNull && rows[2][4] is NSNull)
        #expect((rows[3][4] as? NSNumber)?.int64Value == 1_000, "the reservation a pay named")
        #expect(try Self.array(BatchRecord.outcomesJSON([])).isEmpty)
    }

    @Test("one request's share of a record stays under the bound the pass sizes batches by")
    func recordBound() {
        let request = QueuedRequest(
            id: RequestID(queue: .performance(.max), random: (.max, .max)), kind: .reserve, userID: .max,
            performanceID: .max, seatIDs: [.max, .max - 1, .max - 2, .max - 3], acceptedAtMillis: .max
        )
        let held = Reservation(
            id: .max, performanceID: .max, userID: .max, seatIDs: request.seatIDs, state: .held, amount: .max,
            holdExpiresAt: 253_402_300_799  // 9999-12-31T23:59:59Z
        )
        let rendered = BatchRecord.outcomesJSON([RequestResult(request: request, outcome: .reservation(held))])
        #expect(rendered.utf8.count - 2 < BatchRecord.maxBytesPerRequest, "\(rendered.utf8.count) bytes: \(rendered)")
    }

    @Test("text that needs escaping is quoted correctly", arguments: [
        "plain", "", #"{"a":"b"}"#, #"\"#, "line\nbreak", "tab\tand \u{1}", "ünïcødé \u{2028}", #"""""#,
    ])
    func quoting(text: String) throws {
        var bytes: [UInt8] = []
        BatchRecord.appendQuoted(text, to: &bytes)
        let parsed = try JSONSerialization.jsonObject(with: Data(("[" + String(decoding: bytes, as: UTF8.self) + "]").utf8))
        #expect((parsed as? [String])?.first == text)
    }

    @Test("decimal numbers render like Swift's own", arguments: [Int64.min, -1, 0, 7, 10, 1_795_550_000_000, .max])
    func decimals(value: Int64) {
        var bytes: [UInt8] = []
        ByteText.appendDecimal(value, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == String(value))
    }

    @Test("forwards keep the target queue and the entry exactly")
    func forwards() throws {
        var make = RequestMaker(queue: .general)
        let request = make.reserve(user: 2, seats: [1, 2])
        let rows = try Self.array(BatchRecord.forwardedJSON([(.performance(7), request)]))
        #expect(rows.count == 1)
        #expect(rows[0][0] as? String == "p7")
        #expect(rows[0][1] as? String == request.wireFormat)
    }

    @Test("the key names the queue and its commit; id lists read back")
    func keysAndIDs() throws {
        #expect(BatchRecord.key(queue: .performance(7), commit: 42) == "p7:42")
        #expect(BatchRecord.key(queue: .general, commit: 1) == "g:1")
        #expect(try BatchRecord.readIDs(BatchRecord.idsJSON([3, 1, 9_223_372_036_854_775_807])) == [3, 1, .max])
        #expect(try BatchRecord.readIDs(BatchRecord.idsJSON([])) == [])
        #expect(throws: BatchRecordError.self) { try BatchRecord.readIDs(#"["x"]"#) }
    }

    @Test("what a record holds reads back exactly: outcomes (rejections' JSON rebuilt) and forwards")
    func readsBack() throws {
        var make = RequestMaker()
        let held = Fixture.reservation(1_000, user: 3, seats: [4, 5])
        let results = [
            RequestResult(request: make.reserve(user: 3, seats: [4, 5]), outcome: .reservation(held)),
            RequestResult(request: make.reserve(user: 4, seats: [5]), outcome: .rejected(.seatTaken)),
            RequestResult(request: make.charge(user: 9, amount: 500), outcome: .balance(500)),
            RequestResult(request: make.pay(user: 3, reservation: 1_000), outcome: .rejected(.internalError)),
        ]
        let outcomes = try BatchRecord.readOutcomes(BatchRecord.outcomesJSON(results))
        #expect(outcomes.map(\.requestID) == results.map(\.request.id))
        #expect(outcomes.map(\.statusJSON) == results.map(\.statusJSON))
        #expect(outcomes.map(\.outcome) == results.map(\.outcome.label))
        #expect(outcomes.map(\.reservationID) == [1_000, nil, nil, 1_000])
        #expect(outcomes.map(\.userID) == [3, 4, 9, 3])
        let forward = make.reserve(user: 5, seats: [1], performance: 9).renumbered(3)
        let forwards = try BatchRecord.readForwards(BatchRecord.forwardedJSON([(.performance(9), forward)]))
        #expect(forwards.count == 1 && forwards[0].queue == .performance(9) && forwards[0].entry == forward.wireFormat)
        // Migration 002 wrote older outcomes with MariaDB's JSON_ARRAY, which puts spaces after commas.
        let legacy = #"[["p1-00000000000000010000000000000002", "reserve", 7, "SEAT_TAKEN", null, 12, null]]"#
        #expect(try BatchRecord.readOutcomes(legacy).first?.outcome == "SEAT_TAKEN")
        #expect(throws: BatchRecordError.self) { try BatchRecord.readOutcomes("[[1,2]]") }
        #expect(throws: BatchRecordError.self) { try BatchRecord.readOutcomes("[[") }
    }
}
