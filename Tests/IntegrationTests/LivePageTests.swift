import Foundation
import MariaDBStore
import ReservationCore
import Testing

extension IntegrationSuite {
    /// `GET /` and `GET /v1/status` on a real ingest over the test Redis, a pass in between, the batch history in
    /// both stores, and `concert-batch report` over it. (The browser's view of the same: deploy/check-browser.)
    @Suite(.serialized) struct LivePage {
        static func object(_ data: Data) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }

        static func performance(_ id: Int64, in status: [String: Any]) throws -> [String: Any] {
            let list = try #require(status["performances"] as? [[String: Any]])
            return try #require(list.first { ($0["id"] as? Int64) == id }, "performance \(id) is not in /v1/status")
        }

        @Test func statusFollowsThePassAndTheHistoryIsRecorded() async throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 40)
            let ingest = try await IngestHarness()
            defer { ingest.stop() }

            // Before any pass: every seat available; public (no token), cacheable for a second, with a validator.
            let (status, headers, data) = try await ingest.raw("GET", "/v1/status", contentType: nil)
            #expect(status == 200)
            #expect(headers["content-type"] == "application/json; charset=utf-8")
            #expect(headers["cache-control"] == "max-age=1")
            let etag = try #require(headers["etag"])
            let before = try Self.performance(performance, in: try Self.object(data))
            let beforeMap = try #require(before["seatMap"] as? [String: Any])
            #expect(beforeMap["counts"] as? [String: Int] == ["available": 40, "held": 0, "sold": 0])
            #expect(beforeMap["states"] as? String == String(repeating: "a", count: 40))
            // 20 seats a section, one row each.
            let sections = try #require(beforeMap["sections"] as? [[String: Any]])
            #expect(sections.map { $0["name"] as? String } == ["A", "B"])
            let (notModified, _, empty) = try await ingest.raw("GET", "/v1/status", contentType: nil, headers: ["If-None-Match": etag])
            #expect(notModified == 304)
            #expect(empty.isEmpty)

            // Users 1…6 hold seats 2u−1 and 2u; user 7 asks for seat 1 too (SEAT_TAKEN).
            for user in Int64(1)...6 {
                let (code, _) = try await ingest.send(
                    "POST", "/v1/performances/\(performance)/reservations", token: try Stack.token(user: user),
                    json: "{\"seatIds\":[\(2 * user - 1),\(2 * user)]}"
                )
                #expect(code == 202)
            }
            let (late, _) = try await ingest.send(
                "POST", "/v1/performances/\(performance)/reservations", token: try Stack.token(user: 7), json: #"{"seatIds":[1]}"#
            )
            #expect(late == 202)
            // Waiting: in the performance's queue (or the general one, if the ingest had not seen the performance yet).
            let waiting = try Self.object(try await Self.freshStatus(ingest))
            let queue = try #require(try Self.performance(performance, in: waiting)["queue"] as? [String: Double])
            let general = try #require(waiting["generalQueue"] as? [String: Double])
            #expect((queue["depth"] ?? 0) + (general["depth"] ?? 0) == 7)
            #expect(max(queue["oldestWaitSeconds"] ?? 0, general["oldestWaitSeconds"] ?? 0) >= 1)

            try Stack.run("concert-batch", ["flush"]).requireSuccess()

            let after = try Self.object(try await Self.freshStatus(ingest))
            let mine = try Self.performance(performance, in: after)
            let map = try #require(mine["seatMap"] as? [String: Any])
            #expect(map["counts"] as? [String: Int] == ["available": 28, "held": 12, "sold": 0])
            #expect(map["states"] as? String == String(repeating: "h", count: 12) + String(repeating: "a", count: 28))
            #expect((mine["queue"] as? [String: Double])?["depth"] == 0)
            // The same counts as the per-seat map the API already serves.
            let (_, seatMap) = try await ingest.send("GET", "/v1/performances/\(performance)/seats")
            let held = (seatMap?["seats"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "held" }.count
            #expect(held == 12)
            // The batch history: the page's rate and scatter, from Redis.
            let rates = try #require(mine["decidedPerSecond"] as? [Double])
            #expect(abs(rates.reduce(0, +) * Double(LiveStatus.bucketSeconds) - 7) < 0.01, "7 requests decided: \(rates)")
            let batches = try #require(after["batches"] as? [[String: Any]])
            #expect(batches.reduce(0) { $0 + ($1["decided"] as? Int ?? 0) } == 7)
            #expect(batches.filter { ($0["decided"] as? Int ?? 0) > 0 }.allSatisfy { $0["queue"] as? String == "p\(performance)" })

            // …and from MariaDB, outside the batch's transaction, as the report reads it.
            let logged = try ReservationDatabase(connection: try Stack.database())
                .loggedBatches(fromMillis: 0, toMillis: Int64(Date().timeIntervalSince1970 * 1000) + 1)
            #expect(logged.reduce(0) { $0 + $1.decided } == 7)
            #expect(logged.reduce(0) { $0 + $1.count(.reserve, "done") } == 6)
            #expect(logged.reduce(0) { $0 + $1.count(.reserve, "SEAT_TAKEN") } == 1)
            #expect(logged.allSatisfy { abs($0.endedAtMillis - Int64(Date().timeIntervalSince1970 * 1000)) < 120_000 })

            let file = FileManager.default.temporaryDirectory.appendingPathComponent("concert-report-\(UUID().uuidString).html")
            defer { try? FileManager.default.removeItem(at: file) }
            let report = try Stack.run("concert-batch", ["report", "--html", file.path])
            try report.requireSuccess()
            #expect(report.stdout.contains("7 requests decided"), "report said: \(report.stdout)")
            let html = try String(contentsOf: file, encoding: .utf8)
            #expect(html.contains("<td>reserve</td><td>SEAT_TAKEN</td><td class=\"n\">1</td>"))
            #expect(html.contains("Test 40 (performance \(performance))"))
            let future = try Stack.run("concert-batch", ["report", "--html", file.path, "--since", "2099-01-01T00:00:00Z"])
            #expect(future.status == 1 && future.stderr.contains("in the future"))
            let bad = try Stack.run("concert-batch", ["report", "--html", file.path, "--since", "yesterday"])
            #expect(bad.status == 2)
        }

        @Test func pageIsSelfContainedAndViewersShareRebuilds() async throws {
            try Stack.reset()
            _ = try Stack.createPerformance(seats: 20)
            let ingest = try await IngestHarness()
            defer { ingest.stop() }

            let (status, headers, data) = try await ingest.raw("GET", "/", contentType: nil)
            #expect(status == 200)
            #expect(headers["content-type"] == "text/html; charset=utf-8")
            #expect(headers["content-security-policy"]?.hasPrefix("default-src 'none'") == true)
            let page = String(decoding: data, as: UTF8.self)
            #expect(page.contains("<canvas"))
            #expect(page.contains("fetch(\"/v1/status\""))
            for external in ["https:", "src=", "href=\"http", "@import", "url("] {
                #expect(!page.contains(external), "the page refers to something outside itself: \(external)")
            }
            let (revalidated, _, _) = try await ingest.raw("GET", "/", contentType: nil, headers: ["If-None-Match": headers["etag"] ?? "-"])
            #expect(revalidated == 304)
            let (notAllowed, _, _) = try await ingest.raw("POST", "/v1/status", body: Data("{}".utf8))
            #expect(notAllowed == 405)

            // 200 viewers at once, after the cached status expired: one rebuild between them (two if a second
            // passes meanwhile), not 200.
            try await Task.sleep(for: .milliseconds(1_100))
            let rebuildsBefore = try await Self.rebuilds(ingest)
            let codes = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await ingest.raw("GET", "/v1/status", contentType: nil).0 }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(codes.count == 200 && codes.allSatisfy { $0 == 200 })
            let rebuilt = try await Self.rebuilds(ingest) - rebuildsBefore
            #expect(rebuilt >= 1 && rebuilt <= 2, "200 viewers caused \(rebuilt) rebuilds")
        }

        /// `/v1/status` once the ingest's cached copy (at most a second old) has expired.
        static func freshStatus(_ ingest: IngestHarness) async throws -> Data {
            try await Task.sleep(for: .milliseconds(1_100))
            let (status, _, data) = try await ingest.raw("GET", "/v1/status", contentType: nil)
            #expect(status == 200)
            return data
        }

        static func rebuilds(_ ingest: IngestHarness) async throws -> Int {
            let (_, _, data) = try await ingest.raw("GET", "/metrics", contentType: nil)
            let line = String(decoding: data, as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("concert_ingest_status_rebuilds_total ") }
            return Int(Double(line?.split(separator: " ").last ?? "0") ?? 0)
        }
    }
}
