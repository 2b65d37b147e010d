import Foundation
import RedisStore
import ReservationCore
import Testing

extension IntegrationSuite {
    @Suite(.serialized) struct PassLock {
        /// Two `run`s started at once: one works, the other exits 0 at once saying the lock is held, and writes no
        /// metrics file of its own.
        @Test func twoRunsAtOnceOneWorksOneSaysTheLockIsHeld() throws {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 5_000)
            try BulkIntake(redis: try Stack.redis()).enqueue(
                CrashRecovery.requests(count: 20_000, seats: 5_000, users: 6_000, performance: performance, seed: 11)
            )
            let metrics = FileManager.default.temporaryDirectory.appendingPathComponent("concert-lock-\(UUID().uuidString).prom")
            let environment = ["CONCERT_METRICS_FILE": metrics.path]
            let first = try Stack.start("concert-batch", ["run", "--budget", "30", "--batch-size", "500"], environment: environment)
            // Start the second once the first holds the lock (its key exists in Redis), however slow the machine.
            let redis = try Stack.redis()
            for _ in 0..<200 where try redis.command(["EXISTS", RedisKeys.lock(.general)]).int != 1 {
                Thread.sleep(forTimeInterval: 0.05)
            }
            #expect(try redis.command(["EXISTS", RedisKeys.lock(.general)]).int == 1, "the first run took the lock")
            let second = try Stack.run("concert-batch", ["run", "--budget", "30"], environment: environment)
            let firstResult = first.wait()
            try firstResult.requireSuccess()
            #expect(second.status == 0)
            #expect(second.stdout.contains("another pass holds the lock"), "second run: \(second.stdout) \(second.stderr)")
            #expect(!second.stdout.contains("pass done"))
            #expect(firstResult.stdout.contains("pass done"))
            // The working run's file: it counted the requests (the lock-held run did not overwrite it).
            let text = try String(contentsOf: metrics, encoding: .utf8)
            #expect(text.contains("concert_batch_last_run_success 1"))
            #expect(text.contains("concert_batch_requests_total{kind=\"reserve\",outcome=\"done\"}"))
            #expect(try Stack.requestsLeftInQueues() == 0)
        }
    }
}
