import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IngestService
import TestSupport
import Testing

/// `BearerAuthenticator`: the token decides the user (or a 401), the user's bucket decides 429, and nothing behind
/// a refusal runs.
@Suite("Authentication and per-user limits")
struct AuthenticationTests {
    @Test func badTokensAre401() async throws {
        let harness = try RouterHarness()
        let secret = RouterHarness.secret
        let now = harness.clock.now
        let valid = #"{"sub":"7","iat":\#(now),"exp":\#(now + 600)}"#
        try await harness.run { client in
            // The signer below is the tests' own: it must produce tokens the ingest accepts, or every refusal that
            // follows would prove nothing.
            let good = try await client.send(.get, "/v1/me/balance", token: HandSignedToken.make(claims: valid, secret: secret))
            #expect(good.status == .ok, "a correctly signed hand-made token answered \(good.status)")

            let otherSecret = "0123456789abcdef0123456789abcdef"
            let refused: [(String, String?)] = [
                ("no Authorization header", nil),
                ("empty bearer", ""),
                ("garbage", "not-a-jwt"),
                ("two parts", "abc.def"),
                ("signed with another 32-byte secret", HandSignedToken.make(claims: valid, secret: otherSecret)),
                ("alg none, no signature", HandSignedToken.make(header: #"{"alg":"none","typ":"JWT"}"#, claims: valid, signature: "")),
                ("alg none, signed anyway", HandSignedToken.make(header: #"{"alg":"none","typ":"JWT"}"#, claims: valid, secret: secret)),
                ("alg HS512", HandSignedToken.make(header: #"{"alg":"HS512","typ":"JWT"}"#, claims: valid, secret: secret)),
                ("alg hs256 (case)", HandSignedToken.make(header: #"{"alg":"hs256","typ":"JWT"}"#, claims: valid, secret: secret)),
                ("signature of another token", HandSignedToken.make(
                    claims: valid, secret: secret,
                    signature: String(HandSignedToken.make(claims: #"{"sub":"8","exp":\#(now + 600)}"#, secret: secret).split(separator: ".")[2])
                )),
                ("expired", HandSignedToken.make(claims: #"{"sub":"7","iat":\#(now - 7200),"exp":\#(now - 3600)}"#, secret: secret)),
                ("no exp", HandSignedToken.make(claims: #"{"sub":"7","iat":\#(now)}"#, secret: secret)),
                ("nbf in the future", HandSignedToken.make(claims: #"{"sub":"7","iat":\#(now),"nbf":\#(now + 3600),"exp":\#(now + 7200)}"#, secret: secret)),
                ("sub 0", HandSignedToken.make(claims: #"{"sub":"0","exp":\#(now + 600)}"#, secret: secret)),
                ("sub abc", HandSignedToken.make(claims: #"{"sub":"abc","exp":\#(now + 600)}"#, secret: secret)),
                ("sub -7", HandSignedToken.make(claims: #"{"sub":"-7","exp":\#(now + 600)}"#, secret: secret)),
                ("sub 07", HandSignedToken.make(claims: #"{"sub":"07","exp":\#(now + 600)}"#, secret: secret)),
                ("sub as a number", HandSignedToken.make(claims: #"{"sub":7,"exp":\#(now + 600)}"#, secret: secret)),
                ("no sub", HandSignedToken.make(claims: #"{"exp":\#(now + 600)}"#, secret: secret)),
            ]
            for (name, token) in refused {
                for (method, path, body) in [
                    (HTTPRequest.Method.get, "/v1/me/balance", nil), (.get, "/v1/requests/g-00000000000000000000000000000000", nil),
                    (.get, "/v1/reservations/1", nil), (.post, "/v1/me/balance/charges", #"{"amount":100}"#),
                    (.post, "/v1/performances/1/reservations", #"{"seatIds":[1]}"#), (.delete, "/v1/reservations/1", nil),
                ] as [(HTTPRequest.Method, String, String?)] {
                    let answer = try await client.send(method, path, token: token, json: body)
                    #expect(answer.status == .unauthorized, "\(name): \(method) \(path) answered \(answer.status)")
                    #expect(answer.headers[.wwwAuthenticate] == "Bearer", "\(name): no WWW-Authenticate")
                    answer.expectError("UNAUTHORIZED", "\(name): \(method) \(path)")
                }
            }
            let basic = try await client.send(.get, "/v1/me/balance", headers: ["Authorization": "Basic dXNlcjpwYXNz"])
            #expect(basic.status == .unauthorized)
        }
        #expect(harness.store.queued.isEmpty)
    }

    /// Issue 14 item 9: a token the ingest has seen while valid (and so remembers) is refused once past its `exp`
    /// (and the 5 s clock-skew leeway), through the whole HTTP path.
    @Test func aTokenUsedWhileValidIsRefusedAfterItExpires() async throws {
        let harness = try RouterHarness()
        let token = try harness.token(user: 3, ttl: 60)
        try await harness.run { client in
            #expect(try await client.send(.get, "/v1/me/balance", token: token).status == .ok)
            harness.clock.advance(59)
            #expect(try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":5}"#).status == .accepted)
            harness.clock.advance(6)  // exp + 5 s
            let late = try await client.send(.get, "/v1/me/balance", token: token)
            #expect(late.status == .unauthorized)
            #expect((late.json?["error"] as? [String: Any])?["message"] as? String == "the bearer token has expired")
            #expect(try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":5}"#).status == .unauthorized)
            // A fresh token for the same user works at once.
            #expect(try await client.send(.get, "/v1/me/balance", token: try harness.token(user: 3)).status == .ok)
        }
        #expect(harness.store.queued.count == 1)
    }

    /// The default limit (10/s, bursts of 20): a flood from one user is cut with 429 and Retry-After; a burst of 20
    /// and a steady 10/s afterwards never are, and other users are not slowed by the flood.
    @Test func perUserLimitCutsAFloodButNeverABurstOfTwenty() async throws {
        let harness = try RouterHarness { configuration in
            let defaults = IngestConfiguration(redisURL: configuration.redisURL, jwtSecret: configuration.jwtSecret)
            configuration.rateLimitPerSecond = defaults.rateLimitPerSecond
            configuration.rateLimitBurst = defaults.rateLimitBurst
        }
        #expect(harness.configuration.rateLimitPerSecond == 10 && harness.configuration.rateLimitBurst == 20)
        try await harness.run { client in
            func burst(_ token: String, _ count: Int) async throws -> [HTTPResponse.Status] {
                try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for _ in 0..<count { group.addTask { try await client.send(.get, "/v1/me/balance", token: token).status } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            let buyer = try harness.token(user: 10)
            let first = try await burst(buyer, 20)
            #expect(first.allSatisfy { $0 == .ok }, "a burst of 20: \(first)")
            var steady: [HTTPResponse.Status] = []
            for _ in 0..<20 {
                harness.clock.advance(0.125)
                steady.append(try await client.send(.get, "/v1/me/balance", token: buyer).status)
            }
            #expect(steady.allSatisfy { $0 == .ok }, "8 requests/s (under the limit of 10) after a burst: \(steady)")

            // A flood: 60 at once, 10 of them writes.
            let flooder = try harness.token(user: 11)
            let flood = try await withThrowingTaskGroup(of: (Bool, Answer).self) { group in
                for index in 0..<60 {
                    group.addTask {
                        index % 6 == 0
                            ? (true, try await client.send(.post, "/v1/me/balance/charges", token: flooder, json: #"{"amount":100}"#))
                            : (false, try await client.send(.get, "/v1/me/balance", token: flooder))
                    }
                }
                return try await group.reduce(into: [(Bool, Answer)]()) { $0.append($1) }
            }
            let limited = flood.filter { $0.1.status == .tooManyRequests }
            #expect(!limited.isEmpty, "60 requests at once were all served")
            #expect(flood.allSatisfy { [.ok, .accepted, .tooManyRequests].contains($0.1.status) })
            #expect(flood.count - limited.count >= 20, "at least the burst of 20 is served: \(flood.count - limited.count)")
            for (_, answer) in limited {
                #expect((Int(answer.headers[.retryAfter] ?? "") ?? 0) >= 1, "Retry-After: \(answer.headers[.retryAfter] ?? "missing")")
                answer.expectError("RATE_LIMITED", "429")
            }
            // A refused write queued nothing: the store holds exactly the writes answered 202.
            let acceptedWrites = flood.filter { $0.0 && $0.1.status == .accepted }.count
            #expect(harness.store.queued.count == acceptedWrites)

            let other = try await burst(try harness.token(user: 12), 20)
            #expect(other.allSatisfy { $0 == .ok }, "another user during the flood: \(other)")
        }
    }
}
