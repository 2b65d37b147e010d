import Foundation

/// Sending a pipeline across the masters, in rounds, and settling what each node answered (redirects, retries,
/// failover): the part of the client that decides what may be sent again.
extension RedisClusterConnection {
    /// What a pipeline produced: one result per reply (a `.failure` where its command's fate is unknown or it could
    /// not be sent in time), and the replies of the `WAIT`s appended per node.
    struct Execution {
        var replies: [Result<RedisValue, RedisError>]
        /// Which replies are final (all of them once `execute` returns).
        var settled: [Bool]
        var replicaWaits: [(node: RedisEndpoint, reply: Result<RedisValue, RedisError>)] = []

        init(replyCount: Int) {
            replies = Array(repeating: .failure(RedisError(.protocolError, "no reply")), count: replyCount)
            settled = Array(repeating: false, count: replyCount)
        }

        mutating func file(_ result: Result<RedisValue, RedisError>, at index: Int) {
            replies[index] = result
            settled[index] = true
        }
    }

    /// A `WAIT numreplicas timeout` appended to each node's part of a pipeline.
    struct ReplicaWait {
        var replicas: Int
        var timeoutMillis: Int
    }

    private static let maxRedirects = 8

    /// One route on its way: where it goes next, and what must precede it there.
    private struct Work {
        let route: RedisCommandRoute
        /// Index of its first reply in the caller's order.
        let firstReply: Int
        /// Set by MOVED/ASK (or NOSCRIPT: load where it failed): the node for the next attempt.
        var redirect: RedisEndpoint?
        var asking = false
        var loadScript: String?
        var redirects = 0
        var scriptReloaded = false
    }

