import ReservationCore

/// What the live page is built from, as the pass last published it: read by the ingest in two pipelined round
/// trips (the overview, then the performances it lists), never more than once a second per process.
extension IntakeQueues {
    /// A queue's depth and when its oldest waiting request was accepted (nil when it is empty or unreadable).
    public struct QueueGlance: Sendable, Equatable {
        public var depth: Int
        public var oldestAcceptedAtMillis: Int64?

        public init(depth: Int, oldestAcceptedAtMillis: Int64?) {
            self.depth = depth
            self.oldestAcceptedAtMillis = oldestAcceptedAtMillis
        }
    }

    /// Everything not tied to one performance.
    public struct StatusOverview: Sendable {
        /// `GET /v1/performances`'s JSON, nil before any pass published it.
        public var performanceListJSON: String?
        /// The cost model's stored window (`BatchCostModel(serialized:)`).
        public var costModel: String?
        /// `BatchTiming.redisText` entries, newest first.
        public var recentBatches: [String]
        public var generalQueue: QueueGlance
    }

    /// One performance's caches. `seatMapJSON` is the raw bytes of `GET /v1/performances/{id}/seats`' JSON (100,000
    /// seats are about 6 MB: kept as bytes so the caller can tell an unchanged map without parsing it again).
    public struct PerformanceGlance: Sendable {
        public var seatMapJSON: [UInt8]?
        public var queue: QueueGlance
    }

    public func statusOverview() async throws(RedisError) -> StatusOverview {
        let replies = try await redis.pipeline([
            ["GET", RedisKeys.performanceList],
            ["GET", RedisKeys.costModel],
            ["LRANGE", RedisKeys.recentBatches, "0", String(BatchHistory.capacity - 1)],
            ["LLEN", RedisKeys.pending(.general)],
            ["LINDEX", RedisKeys.pending(.general), "0"],
        ])
        try Self.refuseErrors(replies, expected: 5)
        return StatusOverview(
            performanceListJSON: replies[0].string, costModel: replies[1].string,
            recentBatches: (replies[2].array ?? []).compactMap(\.string),
            generalQueue: Self.glance(length: replies[3], head: replies[4])
        )
    }

    /// The seat map and queue of each performance, in the order given.
    public func performanceGlances(_ ids: [Int64]) async throws(RedisError) -> [PerformanceGlance] {
        guard !ids.isEmpty else { return [] }
        var commands: [[String]] = []
        for id in ids {
            commands.append(["GET", RedisKeys.seatMap(performance: id)])
            commands.append(["LLEN", RedisKeys.pending(.performance(id))])
            commands.append(["LINDEX", RedisKeys.pending(.performance(id)), "0"])
        }
        let replies = try await redis.pipeline(commands)
        try Self.refuseErrors(replies, expected: commands.count)
        return ids.indices.map { index in
            PerformanceGlance(
                seatMapJSON: replies[3 * index].bytes,
                queue: Self.glance(length: replies[3 * index + 1], head: replies[3 * index + 2])
            )
        }
    }

    private static func glance(length: RedisValue, head: RedisValue) -> QueueGlance {
        QueueGlance(
            depth: Int(length.int ?? 0),
            oldestAcceptedAtMillis: head.string.flatMap { try? QueuedRequest(wireFormat: $0) }?.acceptedAtMillis
        )
    }

    private static func refuseErrors(_ replies: [RedisValue], expected: Int) throws(RedisError) {
        guard replies.count == expected else {
            throw RedisError.protocolError("pipeline answered \(replies.count) replies, expected \(expected)")
        }
        for reply in replies {
            if case .error(let message) = reply { throw RedisError.server(message) }
        }
    }
}
