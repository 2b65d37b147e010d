import Foundation
import Synchronization

/// Token buckets per key (a user id, or a client's address), in memory: each ingest instance limits on its own, so
/// behind N instances a key gets up to N times the limit, which errs on the side of real buyers.
final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    private let rate: Double
    private let burst: Double
    private let buckets = Mutex<[Key: Bucket]>([:])
    /// Monotonic seconds (`IngestClock.uptime`).
    private let uptime: @Sendable () -> Double

    init(ratePerSecond: Double, burst: Double, uptime: @escaping @Sendable () -> Double = IngestClock.system.uptime) {
        self.rate = ratePerSecond
        self.burst = burst
        self.uptime = uptime
    }

    /// nil when the request may go ahead, else the seconds to wait before the next one would be accepted.
    func admit(_ key: Key) -> Int? {
        let now = uptime()
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            defer {
                buckets[key] = bucket
                // Forget full buckets now and then so idle keys cost no memory.
                if buckets.count > 200_000 {
                    buckets = buckets.filter { min(burst, $0.value.tokens + (now - $0.value.updated) * rate) < burst }
                }
            }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }
}
