import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

/// What a hostile or careless client can send to a real `concert-ingest`, and what it gets back: the
/// contract's synchronous errors with the contract's body, and nothing queued by any of them.
extension IntegrationSuite {
    @Suite(.serialized) struct HostileInput {
        // MARK: Bodies

        @Test func malformedAndOutOfRangeBodiesAre400AndQueueNothing() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 20)
            let ingest = try await IngestHarness(environment: Self.unlimited)
            defer { ingest.stop() }
            let token = try Stack.token(user: 1)
            let reserve = "/v1/performances/\(performance)/reservations"

            let refused: [(String, String)] = [
                (reserve, #"{"seatIds":[1,"#),
                (reserve, "not json"),
                (reserve, ""),
                (reserve, "{}"),
                (reserve, #"{"seatIds":"1"}"#),
                (reserve, #"{"seatIds":null}"#),
                (reserve, #"{"seatIds":[]}"#),
                (reserve, #"{"seatIds":[1,2,3,4,5]}"#),
                (reserve, #"{"seatIds":[3,3]}"#),
                (reserve, #"{"seatIds":[1,2,1]}"#),
                (reserve, #"{"seatIds":[0]}"#),
                (reserve, #"{"seatIds":[-1]}"#),
                (reserve, #"{"seatIds":[1.5]}"#),
                (reserve, #"{"seatIds":["1"]}"#),
                (reserve, #"{"seatIds":[9223372036854775808]}"#),
                (reserve, #"[{"seatIds":[1]}]"#),
                ("/v1/performances/0/reservations", #"{"seatIds":[1]}"#),
                ("/v1/performances/abc/reservations", #"{"seatIds":[1]}"#),
                ("/v1/performances/-3/reservations", #"{"seatIds":[1]}"#),
                ("/v1/me/balance/charges", #"{"amount":0}"#),
                ("/v1/me/balance/charges", #"{"amount":10000001}"#),
                ("/v1/me/balance/charges", #"{"amount":-5}"#),
                ("/v1/me/balance/charges", #"{"amount":1.5}"#),
                ("/v1/me/balance/charges", #"{"amount":"100"}"#),
                ("/v1/me/balance/charges", #"{"amount":1e300}"#),
                ("/v1/me/balance/charges", "{}"),
                ("/v1/reservations/1/payment", "[]"),
                ("/v1/reservations/1/payment", "5"),
                ("/v1/reservations/1/payment", #""{}""#),
                ("/v1/reservations/1/payment", "{"),
                ("/v1/reservations/0/payment", "{}"),
            ]
            for (path, body) in refused {
                let (status, headers, data) = try await ingest.raw("POST", path, token: token, body: Data(body.utf8))
                #expect(status == 400, "POST \(path) \(body) answered \(status)")
                Self.expectErrorBody(data, headers, code: "BAD_REQUEST", "POST \(path) \(body)")
            }
            let (status, _, data) = try await ingest.raw("DELETE", "/v1/reservations/abc", token: token)
            #expect(status == 400)
            Self.expectErrorBody(data, [:], code: "BAD_REQUEST", "DELETE /v1/reservations/abc")

            // None of them reached Redis.
            #expect(try Self.queueCounts(.performance(performance)) == Self.QueueCounts(accepted: 0, pending: 0))
            #expect(try Self.queueCounts(.general) == Self.QueueCounts(accepted: 0, pending: 0))

            // The edges of the ranges are accepted.
            for (path, body) in [
                (reserve, #"{"seatIds":[1,2,3,4]}"#), (reserve, #"{"seatIds":[20]}"#),
                ("/v1/me/balance/charges", #"{"amount":1}"#), ("/v1/me/balance/charges", #"{"amount":10000000}"#),
                ("/v1/reservations/1/payment", "{}"), ("/v1/reservations/1/payment", #"{"note":"ignored"}"#),
            ] {
                let (status, _) = try await ingest.send("POST", path, token: token, json: body)
                #expect(status == 202, "POST \(path) \(body) answered \(status)")
            }
            let (empty, _, _) = try await ingest.raw("POST", "/v1/reservations/1/payment", token: token)
            #expect(empty == 202, "a payment with no body at all is `{}`")
        }

        @Test func oversizedBodiesAre413AndNonJSONIs415() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 20)
            let ingest = try await IngestHarness(environment: Self.unlimited)
            defer { ingest.stop() }
            let token = try Stack.token(user: 1)
            let limit = 16 * 1024

            // One byte over 16 KiB, as valid JSON (whitespace), and as a huge seat list.
            let padded = #"{"amount":100"# + String(repeating: " ", count: limit + 1 - 14) + "}"
            #expect(padded.utf8.count == limit + 1)
            let manySeats = #"{"seatIds":["# + (1...5_000).map(String.init).joined(separator: ",") + "]}"
            for (path, body) in [
                ("/v1/me/balance/charges", padded), ("/v1/performances/\(performance)/reservations", manySeats),
                ("/v1/reservations/1/payment", "{" + String(repeating: " ", count: 64 * 1024) + "}"),
            ] {
                let (status, headers, data) = try await ingest.raw("POST", path, token: token, body: Data(body.utf8))
                #expect(status == 413, "POST \(path) with \(body.utf8.count) bytes answered \(status)")
                Self.expectErrorBody(data, headers, code: "BODY_TOO_LARGE", "POST \(path) (\(body.utf8.count) bytes)")
            }
            // JSON with parameters or in other case is JSON.
            for contentType in ["application/json; charset=utf-8", "Application/JSON", "application/json ; charset=UTF-8"] {
                let (status, _, _) = try await ingest.raw(
                    "POST", "/v1/me/balance/charges", token: token, body: Data(#"{"amount":100}"#.utf8), contentType: contentType
                )
                #expect(status == 202, "Content-Type \(contentType) answered \(status)")
            }
            // Exactly 16 KiB is still accepted.
            let atLimit = #"{"amount":100"# + String(repeating: " ", count: limit - 14) + "}"
            #expect(atLimit.utf8.count == limit)
            let (status, _, _) = try await ingest.raw("POST", "/v1/me/balance/charges", token: token, body: Data(atLimit.utf8))
            #expect(status == 202, "a body of exactly 16 KiB answered \(status)")

            // A JSON body sent as something else is refused for its type, whatever it holds.
            for contentType in [
                "text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x",
                "application/jsonx", "application/json-seq", "text/json",
            ] {
                for (path, body) in [
                    ("/v1/performances/\(performance)/reservations", #"{"seatIds":[1]}"#),
                    ("/v1/me/balance/charges", #"{"amount":100}"#),
                    ("/v1/reservations/1/payment", "{}"),
                ] {
                    let (status, headers, data) = try await ingest.raw(
                        "POST", path, token: token, body: Data(body.utf8), contentType: contentType
                    )
                    #expect(status == 415, "POST \(path) as \(contentType) answered \(status)")
                    Self.expectErrorBody(data, headers, code: "UNSUPPORTED_MEDIA_TYPE", "POST \(path) as \(contentType)")
                }
            }
            // Only the three JSON charges and the one at the limit were queued.
            #expect(try Self.queueCounts(.general).accepted == 4)
            #expect(try Self.queueCounts(.performance(performance)) == Self.QueueCounts(accepted: 0, pending: 0))
        }

        // MARK: Tokens

        @Test func badTokensAre401() async throws {
            try Stack.reset()
            let ingest = try await IngestHarness(environment: Self.unlimited)
            defer { ingest.stop() }
            let secret = try Stack.environment("CONCERT_JWT_SECRET")
            let now = Int64(Date().timeIntervalSince1970)
            let valid = #"{"sub":"7","iat":\#(now),"exp":\#(now + 600)}"#

            // The signer below is this file's own: it must produce tokens the ingest accepts, or every
            // refusal that follows would prove nothing.
            let (good, _) = try await ingest.send("GET", "/v1/me/balance", token: HandSignedToken.make(claims: valid, secret: secret))
            #expect(good == 200, "a correctly signed hand-made token answered \(good)")

            let otherSecret = "0123456789abcdef0123456789abcdef"
            #expect(otherSecret.utf8.count == 32)
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
                    signature: String(HandSignedToken.make(claims: #"{"sub":"8","exp":\#(now + 600)}"#, secret: secret)
                        .split(separator: ".")[2])
                )),
                ("expired", HandSignedToken.make(claims: #"{"sub":"7","iat":\#(now - 7200),"exp":\#(now - 3600)}"#, secret: secret)),
                ("no exp", HandSignedToken.make(claims: #"{"sub":"7","iat":\#(now)}"#, secret: secret)),
                ("nbf in the future", HandSignedToken.make(
                    claims: #"{"sub":"7","iat":\#(now),"nbf":\#(now + 3600),"exp":\#(now + 7200)}"#, secret: secret
                )),
                ("sub 0", HandSignedToken.make(claims: #"{"sub":"0","exp":\#(now + 600)}"#, secret: secret)),
                ("sub abc", HandSignedToken.make(claims: #"{"sub":"abc","exp":\#(now + 600)}"#, secret: secret)),
                ("sub -7", HandSignedToken.make(claims: #"{"sub":"-7","exp":\#(now + 600)}"#, secret: secret)),
                ("sub 07", HandSignedToken.make(claims: #"{"sub":"07","exp":\#(now + 600)}"#, secret: secret)),
                ("sub as a number", HandSignedToken.make(claims: #"{"sub":7,"exp":\#(now + 600)}"#, secret: secret)),
                ("no sub", HandSignedToken.make(claims: #"{"exp":\#(now + 600)}"#, secret: secret)),
            ]
            for (name, token) in refused {
                for (method, path, body) in [
                    ("GET", "/v1/me/balance", nil), ("GET", "/v1/requests/g-00000000000000000000000000000000", nil),
                    ("POST", "/v1/me/balance/charges", #"{"amount":100}"#),
                ] as [(String, String, String?)] {
                    let (status, headers, data) = try await ingest.raw(method, path, token: token, body: body.map { Data($0.utf8) })
                    #expect(status == 401, "\(name): \(method) \(path) answered \(status)")
                    #expect(headers["www-authenticate"] == "Bearer", "\(name): no WWW-Authenticate")
                    Self.expectErrorBody(data, headers, code: "UNAUTHORIZED", "\(name): \(method) \(path)")
                }
            }
            // A scheme other than Bearer.
            let (basic, _, _) = try await ingest.raw("GET", "/v1/me/balance", headers: ["Authorization": "Basic dXNlcjpwYXNz"])
            #expect(basic == 401)
            #expect(try Self.queueCounts(.general) == Self.QueueCounts(accepted: 0, pending: 0))
        }

        /// Checks this file's HMAC-SHA256 against RFC 4231 test case 2, so a token test never rests on a broken signer.
        @Test func handSignerMatchesRFC4231() {
            let mac = HandSignedToken.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
            #expect(mac.map { String(format: "%02x", $0) }.joined() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        }

        // MARK: Ownership

        @Test func anotherUsersRequestAndReservationAre404() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 20)
            let ingest = try await IngestHarness(environment: Self.unlimited)
            defer { ingest.stop() }
            let owner = try Stack.token(user: 1)
            let stranger = try Stack.token(user: 2)

            let (accepted, body) = try await ingest.send(
                "POST", "/v1/performances/\(performance)/reservations", token: owner, json: #"{"seatIds":[5,6]}"#
            )
            #expect(accepted == 202)
            let requestID = try #require(body?["requestId"] as? String)

            // Before the pass and after it, the stranger sees exactly what a request that never existed shows.
            let neverExisted = "/v1/requests/\(RequestID.random(queue: .performance(performance)).rawValue)"
            let (missingStatus, _, missingBody) = try await ingest.raw("GET", neverExisted, token: stranger)
            #expect(missingStatus == 404)
            Self.expectErrorBody(missingBody, [:], code: "NOT_FOUND", "a request that never existed")
            var (status, _, data) = try await ingest.raw("GET", "/v1/requests/\(requestID)", token: stranger)
            #expect(status == 404 && data == missingBody, "another user's queued request: \(status)")
            (status, _, _) = try await ingest.raw("GET", "/v1/requests/\(requestID)", token: owner)
            #expect(status == 200)

            try Stack.run("concert-batch", ["flush"]).requireSuccess()

            (status, _, data) = try await ingest.raw("GET", "/v1/requests/\(requestID)", token: stranger)
            #expect(status == 404 && data == missingBody, "another user's finished request: \(status)")
            let (ownerStatus, done) = try await ingest.send("GET", "/v1/requests/\(requestID)", token: owner)
            #expect(ownerStatus == 200 && done?["status"] as? String == "done", "\(String(describing: done))")
            let reservation = try #require((done?["reservation"] as? [String: Any])?["id"] as? Int)

            let (strangerRead, _, strangerBody) = try await ingest.raw("GET", "/v1/reservations/\(reservation)", token: stranger)
            #expect(strangerRead == 404)
            let (noneRead, _, noneBody) = try await ingest.raw("GET", "/v1/reservations/\(reservation + 1000)", token: stranger)
            #expect(noneRead == 404 && strangerBody == noneBody, "another user's reservation looks like none at all")
            let (ownerRead, held) = try await ingest.send("GET", "/v1/reservations/\(reservation)", token: owner)
            #expect(ownerRead == 200 && held?["state"] as? String == "held")

            // Writes to another user's reservation are queued (the ingest decides no ownership) and changed nothing.
            let (cancelStatus, cancel) = try await ingest.send("DELETE", "/v1/reservations/\(reservation)", token: stranger)
            let (payStatus, pay) = try await ingest.send("POST", "/v1/reservations/\(reservation)/payment", token: stranger, json: "{}")
            #expect(cancelStatus == 202 && payStatus == 202)
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            for write in [cancel, pay] {
                let id = try #require(write?["requestId"] as? String)
                let (_, outcome) = try await ingest.send("GET", "/v1/requests/\(id)", token: stranger)
                #expect(outcome?["status"] as? String == "rejected", "\(String(describing: outcome))")
                #expect(outcome?["reason"] as? String == "RESERVATION_UNKNOWN", "a stranger learns nothing")
            }
            let (_, still) = try await ingest.send("GET", "/v1/reservations/\(reservation)", token: owner)
            #expect(still?["state"] as? String == "held", "the stranger changed the owner's reservation: \(String(describing: still))")
        }

        // MARK: Routing

        @Test func unknownRoutesAre404AndWrongMethodsAre405WithAllow() async throws {
            try Stack.reset()
            let ingest = try await IngestHarness(environment: Self.unlimited)
            defer { ingest.stop() }
            let token = try Stack.token(user: 1)

            for (method, path) in [
                ("GET", "/index.html"), ("GET", "/v1"), ("GET", "/v1/nothing"), ("GET", "/v1/status/x"), ("GET", "/v1/performances/1"),
                ("POST", "/v1/performances/1"), ("GET", "/v1/performances/1/seats/extra"), ("GET", "/v2/me/balance"),
                ("GET", "/v1/me"), ("POST", "/v1/me/balance/charges/1"), ("GET", "/healthz/x"), ("GET", "/.env"),
            ] {
                let (status, headers, data) = try await ingest.raw(method, path, token: token)
                #expect(status == 404, "\(method) \(path) answered \(status)")
                Self.expectErrorBody(data, headers, code: "NOT_FOUND", "\(method) \(path)")
            }
            for (method, path, allowed) in [
                ("PUT", "/v1/me/balance", ["GET"]),
                ("DELETE", "/v1/me/balance", ["GET"]),
                ("GET", "/v1/me/balance/charges", ["POST"]),
                ("PUT", "/v1/me/balance/charges", ["POST"]),
                ("PATCH", "/v1/reservations/1", ["DELETE", "GET"]),
                ("POST", "/v1/reservations/1", ["DELETE", "GET"]),
                ("GET", "/v1/reservations/1/payment", ["POST"]),
                ("GET", "/v1/performances/1/reservations", ["POST"]),
                ("DELETE", "/v1/performances", ["GET"]),
                ("POST", "/v1/performances/1/seats", ["GET"]),
                ("DELETE", "/v1/requests/g-00000000000000000000000000000000", ["GET"]),
                ("POST", "/healthz", ["GET"]),
                ("POST", "/", ["GET"]),  // the live page
                ("DELETE", "/v1/status", ["GET"]),
            ] {
                for token in [token, nil] {
                    let (status, headers, data) = try await ingest.raw(method, path, token: token)
                    #expect(status == 405, "\(method) \(path) answered \(status)")
                    let allow = Set((headers["allow"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                    #expect(allow == Set(allowed), "\(method) \(path): Allow \(headers["allow"] ?? "missing")")
                    Self.expectErrorBody(data, headers, code: "METHOD_NOT_ALLOWED", "\(method) \(path)")
                }
            }
        }

        @Test func publicRoutesIgnoreAnyToken() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 8)
            let ingest = try await IngestHarness(environment: Self.unlimited)
            defer { ingest.stop() }
            let secret = try Stack.environment("CONCERT_JWT_SECRET")
            let expired = HandSignedToken.make(claims: #"{"sub":"1","exp":1}"#, secret: secret)
            for token in ["garbage", "a.b.c", expired, try Stack.token(user: 3)] {
                for path in ["/v1/performances", "/v1/performances/\(performance)/seats", "/healthz"] {
                    let (status, _) = try await ingest.send("GET", path, token: token)
                    #expect(status == 200, "GET \(path) with token \(token.prefix(12))… answered \(status)")
                }
            }
            let (listed, list) = try await ingest.send("GET", "/v1/performances", token: "garbage")
            #expect(listed == 200 && (list?["performances"] as? [[String: Any]])?.first?["id"] as? Int == Int(performance))
        }

        // MARK: Rate limit

        /// The default limit (10/s, bursts of 20): a flood from one user is cut with 429 and Retry-After; a burst
        /// of 20 and a steady 10/s afterwards never are, and other users are not slowed by the flood.
        @Test func rateLimitCutsAFloodButNeverABurstOfTwenty() async throws {
            try Stack.reset()
            let ingest = try await IngestHarness(environment: ["CONCERT_RATE_LIMIT": "", "CONCERT_RATE_BURST": ""])
            defer { ingest.stop() }

            func burst(_ token: String, _ count: Int) async throws -> [(Int, [String: String], Data)] {
                try await withThrowingTaskGroup(of: (Int, [String: String], Data).self) { group in
                    for _ in 0..<count { group.addTask { try await ingest.raw("GET", "/v1/me/balance", token: token) } }
                    var results: [(Int, [String: String], Data)] = []
                    for try await result in group { results.append(result) }
                    return results
                }
            }

            // A buyer: a burst of 20 at once, then 10 requests/s for two seconds.
            let buyer = try Stack.token(user: 10)
            let first = try await burst(buyer, 20)
            #expect(first.allSatisfy { $0.0 == 200 }, "a burst of 20: \(first.map(\.0).sorted())")
            var steady: [Int] = []
            for _ in 0..<20 {
                try await Task.sleep(for: .milliseconds(100))
                steady.append(try await ingest.raw("GET", "/v1/me/balance", token: buyer).0)
            }
            #expect(steady.allSatisfy { $0 == 200 }, "10 requests/s after a burst: \(steady)")

            // A flood: 60 as fast as possible, 10 of them writes.
            let flooder = try Stack.token(user: 11)
            let flood = try await withThrowingTaskGroup(of: (String, Int, [String: String], Data).self) { group in
                for index in 0..<60 {
                    group.addTask {
                        if index % 6 == 0 {
                            let (status, headers, data) = try await ingest.raw(
                                "POST", "/v1/me/balance/charges", token: flooder, body: Data(#"{"amount":100}"#.utf8)
                            )
                            return ("POST", status, headers, data)
                        }
                        let (status, headers, data) = try await ingest.raw("GET", "/v1/me/balance", token: flooder)
                        return ("GET", status, headers, data)
                    }
                }
                var results: [(String, Int, [String: String], Data)] = []
                for try await result in group { results.append(result) }
                return results
            }
            let limited = flood.filter { $0.1 == 429 }
            #expect(!limited.isEmpty, "60 requests at once were all served")
            #expect(flood.allSatisfy { [200, 202, 429].contains($0.1) }, "\(Set(flood.map(\.1)))")
            #expect(flood.count - limited.count >= 20, "at least the burst of 20 is served: \(flood.count - limited.count)")
            for (_, _, headers, data) in limited {
                let retryAfter = Int(headers["retry-after"] ?? "")
                #expect(retryAfter != nil && retryAfter! >= 1, "Retry-After: \(headers["retry-after"] ?? "missing")")
                Self.expectErrorBody(data, headers, code: "RATE_LIMITED", "429")
            }
            // A refused write queued nothing: the queue holds exactly the writes answered 202.
            let acceptedWrites = flood.filter { $0.0 == "POST" && $0.1 == 202 }.count
            #expect(try Self.queueCounts(.general) == Self.QueueCounts(accepted: Int64(acceptedWrites), pending: Int64(acceptedWrites)))

            // Another user is not slowed by the flooder.
            let other = try await burst(try Stack.token(user: 12), 20)
            #expect(other.allSatisfy { $0.0 == 200 }, "another user during the flood: \(other.map(\.0).sorted())")
        }

        // MARK: Idempotency-Key

        @Test func idempotencyKeyQueuesOnceAndAnswersTheSame() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 20)
            let ingest = try await IngestHarness(environment: Self.unlimited)
            defer { ingest.stop() }
            let alice = try Stack.token(user: 1)
            let bob = try Stack.token(user: 2)
            let reserve = "/v1/performances/\(performance)/reservations"

            func post(_ path: String, _ token: String, _ body: String, key: String?) async throws -> (Int, String?, Bool) {
                let (status, headers, data) = try await ingest.raw(
                    "POST", path, token: token, body: Data(body.utf8), headers: key.map { ["Idempotency-Key": $0] } ?? [:]
                )
                let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
                return (status, json?["requestId"] as? String, headers["idempotent-replayed"] == "true")
            }

            let (firstStatus, firstID, firstReplayed) = try await post(reserve, alice, #"{"seatIds":[1]}"#, key: "key-1")
            #expect(firstStatus == 202 && !firstReplayed)
            let id = try #require(firstID.flatMap(RequestID.init))
            #expect(id.queue == .performance(performance), "a known performance's reserve goes to its own queue")
            let (againStatus, againID, againReplayed) = try await post(reserve, alice, #"{"seatIds":[1]}"#, key: "key-1")
            #expect(againStatus == 202 && againID == id.rawValue && againReplayed)
            #expect(try Self.queueCounts(id.queue) == Self.QueueCounts(accepted: 1, pending: 1))

            // The same key sent by many connections at once: still one request.
            let racing = try await withThrowingTaskGroup(of: (Int, String?, Bool).self) { group in
                for _ in 0..<12 { group.addTask { try await post(reserve, alice, #"{"seatIds":[2]}"#, key: "key-2") } }
                var results: [(Int, String?, Bool)] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(racing.allSatisfy { $0.0 == 202 })
            #expect(Set(racing.compactMap(\.1)).count == 1 && racing.filter { !$0.2 }.count == 1, "\(racing)")
            #expect(try Self.queueCounts(id.queue) == Self.QueueCounts(accepted: 2, pending: 2))

            // Keys belong to their user; another key is another request.
            let (_, bobID, bobReplayed) = try await post(reserve, bob, #"{"seatIds":[3]}"#, key: "key-1")
            #expect(bobID != nil && bobID != id.rawValue && !bobReplayed)
            let (_, otherKeyID, _) = try await post(reserve, alice, #"{"seatIds":[1]}"#, key: "key-3")
            #expect(otherKeyID != nil && otherKeyID != id.rawValue)
            #expect(try Self.queueCounts(id.queue) == Self.QueueCounts(accepted: 4, pending: 4))

            // Charges and cancels too (both in the general queue).
            let general = try Self.queueCounts(.general)
            let (_, charge1, _) = try await post("/v1/me/balance/charges", alice, #"{"amount":500}"#, key: "charge-1")
            let (_, charge2, replayed) = try await post("/v1/me/balance/charges", alice, #"{"amount":500}"#, key: "charge-1")
            #expect(charge1 != nil && charge1 == charge2 && replayed)
            let (c1, cancel1) = try await ingest.send("DELETE", "/v1/reservations/77", token: alice, headers: ["Idempotency-Key": "cancel-1"])
            let (c2, cancel2) = try await ingest.send("DELETE", "/v1/reservations/77", token: alice, headers: ["Idempotency-Key": "cancel-1"])
            #expect(c1 == 202 && c2 == 202 && cancel1?["requestId"] as? String == cancel2?["requestId"] as? String)
            #expect(try Self.queueCounts(.general) == Self.QueueCounts(accepted: general.accepted + 2, pending: general.pending + 2))

            // A key that is not 1 to 128 printable characters is refused, and queues nothing.
            for key in [String(repeating: "k", count: 129), "has space", "tab\there"] {
                let (status, _, _) = try await post(reserve, alice, #"{"seatIds":[4]}"#, key: key)
                #expect(status == 400, "Idempotency-Key '\(key.prefix(20))' answered \(status)")
            }
            #expect(try Self.queueCounts(id.queue).accepted == 4)

            // After the pass, the same key still answers the first request, and nothing new is queued.
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            let (lateStatus, lateID, lateReplayed) = try await post(reserve, alice, #"{"seatIds":[1]}"#, key: "key-1")
            #expect(lateStatus == 202 && lateID == id.rawValue && lateReplayed)
            #expect(try Self.queueCounts(id.queue) == Self.QueueCounts(accepted: 4, pending: 0))
            #expect(try Stack.database().query("SELECT COUNT(*) FROM request_outcomes").first?.first?.int == 6)
        }

        // MARK: Redis down

        /// An ingest whose Redis is unreachable answers 503 to everything that needs Redis, at once and with the
        /// contract's body, and still refuses malformed requests for what they are.
        @Test func redisUnreachableIs503() async throws {
            try Stack.reset()
            let port = Int.random(in: 12_000..<13_000)  // below the ephemeral range (32768–60999)
            // Nothing listens on port 1 of the loopback: connections are refused at once.
            let process = try Stack.start(
                "concert-ingest", ["--port", String(port)], environment: ["CONCERT_REDIS_URL": "redis://127.0.0.1:1/0"]
            )
            defer { process.kill(SIGTERM) }
            let probe = Probe(base: URL(string: "http://127.0.0.1:\(port)")!)
            var health: (Int, [String: String], Data)?
            for _ in 0..<100 {
                health = try? await probe.send("GET", "/healthz")
                if health != nil { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let (healthStatus, _, healthBody) = try #require(health, "the ingest did not answer at all")
            #expect(healthStatus == 503)
            let healthJSON = (try? JSONSerialization.jsonObject(with: healthBody)) as? [String: String]
            #expect(healthJSON == ["status": "unavailable", "redis": "unreachable"])

            let token = try Stack.token(user: 1)
            let started = Date()
            for (method, path, body) in [
                ("POST", "/v1/performances/1/reservations", #"{"seatIds":[1]}"#),
                ("POST", "/v1/reservations/1/payment", "{}"),
                ("DELETE", "/v1/reservations/1", nil),
                ("POST", "/v1/me/balance/charges", #"{"amount":100}"#),
                ("GET", "/v1/me/balance", nil),
                ("GET", "/v1/requests/g-00000000000000000000000000000000", nil),
                ("GET", "/v1/reservations/1", nil),
                ("GET", "/v1/performances", nil),
                ("GET", "/v1/performances/1/seats", nil),
            ] as [(String, String, String?)] {
                let (status, headers, data) = try await probe.send(method, path, token: token, body: body)
                #expect(status == 503, "\(method) \(path) answered \(status)")
                Self.expectErrorBody(data, headers, code: "UNAVAILABLE", "\(method) \(path)")
            }
            #expect(Date().timeIntervalSince(started) < 20, "503s must come quickly, not after long timeouts")

            // What needs no Redis is still answered for what it is.
            #expect(try await probe.send("POST", "/v1/me/balance/charges", token: token, body: #"{"amount":0}"#).0 == 400)
            #expect(try await probe.send("POST", "/v1/me/balance/charges", body: #"{"amount":100}"#).0 == 401)
            #expect(try await probe.send("PUT", "/v1/me/balance", token: token).0 == 405)
            // And the test Redis, which this ingest never reached, holds no queue.
            #expect(try Stack.redis().command(["EXISTS", RedisKeys.queues]).int == 0)
        }

        // MARK: Helpers

        /// For the tests that are not about the rate limit: they send more than a burst from one user.
        static let unlimited = ["CONCERT_RATE_LIMIT": "100000", "CONCERT_RATE_BURST": "100000"]

        struct QueueCounts: Equatable, CustomStringConvertible {
            var accepted: Int64
            var pending: Int64
            var description: String { "accepted \(accepted), pending \(pending)" }
        }

        /// The queue's arrival counter and its waiting list, straight from Redis.
        static func queueCounts(_ queue: QueueName) throws -> QueueCounts {
            let replies = try Stack.redis().pipeline([["GET", RedisKeys.accepted(queue)], ["LLEN", RedisKeys.pending(queue)]])
            return QueueCounts(accepted: replies.first?.int ?? 0, pending: replies.last?.int ?? 0)
        }

        /// `{"error":{"code":"…","message":"…"}}` and nothing else, as JSON.
        static func expectErrorBody(
            _ data: Data, _ headers: [String: String], code: String, _ what: String,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            let error = json?["error"] as? [String: Any]
            #expect(json?.count == 1 && error?.count == 2, "\(what): body \(String(decoding: data, as: UTF8.self))",
                    sourceLocation: sourceLocation)
            #expect(error?["code"] as? String == code, "\(what): code \(String(describing: error?["code"]))",
                    sourceLocation: sourceLocation)
            let message = error?["message"] as? String ?? ""
            #expect(!message.isEmpty, "\(what): no message", sourceLocation: sourceLocation)
            if let type = headers["content-type"] {
                #expect(type.hasPrefix("application/json"), "\(what): Content-Type \(type)", sourceLocation: sourceLocation)
            }
        }
    }
}

/// A bare HTTP client for an ingest that is not healthy (IngestHarness waits for a 200 from /healthz).
private struct Probe {
    let base: URL
    let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 10
        return URLSession(configuration: configuration)
    }()

    func send(_ method: String, _ path: String, token: String? = nil, body: String? = nil) async throws -> (Int, [String: String], Data) {
        var request = URLRequest(url: base.appendingPathComponent(path))
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await session.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return (http.statusCode, fields, data)
    }
}

/// JWTs written by hand, signed with an HMAC-SHA256 written here: the tests sign tokens the way an attacker
/// would (with the wrong secret, a forged header, odd claims), independently of the code under test.
enum HandSignedToken {
    static func make(
        header: String = #"{"alg":"HS256","typ":"JWT"}"#, claims: String, secret: String = "", signature: String? = nil
    ) -> String {
        let input = base64url(Array(header.utf8)) + "." + base64url(Array(claims.utf8))
        return input + "." + (signature ?? base64url(hmacSHA256(key: Array(secret.utf8), message: Array(input.utf8))))
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var block = key.count > 64 ? sha256(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let inner = sha256(block.map { $0 ^ 0x36 } + message)
        return sha256(block.map { $0 ^ 0x5c } + inner)
    }

    /// FIPS 180-4 SHA-256.
    static func sha256(_ message: [UInt8]) -> [UInt8] {
        let k: [UInt32] = [
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
        ]
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
        var data = message + [0x80]
        while data.count % 64 != 56 { data.append(0) }
        let bits = UInt64(message.count) * 8
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 64)
        for chunk in stride(from: 0, to: data.count, by: 64) {
            for i in 0..<16 {
                w[i] = data[chunk + 4 * i..<chunk + 4 * i + 4].reduce(0) { $0 << 8 | UInt32($1) }
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            for (index, value) in [a, b, c, d, e, f, g, hh].enumerated() { h[index] = h[index] &+ value }
        }
        return h.flatMap { word in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: word >> UInt32($0)) } }
    }
}
