import Foundation
import Logging
import MariaDBStore
import RedisStore
import ReservationCore

/// The bulk allocation pass: lock, drain, decide (in the core), commit (one transaction per batch), publish.
///
/// Threads: none of its own. A pass runs on the thread that calls it and owns one Redis and one MariaDB
/// connection for its whole life; every call blocks, which is right for a command-line job with no event loop.
///
/// Locking: one lock for the whole pass (a Redis key with a lease, renewed after every batch), so exactly
/// one pass at a time works on any performance, across processes and machines. A pass killed with SIGKILL
/// leaves its lease to lapse (`leaseMillis`) and its taken requests in the in-flight lists, which the next
/// pass finishes first. If a lease ever lapsed under a stalled pass, the schema still refuses a second live
/// hold of a seat and a second outcome for a request, so the slower pass's batch fails and is retried.
public final class BatchPass {
    public enum Mode: Sendable {
        /// One sweep over every queue (expiring holds everywhere), then more until the queues are empty or the
        /// budget is spent. Gives up at once if another pass holds the lock.
        case run(budgetSeconds: Double)
        /// Waits up to `lockTimeoutSeconds` for the lock, then drains every queue to empty.
        case flush(lockTimeoutSeconds: Double)
    }

    public enum Result: Sendable {
        case completed(PassSummary)
        case lockHeld
    }

    let configuration: BatchConfiguration
    let logger: Logger
    let queues: PassQueues
    let database: ReservationDatabase
    let caches: CachePublisher
    /// Publishes committed batches on its own thread and connection while this one works on the next batch.
    let publisher: BatchPublisher
    let lockToken = RequestID.random(queue: .general).rawValue
    var model: BatchCostModel
    var summary = PassSummary()
    var clock = ContinuousClock()
    var batchNumber = 0
    /// Seats of each performance visited, loaded once per pass (we hold the lock, so nobody else changes them)
    /// and kept current as batches commit and holds expire. A missing key: not loaded yet; nil: no such performance.
    var inventories: [QueueName: PerformanceInventory?] = [:]
    /// Batches one queue gets per visit before the sweep moves on, so one busy performance cannot starve the
    /// others' expiry and requests (at the 250 ms target, about two seconds).
    static let batchesPerVisit = 8
    /// Performances whose seat map changed since it was last published, and when each was last published.
    /// Rebuilding a 100,000-seat map costs about as much as a batch, so during a long drain it is published at
    /// most every `seatMapInterval`, and always at the end of the pass (reads lag by at most one pass).
    var staleSeatMaps: Set<Int64> = []
    var seatMapPublished: [Int64: ContinuousClock.Instant] = [:]
    static let seatMapInterval: Duration = .seconds(30)
    /// Called after every batch (progress lines, tests that kill the pass mid-way).
    public var onBatch: ((PassSummary) -> Void)?

    public init(configuration: BatchConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let redis: RedisConnection
        do {
            redis = try RedisConnection(url: configuration.redisURL)
        } catch {
            throw ConfigurationError("Redis at \(configuration.redisURL.host):\(configuration.redisURL.port) is unreachable: \(error)")
        }
        let maria: MariaDBConnection
        do {
            maria = try MariaDBConnection(url: configuration.mariaDBURL)
        } catch {
            throw ConfigurationError("MariaDB at \(configuration.mariaDBURL.socket ?? "\(configuration.mariaDBURL.host):\(configuration.mariaDBURL.port)") is unreachable: \(error)")
        }
        self.queues = PassQueues(redis: redis)
        self.publisher = try BatchPublisher(redisURL: configuration.redisURL)
        self.database = ReservationDatabase(connection: maria)
        self.caches = CachePublisher(database: database, queues: queues)
        self.model = BatchCostModel()
    }

    deinit {
        publisher.stop()
    }

    /// Runs the pass. Throws when Redis or MariaDB fails; whatever was committed stays committed, and whatever was
    /// taken but not committed stays in flight for the next pass.
    public func execute(_ mode: Mode) throws -> Result {
        let start = clock.now
        if let stored = try queues.loadCostModel() { model = BatchCostModel(serialized: stored) }
        guard try acquireLock(mode) else { return .lockHeld }
        defer {
            // Whatever the outcome, the publisher finishes (or fails) before another pass may start.
            try? publisher.drain()
            try? queues.releaseLock(.general, token: lockToken)
        }

        // The first sweep visits every queue whatever the budget (so every performance's holds expire); later
        // sweeps go round the queues until they are empty or the budget is spent.
        let deadline: ContinuousClock.Instant? = if case .run(let budget) = mode { start + .seconds(budget) } else { nil }
        var sweep = 0
        while true {
            sweep += 1
            var workLeft = false
            for queue in try queuesToVisit() {
                if let deadline, sweep > 1, clock.now >= deadline { break }
                try visit(queue, deadline: sweep > 1 ? deadline : nil)
                let waiting = try queues.depth(queue)
                let inFlight = try queues.inflightCount(queue)
                if waiting > 0 || inFlight > 0 { workLeft = true }
            }
            if !workLeft { break }
            if let deadline, clock.now >= deadline { break }
        }
        try publisher.drain()
        for performance in staleSeatMaps.sorted() { try publishSeatMap(performance) }
        try caches.publishPerformanceList(now: now())
        try queues.saveCostModel(model.serialized)
        summary.fit = model.fit
        summary.publishingSeconds = publisher.secondsPublishing
        summary.seconds = (clock.now - start).seconds
        return .completed(summary)
    }

