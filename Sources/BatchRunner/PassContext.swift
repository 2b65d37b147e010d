import Foundation
import Logging
import MariaDBStore
import RedisStore
import ReservationCore

/// What the pieces of one pass share: its connections, its running totals and what it keeps between visits.
///
/// Threads: the pass's own thread uses all of it; the publisher has its own thread and connection
/// (`BatchPublisher`). Nothing here is shared with another thread.
final class PassContext {
    let configuration: BatchConfiguration
    let logger: Logger
    let queues: PassQueues
    let leases: QueueLeases
    let database: ReservationDatabase
    /// Publishes committed batches on its own thread and connection while this one works on the next batch.
    let publisher: BatchPublisher
    let clock = ContinuousClock()
    var model: BatchCostModel
    var summary = PassSummary()
    /// Batches sized so far (the cost model probes around its target by batch parity).
    var sizedBatches = 0
    /// Each performance's inventory as of the end of this process's last visit, with that visit's token: valid
    /// for the next visit only if nobody else owned the queue in between (the next token is one more).
    var inventories: [Int64: (token: Int64, inventory: PerformanceInventory)] = [:]
    /// When each performance's seat map was last published.
    var seatMapPublished: [Int64: ContinuousClock.Instant] = [:]
    /// Called after every batch (progress lines, tests that kill the pass mid-way).
    var onBatch: ((PassSummary) -> Void)?

    /// How long a statement of the pass waits for a row lock.
    static let lockWaitSeconds = 3

    init(configuration: BatchConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let redis: any RedisCommanding
        do {
            redis = try connectRedis(url: configuration.redisURL)
        } catch {
            throw OperatorError("Redis at \(configuration.redisURL) is unreachable: \(error)")
        }
        let maria: MariaDBConnection
        do {
            maria = try MariaDBConnection(url: configuration.mariaDBURL)
        } catch {
            throw OperatorError("MariaDB at \(configuration.mariaDBURL) is unreachable: \(error)")
        }
        queues = PassQueues(redis: redis)
        leases = QueueLeases(redis: redis, holder: configuration.holder, leaseMillis: configuration.leaseMillis)
        publisher = try BatchPublisher(redisURL: configuration.redisURL)
        database = ReservationDatabase(connection: maria)
        // Row locks are held by one batch at a time for a fraction of a second; a longer wait means an owner
        // stalled inside its transaction, which the queue's next owner ends (`claimFence`).
        try database.limitLockWait(seconds: Self.lockWaitSeconds)
        model = BatchCostModel()
    }

    deinit {
        publisher.stop()
    }

    var nowMillis: Int64 { configuration.clock.nowMillis() }
    var nowSeconds: Int64 { configuration.clock.nowSeconds }

    /// The next batch's size: the cost model's choice (or the fixed size), capped so its record fits a packet.
    func nextBatchSize() throws -> Int {
        let largest = try largestRecordableBatch()
        if let fixed = configuration.fixedBatchSize { return min(fixed, largest) }
        sizedBatches += 1
        let bounds = configuration.batchSizeBounds
        let upper = max(bounds.lowerBound, min(bounds.upperBound, largest))
        return model.nextBatchSize(
            targetSeconds: configuration.targetBatchSeconds, bounds: bounds.lowerBound...upper, probe: sizedBatches
        )
    }

    private var recordableBatch: Int?

    /// A batch's record is one row, sent as one packet: at most `BatchRecord.maxBytesPerRequest` a request, it
    /// must fit MariaDB's `max_allowed_packet` (read once per pass), or every pass would fail on the same batch.
    private func largestRecordableBatch() throws -> Int {
        if let recordableBatch { return recordableBatch }
        let packet = try database.maxAllowedPacket()
        let largest = max(1, (packet - 64 << 10) / BatchRecord.maxBytesPerRequest)
        let asked = configuration.fixedBatchSize ?? configuration.batchSizeBounds.upperBound
        if asked > largest {
            // Every run would say it again (the timer starts one every few seconds): debug, and documented in README.
            logger.debug("batches capped so that their record fits max_allowed_packet", metadata: [
                "max_allowed_packet": "\(packet)", "largest batch": "\(largest)", "asked for": "\(asked)",
            ])
        }
        recordableBatch = largest
        return largest
    }

    /// Adds the time since `mark` to `stage` and moves `mark` to now.
    func lap(_ stage: PassSummary.Stage, since mark: inout ContinuousClock.Instant) {
        let now = clock.now
        summary.stageSeconds[stage, default: 0] += (now - mark).seconds
        mark = now
    }
}
