import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One blocking connection to Redis over hiredis.
///
/// NOT thread-safe: exactly one thread may use it at a time (`RedisClient` gives each connection
/// its own thread). Every call blocks until the reply arrives or `commandTimeout` passes.
///
/// After a transport failure (`RedisError.io` or `.protocolError`) the hiredis context is dead: it is
/// freed at once and the NEXT call reconnects (one attempt, bounded by `connectTimeout`) before
/// sending anything. A command that may have been sent is never retried here, so a non-idempotent
/// command such as `RPUSH` is never doubled; the caller decides about retries.
///
/// hiredis writes with `write(2)`, which raises SIGPIPE on a socket the server has closed; the first
/// connection therefore sets SIGPIPE to ignored for the whole process (as servers usually do).
public final class RedisConnection {
    public let url: RedisURL
    private let connectTimeout: Duration
    private let commandTimeout: Duration
    /// nil when not connected: before the first successful connect, or after a transport failure.
    private var context: UnsafeMutablePointer<redisContext>?
    private var isClosed = false

    /// Connects now (TCP connect, then AUTH if the URL has a password, then SELECT if the database is not 0).
    /// A `redis-cluster://` URL is refused: use `connectRedis(url:)` or `RedisClusterConnection`.
    public init(url: RedisURL, connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(5)) throws(RedisError) {
        guard !url.isCluster else {
            throw RedisError(.invalidURL, "\(url) names a Redis Cluster: connect with connectRedis(url:) or RedisClusterConnection, which route each key to its master")
        }
        self.url = url
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        try connect()
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// True while a live hiredis context exists. A broken connection reconnects on the next call.
    public var isConnected: Bool { context != nil }

    /// Sends one command and waits for its reply. An error reply throws `RedisError.server`.
    public func command(_ args: [[UInt8]]) throws(RedisError) -> RedisValue {
        guard !args.isEmpty else { throw Self.emptyCommand }
        let context = try liveContext()
        let raw = withArgv(args) { argc, argv, argvlen in redisCommandArgv(context, argc, argv, argvlen) }
        guard let raw else { throw dropContext(after: "sending a command") }
        defer { freeReplyObject(raw) }
        guard let value = Self.value(of: raw.assumingMemoryBound(to: redisReply.self)) else {
            throw dropContext(unsupportedReply: raw.assumingMemoryBound(to: redisReply.self).pointee.type)
        }
        if case .error(let message) = value { throw RedisError(.server, message) }
        return value
    }

    /// Sends all commands in one write, then reads one reply per command, in order.
    ///
    /// An error reply from the server is returned in place as `.error(message)`; only transport
    /// failures throw, and then it is unknown which of the commands ran.
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        guard !commands.contains(where: \.isEmpty) else { throw Self.emptyCommand }
        let context = try liveContext()
        // Appending only fills hiredis' output buffer (amortised growth); the first redisGetReply
        // writes it all, so the whole pipeline costs one round trip and stays linear in its size.
        for args in commands {
            let status = withArgv(args) { argc, argv, argvlen in redisAppendCommandArgv(context, argc, argv, argvlen) }
            guard status == REDIS_OK else { throw dropContext(after: "buffering a pipeline") }
        }
        return try readReplies(commands.count, from: context)
    }

    /// Sends commands already written as protocol bytes, in one round trip, and reads one reply per command.
    /// Error replies come back in place as `.error(message)`; only transport failures throw.
    public func pipeline(_ buffer: RedisCommandBuffer) throws(RedisError) -> [RedisValue] {
        guard !buffer.isEmpty else { return [] }
        let context = try liveContext()
        let status = buffer.bytes.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        guard status == REDIS_OK else { throw dropContext(after: "buffering a pipeline") }
        return try readReplies(buffer.count, from: context)
    }