    /// Sends `routes` (ranges of `bytes`), in rounds: each round writes every node's share before reading any reply,
    /// then settles what it can and sends the rest (redirected, or not sent) again. Throws only for a closed
    /// connection; every other failure is reported per reply.
    ///
    /// `progress` sees the execution after every round that leaves work to do, so a caller can hand out what is
    /// final (replies from healthy masters) while the rest waits out a failover.
    func execute(
        _ bytes: [UInt8], routes: [RedisCommandRoute], replyCount: Int, replicaWait: ReplicaWait? = nil,
        progress: ((Execution) -> Void)? = nil
    ) throws(RedisError) -> Execution {
        if isClosed { throw Self.closedError }
        var execution = Execution(replyCount: replyCount)
        var work: [Work] = []
        work.reserveCapacity(routes.count)
        var next = 0
        for route in routes {
            work.append(Work(route: route, firstReply: next))
            next += route.replies
        }
        precondition(next == replyCount, "routes describe \(next) replies, the buffer \(replyCount)")

        let deadline = ContinuousClock.now + failoverTimeout
        var pending = Array(work.indices)
        var pause = Duration.milliseconds(10)
        while !pending.isEmpty {
            var again: [Int] = []
            var mustReload = false
            var mustPause = false
            /// Per-master results of commands sent to every master (never sent again: some masters may have run them).
            var gathered: [Int: [Result<RedisValue, RedisError>]] = [:]

            // Plan: which node gets which work, keeping the caller's order within each node.
            var byNode: [RedisEndpoint: [Int]] = [:]
            var nodeOrder: [RedisEndpoint] = []
            for index in pending {
                let targets = self.targets(of: work[index])
                if targets.isEmpty {
                    // No master serves the slot in our map: read it again, pause, retry until the deadline.
                    if ContinuousClock.now < deadline {
                        again.append(index)
                        mustReload = true
                        mustPause = true
                    } else {
                        fail(&execution, index, work[index], RedisError(.connectFailed, "no master of the cluster serves this key's hash slot (the slot map has a gap); nothing was sent"), gathered: &gathered)
                    }
                    continue
                }
                for node in targets {
                    if byNode[node] == nil { nodeOrder.append(node) }
                    byNode[node, default: []].append(index)
                }
            }

            // Write: every node's share, before reading anything.
            var written: [(node: RedisEndpoint, connection: RedisConnection, items: [Int], prefixes: [Int])] = []
            for node in nodeOrder {
                let items = byNode[node] ?? []
                let notSent: RedisError
                do throws(RedisError) {
                    let connection = try connection(to: node)
                    try connection.prepareToSend()
                    var prefixes: [Int] = []
                    prefixes.reserveCapacity(items.count)
                    for index in items {
                        var extra = 0
                        if let source = work[index].loadScript {
                            var load = RedisCommandBuffer()
                            load.command("SCRIPT", "LOAD", source)
                            try connection.append(load.bytes[...])
                            extra += 1
                        }
                        if work[index].asking {
                            try connection.append(Self.askingCommand[...])
                            extra += 1
                        }
                        try connection.append(bytes[work[index].route.bytes])
                        prefixes.append(extra)
                    }
                    if let replicaWait {
                        var wait = RedisCommandBuffer()
                        wait.command("WAIT", String(replicaWait.replicas), String(replicaWait.timeoutMillis))
                        try connection.append(wait.bytes[...])
                    }
                    if let failure = connection.flush() {
                        guard failure.nothingWritten else {
                            // Some of it may have reached the server: its fate is unknown, never resend it.
                            dropConnection(to: node)
                            mustReload = true
                            for index in items { fail(&execution, index, work[index], failure.error, gathered: &gathered) }
                            continue
                        }
                        throw RedisError(.connectFailed, "the connection failed before any byte of the pipeline was written")
                    }
                    written.append((node, connection, items, prefixes))
                    continue
                } catch {
                    notSent = error
                }
                // Nothing reached this node: its work is safe to send again, to wherever the map says next.
                if notSent == .closed { throw Self.closedError }
                dropConnection(to: node)
                mustReload = true
                mustPause = true
                for index in items {
                    if work[index].route.target != .everyMaster, ContinuousClock.now < deadline {
                        work[index].redirect = nil
                        work[index].asking = false
                        again.append(index)
                    } else {
                        let error = RedisError(.connectFailed, "\(node): \(notSent.message); nothing was sent (retried for up to \(failoverTimeout) while the cluster recovered)")
                        fail(&execution, index, work[index], error, gathered: &gathered)
                    }
                }
            }

            // Read: each node's replies in the order written, then settle each item.
            for (node, connection, items, prefixes) in written {
                var broken: RedisError?
                for (position, index) in items.enumerated() {
                    if let broken {
                        fail(&execution, index, work[index], broken, gathered: &gathered)
                        continue
                    }
                    var replies: [RedisValue] = []
                    var loadReply: RedisValue?
                    do throws(RedisError) {
                        for prefix in 0..<prefixes[position] {
                            let reply = try connection.readReply()
                            if prefix == 0, work[index].loadScript != nil { loadReply = reply }
                        }
                        for _ in 0..<work[index].route.replies { replies.append(try connection.readReply()) }
                    } catch {
                        let failure = RedisError(.io, "\(node): \(error.message)")
                        broken = failure
                        dropConnection(to: node)
                        mustReload = true
                        fail(&execution, index, work[index], failure, gathered: &gathered)
                        continue
                    }
                    work[index].loadScript = nil
                    if case .error(let message)? = loadReply {
                        // The EVALSHA after it says NOSCRIPT again; say why instead.
                        replies = replies.map { _ in .error("NOSCRIPT, and SCRIPT LOAD on \(node) failed: \(message)") }
                    }
                    if work[index].route.target == .everyMaster {
                        gathered[index, default: []].append(.success(replies[0]))
                        continue
                    }
                    switch settle(&work[index], replies: replies, from: node, deadline: deadline) {
                    case .done:
                        for (offset, reply) in replies.enumerated() { execution.file(.success(reply), at: work[index].firstReply + offset) }
                    case .again(let reload, let pauseFirst):
                        again.append(index)
                        mustReload = mustReload || reload
                        mustPause = mustPause || pauseFirst
                    }
                }
                if replicaWait != nil {
                    if let broken {
                        execution.replicaWaits.append((node, .failure(broken)))
                    } else {
                        do throws(RedisError) {
                            execution.replicaWaits.append((node, .success(try connection.readReply())))
                        } catch {
                            dropConnection(to: node)
                            mustReload = true
                            execution.replicaWaits.append((node, .failure(error)))
                        }
                    }
                }
            }

            // A command for every master answers once: the first failure, else the first error reply, else the first reply.
            for (index, results) in gathered {
                let failure = results.first { if case .failure = $0 { true } else { false } }
                let errorReply = results.first { if case .success(.error) = $0 { true } else { false } }
                execution.file(failure ?? errorReply ?? results[0], at: work[index].firstReply)
            }

            // What is left goes again, in the caller's order.
            pending = again.sorted()
            guard !pending.isEmpty else { break }
            progress?(execution)
            if mustPause {
                let (seconds, attoseconds) = pause.components
                Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
                pause = min(pause * 2, .milliseconds(500))
            }
            if mustReload {
                // A failed reload keeps the old map: the next round's connects fail again and retry until the deadline.
                do { try reloadSlotMap() } catch where error == .closed { throw error } catch {}
            }
        }
        return execution
    }

