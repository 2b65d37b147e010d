import Foundation
import Logging
import MariaDBStore
import RedisStore
import ReservationCore

/// The bulk allocation pass: sweep the live queues, and for each one this process can claim, visit it under its
/// lease (`QueueVisit`: take → decide → commit → publish, batch after batch), then give the lease back.
///
/// Threads: none of its own. A pass runs on the thread that calls it and owns one Redis and one MariaDB
/// connection for its whole life (plus the publisher's thread and connection); every call blocks, which is right
/// for a command-line job with no event loop.
///
/// Ownership: one lease per queue, kept in the queue's own Redis slot, with a fencing token that grows with every
/// acquisition. Several processes, on one machine or many, share the queues: each visits the live queues in its
/// own order (rendezvous hashing), works on those whose lease it gets and leaves the others. A process killed
/// with SIGKILL leaves its lease to lapse and its taken batches in flight, which the queue's next owner finishes
/// first; a process stalled past its lease finds, when it wakes, every write refused by the token it carries.
public final class BatchPass {
    public enum Mode: Sendable {
        /// One sweep over every live queue (so due holds expire everywhere), then on until the queues are empty.
        /// With a budget, on until the budget is spent instead: when the queues are empty it waits for requests
        /// (woken within milliseconds of one arriving), and it takes no new batch once the budget is spent.
        case run(budgetSeconds: Double?)
        /// Drains every queue to empty, waiting up to `lockTimeoutSeconds` for queues another process works on.
        case flush(lockTimeoutSeconds: Double)
    }

    public enum Result: Sendable {
        case completed(PassSummary)
        /// Work was waiting, but every live queue was held by another process the whole time.
        case claimedNothing(PassSummary)
    }

    let context: PassContext
    let live: LiveQueues

    /// Called after every batch (progress lines, tests that kill the pass mid-way).
    public var onBatch: ((PassSummary) -> Void)? {
        get { context.onBatch }
        set { context.onBatch = newValue }
    }

    public init(configuration: BatchConfiguration, logger: Logger) throws {
        context = try PassContext(configuration: configuration, logger: logger)
        live = LiveQueues(queues: context.queues, database: context.database, holder: configuration.holder)
    }

    /// Called about every `checkpointInterval` during a run, between visits (the metrics file is written then).
    public var onCheckpoint: ((BatchPass) -> Void)?
    public static let checkpointInterval: Duration = .seconds(15)
    private var lastCheckpoint: ContinuousClock.Instant?

    private func checkpointIfDue() {
        let now = context.clock.now
        guard let last = lastCheckpoint else {
            lastCheckpoint = now
            return
        }
        guard now - last >= Self.checkpointInterval else { return }
        lastCheckpoint = now
        // The ingest's ETAs read the model: during a long run it is saved at each checkpoint, not only at the end.
        do { try context.queues.saveCostModel(context.model.serialized) } catch {
            context.logger.warning("cost model not saved; the ingest's ETAs use the last one saved", metadata: ["error": "\(error)"])
        }
        onCheckpoint?(self)
    }

    public var currentSummary: PassSummary { context.summary }
    public var costModel: BatchCostModel { context.model }

