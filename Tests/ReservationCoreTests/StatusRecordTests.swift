import Foundation
import Testing
@testable import ReservationCore

/// What `GET /v1/requests/{id}` reads: the stored status record and the JSON bodies built from results.
@Suite("Request status records")
struct StatusRecordTests {
    static let id = RequestID(queue: .performance(1), random: (0xABC, 0xDEF))

    static func object(_ json: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test("queued and final records read from their stored form, as the Redis scripts write it")
    func storedForm() {
        let records: [(stored: String, status: RequestStatus)] = [
            ("Q|42|reserve|1|0", .queued(userID: 42, kind: .reserve, sequence: 1, position: 0, queue: nil)),
            ("Q|\(Int64.max)|charge|9000000000|12", .queued(userID: .max, kind: .charge, sequence: 9_000_000_000, position: 12, queue: nil)),
            ("Q|42|pay|3|2|\(QueueName.performance(17).tag)", .queued(userID: 42, kind: .pay, sequence: 3, position: 2, queue: .performance(17))),
            ("Q|42|pay|3|1", .queued(userID: 42, kind: .pay, sequence: 3, position: 1, queue: nil)),
            ("Q|42|pay|3|1|g", .queued(userID: 42, kind: .pay, sequence: 3, position: 1, queue: .general)),
            (#"F|42|{"requestId":"x","status":"rejected","reason":"SEAT_TAKEN"}"#,
             .final(userID: 42, json: #"{"requestId":"x","status":"rejected","reason":"SEAT_TAKEN"}"#)),
            (#"F|7|{"title":"a|b|c"}"#, .final(userID: 7, json: #"{"title":"a|b|c"}"#)),  // a `|` inside the JSON belongs to the JSON
            ("F|7|", .final(userID: 7, json: "")),
        ]
        for record in records {
            #expect(RequestStatus(stored: record.stored) == record.status, "\(record.stored)")
        }
        #expect(RequestStatus.finalPrefix(userID: 42) + "{}" == "F|42|{}")
        #expect(RequestStatus.final(userID: 5, json: "{}").userID == 5)
    }

    @Test(
        "unreadable records are refused",
        arguments: ["", "Q", "Q|42", "Q|42|reserve", "Q|42|reserve|x", "Q|42|refund|1|0", "Q|42|reserve|1",
                    "Q|42|reserve|1|2|x7", "Q|42|reserve|1|2|p7|", "Q|42|reserve|1|x",
                    "X|42|{}", "F|abc|{}", "F||{}", "F|42"]
    )
    func unreadableRecords(text: String) {
        #expect(RequestStatus(stored: text) == nil)
    }

    @Test("a done reserve carries the reservation as the contract shows it")
    func doneReserveJSON() throws {
        let reservation = Reservation(
            id: 991, performanceID: 1, userID: 42, seatIDs: [5, 6], state: .held, amount: 100_000,
            holdExpiresAt: 1_795_550_400
        )
        let request = QueuedRequest(id: Self.id, kind: .reserve, userID: 42, performanceID: 1, seatIDs: [5, 6], acceptedAtMillis: 0)
        let json = RequestResult(request: request, outcome: .reservation(reservation)).statusJSON
        #expect(json == #"{"requestId":"p1-0000000000000abc0000000000000def","kind":"reserve","status":"done","#
            + #""reservation":{"id":991,"performanceId":1,"seatIds":[5,6],"state":"held","amount":100000,"#
            + #""holdExpiresAt":"2026-11-24T20:00:00Z"}}"#)
        let body = try Self.object(json)
        #expect(body["status"] as? String == "done")
    }

    @Test("a done charge carries the balance; a rejection carries its reason")
    func chargeAndRejectionJSON() throws {
        let charge = QueuedRequest(id: Self.id, kind: .charge, userID: 42, amount: 500, acceptedAtMillis: 0)
        let done = try Self.object(RequestResult(request: charge, outcome: .balance(1_500)).statusJSON)
        #expect(done["kind"] as? String == "charge")
        #expect(done["status"] as? String == "done")
        #expect(done["balance"] as? Int == 1_500)

        for reason in RejectionReason.allCases {
            let rejected = try Self.object(RequestResult(request: charge, outcome: .rejected(reason)).statusJSON)
            #expect(rejected["status"] as? String == "rejected")
            #expect(rejected["reason"] as? String == reason.rawValue)
            #expect(RequestOutcome.rejected(reason).label == reason.rawValue)
        }
        #expect(RequestOutcome.balance(1).label == "done")
    }

    @Test("a queued body never shows a negative position or ETA, and rounds the ETA to a tenth")
    func queuedJSON() throws {
        let body = try Self.object(RequestStatus.queuedJSON(id: Self.id, kind: .pay, position: 1_234, etaSeconds: 3.2449))
        #expect(body["status"] as? String == "queued")
        #expect(body["position"] as? Int == 1_234)
        #expect(body["etaSeconds"] as? Double == 3.2)
        let clamped = try Self.object(RequestStatus.queuedJSON(id: Self.id, kind: .pay, position: -5, etaSeconds: -1))
        #expect(clamped["position"] as? Int == 0)
        #expect(clamped["etaSeconds"] as? Double == 0)
    }

    @Test("reason codes and kinds are the contract's strings")
    func contractStrings() {
        #expect(RejectionReason.allCases.map(\.rawValue).sorted() == [
            "ALREADY_CANCELLED", "ALREADY_PAID", "HOLD_EXPIRED", "INSUFFICIENT_BALANCE", "INTERNAL_ERROR", "NOT_OWNER",
            "PERFORMANCE_STARTED", "PERFORMANCE_UNKNOWN", "RESERVATION_UNKNOWN", "SEAT_TAKEN", "SEAT_UNKNOWN", "USER_LIMIT",
        ])
        #expect(RequestKind.allCases.map(\.rawValue) == ["reserve", "pay", "cancel", "charge"])
        #expect(ReservationState.held.isLive && ReservationState.confirmed.isLive)
        #expect(!ReservationState.expired.isLive && !ReservationState.cancelled.isLive)
    }

    @Test("JSON strings are escaped so any title stays valid JSON")
    func jsonTextQuoting() throws {
        let nasty = "Quote \" back\\slash\nnew\tline \u{01} \u{2028} Ünïcødé 🎵"
        let json = "{\"t\":" + JSONText.quoted(nasty) + "}"
        let body = try Self.object(json)
        #expect(body["t"] as? String == nasty)
        #expect(JSONText.quoted("a\u{01}") == #""a\u0001""#)
        #expect(!JSONText.quoted("\u{2028}").unicodeScalars.contains("\u{2028}"))
    }
}
