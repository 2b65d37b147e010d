import Foundation
import Hummingbird
import HummingbirdTesting
@testable import IngestService
import ReservationCore
import TestSupport
import Testing

/// A user's own reads: what is true, or a 503 that says why not; another user's things look like nothing.
@Suite("A user's reads")
struct AccountTests {
    /// Issue 14 item 8: a missing balance cache means 0 only once the pass has given every balance a cache in this
    /// Redis (the mark); without the mark the ingest says it does not know, and why.
    @Test func balanceIsWhatThePassPublishedZeroForNeverChargedOnlyWithTheMarkElse503() async throws {
        let store = MemoryIntakeStore()
        store.update {
            $0.balances[1] = (balance: 12_500, asOf: 1_795_550_000)
            $0.balancesCompleteAt = 1_795_540_000
        }
        let harness = try RouterHarness(store: store)
        try await harness.run { client in
            let cached = try await client.send(.get, "/v1/me/balance", token: try harness.token(user: 1))
            #expect(cached.status == .ok)
            #expect(cached.json?["balance"] as? Int == 12_500 && cached.json?["asOf"] as? String == "2026-11-24T19:53:20Z", "\(cached.text)")
            let never = try await client.send(.get, "/v1/me/balance", token: try harness.token(user: 2))
            #expect(never.status == .ok)
            #expect(never.json?["balance"] as? Int == 0, "\(never.text)")
            #expect(never.json?["asOf"] as? String == "2026-11-24T17:06:40Z", "asOf is when the mark was set: \(never.text)")

            store.update { $0.balancesCompleteAt = nil }  // Redis lost its data; no pass has rebuilt the caches yet
            let unknown = try await client.send(.get, "/v1/me/balance", token: try harness.token(user: 2))
            #expect(unknown.status == .serviceUnavailable)
            unknown.expectError("UNAVAILABLE", "balance without a cache or the mark")
            #expect((unknown.json?["error"] as? [String: Any])?["message"] as? String
                == "balances are being rebuilt by the batch pass; retry shortly")
            // A cached balance is still known.
            #expect(try await client.send(.get, "/v1/me/balance", token: try harness.token(user: 1)).json?["balance"] as? Int == 12_500)
        }
    }

    @Test func anotherUsersRequestOrReservationLooksLikeNone() async throws {
        let store = MemoryIntakeStore()
        let queuedID = RequestID.random(queue: .performance(3))
        let doneID = RequestID.random(queue: .general)
        store.update {
            $0.statuses[queuedID] = .queued(userID: 1, kind: .reserve, sequence: 5, position: 4, queue: nil)
            $0.statuses[doneID] = .final(userID: 1, json: #"{"requestId":"x","kind":"charge","status":"done","balance":5}"#)
            $0.reservations[77] = (userID: 1, performanceID: 3, json: #"{"id":77}"#)
        }
        let harness = try RouterHarness(store: store)
        try await harness.run { client in
            let owner = try harness.token(user: 1)
            let stranger = try harness.token(user: 2)
            let never = try await client.send(.get, "/v1/requests/\(RequestID.random(queue: .general).rawValue)", token: stranger)
            #expect(never.status == .notFound)
            for id in [queuedID, doneID] {
                let theirs = try await client.send(.get, "/v1/requests/\(id.rawValue)", token: stranger)
                #expect(theirs.status == .notFound && theirs.body == never.body)
                #expect(try await client.send(.get, "/v1/requests/\(id.rawValue)", token: owner).status == .ok)
            }
            for path in ["/v1/requests/nonsense", "/v1/requests/g-xyz"] {
                #expect(try await client.send(.get, path, token: owner).status == .notFound)
            }
            let theirs = try await client.send(.get, "/v1/reservations/77", token: stranger)
            let none = try await client.send(.get, "/v1/reservations/78", token: stranger)
            #expect(theirs.status == .notFound && theirs.body == none.body)
            #expect(try await client.send(.get, "/v1/reservations/77", token: owner).text == #"{"id":77}"#)
            #expect(try await client.send(.get, "/v1/reservations/abc", token: owner).status == .notFound)
        }
    }

    /// The position of a queued request counts what is ahead of it in the queue it waits in now; the ETA is the
    /// cost model's time for that many plus one.
    @Test func positionAndETAComeFromTheQueueTheRequestWaitsIn() async throws {
        let store = MemoryIntakeStore()
        let forwarded = RequestID.random(queue: .general)
        let waiting = RequestID.random(queue: .performance(3))
        store.update {
            // Forwarded from the general queue (where 40 requests are finished) to performance 3's, as its 12th.
            $0.statuses[forwarded] = .queued(userID: 1, kind: .reserve, sequence: 12, position: 39, queue: .performance(3))
            $0.statuses[waiting] = .queued(userID: 1, kind: .reserve, sequence: 9, position: 8, queue: nil)
            $0.finished[.general] = 40
            $0.finished[.performance(3)] = 4
            $0.costModel = nil
        }
        let harness = try RouterHarness(store: store)
        try await harness.run { client in
            let token = try harness.token(user: 1)
            let moved = try await client.send(.get, "/v1/requests/\(forwarded.rawValue)", token: token)
            #expect(moved.json?["position"] as? Int == 7, "12th in its performance's queue, 4 finished: \(moved.text)")
            #expect(moved.json?["status"] as? String == "queued" && moved.json?["kind"] as? String == "reserve")
            let plain = try await client.send(.get, "/v1/requests/\(waiting.rawValue)", token: token)
            #expect(plain.json?["position"] as? Int == 4, "\(plain.text)")
            #expect(plain.json?["etaSeconds"] as? Double == 0, "no cost model yet: \(plain.text)")
        }
    }
}
