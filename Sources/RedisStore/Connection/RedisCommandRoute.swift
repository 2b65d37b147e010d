/// Where a Redis Cluster client sends one command of a pipeline, or one `MULTI`…`EXEC` block (which must go to one
/// node whole).
///
/// Routes are read from a `RedisCommandBuffer`'s protocol bytes by `RedisCommandBuffer.clusterRoutes()`, only on the
/// cluster path: the single-server path never pays for them.
public struct RedisCommandRoute: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        /// The master that serves this hash slot.
        case slot(Int)
        /// Any master (commands without keys: `PING`, `TIME`, `INFO`, `WAIT`, `SCRIPT EXISTS`, `EVAL` with no keys …).
        case anyMaster
        /// Every master, one reply kept (`SCRIPT LOAD`, `SCRIPT FLUSH`, `FLUSHALL`, `FLUSHDB`).
        case everyMaster
    }

    /// The command's bytes in the buffer (a block's: from `MULTI` through `EXEC`).
    public var bytes: Range<Int>
    /// Replies it produces: 1, or for a `MULTI`…`EXEC` block its commands + 2.
    public var replies: Int
    public var target: Target
    /// The SHA1 an `EVALSHA` calls (so a `NOSCRIPT` can be answered by loading the source); nil otherwise.
    var scriptSHA: String?
    /// True for a `MULTI`…`EXEC`/`DISCARD` block.
    public var isTransaction: Bool

    public init(bytes: Range<Int>, replies: Int = 1, target: Target, isTransaction: Bool = false) {
        self.bytes = bytes
        self.replies = replies
        self.target = target
        self.isTransaction = isTransaction
    }

    /// The same route in a buffer whose bytes start `offset` later (after concatenation).
    func shifted(by offset: Int) -> RedisCommandRoute {
        var route = self
        route.bytes = (bytes.lowerBound + offset)..<(bytes.upperBound + offset)
        return route
    }
}

extension RedisCommandBuffer {
    /// Each command's byte range and hash slot, in order, with `MULTI`…`EXEC` blocks kept whole.
    ///
    /// Key positions follow Redis's command table for the commands this product could use: `EVAL`/`EVALSHA`/`FCALL`
    /// → its first key when numkeys > 0, otherwise any master; multi-key commands (`DEL`, `MGET`, `MSET`, `RENAME`,
    /// `RPOPLPUSH`, `BLPOP`, `ZUNIONSTORE` …) → all their keys; keyless commands (`PING`, `TIME`, `INFO`, `SCRIPT`,
    /// `WAIT`, `CLIENT`, `CONFIG`, `CLUSTER` …) → any master; everything else → argument 1.
    ///
    /// Throws (before anything is sent) when a command's keys are in different slots, naming the keys — the
    /// `CROSSSLOT` error a cluster would give, but found in our tests rather than in production — and for commands a
    /// cluster client cannot route honestly: `SELECT` (a cluster has only database 0), `SCAN`/`KEYS`/`DBSIZE`/
    /// `RANDOMKEY` (they would silently see one master only; use `RedisClusterConnection.forEachMaster`),
    /// `WATCH`, and a `MULTI` without its `EXEC`/`DISCARD` in the same pipeline.
    public func clusterRoutes() throws(RedisError) -> [RedisCommandRoute] {
        var routes: [RedisCommandRoute] = []
        routes.reserveCapacity(count)
        var reader = CommandReader(bytes: bytes)
        var block: (start: Int, replies: Int, slot: Int?, firstKey: String?)?
        while let command = try reader.next() {
            let routing = try command.routing()
            switch routing {
            case .transactionStart:
                guard block == nil else { throw RedisError.protocolError("MULTI inside MULTI: a transaction cannot be nested; nothing was sent") }
                block = (command.range.lowerBound, 1, nil, nil)
            case .transactionEnd:
                guard let open = block else {
                    throw RedisError.protocolError("\(command.name) without MULTI: in a cluster a transaction must be sent whole in one pipeline; nothing was sent")
                }
                routes.append(RedisCommandRoute(
                    bytes: open.start..<command.range.upperBound, replies: open.replies + 1,
                    target: open.slot.map(RedisCommandRoute.Target.slot) ?? .anyMaster, isTransaction: true
                ))
                block = nil
            case .keys(let slot, let firstKey, let sha):
                if var open = block {
                    if let blockSlot = open.slot, blockSlot != slot {
                        throw RedisError.protocolError(
                            "CROSSSLOT refused before sending: a MULTI/EXEC block touches '\(open.firstKey ?? "")' (slot \(blockSlot)) and '\(firstKey)' (slot \(slot)); a Redis Cluster runs a transaction only when all its keys share one hash slot: give them one hash tag such as {queue}"
                        )
                    }
                    open.slot = slot
                    open.firstKey = open.firstKey ?? firstKey
                    open.replies += 1
                    block = open
                } else {
                    var route = RedisCommandRoute(bytes: command.range, target: .slot(slot))
                    route.scriptSHA = sha
                    routes.append(route)
                }
            case .anyMaster:
                if var open = block {
                    open.replies += 1
                    block = open
                } else {
                    routes.append(RedisCommandRoute(bytes: command.range, target: .anyMaster))
                }
            case .everyMaster:
                guard block == nil else {
                    throw RedisError.protocolError("\(command.name) inside MULTI cannot run on every master of a cluster; send it on its own")
                }
                routes.append(RedisCommandRoute(bytes: command.range, target: .everyMaster))
            }
        }
        if block != nil {
            throw RedisError.protocolError("MULTI without EXEC or DISCARD: in a cluster a transaction must be sent whole in one pipeline; nothing was sent")
        }
        return routes
    }
}

