import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

/// What a hostile or careless client can do to a real `concert-ingest` that only real processes and servers show:
/// another user's ids after a real pass, Idempotency-Keys in a real Redis, an ingest whose Redis is unreachable.
/// (Bodies, tokens, routes and rate limits are checked in-process: IngestServiceTests.)
extension IntegrationSuite {
    @Suite(.serialized) struct HostileInput {
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
