import Foundation
import Hummingbird
import Logging
import Metrics
import RedisStore
import ReservationCore
import Synchronization

/// The rendered `/v1/status` JSON, rebuilt from Redis at most once per `maxAge` per process however many viewers
/// ask: the first request after it expires starts one rebuild, and every request meanwhile waits for that same
/// rebuild (single flight). Seat maps are parsed again only when their bytes changed, so an unchanged 100,000-seat
/// map costs one GET and one comparison per rebuild, not a parse.
///
/// Threads: the rebuild runs as an unstructured task on the concurrency pool; Redis calls go through
/// `RedisClient`'s own threads. `state` is the only shared mutable state, behind a mutex held for assignments only.
final class LiveStatusCache: Sendable {
    struct Rendered: Sendable {
        let body: ByteBuffer
        /// A strong validator: the same bytes always get the same tag, so an unchanged status answers 304.
        let etag: String
        let builtAt: ContinuousClock.Instant
    }

    private struct ParsedSeatMap {
        let bytes: [UInt8]
        /// nil: these bytes are not a seat map (remembered, so they are neither parsed nor logged again).
        let json: String?
    }

    private struct State {
        var rendered: Rendered?
        var rebuilding: Task<Rendered, any Error>?
        var seatMaps: [Int64: ParsedSeatMap] = [:]
    }

    private let state = Mutex(State())
    private let queues: IntakeQueues
    private let maxAge: Duration
    private let logger: Logger
    private let rebuilds = Counter(label: "concert_ingest_status_rebuilds_total")
    private let rebuildTime = Metrics.Timer(label: "concert_ingest_status_rebuild_seconds")

    init(queues: IntakeQueues, maxAge: Duration = .seconds(1), logger: Logger) {
        self.queues = queues
        self.maxAge = maxAge
        self.logger = logger
    }

    /// The current status: cached if younger than `maxAge`, else the result of the one rebuild in flight.
    /// Throws when Redis could not be read (the caller answers 503).
    func current() async throws -> Rendered {
        let now = ContinuousClock.now
        let lookup: Lookup = state.withLock { state in
            if let rendered = state.rendered, now - rendered.builtAt < maxAge { return .ready(rendered) }
            if let running = state.rebuilding { return .waitFor(running) }
            // The task finishes by taking this same lock, so it cannot clear `rebuilding` before it is set here.
            let started = Task { try await self.rebuild() }
            state.rebuilding = started
            return .waitFor(started)
        }
        switch lookup {
        case .ready(let rendered): return rendered
        case .waitFor(let rebuild): return try await rebuild.value
        }
    }

    private enum Lookup {
        case ready(Rendered)
        case waitFor(Task<Rendered, any Error>)
    }

    private func rebuild() async throws -> Rendered {
        let started = ContinuousClock.now
        do {
            let json = try await buildJSON()
            let rendered = Rendered(body: ByteBuffer(string: json), etag: Self.etag(of: json), builtAt: started)
            state.withLock {
                $0.rendered = rendered
                $0.rebuilding = nil
            }
            rebuilds.increment()
            rebuildTime.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            return rendered
        } catch {
            state.withLock { $0.rebuilding = nil }
            throw error
        }
    }

    private func buildJSON() async throws -> String {
        let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)
        let overview = try await queues.statusOverview()
        let upcoming = LiveStatus.upcoming(performanceListJSON: overview.performanceListJSON, nowSeconds: nowMillis / 1000)
        let glances = try await queues.performanceGlances(upcoming.map(\.id))
        let known = state.withLock { $0.seatMaps }
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
        state.withLock { $0.seatMaps = seatMaps }
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

    /// `"<FNV-1a 64 of the body, hex>"`.
    static func etag(of text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
