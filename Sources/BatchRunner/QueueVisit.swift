import Foundation
import Logging
import MariaDBStore
import RedisStore
import ReservationCore

/// One process's turn on one queue. It holds the queue's lease — and so its fencing token — from `run` to the
/// end of the visit: it claims the token in MariaDB first (ending a stalled older owner's open transaction if
/// need be), finishes what an earlier owner left in flight, then takes, decides, commits and publishes up to
/// `batchesPerVisit` batches, renewing the lease after each. Every write carries the token, so if this process
/// is itself stalled past its lease, its late writes are refused (`StaleFenceError`, `QueueFencedError`).
final class QueueVisit {
    /// Batches one queue gets per visit before the sweep moves on, so one busy performance cannot starve the
    /// others (at the 250 ms target, about two seconds).
    static let batchesPerVisit = 8
    /// Rebuilding a 100,000-seat map costs about as much as a batch, so during a long drain it is published at
    /// most this often, and always once the queue is empty.
    static let seatMapInterval: Duration = .seconds(30)

    let context: PassContext
    let lease: QueueLease
    var queue: QueueName { lease.queue }
    var performanceID: Int64? { queue.performanceID }
    /// The performance (nil for the general queue, or a performance that does not exist).
    var inventory: PerformanceInventory?
    /// When each performance begins (the general queue forwards reserves by it).
    var performances: [Int64: Int64] = [:]
    /// The oldest request waiting in the general queue at the visit's start: it may be a pay or cancel for this
    /// performance accepted on time, so no hold expires past it.
    var generalOldestMillis: Int64?
    var seatsChanged = false
    var batches = 0
    /// The visit's batches, for the batch history (the live page, `concert-batch report`).
    var timings: [BatchTiming] = []

    init(context: PassContext, lease: QueueLease) {
        self.context = context
        self.lease = lease
    }

    /// Does the visit; returns the number of batches committed. The lease is the caller's to release.
    func run(deadline: ContinuousClock.Instant?) throws -> Int {
        defer { context.record(timings) }
        var mark = context.clock.now
        try context.database.claimFence(queue: queue, token: lease.token, holder: lease.holder)
        try loadState()
        try republishUnfinishedCommits()
        context.lap(.claim, since: &mark)
        // What a dead or stalled owner left in flight goes first, in order.
        let leftovers = try context.queues.inflight(queue)
        if !leftovers.isEmpty {
            context.logger.notice("finishing batches an earlier owner left in flight", metadata: [
                "queue": "\(queue)", "batches": "\(leftovers.count)",
                "requests": "\(leftovers.map(\.entries.count).reduce(0, +))",
            ])
            for batch in leftovers {
                try timed(batch) { try process(batch) }
                try renew()
            }
        }
        while batches < Self.batchesPerVisit {
            if let deadline, context.clock.now >= deadline { break }
            if context.configuration.shouldStop() { break }
            let size = try context.nextBatchSize()
            let started = context.clock.now
            let takenAt = context.nowMillis
            var mark = started
            let predicted = context.model.fit?.predictedSeconds(size: size)
            guard let batch = try context.queues.take(queue, fence: lease.token, limit: size) else { break }
            context.lap(.take, since: &mark)
            let processed = try process(batch)
            let seconds = (context.clock.now - started).seconds
            note(batch, takenAt: takenAt, seconds: seconds, processed)
            if let predicted, batch.entries.count == size, seconds > 0 {
                context.summary.predictionErrors.append(abs(predicted - seconds) / seconds)
            }
            context.model.record(size: batch.entries.count, seconds: seconds)
            context.logger.debug("batch done", metadata: [
                "queue": "\(queue)", "batch": "\(batch.number)", "size": "\(batch.entries.count)",
                "seconds": "\(String(format: "%.4f", seconds))",
                "predicted": "\(predicted.map { String(format: "%.4f", $0) } ?? "none")",
            ])
            try renew()
        }
        // Nothing waited, but holds are due: a batch of no requests expires them.
        if batches == 0, leftovers.isEmpty, let due = inventory?.nextDeadline, Reservation.millis(due) <= context.nowMillis {
            let expired = try process(nil).expired
            if expired > 0 { timings.append(.expiry(queue: queue, holds: expired, atMillis: context.nowMillis)) }
        }
        // The queue's depth, read by the sweep next, must see this visit's batches finished.
        mark = context.clock.now
        try context.publisher.drain()
        context.lap(.publishWait, since: &mark)
        try publishSeatMapIfDue()
        context.lap(.seatMap, since: &mark)
        if let performanceID, let inventory { context.inventories[performanceID] = (lease.token, inventory) }
        return batches
    }

    /// The performance's inventory — kept from this process's last visit if nobody owned the queue since (the
    /// token is the next one), else loaded — and, for the general queue, when each performance begins.
    private func loadState() throws {
        if let performanceID {
            if let kept = context.inventories[performanceID], kept.token == lease.token - 1 {
                inventory = kept.inventory
            } else {
                inventory = try context.database.loadInventory(performance: performanceID)
            }
            context.inventories[performanceID] = nil
            generalOldestMillis = try context.queues.oldestAcceptedAt(.general)
        } else {
            performances = try context.database.performanceStarts()
        }
    }

    /// Processes a batch taken before this visit (left in flight), noting it in the history.
    private func timed(_ batch: TakenBatch, _ body: () throws -> Processed) throws {
        let (started, takenAt) = (context.clock.now, context.nowMillis)
        let processed = try body()
        note(batch, takenAt: takenAt, seconds: (context.clock.now - started).seconds, processed)
    }

    private func note(_ batch: TakenBatch, takenAt: Int64, seconds: Double, _ processed: Processed) {
        var timing = BatchTiming(queue: queue, takenAtMillis: takenAt, seconds: seconds, entries: batch.entries,
                                 outcomes: processed.outcomes)
        timing.expired = processed.expired
        timings.append(timing)
    }

    private func renew() throws {
        guard try context.leases.renew(lease) else { throw QueueFencedError(queue: queue) }
    }

    /// The seat map, under the fence: when seats changed and the last one is older than `seatMapInterval`, when
    /// seats changed and the queue is empty now, or when none was ever published.
    private func publishSeatMapIfDue() throws {
        guard let performanceID, let inventory else { return }
        let missing = try !context.queues.hasSeatMap(performance: performanceID)
        guard seatsChanged || missing else { return }
        let due = context.seatMapPublished[performanceID].map { context.clock.now - $0 >= Self.seatMapInterval } ?? false
        let drained = try context.queues.depth(queue) == 0
        guard missing || due || drained else { return }
        // From the performance kept in memory, as committed: no query, whatever the hall's size.
        let json = SeatMap.bytes(inventory, asOf: context.nowSeconds)
        try context.queues.publishSeatMap(performance: performanceID, json: json, fence: lease.token)
        context.seatMapPublished[performanceID] = context.clock.now
    }
}
