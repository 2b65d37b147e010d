import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IngestService
import TestSupport
import Testing

/// Paths and methods: 404 for what is not there, 405 with `Allow` for a known path's other methods (with or without
/// a token), and public routes that ignore any token.
@Suite("Routing")
struct RoutingTests {
    @Test func unknownRoutesAre404AndWrongMethodsAre405WithAllow() async throws {
        let harness = try RouterHarness()
        let token = try harness.token(user: 1)
        try await harness.run { client in
            for (method, path) in [
                (HTTPRequest.Method.get, "/index.html"), (.get, "/v1"), (.get, "/v1/nothing"), (.get, "/v1/status/x"),
                (.get, "/v1/performances/1"), (.post, "/v1/performances/1"), (.get, "/v1/performances/1/seats/extra"),
                (.get, "/v2/me/balance"), (.get, "/v1/me"), (.post, "/v1/me/balance/charges/1"), (.get, "/healthz/x"),
                (.get, "/.env"),
            ] {
                let answer = try await client.send(method, path, token: token)
                #expect(answer.status == .notFound, "\(method) \(path) answered \(answer.status)")
                answer.expectError("NOT_FOUND", "\(method) \(path)")
            }
            for (method, path, allowed) in [
                (HTTPRequest.Method.put, "/v1/me/balance", ["GET"]), (.delete, "/v1/me/balance", ["GET"]),
                (.get, "/v1/me/balance/charges", ["POST"]), (.put, "/v1/me/balance/charges", ["POST"]),
                (.patch, "/v1/reservations/1", ["DELETE", "GET"]), (.post, "/v1/reservations/1", ["DELETE", "GET"]),
                (.get, "/v1/reservations/1/payment", ["POST"]), (.get, "/v1/performances/1/reservations", ["POST"]),
                (.delete, "/v1/performances", ["GET"]), (.post, "/v1/performances/1/seats", ["GET"]),
                (.delete, "/v1/requests/g-00000000000000000000000000000000", ["GET"]), (.post, "/healthz", ["GET"]),
                (.post, "/", ["GET"]), (.delete, "/v1/status", ["GET"]), (.put, "/metrics", ["GET"]),
            ] {
                for token in [token, nil] {
                    let answer = try await client.send(method, path, token: token)
                    #expect(answer.status == .methodNotAllowed, "\(method) \(path) answered \(answer.status)")
                    let allow = Set((answer.headers[.allow] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                    #expect(allow == Set(allowed), "\(method) \(path): Allow \(answer.headers[.allow] ?? "missing")")
                    answer.expectError("METHOD_NOT_ALLOWED", "\(method) \(path)")
                }
            }
        }
        #expect(harness.store.queued.isEmpty)
    }

    @Test func publicRoutesIgnoreAnyToken() async throws {
        let store = MemoryIntakeStore()
        store.update {
            $0.seatMaps[4] = Array(#"{"performanceId":4,"asOf":"2026-11-24T20:00:00Z","seats":[]}"#.utf8)
            $0.performanceList = Array(#"{"performances":[{"id":4}]}"#.utf8)
        }
        let harness = try RouterHarness(store: store)
        let expired = HandSignedToken.make(claims: #"{"sub":"1","exp":1}"#, secret: RouterHarness.secret)
        try await harness.run { client in
            for token in ["garbage", "a.b.c", expired, try harness.token(user: 3), nil] {
                for path in ["/v1/performances", "/v1/performances/4/seats", "/healthz", "/", "/v1/status", "/metrics"] {
                    let answer = try await client.send(.get, path, token: token)
                    #expect(answer.status == .ok, "GET \(path) with token \(token?.prefix(12) ?? "none") answered \(answer.status)")
                }
            }
        }
    }
}
