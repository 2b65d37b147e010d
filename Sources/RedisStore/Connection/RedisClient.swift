import Foundation
import Logging
import Metrics

/// Async facade over `RedisConnection` (or, for a `redis-cluster://` URL, `RedisClusterConnection`) for servers: callers on the Swift concurrency pool or NIO
/// event loops never block.
///
/// Threads and ownership:
/// - `connections` dedicated threads (Foundation `Thread`, named `redis-N`). Each creates and owns
///   exactly one `RedisConnection` (or one `RedisClusterConnection`, and through it one `RedisConnection` per
///   master); no other thread ever touches them, which is what those blocking, non-thread-safe classes require.
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
/// Cluster mode (`redis-cluster://`): each caller's commands are routed on the caller's task (a cross-slot command
/// fails that caller alone, before anything is queued); a worker's batch goes out as one pipeline per master, all
/// masters written before any reply is read, so a batch costs one round trip whatever the number of masters.
/// A caller whose commands all went to masters that answered gets its replies even when another master failed.
///
/// Replica wait (`replicaWait`): Redis replicates asynchronously, so a master that dies just after answering can
/// take acknowledged writes with it when its replica is promoted — a 202 for a request that no longer exists.
/// `WAIT n ms` after a pipeline makes the master wait (up to `ms`) until `n` replicas have everything this
/// connection wrote, which narrows that window to what was in flight at the crash. It is appended once per
/// group-committed pipeline (per master in cluster mode), never per request, so its cost is shared like the round
/// trip. A WAIT that reaches fewer replicas does not fail the callers (their writes ran on the master); it is
/// counted (`concert_redis_replica_wait_short_total`) and logged once when a master starts falling short and once
/// when it recovers.
///
/// Ordering: the commands of one `pipeline` call stay together and in order on one connection (in cluster mode:
/// those of one hash slot on its master).
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
    /// `url.isCluster`, kept apart so the hot path reads a Bool, not the URL.
    private let isCluster: Bool
    private let queue: RequestQueue

    /// Starts the worker threads. Never fails: connecting happens on the first batch (see above).
    ///
    /// - Parameters:
    ///   - replicaWait: when set, one `WAIT replicas timeout` ends each pipeline (each master's, in a cluster).
    ///   - failoverTimeout: cluster mode only: how long commands that certainly did not run are retried while a
    ///     master is replaced by its replica (see `RedisClusterConnection`).
    ///   - logger: where a replica wait that falls short is reported (info level).
    ///   - metrics: where the client's metrics go (the bootstrapped system unless a test passes its own).
    public init(
        url: RedisURL, connections: Int = 2, connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(2),
        replicaWait: (replicas: Int, timeout: Duration)? = nil, failoverTimeout: Duration = .seconds(15),
        logger: Logger = Logger(label: "concert.redis"), metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        precondition(connections >= 1, "RedisClient needs at least one connection")
        self.url = url
        self.isCluster = url.isCluster
        let queue = RequestQueue()
        self.queue = queue
        let settings = WorkerSettings(
            url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout, failoverTimeout: failoverTimeout,
            replicaWait: replicaWait.map { wait in
                RedisClusterConnection.ReplicaWait(replicas: wait.replicas, timeoutMillis: max(1, Int(wait.timeout / .milliseconds(1))))
            },
            replicaReport: ReplicaWaitReport(logger: logger, metrics: metrics),
            metrics: metrics
        )
        for index in 0..<connections {
            let thread = Thread {
                if url.isCluster {
                    Self.runClusterWorker(queue: queue, settings: settings)
                } else {
                    Self.runWorker(queue: queue, settings: settings)
                }
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
    ///
    /// In cluster mode a command the cluster cannot run (keys in different hash slots, `SELECT` …) throws here,
    /// before anything is queued.
    public func pipeline(_ buffer: RedisCommandBuffer) async throws(RedisError) -> [RedisValue] {
        guard !buffer.isEmpty else { return [] }
        // Routed here, on the caller's task, so the worker threads only move bytes (and a mistake fails its caller only).
        let routes: [RedisCommandRoute]? = isCluster ? try buffer.clusterRoutes() : nil
        // The continuation carries a Result so the typed error survives (checked continuations only throw `any Error`).
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[RedisValue], RedisError>, Never>) in
            if !queue.enqueue(PendingRequest(commands: buffer, routes: routes, continuation: continuation)) {
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

    /// What every worker thread is started with.
    private struct WorkerSettings: Sendable {
        let url: RedisURL
        let connectTimeout: Duration
        let commandTimeout: Duration
        let failoverTimeout: Duration
        let replicaWait: RedisClusterConnection.ReplicaWait?
        let replicaReport: ReplicaWaitReport
        let metrics: any MetricsFactory
    }

    /// swift-metrics handles (no-ops unless the process bootstrapped a backend, as concert-ingest does).
    private struct WorkerMetrics {
        let pipelineSize: Recorder
        let roundTrips: Counter
        let failures: Counter

        init(_ factory: any MetricsFactory) {
            pipelineSize = Recorder(label: "concert_redis_pipeline_commands", dimensions: [], aggregate: true, factory: factory)
            roundTrips = Counter(label: "concert_redis_round_trips_total", dimensions: [], factory: factory)
            failures = Counter(label: "concert_redis_failed_round_trips_total", dimensions: [], factory: factory)
        }
    }

    /// The body of one single-server worker thread; `connection` lives and dies on this thread only.
    private static func runWorker(queue: RequestQueue, settings: WorkerSettings) {
        var connection: RedisConnection?
        let metrics = WorkerMetrics(settings.metrics)
        while let batch = queue.nextBatch() {
            var commands = RedisCommandBuffer(capacity: batch.reduce(0) { $0 + $1.commands.bytes.count } + 48)
            for request in batch { commands.append(request.commands) }
            metrics.pipelineSize.record(commands.count)
            if let wait = settings.replicaWait {
                commands.command("WAIT", String(wait.replicas), String(wait.timeoutMillis))
            }
            metrics.roundTrips.increment()
            let outcome: Result<[RedisValue], RedisError>
            do throws(RedisError) {
                let live: RedisConnection
                if let connection {
                    live = connection
                } else {
                    live = try RedisConnection(url: settings.url, connectTimeout: settings.connectTimeout, commandTimeout: settings.commandTimeout)
                    connection = live
                }
                outcome = .success(try live.pipeline(commands))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(var replies):
                if let wait = settings.replicaWait, let reply = replies.popLast() {
                    settings.replicaReport.record(reply, wanted: wait.replicas, node: "\(settings.url.host):\(settings.url.port)")
                }
                var offset = 0
                for request in batch {
                    let count = request.commands.count
                    request.continuation.resume(returning: .success(Array(replies[offset..<offset + count])))
                    offset += count
                }
            case .failure(let error):
                metrics.failures.increment()
                for request in batch { request.continuation.resume(returning: .failure(error)) }
            }
        }
        connection?.close()
    }

    /// The body of one cluster worker thread; `cluster` (and its per-master connections) live and die on this thread.
    private static func runClusterWorker(queue: RequestQueue, settings: WorkerSettings) {
        var cluster: RedisClusterConnection?
        let metrics = WorkerMetrics(settings.metrics)
        while let batch = queue.nextBatch() {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(batch.reduce(0) { $0 + $1.commands.bytes.count })
            var routes: [RedisCommandRoute] = []
            var replyCount = 0
            for request in batch {
                let offset = bytes.count
                bytes.append(contentsOf: request.commands.bytes)
                for route in request.routes ?? [] { routes.append(route.shifted(by: offset)) }
                replyCount += request.commands.count
            }
            metrics.pipelineSize.record(replyCount)
            metrics.roundTrips.increment()
            // Callers whose replies are all final are answered at once, even while others wait out a failover.
            var answered = [Bool](repeating: false, count: batch.count)
            var anyFailed = false
            var waitsRecorded = 0
            func answer(from execution: RedisClusterConnection.Execution) {
                // The WAITs first: a caller who sees its reply also sees them counted.
                if let wait = settings.replicaWait {
                    for (node, reply) in execution.replicaWaits[waitsRecorded...] {
                        // A failed WAIT came with failed commands on that node: those callers hear of it.
                        if case .success(let value) = reply { settings.replicaReport.record(value, wanted: wait.replicas, node: node.description) }
                    }
                    waitsRecorded = execution.replicaWaits.count
                }
                var offset = 0
                for (position, request) in batch.enumerated() {
                    let range = offset..<offset + request.commands.count
                    offset = range.upperBound
                    guard !answered[position], execution.settled[range].allSatisfy({ $0 }) else { continue }
                    answered[position] = true
                    var replies: [RedisValue] = []
                    replies.reserveCapacity(range.count)
                    var failure: RedisError?
                    for result in execution.replies[range] {
                        switch result {
                        case .success(let value): replies.append(value)
                        case .failure(let error): failure = failure ?? error
                        }
                    }
                    if let failure {
                        anyFailed = true
                        request.continuation.resume(returning: .failure(failure))
                    } else {
                        request.continuation.resume(returning: .success(replies))
                    }
                }
            }
            do throws(RedisError) {
                let live: RedisClusterConnection
                if let cluster {
                    live = cluster
                } else {
                    live = try RedisClusterConnection(
                        url: settings.url, connectTimeout: settings.connectTimeout, commandTimeout: settings.commandTimeout,
                        failoverTimeout: settings.failoverTimeout
                    )
                    cluster = live
                }
                let execution = try live.execute(
                    bytes, routes: routes, replyCount: replyCount, replicaWait: settings.replicaWait, progress: answer(from:)
                )
                answer(from: execution)
                if anyFailed { metrics.failures.increment() }
            } catch {
                metrics.failures.increment()
                for (position, request) in batch.enumerated() where !answered[position] {
                    request.continuation.resume(returning: .failure(error))
                }
            }
        }
        cluster?.close()
    }
}
