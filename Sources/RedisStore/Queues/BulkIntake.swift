import ReservationCore

/// Queues many requests at once, exactly as the ingest would (same script, same keys, same statuses), over a
/// blocking connection: for benchmarks, load tests and the crash tests that need 50,000 requests in Redis fast.
public final class BulkIntake {
    public let redis: any RedisCommanding

    public init(redis: any RedisCommanding) {
        self.redis = redis
    }

    /// Queues `requests` in order, `chunk` per pipeline; returns how many were newly queued.
    @discardableResult
    public func enqueue(_ requests: [QueuedRequest], chunk: Int = 2_000) throws(RedisError) -> Int {
        guard let sha = try redis.command(["SCRIPT", "LOAD", QueueScripts.enqueue]).string else {
            throw RedisError.protocolError("SCRIPT LOAD answered no SHA1")
        }
        var queued = 0
        var start = 0
        while start < requests.count {
            let slice = requests[start..<min(start + chunk, requests.count)]
            var commands: [[String]] = Set(slice.map(\.id.queue.tag)).map { ["SADD", RedisKeys.queues, $0] }
            let registrations = commands.count
            for request in slice {
                let (keys, arguments) = QueueScripts.enqueueKeysAndArguments(request)
                commands.append(["EVALSHA", sha, String(keys.count)] + keys + arguments)
            }
            for reply in try redis.pipeline(commands).dropFirst(registrations) {
                if case .error(let message) = reply { throw RedisError.server(message) }
                if reply.array?.first?.int == 1 { queued += 1 }
            }
            start += chunk
        }
        return queued
    }
}