/// Walks a buffer's RESP arrays of bulk strings without copying payloads.
private struct CommandReader {
    let bytes: [UInt8]
    var offset = 0

    mutating func next() throws(RedisError) -> ParsedCommand? {
        guard offset < bytes.count else { return nil }
        let start = offset
        let argc = try header(UInt8(ascii: "*"))
        guard argc > 0 else { throw malformed("a command with no arguments") }
        var arguments: [Range<Int>] = []
        arguments.reserveCapacity(argc)
        for _ in 0..<argc {
            let length = try header(UInt8(ascii: "$"))
            let end = offset + length
            guard end + 2 <= bytes.count, bytes[end] == 13, bytes[end + 1] == 10 else { throw malformed("a bulk string runs past its end") }
            arguments.append(offset..<end)
            offset = end + 2
        }
        return ParsedCommand(bytes: bytes, range: start..<offset, arguments: arguments)
    }

    /// Reads `<marker><decimal>\r\n`.
    private mutating func header(_ marker: UInt8) throws(RedisError) -> Int {
        guard offset < bytes.count, bytes[offset] == marker else { throw malformed("expected '\(Character(Unicode.Scalar(marker)))'") }
        offset += 1
        var value = 0
        var digits = 0
        while offset < bytes.count, bytes[offset] != 13 {
            let digit = Int(bytes[offset]) - 48
            guard (0...9).contains(digit), digits < 12 else { throw malformed("a bad length") }
            value = value * 10 + digit
            digits += 1
            offset += 1
        }
        guard digits > 0, offset + 1 < bytes.count, bytes[offset + 1] == 10 else { throw malformed("a bad length") }
        offset += 2
        return value
    }

    private func malformed(_ what: String) -> RedisError {
        RedisError.protocolError("the command buffer is not well-formed RESP (\(what) at byte \(offset)); was begin(arguments:) followed by that many arguments?")
    }
}

/// One command's arguments, as ranges into the buffer.
private struct ParsedCommand {
    let bytes: [UInt8]
    let range: Range<Int>
    let arguments: [Range<Int>]

    enum Routing {
        case keys(slot: Int, firstKey: String, scriptSHA: String?)
        case anyMaster, everyMaster, transactionStart, transactionEnd
    }

    var name: String { text(0).uppercased() }

    func text(_ index: Int) -> String {
        String(decoding: bytes[arguments[index]], as: UTF8.self)
    }

    func integer(_ index: Int) -> Int? {
        index < arguments.count ? Int(text(index)) : nil
    }