    public var currentSummary: PassSummary { summary }
    public var costModel: BatchCostModel { model }

    // MARK: Lock

    private func acquireLock(_ mode: Mode) throws -> Bool {
        let waitUntil: ContinuousClock.Instant
        switch mode {
        case .run: waitUntil = clock.now
        case .flush(let timeout): waitUntil = clock.now + .seconds(timeout)
        }
        var announced = false
        while true {
            if try queues.tryLock(.general, token: lockToken, leaseMillis: configuration.leaseMillis) { return true }
            if clock.now >= waitUntil { return false }
            if !announced {
                logger.info("waiting for the pass lock held by another pass")
                announced = true
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    private func renewLock() throws {
        guard try queues.renewLock(.general, token: lockToken, leaseMillis: configuration.leaseMillis) else {
            throw PassError.lostLock
        }
    }

    // MARK: Queues

    /// Registered queues plus every upcoming performance (whose holds must expire even with an empty queue).
    private func queuesToVisit() throws -> [QueueName] {
        var visit = Set(try queues.knownQueues())
        for performance in try database.upcomingPerformanceIDs(now: now()) { visit.insert(.performance(performance)) }
        // The general queue goes first: it forwards requests into the performance queues.
        return visit.sorted { ($0 == .general ? "" : $0.tag) < ($1 == .general ? "" : $1.tag) }
    }

    /// One visit of a queue: expire its performance's overdue holds, finish what a dead pass left in flight, then
    /// up to `batchesPerVisit` batches.
    private func visit(_ queue: QueueName, deadline: ContinuousClock.Instant?) throws {
        var seatMapChanged = false
        var timings: [BatchTiming] = []  // [batch history] one record per batch, written when the visit ends
        defer { record(timings) }  // [batch history] (BatchHistoryRecording.swift; never throws)
        if case .performance(let id) = queue {
            if inventories[queue] == nil {
                inventories[queue] = try database.loadInventory(performance: id)
                try renewLock()
            }
            let expired = try database.expireHolds(performance: id, now: now())
            if !expired.isEmpty {
                for reservation in expired {
                    inventories[queue]??.release(reservation.seatIDs, of: reservation.userID)
                }
                var publication = PassQueues.Publication()
                publication.reservations = expired
                try queues.publishCaches(publication)
                summary.expired += expired.count
                timings.append(.expiry(queue: queue, holds: expired.count, atMillis: BatchTiming.nowMillis()))  // [batch history]
                seatMapChanged = true
                logger.info("expired holds", metadata: ["queue": "\(queue)", "holds": "\(expired.count)"])
            }
        }
        var inventory = inventories[queue] ?? nil
        defer { if case .performance = queue { inventories[queue] = inventory } }

        let leftovers = try queues.inflight(queue)
        if !leftovers.isEmpty {
            logger.notice("finishing batches an interrupted pass left in flight", metadata: [
                "queue": "\(queue)", "batches": "\(leftovers.count)", "requests": "\(leftovers.map(\.entries.count).reduce(0, +))",
            ])
            for batch in leftovers {
                try process(batch, inventory: &inventory, recovered: true)
                try renewLock()
            }
            seatMapChanged = true
        }
        for _ in 0..<Self.batchesPerVisit {
            if let deadline, clock.now >= deadline { break }
            let size = nextBatchSize()
            let batchStart = clock.now
            let predicted = model.fit?.predictedSeconds(size: size)
            let stagesBefore = summary.stageSeconds
            let (outcomesBefore, takenAtMillis) = (summary.outcomes, BatchTiming.nowMillis())  // [batch history]
            guard let batch = try timed(.take, { try queues.take(queue, limit: size) }) else { break }
            try process(batch, inventory: &inventory, recovered: false)
            let seconds = (clock.now - batchStart).seconds
            timings.append(BatchTiming(  // [batch history]
                queue: queue, takenAtMillis: takenAtMillis, seconds: seconds, entries: batch.entries,  // [batch history]
                outcomes: BatchTiming.outcomes(summary.outcomes, since: outcomesBefore)))  // [batch history]
            if let predicted, batch.entries.count == size, seconds > 0 {
                summary.predictionErrors.append(abs(predicted - seconds) / seconds)
            }
            let stages = PassSummary.Stage.allCases.map { stage in
                "\(stage)=" + String(format: "%.4f", (summary.stageSeconds[stage] ?? 0) - (stagesBefore[stage] ?? 0))
            }.joined(separator: " ")
            logger.debug("batch done", metadata: [
                "queue": "\(queue)", "batch": "\(batch.number)", "size": "\(batch.entries.count)",
                "seconds": "\(String(format: "%.4f", seconds))",
                "predicted": "\(predicted.map { String(format: "%.4f", $0) } ?? "none")",
                "stages": "\(stages)",
            ])
            model.record(size: batch.entries.count, seconds: seconds)
            seatMapChanged = true
            try renewLock()
        }
        // The queue's depth and in-flight count, read next, must see this visit's batches published.
        try timed(.publishWait) { try publisher.drain() }
        if case .performance(let id) = queue, inventory != nil {
            if seatMapChanged { staleSeatMaps.insert(id) }
            let due = seatMapPublished[id].map { clock.now - $0 >= Self.seatMapInterval } ?? true
            let missing = try !queues.hasSeatMap(performance: id)
            if (staleSeatMaps.contains(id) && due) || missing {
                try publishSeatMap(id)
            }
        }
    }

    private func publishSeatMap(_ performance: Int64) throws {
        try caches.publishSeatMap(performance: performance, now: now())
        staleSeatMaps.remove(performance)
        seatMapPublished[performance] = clock.now
    }

    private func nextBatchSize() -> Int {
        if let fixed = configuration.fixedBatchSize { return min(fixed, largestRecordableBatch) }
        batchNumber += 1
        let bounds = configuration.batchSizeBounds
        let upper = max(bounds.lowerBound, min(bounds.upperBound, largestRecordableBatch))
        return model.nextBatchSize(
            targetSeconds: configuration.targetBatchSeconds, bounds: bounds.lowerBound...upper, probe: batchNumber
        )
    }

    /// A batch's record is one row, sent as one packet: at most `BatchRecord.maxBytesPerRequest` a request, it
    /// must fit MariaDB's `max_allowed_packet` (read once per pass), or every pass would fail on the same batch.
    private lazy var largestRecordableBatch: Int = {
        let packet = (try? database.maxAllowedPacket()) ?? 16 << 20
        let largest = max(1, (packet - 64 << 10) / BatchRecord.maxBytesPerRequest)
        let asked = configuration.fixedBatchSize ?? configuration.batchSizeBounds.upperBound
        if asked > largest {
            // Every run would say it again (the timer starts one every 2 s): debug, and documented in README.
            logger.debug("batches capped so that their record fits max_allowed_packet", metadata: [
                "max_allowed_packet": "\(packet)", "largest batch": "\(largest)", "asked for": "\(asked)",
            ])
        }
        return largest
    }()

    // MARK: One batch

    /// Decides and commits one batch, then publishes it. A batch taken over from an interrupted pass is first
    /// looked up in MariaDB: if its record is there it was committed, and only its publication is repeated.
    /// Retries (at most three times) when the database refuses the batch for a duplicate (this batch's record or
    /// a seat: another pass got there first, so it looks for the record again) or a deadlock.
    private func process(_ batch: TakenBatch, inventory: inout PerformanceInventory?, recovered: Bool) throws {
        let queue = batch.queue
        var stage = clock.now
        var requests: [QueuedRequest] = []
        var seen: Set<RequestID> = []
        var unreadable: [String] = []
        requests.reserveCapacity(batch.entries.count)
        for entry in batch.entries {
            do {
                let request = try QueuedRequest(wireFormat: entry)
                // The same request twice in one batch (an entry pushed twice by hand) is decided once.
                if seen.insert(request.id).inserted { requests.append(request) }
            } catch {
                unreadable.append(entry)
                logger.error("unreadable queue entry set aside", metadata: ["queue": "\(queue)", "entry": "\(entry.prefix(80))"])
            }
        }
        let key = BatchRecord.key(queue: queue, number: batch.number, entries: batch.entries)
        lap(.parse, since: &stage)

        var lookForRecord = recovered
        var attempt = 0
        while true {
            attempt += 1
            if lookForRecord, let recorded = try database.recordedBatch(key) {
                try publisher.drain()
                var publication = PassQueues.Publication()
                publication.results = recorded.results
                publication.forwarded = recorded.forwarded.map { ($0.queue, $0.entry) }
                publication.unreadable = unreadable
                // The caches its publication would have written, from what MariaDB holds now.
                if !recorded.reservationIDs.isEmpty {
                    publication.reservations = try database.reservations(recorded.reservationIDs).values.sorted { $0.id < $1.id }
                }
                if !recorded.balanceUsers.isEmpty {
                    let balances = try database.balances(recorded.balanceUsers)
                    publication.balances = Set(recorded.balanceUsers).sorted().map { ($0, balances[$0] ?? 0) }
                    publication.asOf = now()
                }
                try queues.publish(publication, finishing: batch)
                summary.replayed += recorded.results.count
                summary.forwarded += recorded.forwarded.count
                summary.unreadable += unreadable.count
                // Its seats are already in `inventory`: loaded from MariaDB at this visit's start or after a refusal.
                lap(.publish, since: &stage)
                return
            }
            do {
                let reserveCount = requests.count(where: { $0.kind == .reserve })
                let startState = inventory
                let knownPerformances: Set<Int64> = queue == .general ? try database.allPerformanceIDs() : []
                let (plan, endState) = try database.connection.transaction { () throws -> (BatchPlan, BatchState) in
                    var ids = try database.reserveIDsInTransaction(count: reserveCount)
                    let reservationIDs = requests.filter { $0.kind == .pay || $0.kind == .cancel }.map(\.reservationID)
                    let payers = requests.filter { $0.kind != .reserve }.map(\.userID)
                    var state = BatchState(
                        inventory: startState,
                        reservations: reservationIDs.isEmpty ? [:] : try database.lockReservations(reservationIDs),
                        balances: payers.isEmpty ? [:] : try database.lockBalances(payers),
                        knownPerformances: knownPerformances
                    )
                    lap(.read, since: &stage)
                    let plan = Allocator.decide(
                        requests, from: queue, state: &state, ids: &ids, now: now(), holdSeconds: configuration.holdSeconds
                    )
                    lap(.decide, since: &stage)
                    try database.write(plan, balances: state.balances, batchKey: key)
                    lap(.write, since: &stage)
                    return (plan, state)
                }
                lap(.commit, since: &stage)
                // Committed: the in-memory seats follow, then Redis.
                inventory = endState.inventory
                var publication = PassQueues.Publication()
                publication.decided = plan.results
                publication.reservations = plan.created + plan.changed
                publication.forwarded = plan.forwarded.map { ($0.0, $0.1.wireFormat) }
                publication.unreadable = unreadable
                publication.balances = Set(plan.ledger.map(\.userID)).sorted().map { ($0, endState.balances[$0] ?? 0) }
                publication.asOf = now()
                try publisher.submit(publication, finishing: batch)
                lap(.publishWait, since: &stage)
                summary.count(plan)
                summary.unreadable += unreadable.count
                summary.batches += 1
                summary.lastBatchSize = batch.entries.count
                onBatch?(summary)
                return
            } catch let error as MariaDBError where (error.isDuplicateKey || error.isDeadlockOrLockTimeout) && attempt < 3 {
                logger.warning("batch refused by the database; retrying it", metadata: [
                    "queue": "\(queue)", "batch": "\(key)", "error": "\(error)", "attempt": "\(attempt)",
                ])
                lookForRecord = true
                // Someone else changed this performance (a lapsed lease): start again from the database.
                if case .performance(let id) = queue { inventory = try database.loadInventory(performance: id) }
            }
        }
    }

    private func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// Adds the time since `mark` to `stage` and moves `mark` to now.
    private func lap(_ stage: PassSummary.Stage, since mark: inout ContinuousClock.Instant) {
        let now = clock.now
        summary.stageSeconds[stage, default: 0] += (now - mark).seconds
        mark = now
    }

    private func timed<T>(_ stage: PassSummary.Stage, _ body: () throws -> T) rethrows -> T {
        var mark = clock.now
        defer { lap(stage, since: &mark) }
        return try body()
    }
}

public enum PassError: Error, CustomStringConvertible {
    case lostLock

    public var description: String {
        switch self {
        case .lostLock: "the pass lock's lease lapsed (a batch took longer than the lease); stopping so that the new holder works alone"
        }
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension BatchPass {
    /// Queue depth and oldest age per performance not yet started, for the metrics file.
    public func queueGauges() throws -> [MetricsFile.QueueGauge] {
        let nowMillis = Date().timeIntervalSince1970 * 1000
        return try database.upcomingPerformanceIDs(now: now()).map { performance in
            let queue = QueueName.performance(performance)
            let depth = try queues.depth(queue)
            let oldest = try queues.oldestAcceptedAt(queue)
            return MetricsFile.QueueGauge(
                performanceID: performance, depth: depth,
                oldestAgeSeconds: oldest.map { max(0, (nowMillis - Double($0)) / 1000) } ?? 0
            )
        }
    }
}