    /// Reads `count` replies; the first `redisGetReply` writes whatever is buffered.
    private func readReplies(_ count: Int, from context: UnsafeMutablePointer<redisContext>) throws(RedisError) -> [RedisValue] {
        var replies: [RedisValue] = []
        replies.reserveCapacity(count)
        for _ in 0..<count {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw dropContext(after: "reading pipeline reply \(replies.count + 1) of \(count)")
            }
            defer { freeReplyObject(raw) }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            // An unreadable reply leaves the rest of the pipeline unread, so the context cannot be reused.
            guard let value = Self.value(of: reply) else { throw dropContext(unsupportedReply: reply.pointee.type) }
            replies.append(value)
        }
        return replies
    }

    /// Closes the socket. Later calls throw `RedisError.closed`.
    public func close() {
        isClosed = true
        if let context { redisFree(context) }
        context = nil
    }

    // MARK: - Phased pipelining (RedisClusterConnection only; the methods above never call these)

    /// Makes sure a live context exists before a pipeline is written: connects if there is none, and replaces one
    /// the server has already closed. An idle connection has nothing to read, so a readable socket means EOF or a
    /// reset (the server was killed or dropped us): writing there would leave the command's fate unknown, while
    /// reconnecting first either works or fails with nothing sent. Throws `connectFailed` or `closed` only.
    func prepareToSend() throws(RedisError) {
        if isClosed { throw RedisError(.closed, "this connection was closed; create a new one") }
        if let context {
            var poller = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 0) != 0 else { return }
            redisFree(context)
            self.context = nil
        }
        try connect()
    }

    /// Appends protocol bytes to hiredis' output buffer; nothing is written yet.
    func append(_ bytes: ArraySlice<UInt8>) throws(RedisError) {
        guard let context else { throw RedisError(.connectFailed, "\(url.host):\(url.port): not connected; nothing was sent") }
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        guard status == REDIS_OK else { throw dropContext(after: "buffering a pipeline") }
    }

    /// Writes hiredis' whole output buffer to the socket. On failure the context is dropped and the answer says
    /// whether not one byte had been written (then none of the appended commands can have run).
    func flush() -> (error: RedisError, nothingWritten: Bool)? {
        guard let context else { return (RedisError(.connectFailed, "\(url.host):\(url.port): not connected; nothing was sent"), true) }
        let pending = sdslen(context.pointee.obuf)
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else {
                let nothingWritten = sdslen(context.pointee.obuf) == pending
                return (dropContext(after: "writing a pipeline"), nothingWritten)
            }
        }
        return nil
    }

    /// Reads the next reply of what `flush` wrote. Error replies come back as `.error`; a transport failure throws
    /// (and drops the context).
    func readReply() throws(RedisError) -> RedisValue {
        guard let context else { throw RedisError(.io, "\(url.host):\(url.port): the connection was lost before the reply; the command may or may not have run") }
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw dropContext(after: "reading a reply") }
        defer { freeReplyObject(raw) }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        guard let value = Self.value(of: reply) else { throw dropContext(unsupportedReply: reply.pointee.type) }
        return value
    }

    // MARK: - Connecting

    private static let emptyCommand = RedisError(.protocolError, "a command needs at least one argument; nothing was sent")

    private func liveContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if isClosed { throw RedisError(.closed, "this connection was closed; create a new one") }
        if let context { return context }
        try connect()
        guard let context else { throw RedisError(.connectFailed, "connect did not produce a context") }
        return context
    }

    private func connect() throws(RedisError) {
        _ = ignoreSIGPIPE
        let target = "\(url.host):\(url.port)"
        guard let fresh = redisConnectWithTimeout(url.host, Int32(url.port), timeval(connectTimeout)) else {
            throw RedisError(.connectFailed, "hiredis could not allocate a context for \(target)")
        }
        if fresh.pointee.err != 0 {
            let reason = Self.errorText(fresh)
            redisFree(fresh)
            throw RedisError(.connectFailed, "\(target): \(reason); check that redis-server is running and the URL is right")
        }
        guard redisSetTimeout(fresh, timeval(commandTimeout)) == REDIS_OK else {
            let reason = Self.errorText(fresh)
            redisFree(fresh)
            throw RedisError(.connectFailed, "\(target): cannot set the command timeout: \(reason)")
        }
        context = fresh
        do {
            if let password = url.password {
                let auth = if let username = url.username { ["AUTH", username, password] } else { ["AUTH", password] }
                _ = try command(auth)
            }
            if url.database != 0 {
                _ = try command(["SELECT", String(url.database)])
            }
        } catch {
            // A half-set-up connection (wrong password, bad database) must not be used.
            if let context { redisFree(context) }
            context = nil
            throw RedisError(.connectFailed, "\(target): setting up the connection failed: \(error.message); check the password and database in the Redis URL")
        }
    }

    // MARK: - Failures

    /// Frees the dead context so the next call reconnects, and describes what went wrong.
    private func dropContext(after action: String) -> RedisError {
        guard let context else { return RedisError(.io, "\(action): not connected") }
        let code: RedisError.Code = context.pointee.err == REDIS_ERR_PROTOCOL ? .protocolError : .io
        let reason = Self.errorText(context)
        redisFree(context)
        self.context = nil
        return RedisError(code, "\(url.host):\(url.port), \(action): \(reason) (connection dropped or no reply within \(commandTimeout)); the command may or may not have run; the next call reconnects")
    }

    private func dropContext(unsupportedReply type: Int32) -> RedisError {
        if let context { redisFree(context) }
        context = nil
        return RedisError(.protocolError, "unsupported reply type \(type); the connection was dropped")
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        // errstr is a fixed char[128] (a tuple in Swift), NUL-terminated.
        let text = withUnsafeBytes(of: context.pointee.errstr) { (raw: UnsafeRawBufferPointer) -> String in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return text.isEmpty ? "hiredis error \(context.pointee.err)" : text
    }

    // MARK: - C conversions

    /// Converts a reply tree into values; nil for a reply type hiredis 0.14 should never produce.
    private static func value(of reply: UnsafePointer<redisReply>) -> RedisValue? {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(r.str, r.len))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                guard let child = r.element[index], let value = value(of: child) else { return nil }
                elements.append(value)
            }
            return .array(elements)
        default:
            return nil
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))  // one memcpy
    }
}

