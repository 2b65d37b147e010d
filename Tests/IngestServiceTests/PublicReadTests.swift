import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IngestService
import TestSupport
import Testing

/// Issue 14 items 8 and 10: the public reads come from a cache the store is read into at most about once a second
/// per resource, whatever the crowd; they carry an ETag and `Cache-Control: public, max-age=1`; a client that
/// floods them is limited by address; a list that was never published is a 503 that says so, not an empty list.
@Suite("Public reads")
struct PublicReadTests {
    static func seatMap(_ performance: Int64, seats: Int, held: Set<Int> = []) -> [UInt8] {
        let rows = (1...seats).map { id in
            #"{"id":\#(id),"label":"A-1-\#(id)","price":50000,"status":"\#(held.contains(id) ? "held" : "available")"}"#
        }
        return Array(#"{"performanceId":\#(performance),"asOf":"2026-11-24T20:00:00Z","seats":[\#(rows.joined(separator: ","))]}"#.utf8)
    }

    @Test func aCrowdOfReadersCostsTheStoreOneReadPerSecond() async throws {
        let store = MemoryIntakeStore()
        store.update { $0.seatMaps[9] = Self.seatMap(9, seats: 2_000) }
        let harness = try RouterHarness(store: store)
        try await harness.run { client in
            let answers = try await withThrowingTaskGroup(of: Answer.self) { group in
                for _ in 0..<200 { group.addTask { try await client.send(.get, "/v1/performances/9/seats") } }
                return try await group.reduce(into: [Answer]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == .ok && $0.body == Data(Self.seatMap(9, seats: 2_000)) })
            #expect(Set(answers.map { $0.headers[.eTag] ?? "" }).count == 1)
            #expect(answers.allSatisfy { $0.headers[.cacheControl] == "public, max-age=1" })
            #expect(answers.allSatisfy { $0.headers[.contentType] == "application/json; charset=utf-8" })
            let reads = store.snapshot.publicReads["seats:9"] ?? 0
            #expect(reads == 1, "200 readers at once read the store \(reads) times")
        }
    }

    @Test func readersRevalidateWithTheETagAndSeeAChangeWithinASecond() async throws {
        let store = MemoryIntakeStore()
        store.update { $0.seatMaps[9] = Self.seatMap(9, seats: 50) }
        let harness = try RouterHarness(store: store)
        try await harness.run { client in
            let first = try await client.send(.get, "/v1/performances/9/seats")
            let etag = try #require(first.headers[.eTag])
            #expect(etag.wholeMatch(of: /"[0-9a-f]{16}"/) != nil, "\(etag)")
            let same = try await client.send(.get, "/v1/performances/9/seats", headers: ["If-None-Match": etag])
            #expect(same.status == .notModified && same.body.isEmpty)
            #expect(same.headers[.eTag] == etag && same.headers[.cacheControl] == "public, max-age=1")
            for header in ["*", "\"0000000000000000\", \(etag)", "W/\(etag)"] {
                #expect(try await client.send(.get, "/v1/performances/9/seats", headers: ["If-None-Match": header]).status == .notModified)
            }
            #expect(try await client.send(.get, "/v1/performances/9/seats", headers: ["If-None-Match": "\"0000000000000000\""]).status == .ok)

            // The pass publishes the same bytes again: same tag. Then a change: a new tag, within about a second.
            store.update { $0.seatMaps[9] = Self.seatMap(9, seats: 50) }
            harness.clock.advance(1.1)
            #expect(try await client.send(.get, "/v1/performances/9/seats", headers: ["If-None-Match": etag]).status == .notModified)
            store.update { $0.seatMaps[9] = Self.seatMap(9, seats: 50, held: [3]) }
            harness.clock.advance(1.1)
            let changed = try await client.send(.get, "/v1/performances/9/seats", headers: ["If-None-Match": etag])
            #expect(changed.status == .ok && changed.headers[.eTag] != etag)
            #expect(changed.text.contains(#""id":3,"label":"A-1-3","price":50000,"status":"held""#))

            // An unknown performance is 404 (also remembered for a second: not one store read per reader).
            let reads = store.snapshot.publicReads["seats:404"] ?? 0
            for _ in 0..<20 {
                let missing = try await client.send(.get, "/v1/performances/404/seats")
                #expect(missing.status == .notFound)
                missing.expectError("NOT_FOUND", "an unknown performance's seats")
            }
            #expect((store.snapshot.publicReads["seats:404"] ?? 0) - reads == 1)
        }
    }

    @Test func performanceListIsCachedAndA503WhenNeverPublished() async throws {
        let store = MemoryIntakeStore()
        store.update { $0.performanceList = nil }
        let harness = try RouterHarness(store: store)
        try await harness.run { client in
            let missing = try await client.send(.get, "/v1/performances")
            #expect(missing.status == .serviceUnavailable, "no list published is not an empty list: \(missing.text)")
            missing.expectError("UNAVAILABLE", "a list never published")
            #expect((missing.json?["error"] as? [String: Any])?["message"] as? String
                == "the performance list has not been published by the batch pass yet; retry shortly")

            let list = #"{"performances":[{"id":1,"title":"A","startsAt":"2030-01-01T20:00:00Z","seats":20,"available":20}]}"#
            store.update { $0.performanceList = Array(list.utf8) }
            harness.clock.advance(1.1)  // the missing list is remembered for up to a second
            let published = try await client.send(.get, "/v1/performances")
            #expect(published.status == .ok && published.text == list)
            #expect(published.headers[.cacheControl] == "public, max-age=1")
            let etag = try #require(published.headers[.eTag])
            #expect(try await client.send(.get, "/v1/performances", headers: ["If-None-Match": etag]).status == .notModified)
            // An empty list, once published, is an answer like any other.
            store.update { $0.performanceList = Array(#"{"performances":[]}"#.utf8) }
            harness.clock.advance(1.1)
            #expect(try await client.send(.get, "/v1/performances").text == #"{"performances":[]}"#)
        }
    }

    /// The per-client limit of the public routes; the token routes have their own (per user), untouched by it.
    @Test func aFloodingClientIsLimitedOnPublicRoutesOnly() async throws {
        let store = MemoryIntakeStore()
        store.update { $0.seatMaps[9] = Self.seatMap(9, seats: 5) }
        let harness = try RouterHarness(store: store) { configuration in
            // One token every 2 s of the test's clock, which stands still while the flood runs.
            configuration.publicRateLimitPerSecond = 0.5
            configuration.publicRateLimitBurst = 10
        }
        try await harness.run { client in
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<12 {
                let path = ["/v1/performances/9/seats", "/v1/performances", "/healthz", "/v1/status"][index % 4]
                let answer = try await client.send(.get, path)
                statuses.append(answer.status)
                if answer.status == .tooManyRequests {
                    answer.expectError("RATE_LIMITED", "GET \(path) over the client's limit")
                    #expect((Int(answer.headers[.retryAfter] ?? "") ?? 0) >= 1)
                }
            }
            #expect(statuses.prefix(10).allSatisfy { $0 == .ok }, "a burst of 10: \(statuses)")
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests }, "\(statuses.map(\.code))")
            // Writes and the user's own reads are limited per user, not by this client's public bucket.
            let token = try harness.token(user: 1)
            #expect(try await client.send(.get, "/v1/me/balance", token: token).status == .ok)
            #expect(try await client.send(.post, "/v1/me/balance/charges", token: token, json: #"{"amount":5}"#).status == .accepted)
            // The bucket refills at its rate (one request every 2 s).
            harness.clock.advance(2.1)
            #expect(try await client.send(.get, "/v1/performances/9/seats").status == .ok)
        }
    }

    @Test func defaultsAreGenerous() throws {
        let configuration = try IngestConfiguration.fromEnvironment(IngestConfigurationTests.base)
        #expect(configuration.publicRateLimitPerSecond == 1_000 && configuration.publicRateLimitBurst == 2_000)
    }
}
