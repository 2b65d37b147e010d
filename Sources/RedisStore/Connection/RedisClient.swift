import Foundation
import Metrics

/// Async facade over `RedisConnection` for servers: callers on the Swift concurrency pool or NIO
/// event loops never block.
///
/// Threads and ownership:
/// - `connections` dedicated threads (Foundation `Thread`, named `redis-N`). Each creates and owns
///   exactly one `RedisConnection`; no other thread ever touches it, which is what that blocking,
///   non-thread-safe class requires.
/// - Callers enqueue (commands, continuation) into one shared `RequestQueue`, guarded by an
///   `NSCondition`, and suspend.
/// - A worker wakes, takes EVERYTHING queued (up to `maxBatchCommands` commands), sends it as ONE
///   pipeline, and resumes each continuation with its own replies. That is group commit: concurrent
///   requests share round trips, so throughput grows with load instead of latency.
///
/// Connecting is lazy and retried: if Redis is down, the client still constructs and each batch
/// fails fast with a connection error (`isConnectionError`); once Redis is back the next batch
/// connects again, without restarting the process. A batch that fails mid-flight is never resent.
///
/// Ordering: the commands of one `pipeline` call stay together and in order on one connection.
/// Separate concurrent calls may run on different connections in any order; a task that awaits
/// one call before making the next sees them applied in that order.
///
/// Task cancellation is not observed: once queued, a command may be sent, so the call waits for its
/// outcome.
public final class RedisClient: Sendable {
    /// Largest number of commands one worker sends in one pipeline (a single larger `pipeline` call
    /// still goes out whole).
    public static let maxBatchCommands = 4096

    public let url: RedisURL
    private let queue: RequestQueue

    /// Starts the worker threads. Never fails: connecting happens on the first batch (see above).
    public init(url: RedisURL, connections: Int = 2, connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(2)) {
        precondition(connections >= 1, "RedisClient needs at least one connection")
        self.url = url
        let queue = RequestQueue()
        self.queue = queue
        for index in 0..<connections {
            let thread = Thread {
                Self.runWorker(queue: queue, url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
            }
            thread.name = "redis-\(index)"
            thread.start()
        }
    }

    deinit {
        shutdown()
    }

    /// Sends one command. An error reply throws `RedisError.server`.
    public func send(_ args: [String]) async throws(RedisError) -> RedisValue {
        try await send(args.map { (arg: String) -> [UInt8] in Array(arg.utf8) })
    }

    /// Sends one binary-safe command. An error reply throws `RedisError.server`.
    public func send(_ args: [[UInt8]]) async throws(RedisError) -> RedisValue {
        let replies = try await pipeline([args])
        guard let reply = replies.first else { throw RedisError(.protocolError, "no reply for a command") }
        if case .error(let message) = reply { throw RedisError(.server, message) }
        return reply
    }

    /// Sends the commands together, in order, in one round trip on one connection. Error replies
    /// come back in place as `.error(message)`; only transport failures throw.
    public func pipeline(_ commands: [[String]]) async throws(RedisError) -> [RedisValue] {
        try await pipeline(commands.map { (command: [String]) -> [[UInt8]] in
            command.map { (arg: String) -> [UInt8] in Array(arg.utf8) }
        })
    }

    /// Binary-safe form of `pipeline(_:)`.
    public func pipeline(_ commands: [[[UInt8]]]) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        // Checked here, not by the worker: an empty command would fail the whole shared batch.
        guard !commands.contains(where: \.isEmpty) else {
            throw RedisError(.protocolError, "a command needs at least one argument; nothing was sent")
        }
        return try await pipeline(RedisCommandBuffer(commands))
    }

    /// Sends commands already written as protocol bytes, together and in order, in one round trip on one
    /// connection (the cheapest form for hot paths: no per-argument arrays). Error replies come back in place.
    public func pipeline(_ buffer: RedisCommandBuffer) async throws(RedisError) -> [RedisValue] {
        guard !buffer.isEmpty else { return [] }
        // The continuation carries a Result so the typed error survives (checked continuations only throw `any Error`).
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[RedisValue], RedisError>, Never>) in
            if !queue.enqueue(PendingRequest(commands: buffer, continuation: continuation)) {
                continuation.resume(returning: .failure(Self.closedError))
            }
        }
        return try outcome.get()
    }

    /// Stops the worker threads after their current batch; queued and later calls fail with
    /// `RedisError.closed`. Does not wait. Safe to call more than once.
    public func shutdown() {
        for request in queue.shutdown() {
            request.continuation.resume(returning: .failure(Self.closedError))
        }
    }

    private static let closedError = RedisError(.closed, "the Redis client was shut down")

    /// The body of one worker thread; `connection` lives and dies on this thread only.
    private static func runWorker(queue: RequestQueue, url: RedisURL, connectTimeout: Duration, commandTimeout: Duration) {
        var connection: RedisConnection?
        // swift-metrics handles (no-ops unless the process bootstrapped a backend, as concert-ingest does).
        let pipelineSize = Recorder(label: "concert_redis_pipeline_commands", aggregate: true)
        let roundTrips = Counter(label: "concert_redis_round_trips_total")
        let failures = Counter(label: "concert_redis_failed_round_trips_total")
        while let batch = queue.nextBatch() {
            var commands = RedisCommandBuffer(capacity: batch.reduce(0) { $0 + $1.commands.bytes.count })
            for request in batch { commands.append(request.commands) }
            pipelineSize.record(commands.count)
            roundTrips.increment()
            let outcome: Result<[RedisValue], RedisError>
            do throws(RedisError) {
                let live: RedisConnection
                if let connection {
                    live = connection
                } else {
                    live = try RedisConnection(url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
                    connection = live
                }
                outcome = .success(try live.pipeline(commands))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let replies):
                var offset = 0
                for request in batch {
                    let count = request.commands.count
                    request.continuation.resume(returning: .success(Array(replies[offset..<offset + count])))
                    offset += count
                }
            case .failure(let error):
                failures.increment()
                for request in batch { request.continuation.resume(returning: .failure(error)) }
            }
        }
        connection?.close()
    }
}

/// One caller's commands (already in protocol bytes) and where to deliver their replies.
private struct PendingRequest: Sendable {
    let commands: RedisCommandBuffer
    let continuation: CheckedContinuation<Result<[RedisValue], RedisError>, Never>
}

/// The queue between callers and worker threads.
///
/// `@unchecked Sendable` is safe because every stored `var` is read and written only while
/// `condition` is locked, and the `let`s are immutable.
private final class RequestQueue: @unchecked Sendable {
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