/// Calls `body` with hiredis' argc/argv/argvlen for one command.
///
/// All arguments are copied into one contiguous buffer first, so every pointer in argv stays valid
/// for the whole C call (pointers taken from separate `withUnsafe…` closures would not), and lengths
/// are passed explicitly so `\0` bytes inside arguments are sent as they are.
private func withArgv<Result>(
    _ args: [[UInt8]],
    _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Result
) -> Result {
    var lengths: [Int] = []
    lengths.reserveCapacity(args.count)
    var storage: [UInt8] = []
    storage.reserveCapacity(args.reduce(1) { (total: Int, arg: [UInt8]) -> Int in total + arg.count })
    for arg: [UInt8] in args {
        storage.append(contentsOf: arg)
        lengths.append(arg.count)
    }
    storage.append(0)  // never empty, so there is a valid base address even if every argument is ""
    return storage.withUnsafeBufferPointer { (bytes: UnsafeBufferPointer<UInt8>) -> Result in
        bytes.withMemoryRebound(to: CChar.self) { (chars: UnsafeBufferPointer<CChar>) -> Result in
            let base: UnsafePointer<CChar> = chars.baseAddress!
            var argv: [UnsafePointer<CChar>?] = []
            argv.reserveCapacity(lengths.count)
            var offset = 0
            for length: Int in lengths {
                argv.append(base + offset)
                offset += length
            }
            return argv.withUnsafeMutableBufferPointer { (argvBuffer: inout UnsafeMutableBufferPointer<UnsafePointer<CChar>?>) -> Result in
                lengths.withUnsafeBufferPointer { (lengthBuffer: UnsafeBufferPointer<Int>) -> Result in
                    body(Int32(lengthBuffer.count), argvBuffer.baseAddress!, lengthBuffer.baseAddress!)
                }
            }
        }
    }
}

/// Evaluated once, on the first connect (global lets are initialised lazily and thread-safely).
private let ignoreSIGPIPE: Void = {
    _ = signal(SIGPIPE, SIG_IGN)
}()

extension timeval {
    /// hiredis takes timeouts as `struct timeval`. At least 1 ms, because a zero timeout means "wait forever".
    fileprivate init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let micros = max(Int64(1_000), seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        self.init(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
    }
}
