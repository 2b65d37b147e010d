import Foundation
import RedisStore
import ReservationCore

/// Publishes committed batches to Redis on a thread of its own while the pass takes, decides and commits the
/// next batch, so Redis and MariaDB work at the same time instead of in turn.
///
/// Threads: one Foundation `Thread` (`batch-publisher`) owning one Redis connection (or cluster connection) that no other thread
/// touches. The pass's thread hands over one publication at a time through a slot guarded by `condition`:
/// `submit` first waits for the previous publication to finish, so at most one committed batch is unpublished
/// at any moment, publications stay in commit order, and a failure surfaces at the next `submit` or `drain`.
/// A batch stays in flight in Redis until its own publication finishes it (under the queue's fence), so a pass that
/// dies with a publication pending leaves that batch to the queue's next owner, which finds it decided in MariaDB
/// and publishes it again.
final class BatchPublisher: @unchecked Sendable {
    // `@unchecked Sendable`: every `var` below is read and written only with `condition` locked.
    private let condition = NSCondition()
    private var pending: Job?
    private struct Job {
        var publication: PassQueues.Publication
        var batch: TakenBatch?
        var lease: QueueLease
    }
    private var busy = false
    private var failure: (any Error)?
    private var stopped = false
    /// Seconds the thread spent publishing (overlapped with the pass's own work).
    private var publishingSeconds = 0.0

    init(redisURL: RedisURL) throws {
        // Created here so that an unreachable Redis fails the pass at once; from then on only the thread uses it.
        nonisolated(unsafe) let queues = PassQueues(redis: try connectRedis(url: redisURL))
        let thread = Thread { [self] in run(queues) }
        thread.name = "batch-publisher"
        thread.start()
    }

    /// Hands over a committed batch's publication. Waits for the previous one; rethrows its failure (the pass
    /// must stop then: later batches are committed but would be published out of order).
    func submit(_ publication: PassQueues.Publication, finishing batch: TakenBatch?, lease: QueueLease) throws {
        condition.lock()
        defer { condition.unlock() }
        try waitUntilIdle()
        pending = Job(publication: publication, batch: batch, lease: lease)
        busy = true
        condition.broadcast()
    }

    /// Waits until everything handed over is published; rethrows a failure (once: the next visit starts clean).
    func drain() throws {
        condition.lock()
        defer { condition.unlock() }
        try waitUntilIdle()
    }

    /// With `condition` locked: waits until the thread is idle, then rethrows its failure, if any, once.
    private func waitUntilIdle() throws {
        while busy { condition.wait() }
        if let failure {
            self.failure = nil
            throw failure
        }
    }

    /// Seconds spent publishing so far.
    var secondsPublishing: Double {
        condition.lock()
        defer { condition.unlock() }
        return publishingSeconds
    }

    /// Lets the thread finish what it holds, then end. Call once, after `drain`.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run(_ queues: PassQueues) {
        let clock = ContinuousClock()
        while true {
            condition.lock()
            while pending == nil && !stopped { condition.wait() }
            guard let job = pending else {
                condition.unlock()
                queues.redis.close()
                return
            }
            pending = nil
            condition.unlock()

            let start = clock.now
            var error: (any Error)?
            do {
                try queues.publish(job.publication, finishing: job.batch, queue: job.lease.queue, fence: job.lease.token)
            } catch let failed {
                error = failed
            }

            condition.lock()
            publishingSeconds += (clock.now - start).seconds
            if let error, failure == nil { failure = error }
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