    private enum Settlement {
        case done
        case again(reload: Bool, pause: Bool)
    }

    /// Decides whether an item's replies are final, or it must go again (redirected, or refused for now: then it
    /// did not run). A transaction that met a redirect did not run either (EXEC answered EXECABORT), so the first
    /// such error among its replies decides for the whole block.
    private func settle(_ item: inout Work, replies: [RedisValue], from node: RedisEndpoint, deadline: ContinuousClock.Instant) -> Settlement {
        var deciding: (message: String, error: ClusterReplyError)?
        for reply in replies {
            if case .error(let message) = reply, let error = ClusterReplyError(message) {
                deciding = (message, error)
                break
            }
        }
        guard let (message, error) = deciding else { return .done }
        switch error {
        case .moved(let slot, let target):
            guard item.redirects < Self.maxRedirects else { return .done }
            item.redirects += 1
            item.redirect = target
            item.asking = false
            learn(slot: slot, servedBy: target)
            return .again(reload: true, pause: false)
        case .ask(_, let target):
            guard item.redirects < Self.maxRedirects else { return .done }
            item.redirects += 1
            item.redirect = target
            item.asking = true
            return .again(reload: false, pause: false)
        case .tryAgain:
            guard ContinuousClock.now < deadline else { return .done }
            item.redirect = nil
            item.asking = false
            return .again(reload: message.hasPrefix("CLUSTERDOWN"), pause: true)
        case .noScript:
            guard !item.route.isTransaction, !item.scriptReloaded, let sha = item.route.scriptSHA,
                  let source = RedisScript.registered(sha1: sha)
            else { return .done }
            item.scriptReloaded = true
            item.loadScript = source
            item.redirect = node
            item.asking = false
            return .again(reload: false, pause: false)
        }
    }

    /// Files a failure for every reply of an item (for a command sent to every master: for that master).
    private func fail(
        _ execution: inout Execution, _ index: Int, _ item: Work, _ error: RedisError,
        gathered: inout [Int: [Result<RedisValue, RedisError>]]
    ) {
        if item.route.target == .everyMaster {
            gathered[index, default: []].append(.failure(error))
            return
        }
        for offset in 0..<item.route.replies { execution.file(.failure(error), at: item.firstReply + offset) }
    }

    /// The node(s) an item goes to now.
    private func targets(of item: Work) -> [RedisEndpoint] {
        if let redirect = item.redirect { return [redirect] }
        switch item.route.target {
        case .slot(let slot): return master(forSlot: slot).map { [$0] } ?? []
        case .anyMaster: return masters.isEmpty ? [] : [masters[0]]
        case .everyMaster: return masters
        }
    }

    private static let askingCommand: [UInt8] = Array("*1\r\n$6\r\nASKING\r\n".utf8)
}

/// The error replies a cluster client answers itself.
private enum ClusterReplyError {
    case moved(slot: Int, to: RedisEndpoint)
    case ask(slot: Int, to: RedisEndpoint)
    /// TRYAGAIN (multi-key command mid-migration), CLUSTERDOWN (slots not served for now), LOADING (node starting).
    case tryAgain
    case noScript

    init?(_ message: String) {
        if message.hasPrefix("MOVED ") || message.hasPrefix("ASK ") {
            let parts = message.split(separator: " ")
            guard parts.count == 3, let slot = Int(parts[1]), let target = RedisEndpoint(redirectTarget: parts[2]) else { return nil }
            self = message.hasPrefix("MOVED ") ? .moved(slot: slot, to: target) : .ask(slot: slot, to: target)
        } else if message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN") || message.hasPrefix("LOADING") {
            self = .tryAgain
        } else if message.hasPrefix("NOSCRIPT") {
            self = .noScript
        } else {
            return nil
        }
    }
}
