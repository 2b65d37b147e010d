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
    var isClosed = false

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

    private static let emptyCommand = RedisError(.protocolError, "a command needs at least one argument; nothing was sent")
    static let closedError = RedisError(.closed, "this cluster connection was closed; create a new one")

    // MARK: - Nodes and the slot map

    func connection(to node: RedisEndpoint) throws(RedisError) -> RedisConnection {
        if let existing = connections[node] { return existing }
        let fresh = try RedisConnection(url: url.node(node), connectTimeout: connectTimeout, commandTimeout: commandTimeout)
        connections[node] = fresh
        return fresh
    }

    func dropConnection(to node: RedisEndpoint) {
        connections.removeValue(forKey: node)?.close()
    }

    /// Records what a MOVED said, until the next full map.
    func learn(slot: Int, servedBy node: RedisEndpoint) {
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