    /// Runs the pass. Throws when Redis or MariaDB fails; whatever was committed stays committed, and whatever was
    /// taken but not committed stays in flight for the queue's next owner.
    public func execute(_ mode: Mode) throws -> Result {
        let clock = context.clock
        let start = clock.now
        if let stored = try context.queues.loadCostModel() { context.model = BatchCostModel(serialized: stored) }
        try CachePublisher(database: context.database, queues: context.queues).ensureBalancesComplete(now: context.nowSeconds)
        let deadline: ContinuousClock.Instant? = if case .run(let budget?) = mode { start + .seconds(budget) } else { nil }
        var waitingForHolders: ContinuousClock.Instant?
        var sweep = 0
        while true {
            sweep += 1
            let before = (context.summary.batches, context.summary.expired)
            let queues = try live.scan(nowSeconds: context.nowSeconds)
            var heldElsewhere: [QueueName] = []
            for queue in queues {
                if let deadline, sweep > 1, clock.now >= deadline { break }
                if context.configuration.shouldStop() { break }
                checkpointIfDue()
                if try !visit(queue, deadline: sweep > 1 ? deadline : nil) { heldElsewhere.append(queue) }
            }
            let progressed = (context.summary.batches, context.summary.expired) != before
            if let deadline, clock.now >= deadline { break }
            if context.configuration.shouldStop() {
                context.logger.notice("asked to stop: no new batch taken; what was committed is published")
                break
            }
            if progressed {
                waitingForHolders = nil
                continue
            }
            // Nothing more to do now: the queues are empty, or what is left belongs to other processes.
            if let deadline {
                try waitForWork(until: deadline, heldElsewhere: !heldElsewhere.isEmpty)
                checkpointIfDue()
                continue
            }
            guard case .flush(let timeout) = mode, !heldElsewhere.isEmpty else { break }
            if waitingForHolders == nil {
                waitingForHolders = clock.now
                context.logger.info("waiting for queues another process works on", metadata: [
                    "queues": "\(heldElsewhere.map(\.tag).joined(separator: ","))", "timeout": "\(timeout)",
                ])
            }
            if let since = waitingForHolders, clock.now - since >= .seconds(timeout) {
                throw PassError.queuesHeld(heldElsewhere, seconds: timeout)
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        try context.publisher.drain()
        try CachePublisher(database: context.database, queues: context.queues).publishPerformanceList(now: context.nowSeconds)
        try context.queues.saveCostModel(context.model.serialized)
        context.summary.fit = context.model.fit
        context.summary.publishingSeconds = context.publisher.secondsPublishing
        context.summary.seconds = (clock.now - start).seconds
        if context.summary.queuesWorked.isEmpty, !context.summary.queuesHeldElsewhere.isEmpty {
            return .claimedNothing(context.summary)
        }
        return .completed(context.summary)
    }

    /// Visits one queue if its lease can be had; false when another process holds it. A visit that fails for
    /// this queue alone (not because Redis or MariaDB is gone) is logged and counted, and the pass goes on.
    private func visit(_ queue: QueueName, deadline: ContinuousClock.Instant?) throws -> Bool {
        guard let lease = try context.leases.acquire(queue) else {
            context.summary.queuesHeldElsewhere.insert(queue)
            return false
        }
        context.summary.queuesHeldElsewhere.remove(queue)
        context.summary.queuesWorked.insert(queue)
        defer { releaseQuietly(lease) }
        do {
            _ = try QueueVisit(context: context, lease: lease).run(deadline: deadline)
        } catch let error as QueueFencedError {
            lostQueue(queue, error)
        } catch let error as StaleFenceError {
            lostQueue(queue, error)
        } catch let error as RedisError where error.isConnectionError {
            throw error
        } catch let error as MariaDBError where error.isConnectionLost {
            throw error
        } catch {
            context.summary.queueFailures += 1
            context.logger.error("queue visit failed; going on with the other queues", metadata: [
                "queue": "\(queue)", "error": "\(error)",
            ])
            do { try context.publisher.drain() } catch {
                context.logger.error("publication failed", metadata: ["queue": "\(queue)", "error": "\(error)"])
            }
        }
        return true
    }

    private func lostQueue(_ queue: QueueName, _ error: any Error) {
        if let performance = queue.performanceID { context.inventories[performance] = nil }
        context.logger.warning("lost the queue to a newer owner (this process was stalled past its lease); leaving it", metadata: [
            "queue": "\(queue)", "error": "\(error)",
        ])
        do { try context.publisher.drain() } catch {
            context.logger.notice("publication refused after losing the queue", metadata: ["queue": "\(queue)", "error": "\(error)"])
        }
    }

    /// Gives a lease back after a visit; a failure only delays the next owner until the lease lapses.
    private func releaseQuietly(_ lease: QueueLease) {
        do { try context.leases.release(lease) } catch {
            context.logger.warning("could not release a queue's lease; it lapses on its own", metadata: [
                "queue": "\(lease.queue)", "error": "\(error)",
            ])
        }
    }

    /// Waits for requests: arms every known queue to wake this process and blocks until woken or a second has
    /// passed (so due holds and queues freed by other processes are looked at again), never past the deadline.
    private func waitForWork(until deadline: ContinuousClock.Instant, heldElsewhere: Bool) throws {
        let left = (deadline - context.clock.now).seconds
        guard left > 0 else { return }
        let holder = context.configuration.holder
        let known = try context.queues.knownQueues()
        let armed = try context.queues.armWake(known, runner: holder, seconds: 60)
        // Work waits in a queue already (another process's, or one that filled meanwhile): look again soon.
        let pause = armed.count < known.count || heldElsewhere ? min(left, 0.1) : min(left, 1)
        _ = try context.queues.waitForWake(runner: holder, seconds: pause)
    }

    /// Queue depth and oldest age per performance not yet started, for the metrics file.
    public func queueGauges() throws -> [MetricsFile.QueueGauge] {
        let nowMillis = Double(context.nowMillis)
        return try context.database.upcomingPerformanceIDs(now: context.nowSeconds).map { performance in
            let queue = QueueName.performance(performance)
            let depth = try context.queues.depth(queue)
            let oldest = try context.queues.oldestAcceptedAt(queue)
            return MetricsFile.QueueGauge(
                performanceID: performance, depth: depth,
                oldestAgeSeconds: oldest.map { max(0, (nowMillis - Double($0)) / 1000) } ?? 0
            )
        }
    }
}

public enum PassError: Error, CustomStringConvertible {
    case queuesHeld([QueueName], seconds: Double)

    public var description: String {
        switch self {
        case .queuesHeld(let queues, let seconds):
            "queues \(queues.map(\.tag).joined(separator: ", ")) were held by another process for the whole --lock-timeout of \(seconds) s; try again, or raise it"
        }
    }
}

extension QueueName {
    var performanceID: Int64? { if case .performance(let id) = self { id } else { nil } }
}
