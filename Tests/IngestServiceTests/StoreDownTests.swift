import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IngestService
import TestSupport
import Testing

/// A store that cannot be reached: 503 with the contract's body for everything that needs it, `/healthz` 503 with
/// its own body, and what needs no store still answered for what it is. (A real ingest over a Redis that is down:
/// IntegrationTests' HostileInput and Faults suites.)
@Suite("Store unreachable")
struct StoreDownTests {
    @Test func everythingThatNeedsTheStoreIs503() async throws {
        let store = MemoryIntakeStore()
        store.update { $0.unreachable = true }
        let harness = try RouterHarness(store: store)
        let token = try harness.token(user: 1)
        try await harness.run { client in
            let health = try await client.send(.get, "/healthz")
            #expect(health.status == .serviceUnavailable)
            #expect(health.json as? [String: String] == ["status": "unavailable", "redis": "unreachable"])
            for (method, path, body) in [
                (HTTPRequest.Method.post, "/v1/performances/1/reservations", #"{"seatIds":[1]}"#),
                (.post, "/v1/reservations/1/payment", "{}"), (.delete, "/v1/reservations/1", nil),
                (.post, "/v1/me/balance/charges", #"{"amount":100}"#), (.get, "/v1/me/balance", nil),
                (.get, "/v1/requests/g-00000000000000000000000000000000", nil), (.get, "/v1/reservations/1", nil),
                (.get, "/v1/performances", nil), (.get, "/v1/performances/1/seats", nil), (.get, "/v1/status", nil),
            ] as [(HTTPRequest.Method, String, String?)] {
                let answer = try await client.send(method, path, token: token, json: body)
                #expect(answer.status == .serviceUnavailable, "\(method) \(path) answered \(answer.status)")
                answer.expectError("UNAVAILABLE", "\(method) \(path)")
            }
            #expect(try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":0}"#).status == .badRequest)
            #expect(try await client.send(.post, "/v1/me/balance/charges", json: #"{"amount":100}"#).status == .unauthorized)
            #expect(try await client.send(.put, "/v1/me/balance", token: token).status == .methodNotAllowed)
            #expect(try await client.send(.get, "/").status == .ok, "the page itself needs no store")
        }
    }
}
