import ReservationCore

extension RedisKeys {
    /// The batch history the live page reads: `BatchTiming.redisText` entries, newest first, at most
    /// `BatchHistory.capacity`. One key (no hash tag needed): every command on it names only it.
    public static let recentBatches = "concert:batch:recent"
}

/// The recent batches in Redis: the pass appends after each visit, the ingest's live page reads them.
public enum BatchHistory {
    /// Batches kept: minutes of an on-sale at the 250 ms target, enough for the page's charts.
    public static let capacity = 1_000

    /// Appends `timings` (oldest first, so the newest ends up at the head) and trims the list to `capacity`, in
    /// one round trip.
    public static func append(_ timings: [BatchTiming], to redis: any RedisCommanding) throws(RedisError) {
        guard !timings.isEmpty else { return }
        let replies = try redis.pipeline([
            ["LPUSH", RedisKeys.recentBatches] + timings.map(\.redisText),
            ["LTRIM", RedisKeys.recentBatches, "0", String(capacity - 1)],
        ])
        for reply in replies {
            if case .error(let message) = reply { throw RedisError.server(message) }
        }
    }
}
