import Foundation

/// A blocking client for a Redis Cluster, routing each command to the master that serves its key's hash slot.
///
/// Threads and handles: NOT thread-safe, like `RedisConnection`. One thread at a time uses this object, and through
/// it every `RedisConnection` it owns — one per master, created when that master is first needed; each of those
/// owns one hiredis context. No other thread ever touches them. (`RedisClient` gives each of its worker threads its
/// own `RedisClusterConnection`.)
///
/// Routing (see `RedisCommandBuffer.clusterRoutes()`): a key's slot is `RedisClusterSlot.of(key)`; the slot map comes
/// from `CLUSTER SLOTS`, asked of any reachable node (seeds first, then nodes learnt since). Multi-key commands whose
/// keys are in different slots, `SELECT`, and commands that would silently see one master (`SCAN`, `KEYS`) are
/// refused before anything is sent. `SCRIPT LOAD`/`SCRIPT FLUSH`/`FLUSHALL`/`FLUSHDB` go to every master. A
/// `MULTI`…`EXEC` block in a pipeline goes whole to the master of its (single) slot, and is sent again whole if a
/// redirection made EXEC discard it; a `NOSCRIPT` inside one comes back in place (its other commands ran).
///
/// Pipelines are split per master and sent concurrently: every master's commands are written before any reply is
/// read, so a pipeline over N masters costs about one round trip, not N. Replies come back in the caller's order.
///
/// What the client handles by itself (the command did not run, so sending it again is safe):
/// - `MOVED slot host:port`: the slot map is read again and the command goes to that node.
/// - `ASK slot host:port`: `ASKING`, then the command, to that node, once (the slot is being migrated).
/// - `NOSCRIPT` for an `EVALSHA` whose source this process knows (`RedisScript`): `SCRIPT LOAD` there, then again.
/// - `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`: a short, growing pause, then again, until `failoverTimeout`.
/// - A master that cannot be reached before anything was written (killed; its replica is being promoted): the
///   map is read again from the other nodes, and the command is sent to the new owner, until `failoverTimeout`.
///
/// What it never does: send again a command that may have run. When a connection breaks after a command was
/// written, that command fails with `RedisError.io` ("may or may not have run"), as with `RedisConnection`; the
/// next call reconnects (to the promoted replica, once the map says so).
public final class RedisClusterConnection {
    public let url: RedisURL
    private let connectTimeout: Duration
    private let commandTimeout: Duration
    /// How long commands that certainly did not run keep being retried while the cluster fails over or reshards.
    public let failoverTimeout: Duration

    /// Slot → index into `masters`, or -1 while no master serves it.
    private var slotOwners = [Int16](repeating: -1, count: RedisClusterSlot.count)
    /// The masters of the last slot map, in the order `CLUSTER SLOTS` listed them.
    public private(set) var masters: [RedisEndpoint] = []
    /// Every node ever named (seeds, masters, replicas): where to ask for the map when the masters do not answer.
    private var knownNodes: [RedisEndpoint]
    /// One connection per master, made when first needed.
    private var connections: [RedisEndpoint: RedisConnection] = [:]
    private var isClosed = false

    /// Reads the slot map from the first seed (or node it names) that answers. Throws `connectFailed` when none does,
    /// `invalidURL` for a `redis://` URL.
    public init(
        url: RedisURL, connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(5),
        failoverTimeout: Duration = .seconds(15)
    ) throws(RedisError) {
        guard url.isCluster else {
            throw RedisError(.invalidURL, "\(url) names one server, not a cluster: use RedisConnection or connectRedis(url:)")
        }
        self.url = url
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.failoverTimeout = failoverTimeout
        self.knownNodes = url.clusterSeeds
        try reloadSlotMap()
    }

    // MARK: - Commands

    /// Sends one command to the master of its key's slot and waits for its reply. An error reply throws
    /// `RedisError.server`.
    public func command(_ args: [String]) throws(RedisError) -> RedisValue {
        try command(args.map { (arg: String) -> [UInt8] in Array(arg.utf8) })
    }

    /// Binary-safe form of `command(_:)`.
    public func command(_ args: [[UInt8]]) throws(RedisError) -> RedisValue {
        guard !args.isEmpty else { throw Self.emptyCommand }
        let replies = try pipeline(RedisCommandBuffer([args]))
        guard let reply = replies.first else { throw RedisError(.protocolError, "no reply for a command") }
        if case .error(let message) = reply { throw RedisError(.server, message) }
        return reply
    }

