import Foundation
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

extension IntegrationSuite {
    @Suite(.serialized) struct Faults {
        /// Redis goes away under the ingest: 503 and nothing half-queued; Redis comes back: served again without
        /// a restart, and the request acknowledged before the outage is still queued (AOF, fsync always).
        @Test func ingestRidesOutARedisRestart() async throws {
            try Stack.reset()
            let redis = try PrivateRedis()
            defer { redis.stop() }
            let ingest = try await IngestHarness(environment: ["CONCERT_REDIS_URL": redis.url])
            defer { ingest.stop() }
            let token = try Stack.token(user: 3)

            let (before, body) = try await ingest.send("POST", "/v1/performances/1/reservations", token: token, json: #"{"seatIds":[1]}"#)
            #expect(before == 202)
            redis.stop()
            let (during, error) = try await ingest.send("POST", "/v1/performances/1/reservations", token: token, json: #"{"seatIds":[2]}"#)
            #expect(during == 503)
            #expect((error?["error"] as? [String: Any])?["code"] as? String == "UNAVAILABLE")
            #expect(try await ingest.send("GET", "/healthz").0 == 503)

            try redis.start()
            var after = 0
            for _ in 0..<30 where after != 202 {
                after = try await ingest.send("POST", "/v1/performances/1/reservations", token: token, json: #"{"seatIds":[3]}"#).0
                if after != 202 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(after == 202)
            #expect(try await ingest.send("GET", "/healthz").0 == 200)

            // The first request survived the restart; the refused one was never queued.
            let connection = try RedisConnection(url: try RedisURL(parsing: redis.url))
            let queued = try PassQueues(redis: connection).depth(.general)
                + (try PassQueues(redis: connection).depth(.performance(1)))
            #expect(queued == 2)
            let text = try #require(body?["requestId"] as? String)
            let id = try #require(RequestID(text))
            #expect(try connection.command(["EXISTS", RedisKeys.status(id)]).int == 1)
        }

        /// MariaDB shuts down in the middle of a flush: the pass exits 1 with a one-line reason, no half batch is
        /// visible, and after a restart the next flush finishes the work; verify is clean.
        @Test func mariaDBDownMidPass() async throws {
            try Stack.reset()
            let maria = try PrivateMariaDB()
            defer { maria.stop() }
            let environment = ["CONCERT_MARIADB_URL": maria.url]
            try Stack.run("concert-admin", ["migrate"], environment: environment).requireSuccess()
            let performance = try Stack.createPerformance(seats: 5_000, environment: environment)
            let requests = CrashRecovery.requests(count: 20_000, seats: 5_000, users: 6_000, performance: performance, seed: 3)
            try BulkIntake(redis: try Stack.redis()).enqueue(requests)

            let flush = try Stack.start("concert-batch", ["flush", "--batch-size", "200"], environment: environment)
            try await Stack.waitForOutcomes(atLeast: 2_000, url: maria.url) { maria.stop() }
            let failed = flush.wait()
            #expect(failed.status == 1, "a pass that lost MariaDB fails: \(failed.stderr)")
            #expect(failed.stderr.split(separator: "\n").count == 1, "one line on stderr: \(failed.stderr)")

            try maria.start()
            let db2 = try MariaDBConnection(url: try MariaDBURL(parsing: maria.url))
            // Only whole batches are visible: outcomes come in multiples of the batch size, plus nothing half-done.
            let committed = Int(try db2.query("SELECT COUNT(*) FROM request_outcomes").first?.first?.int ?? -1)
            #expect(committed > 0 && committed < 20_000 && committed % 200 == 0, "committed \(committed)")

            try Stack.run("concert-batch", ["flush"], environment: environment).requireSuccess()
            #expect(try db2.query("SELECT COUNT(*) FROM request_outcomes").first?.first?.int == 20_000)
            try Stack.run("concert-admin", ["verify"], environment: environment).requireSuccess()
            #expect(try Stack.requestsLeftInQueues() == 0)
        }

        /// Redis goes away in the middle of a flush (so batches get committed to MariaDB with nothing published):
        /// the pass exits 1; after Redis is back, the next flush publishes what was committed and finishes the rest.
        @Test func redisDownMidPassThenPublishedByTheNextRun() async throws {
            try Stack.reset()
            let redis = try PrivateRedis()
            defer { redis.stop() }
            let environment = ["CONCERT_REDIS_URL": redis.url]
            let performance = try Stack.createPerformance(seats: 5_000, environment: environment)
            let requests = CrashRecovery.requests(count: 20_000, seats: 5_000, users: 6_000, performance: performance, seed: 5)
            let connection = try RedisConnection(url: try RedisURL(parsing: redis.url))
            try BulkIntake(redis: connection).enqueue(requests)

            let flush = try Stack.start("concert-batch", ["flush", "--batch-size", "200"], environment: environment)
            try await Stack.waitForOutcomes(atLeast: 2_000) { redis.stop() }
            let failed = flush.wait()
            #expect(failed.status == 1, "a pass that lost Redis fails: \(failed.stderr)")
            let db = try Stack.database()
            let committed = Int(try db.query("SELECT COUNT(*) FROM request_outcomes").first?.first?.int ?? -1)
            #expect(committed > 0 && committed < 20_000)

            try redis.start()
            try Stack.run("concert-batch", ["flush"], environment: environment).requireSuccess()
            #expect(try db.query("SELECT COUNT(*) FROM request_outcomes").first?.first?.int == 20_000)
            // Every request's status is published and is the recorded one.
            let after = try RedisConnection(url: try RedisURL(parsing: redis.url))
            var unpublished = 0
            for start in stride(from: 0, to: requests.count, by: 5_000) {
                let chunk = requests[start..<min(start + 5_000, requests.count)]
                for reply in try after.pipeline(chunk.map { ["GET", RedisKeys.status($0.id)] }) {
                    if !(reply.string?.hasPrefix("F|") ?? false) { unpublished += 1 }
                }
            }
            #expect(unpublished == 0)
            try Stack.run("concert-admin", ["verify"], environment: environment).requireSuccess()
        }
    }
}