    func routing() throws(RedisError) -> Routing {
        let name = self.name
        let argc = arguments.count
        switch name {
        case "MULTI": return .transactionStart
        case "EXEC", "DISCARD": return .transactionEnd
        case "SELECT", "SWAPDB", "MOVE":
            throw RedisError.protocolError("\(name) is refused in a Redis Cluster: it has only database 0; nothing was sent")
        case "SCAN", "KEYS", "DBSIZE", "RANDOMKEY":
            throw RedisError.protocolError("\(name) would see one master of the cluster only; run it on each master with RedisClusterConnection.forEachMaster; nothing was sent")
        case "WATCH", "UNWATCH":
            throw RedisError.protocolError("\(name) is not supported on a cluster connection (its nodes' connections are chosen per command); use a Lua script on keys of one hash tag; nothing was sent")
        case "FLUSHALL", "FLUSHDB":
            return .everyMaster
        case "SCRIPT":
            let sub = argc > 1 ? text(1).uppercased() : ""
            // Registered so a NOSCRIPT on another master can be answered by loading it there.
            if sub == "LOAD", argc > 2 { _ = RedisScript(text(2)) }
            return sub == "LOAD" || sub == "FLUSH" ? .everyMaster : .anyMaster
        case "PING", "ECHO", "TIME", "INFO", "WAIT", "WAITAOF", "CLIENT", "CONFIG", "CLUSTER", "COMMAND", "LASTSAVE", "ROLE",
             "SLOWLOG", "LATENCY", "DEBUG", "HELLO", "AUTH", "READONLY", "READWRITE", "ASKING", "PUBLISH", "FUNCTION",
             "BGREWRITEAOF", "BGSAVE", "SAVE", "SHUTDOWN", "ACL", "MODULE", "LOLWUT", "RESET", "QUIT":
            return .anyMaster
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard let count = integer(2), count >= 0, 3 + count <= argc else {
                throw RedisError.protocolError("\(name) needs a script, a number of keys and that many keys; nothing was sent")
            }
            let sha = name.hasPrefix("EVALSHA") ? text(1).lowercased() : nil
            return count == 0 ? .anyMaster : try keys(Array(3..<(3 + count)), scriptSHA: sha)
        case "DEL", "UNLINK", "EXISTS", "MGET", "TOUCH", "SINTER", "SUNION", "SDIFF", "SINTERSTORE", "SUNIONSTORE",
             "SDIFFSTORE", "PFCOUNT", "PFMERGE":
            return try keys(Array(1..<max(argc, 2)))
        case "BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX":
            return try keys(Array(1..<max(argc - 1, 2)))
        case "MSET", "MSETNX":
            return try keys(Array(stride(from: 1, to: max(argc, 2), by: 2)))
        case "RENAME", "RENAMENX", "RPOPLPUSH", "BRPOPLPUSH", "LMOVE", "BLMOVE", "SMOVE", "COPY", "LCS", "GEOSEARCHSTORE",
             "ZRANGESTORE":
            return try keys(Array(1..<min(max(argc, 2), 3)))
        case "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE":
            guard let count = integer(2), count >= 0, 3 + count <= argc else { return try keys([1]) }
            return try keys([1] + Array(3..<(3 + count)))
        case "ZUNION", "ZINTER", "ZDIFF", "SINTERCARD", "ZINTERCARD", "LMPOP", "ZMPOP":
            guard let count = integer(1), count > 0, 2 + count <= argc else { return .anyMaster }
            return try keys(Array(2..<(2 + count)))
        default:
            return argc > 1 ? try keys([1]) : .anyMaster
        }
    }

    /// The common slot of the arguments at `positions`, or a CROSSSLOT error naming the keys.
    private func keys(_ positions: [Int], scriptSHA: String? = nil) throws(RedisError) -> Routing {
        var slot: Int?
        var firstKey = ""
        for position in positions where position < arguments.count {
            let keySlot = bytes.withUnsafeBytes { RedisClusterSlot.of(UnsafeRawBufferPointer(rebasing: $0[arguments[position]])) }
            if let slot, slot != keySlot {
                let named = positions.filter { $0 < arguments.count }.prefix(8).map { (position: Int) -> String in
                    let key = text(position)
                    return "'\(key.count > 80 ? String(key.prefix(80)) + "…" : key)' (slot \(RedisClusterSlot.of(Array(bytes[arguments[position]]))))"
                }
                throw RedisError.protocolError(
                    "CROSSSLOT refused before sending: \(name) touches keys in different hash slots: \(named.joined(separator: ", ")); a Redis Cluster runs a multi-key command only when all its keys share a slot: give them one hash tag such as {queue}"
                )
            }
            if slot == nil {
                slot = keySlot
                firstKey = text(position)
            }
        }
        guard let slot else { return .anyMaster }
        return .keys(slot: slot, firstKey: firstKey, scriptSHA: scriptSHA)
    }
}
