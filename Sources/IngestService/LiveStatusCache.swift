import Foundation
import Hummingbird
import Logging
import Metrics
import RedisStore
import ReservationCore
import Synchronization

/// The rendered `/v1/status` JSON, rebuilt from the store at most once per `maxAge` per process however many
/// viewers ask (`SingleFlightCache`: one rebuild at a time, every viewer meanwhile waits for it). Seat maps are
/// parsed again only when their bytes changed, so an unchanged 100,000-seat map costs one GET and one comparison
/// per rebuild, not a parse.
///
/// Threads: see `SingleFlightCache`. The builder's parsed seat maps are touched by the one rebuild in flight only,
/// behind a mutex held for assignments.
final class LiveStatusCache: Sendable {
    struct Rendered: Sendable {
        let body: ByteBuffer
        /// A strong validator: the same bytes always get the same tag, so an unchanged status answers 304.
        let etag: String
    }

    /// The one document this cache holds.
    private enum Document: Hashable, Sendable { case status }

    private let renders: SingleFlightCache<Document, Rendered>

    init(store: any IntakeStore, maxAge: Duration = .seconds(1), uptime: @escaping @Sendable () -> Double, logger: Logger) {
        let builder = StatusBuilder(store: store, logger: logger)
        renders = SingleFlightCache(maxAge: maxAge, uptime: uptime) { _, _ in try await builder.render() }
    }

    /// The current status: cached if younger than `maxAge`, else the result of the one rebuild in flight.
    /// Throws when the store could not be read (the caller answers 503).
    func current() async throws -> Rendered {
        try await renders.value(for: .status)
    }
}

/// Builds the status JSON from the store; called by one rebuild at a time.
private final class StatusBuilder: Sendable {
    private struct ParsedSeatMap {
        let bytes: [UInt8]
        /// nil: these bytes are not a seat map (remembered, so they are neither parsed nor logged again).
        let json: String?
    }

    private let store: any IntakeStore
    private let logger: Logger
    private let seatMaps = Mutex<[Int64: ParsedSeatMap]>([:])
    private let rebuilds = Counter(label: "concert_ingest_status_rebuilds_total")
    private let rebuildTime = Metrics.Timer(label: "concert_ingest_status_rebuild_seconds")

    init(store: any IntakeStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    func render() async throws -> LiveStatusCache.Rendered {
        let started = ContinuousClock.now
        let body = ByteBuffer(string: try await buildJSON())
        rebuilds.increment()
        rebuildTime.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        return LiveStatusCache.Rendered(body: body, etag: EntityTag.of(body))
    }

    private func buildJSON() async throws -> String {
        let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)
        let overview = try await store.statusOverview()
        let upcoming = LiveStatus.upcoming(performanceListJSON: overview.performanceListJSON, nowSeconds: nowMillis / 1000)
        let glances = try await store.performanceGlances(upcoming.map(\.id))
        let known = seatMaps.withLock { $0 }
        var seatMaps: [Int64: ParsedSeatMap] = [:]
        var performances: [LiveStatus.PerformanceState] = []
        for (performance, glance) in zip(upcoming, glances) {
            var seatMapJSON: String?
            if let bytes = glance.seatMapJSON {
                if let previous = known[performance.id], previous.bytes == bytes {
                    seatMaps[performance.id] = previous
                    seatMapJSON = previous.json
                } else {
                    let digest = SeatMapDigest(seatMapJSON: bytes)
                    if digest == nil {
                        logger.error("seat map cache is not in the shape of GET /v1/performances/{id}/seats; the live page shows this performance without seats until the pass publishes it again", metadata: [
                            "performance": "\(performance.id)", "bytes": "\(bytes.count)",
                        ])
                    }
                    let parsed = ParsedSeatMap(bytes: bytes, json: digest?.json)
                    seatMaps[performance.id] = parsed
                    seatMapJSON = parsed.json
                }
            }
            performances.append(LiveStatus.PerformanceState(
                performance: performance, seatMapJSON: seatMapJSON, queueDepth: glance.queue.depth,
                oldestAcceptedAtMillis: glance.queue.oldestAcceptedAtMillis
            ))
        }
        // Only the performances still listed are kept: a finished one's map is dropped with it.
        self.seatMaps.withLock { $0 = seatMaps }
        var batches: [BatchTiming] = []
        batches.reserveCapacity(overview.recentBatches.count)
        for text in overview.recentBatches {
            if let timing = BatchTiming(redisText: text) { batches.append(timing) }
        }
        return LiveStatus.json(
            nowMillis: nowMillis, performances: performances, generalQueueDepth: overview.generalQueue.depth,
            generalOldestAcceptedAtMillis: overview.generalQueue.oldestAcceptedAtMillis,
            fit: overview.costModel.flatMap { BatchCostModel(serialized: $0).fit }, batches: batches
        )
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
