/// What a blocking Redis caller needs, whether it talks to one server (`RedisConnection`) or to a Redis Cluster
/// (`RedisClusterConnection`). Get one from `connectRedis(url:)`, which picks by the URL's scheme.
///
/// Like both implementations, NOT thread-safe: one thread at a time.
public protocol RedisCommanding: AnyObject {
    /// Sends one command and waits for its reply. An error reply throws `RedisError.server`.
    func command(_ args: [String]) throws(RedisError) -> RedisValue
    /// Binary-safe form of `command(_:)`.
    func command(_ args: [[UInt8]]) throws(RedisError) -> RedisValue
    /// Sends the commands together and reads one reply per command, in the caller's order. Error replies come back
    /// in place as `.error(message)`; only transport failures throw, and then it is unknown which commands ran.
    func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisValue]
    /// Binary-safe form of `pipeline(_:)`.
    func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisValue]
    /// Commands already written as protocol bytes (the cheapest form for large pipelines).
    func pipeline(_ buffer: RedisCommandBuffer) throws(RedisError) -> [RedisValue]
    /// Closes the connection(s). Later calls throw `RedisError.closed`.
    func close()
}

extension RedisCommanding {
    /// `command(_:)` with text arguments, sent as their UTF-8 bytes.
    public func command(_ args: [String]) throws(RedisError) -> RedisValue {
        try command(args.map { (arg: String) -> [UInt8] in Array(arg.utf8) })
    }

    /// `pipeline(_:)` with text arguments, sent as their UTF-8 bytes.
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisValue] {
        try pipeline(commands.map { (command: [String]) -> [[UInt8]] in
            command.map { (arg: String) -> [UInt8] in Array(arg.utf8) }
        })
    }
}

extension RedisConnection: RedisCommanding {}
extension RedisClusterConnection: RedisCommanding {}

/// Connects to what the URL names: a `RedisConnection` for `redis://`, a `RedisClusterConnection` for
/// `redis-cluster://` (which reads the slot map from a seed node now, and connects to each master when first used).
///
/// The timeouts apply to every connection made, to the server or to each cluster node. Throws `connectFailed`
/// when nothing could be reached.
public func connectRedis(
    url: RedisURL, connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(5)
) throws(RedisError) -> any RedisCommanding {
    if url.isCluster {
        return try RedisClusterConnection(url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
    }
    return try RedisConnection(url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
}
