import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IngestService
import ReservationCore
import TestSupport
import Testing

/// What a careless or hostile client can put in a write, and what it gets back: the contract's synchronous errors
/// with the contract's body, and nothing queued by any of them.
@Suite("Request shapes")
struct RequestShapeTests {
    @Test func malformedAndOutOfRangeBodiesAre400AndQueueNothing() async throws {
        let harness = try RouterHarness()
        let token = try harness.token(user: 1)
        let reserve = "/v1/performances/7/reservations"
        try await harness.run { client in
            let refused: [(String, String)] = [
                (reserve, #"{"seatIds":[1,"#), (reserve, "not json"), (reserve, ""), (reserve, "{}"),
                (reserve, #"{"seatIds":"1"}"#), (reserve, #"{"seatIds":null}"#), (reserve, #"{"seatIds":[]}"#),
                (reserve, #"{"seatIds":[1,2,3,4,5]}"#), (reserve, #"{"seatIds":[3,3]}"#), (reserve, #"{"seatIds":[1,2,1]}"#),
                (reserve, #"{"seatIds":[0]}"#), (reserve, #"{"seatIds":[-1]}"#), (reserve, #"{"seatIds":[1.5]}"#),
                (reserve, #"{"seatIds":["1"]}"#), (reserve, #"{"seatIds":[9223372036854775808]}"#),
                (reserve, #"[{"seatIds":[1]}]"#),
                ("/v1/performances/0/reservations", #"{"seatIds":[1]}"#),
                ("/v1/performances/abc/reservations", #"{"seatIds":[1]}"#),
                ("/v1/performances/-3/reservations", #"{"seatIds":[1]}"#),
                ("/v1/me/balance/charges", #"{"amount":0}"#), ("/v1/me/balance/charges", #"{"amount":10000001}"#),
                ("/v1/me/balance/charges", #"{"amount":-5}"#), ("/v1/me/balance/charges", #"{"amount":1.5}"#),
                ("/v1/me/balance/charges", #"{"amount":"100"}"#), ("/v1/me/balance/charges", #"{"amount":1e300}"#),
                ("/v1/me/balance/charges", "{}"),
                ("/v1/reservations/1/payment", "[]"), ("/v1/reservations/1/payment", "5"),
                ("/v1/reservations/1/payment", #""{}""#), ("/v1/reservations/1/payment", "{"),
                ("/v1/reservations/0/payment", "{}"),
            ]
            for (path, body) in refused {
                let answer = try await client.send(.post, path, token: token, json: body)
                #expect(answer.status == .badRequest, "POST \(path) \(body) answered \(answer.status)")
                answer.expectError("BAD_REQUEST", "POST \(path) \(body)")
            }
            let cancel = try await client.send(.delete, "/v1/reservations/abc", token: token)
            #expect(cancel.status == .badRequest)
            cancel.expectError("BAD_REQUEST", "DELETE /v1/reservations/abc")
            #expect(harness.store.queued.isEmpty, "a refused write was queued")

            // The edges of the ranges are accepted.
            for (path, body) in [
                (reserve, #"{"seatIds":[1,2,3,4]}"#), (reserve, #"{"seatIds":[20]}"#),
                ("/v1/me/balance/charges", #"{"amount":1}"#), ("/v1/me/balance/charges", #"{"amount":10000000}"#),
                ("/v1/reservations/1/payment", "{}"), ("/v1/reservations/1/payment", #"{"note":"ignored"}"#),
                // Not the compact form: read by the JSON decoder, with the same result.
                (reserve, #"{ "seatIds" : [ 5 , 6 ], "x": 1 }"#), ("/v1/me/balance/charges", #"{"amount": 25, "note": "gift"}"#),
            ] {
                let answer = try await client.send(.post, path, token: token, json: body)
                #expect(answer.status == .accepted, "POST \(path) \(body) answered \(answer.status)")
            }
            let empty = try await client.send(.post, "/v1/reservations/1/payment", token: token)
            #expect(empty.status == .accepted, "a payment with no body at all is `{}`")
        }
        let queued = harness.store.queued
        #expect(queued.count == 9)
        #expect(Set(queued.filter { $0.kind == .reserve }.map(\.seatIDs)) == [[1, 2, 3, 4], [20], [5, 6]])
        #expect(Set(queued.filter { $0.kind == .charge }.map(\.amount)) == [1, 10_000_000, 25])
        #expect(queued.allSatisfy { $0.userID == 1 })
    }

    @Test func oversizedBodiesAre413AndNonJSONIs415() async throws {
        let harness = try RouterHarness()
        let token = try harness.token(user: 1)
        let limit = 16 * 1024
        try await harness.run { client in
            // One byte over 16 KiB, as valid JSON (whitespace), and as a huge seat list.
            let padded = #"{"amount":100"# + String(repeating: " ", count: limit + 1 - 14) + "}"
            #expect(padded.utf8.count == limit + 1)
            let manySeats = #"{"seatIds":["# + (1...5_000).map(String.init).joined(separator: ",") + "]}"
            for (path, body) in [
                ("/v1/me/balance/charges", padded), ("/v1/performances/7/reservations", manySeats),
                ("/v1/reservations/1/payment", "{" + String(repeating: " ", count: 64 * 1024) + "}"),
            ] {
                let answer = try await client.send(.post, path, token: token, json: body)
                #expect(answer.status == .contentTooLarge, "POST \(path) with \(body.utf8.count) bytes answered \(answer.status)")
                answer.expectError("BODY_TOO_LARGE", "POST \(path) (\(body.utf8.count) bytes)")
            }
            // JSON with parameters or in another case is JSON.
            for contentType in ["application/json; charset=utf-8", "Application/JSON", "application/json ; charset=UTF-8"] {
                let answer = try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":100}"#, contentType: contentType)
                #expect(answer.status == .accepted, "Content-Type \(contentType) answered \(answer.status)")
            }
            // Exactly 16 KiB is still accepted.
            let atLimit = #"{"amount":100"# + String(repeating: " ", count: limit - 14) + "}"
            #expect(try await client.send(.post, "/v1/me/balance/charges", token: token, json: atLimit).status == .accepted)

            // A JSON body sent as something else is refused for its type, whatever it holds.
            for contentType in [
                "text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x",
                "application/jsonx", "application/json-seq", "text/json",
            ] {
                for (path, body) in [
                    ("/v1/performances/7/reservations", #"{"seatIds":[1]}"#), ("/v1/me/balance/charges", #"{"amount":100}"#),
                    ("/v1/reservations/1/payment", "{}"),
                ] {
                    let answer = try await client.send(.post, path, token: token, json: body, contentType: contentType)
                    #expect(answer.status == .unsupportedMediaType, "POST \(path) as \(contentType) answered \(answer.status)")
                    answer.expectError("UNSUPPORTED_MEDIA_TYPE", "POST \(path) as \(contentType)")
                }
            }
            // No Content-Type at all on a body.
            let untyped = try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":100}"#, contentType: nil)
            #expect(untyped.status == .unsupportedMediaType)
        }
        // Only the three JSON charges and the one at the limit were queued.
        #expect(harness.store.queued.count == 4)
        #expect(harness.store.queued.allSatisfy { $0.kind == .charge && $0.amount == 100 })
    }

    @Test func idempotencyKeyIsCheckedAndItsReplayMarked() async throws {
        let harness = try RouterHarness()
        let token = try harness.token(user: 1)
        try await harness.run { client in
            for key in [String(repeating: "k", count: 129), "has space", "tab\there", "é"] {
                let answer = try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":5}"#, headers: ["Idempotency-Key": key])
                #expect(answer.status == .badRequest, "Idempotency-Key '\(key.prefix(20))' answered \(answer.status)")
                answer.expectError("BAD_REQUEST", "Idempotency-Key")
            }
            #expect(harness.store.queued.isEmpty)
            let first = try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":5}"#, headers: ["Idempotency-Key": "k-1"])
            let again = try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":5}"#, headers: ["Idempotency-Key": "k-1"])
            #expect(first.status == .accepted && again.status == .accepted)
            #expect(first.headers[.init("Idempotent-Replayed")!] == nil)
            #expect(again.headers[.init("Idempotent-Replayed")!] == "true")
            #expect(first.json?["requestId"] as? String == again.json?["requestId"] as? String)
            #expect(first.json?.keys.sorted() == ["requestId", "status"], "a charge's 202 has no position: \(first.text)")
        }
        #expect(harness.store.queued.count == 1)
    }

    @Test func reservesGoToTheirPerformancesQueueOnceKnownAndPaysFollowTheirReservation() async throws {
        let store = MemoryIntakeStore()
        store.update {
            $0.performances = [7]
            $0.reservations[55] = (userID: 1, performanceID: 7, json: "{}")
        }
        let harness = try RouterHarness(store: store)
        let token = try harness.token(user: 1)
        try await harness.run { client in
            let known = try await client.send(.post, "/v1/performances/7/reservations", token: token, json: #"{"seatIds":[1]}"#)
            let unknown = try await client.send(.post, "/v1/performances/8/reservations", token: token, json: #"{"seatIds":[1]}"#)
            #expect(known.requestID.hasPrefix("p7-"), "\(known.text)")
            #expect(unknown.requestID.hasPrefix("g-"), "\(unknown.text)")
            #expect(known.json?["position"] as? Int == 0 && unknown.json?["position"] as? Int == 0)
            let pay = try await client.send(.post, "/v1/reservations/55/payment", token: token, json: "{}")
            let cancelUnknown = try await client.send(.delete, "/v1/reservations/56", token: token)
            #expect(pay.requestID.hasPrefix("p7-"))
            #expect(cancelUnknown.requestID.hasPrefix("g-"))
        }
    }
}
