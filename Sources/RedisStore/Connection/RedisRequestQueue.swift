import Foundation

/// One caller's commands (already in protocol bytes) and where to deliver their replies.
struct PendingRequest: Sendable {
    let commands: RedisCommandBuffer
    /// Cluster mode: where each command goes, read on the caller's task.
    let routes: [RedisCommandRoute]?
    let continuation: CheckedContinuation<Result<[RedisValue], RedisError>, Never>
}

/// The queue between callers and worker threads.
///
/// `@unchecked Sendable` is safe because every stored `var` is read and written only while
/// `condition` is locked, and the `let`s are immutable.
final class RequestQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [PendingRequest] = []
    private var isShutDown = false

    /// Queues a request for the next batch; false if the client was shut down.
    func enqueue(_ request: PendingRequest) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isShutDown else { return false }
        pending.append(request)
        condition.signal()
        return true
    }

    /// Blocks until there is work, then takes all of it (up to `maxBatchCommands` commands, but at
    /// least one request). nil once the client is shut down.
    func nextBatch() -> [PendingRequest]? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !isShutDown {
            condition.wait()
        }
        guard !isShutDown else { return nil }
        var taken = 0
        var commandCount = 0
        for request in pending {
            if taken > 0 && commandCount + request.commands.count > RedisClient.maxBatchCommands { break }
            commandCount += request.commands.count
            taken += 1
        }
        let batch = Array(pending.prefix(taken))
        pending.removeFirst(taken)
        // Whatever is left over goes to another idle worker rather than waiting for this round trip.
        if !pending.isEmpty { condition.signal() }
        return batch
    }

    /// Marks the queue shut down, wakes every worker, and hands back the requests nobody took.
    func shutdown() -> [PendingRequest] {
        condition.lock()
        defer { condition.unlock() }
        isShutDown = true
        let abandoned = pending
        pending = []
        condition.broadcast()
        return abandoned
    }
}
