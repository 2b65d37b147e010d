import Foundation

/// The ingest's two clocks, in one value so in-process tests move time instead of sleeping (a loaded machine then
/// cannot refill a rate-limit bucket or age a cache behind a test's back).
public struct IngestClock: Sendable {
    /// Seconds since 1970: token issue and expiry times are checked against it.
    public var wallSeconds: @Sendable () -> Int64
    /// Monotonic seconds from any origin: rate-limit buckets refill and cached reads age by it.
    public var uptime: @Sendable () -> Double

    public init(wallSeconds: @escaping @Sendable () -> Int64, uptime: @escaping @Sendable () -> Double) {
        self.wallSeconds = wallSeconds
        self.uptime = uptime
    }

    public static let system = IngestClock(
        wallSeconds: { Int64(Date().timeIntervalSince1970) }, uptime: { ProcessInfo.processInfo.systemUptime }
    )
}