    /// Sends the commands, each to its master, all masters at once, and answers one reply per command in the
    /// caller's order. Error replies come back in place; only transport failures throw (then it is unknown which
    /// of the commands ran), and commands the cluster cannot route (cross-slot, `SELECT` …) throw before sending.
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisValue] {
        try pipeline(commands.map { (command: [String]) -> [[UInt8]] in
            command.map { (arg: String) -> [UInt8] in Array(arg.utf8) }
        })
    }

    /// Binary-safe form of `pipeline(_:)`.
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        guard !commands.contains(where: \.isEmpty) else { throw Self.emptyCommand }
        return try pipeline(RedisCommandBuffer(commands))
    }

    /// Commands already written as protocol bytes, routed per command (see `RedisCommandBuffer.clusterRoutes()`).
    public func pipeline(_ buffer: RedisCommandBuffer) throws(RedisError) -> [RedisValue] {
        guard !buffer.isEmpty else { return [] }
        let routes = try buffer.clusterRoutes()
        let outcome = try execute(buffer.bytes, routes: routes, replyCount: buffer.count)
        var replies: [RedisValue] = []
        replies.reserveCapacity(outcome.replies.count)
        for reply in outcome.replies { replies.append(try reply.get()) }
        return replies
    }

    /// Runs `body` once per master of the current slot map, in order, with that master's connection: for what must
    /// be done on each master (`SCAN`, `SCRIPT FLUSH` on one node in a test, `INFO`). The connection belongs to this
    /// object; do not close it or keep it.
    public func forEachMaster<T>(_ body: (RedisEndpoint, RedisConnection) throws(RedisError) -> T) throws(RedisError) -> [T] {
        if isClosed { throw Self.closedError }
        if masters.isEmpty { try reloadSlotMap() }
        var results: [T] = []
        for master in masters {
            results.append(try body(master, try connection(to: master)))
        }
        return results
    }

    /// The master that serves `slot` in the current map, nil if none does.
    public func master(forSlot slot: Int) -> RedisEndpoint? {
        let owner = Int(slotOwners[slot])
        return owner >= 0 ? masters[owner] : nil
    }

    /// Reads the slot map again (`CLUSTER SLOTS`) from the first node that answers: masters already connected to,
    /// then the seeds and every other node learnt. Throws `connectFailed` when no node answers.
    public func reloadSlotMap() throws(RedisError) {
        if isClosed { throw Self.closedError }
        var failures: [String] = []
        var asked: Set<RedisEndpoint> = []
        let candidates = masters.filter { connections[$0] != nil } + knownNodes
        for node in candidates where asked.insert(node).inserted {
            do {
                let reply: RedisValue
                if let live = connections[node] {
                    reply = try live.command(["CLUSTER", "SLOTS"])
                } else {
                    let probe = try RedisConnection(url: url.node(node), connectTimeout: connectTimeout, commandTimeout: commandTimeout)
                    defer { probe.close() }
                    reply = try probe.command(["CLUSTER", "SLOTS"])
                }
                if try install(slotMap: reply, askedOf: node) { return }
                failures.append("\(node): its slot map is empty")
            } catch {
                failures.append("\(node): \(error)")
            }
        }
        throw RedisError(.connectFailed, "no node of the Redis Cluster gave a slot map (\(failures.joined(separator: "; "))); check that the cluster is up (redis-cli -p PORT cluster info) and the seed nodes in the URL")
    }

    /// Closes every node connection. Later calls throw `RedisError.closed`.
    public func close() {
        isClosed = true
        for connection in connections.values { connection.close() }
        connections = [:]
    }

    // MARK: - Execution

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
    private static let emptyCommand = RedisError(.protocolError, "a command needs at least one argument; nothing was sent")
    private static let closedError = RedisError(.closed, "this cluster connection was closed; create a new one")

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

    // MARK: - Nodes and the slot map

    private func connection(to node: RedisEndpoint) throws(RedisError) -> RedisConnection {
        if let existing = connections[node] { return existing }
        let fresh = try RedisConnection(url: url.node(node), connectTimeout: connectTimeout, commandTimeout: commandTimeout)
        connections[node] = fresh
        return fresh
    }

    private func dropConnection(to node: RedisEndpoint) {
        connections.removeValue(forKey: node)?.close()
    }

    /// Records what a MOVED said, until the next full map.
    private func learn(slot: Int, servedBy node: RedisEndpoint) {
        guard (0..<RedisClusterSlot.count).contains(slot) else { return }
        if let index = masters.firstIndex(of: node) {
            slotOwners[slot] = Int16(index)
        } else {
            masters.append(node)
            slotOwners[slot] = Int16(masters.count - 1)
        }
        if !knownNodes.contains(node) { knownNodes.append(node) }
    }

    /// Installs a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, …], replica…], …]`. An empty host means
    /// "the node you asked". Answers false for an empty map (a node not yet part of a cluster).
    private func install(slotMap reply: RedisValue, askedOf asked: RedisEndpoint) throws(RedisError) -> Bool {
        guard let ranges = reply.array else { throw RedisError(.protocolError, "CLUSTER SLOTS answered \(reply)") }
        var owners = [Int16](repeating: -1, count: RedisClusterSlot.count)
        var newMasters: [RedisEndpoint] = []
        var nodes: [RedisEndpoint] = []
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                  0 <= start, start <= end, end < RedisClusterSlot.count
            else { throw RedisError(.protocolError, "CLUSTER SLOTS gave an entry that is not [start, end, node…]: \(range)") }
            var endpoints: [RedisEndpoint] = []
            for nodeInfo in parts[2...] {
                guard let info = nodeInfo.array, info.count >= 2, let host = info[0].string, let port = info[1].int else {
                    throw RedisError(.protocolError, "CLUSTER SLOTS gave a node that is not [host, port, …]: \(nodeInfo)")
                }
                endpoints.append(RedisEndpoint(host: host.isEmpty || host == "?" ? asked.host : host, port: Int(port)))
            }
            let master = endpoints[0]
            let index: Int
            if let known = newMasters.firstIndex(of: master) {
                index = known
            } else {
                newMasters.append(master)
                index = newMasters.count - 1
            }
            for slot in Int(start)...Int(end) { owners[slot] = Int16(index) }
            nodes.append(contentsOf: endpoints)
        }
        guard !newMasters.isEmpty else { return false }
        slotOwners = owners
        masters = newMasters
        for node in nodes where !knownNodes.contains(node) { knownNodes.append(node) }
        // Connections to nodes that no longer serve slots (a demoted master) are closed; they are made again if needed.
        for node in Array(connections.keys) where !newMasters.contains(node) { dropConnection(to: node) }
        return true
    }
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
