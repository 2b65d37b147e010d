/// An error from the Redis client.
///
/// A struct wrapping a private code (swift-jobs style), so new codes can be added without breaking
/// callers' `switch` statements. Compare with `==` (which looks at the code only, never the message)
/// or use the `is…` helpers:
///
/// ```swift
/// catch let error where error == .server { … error.message … }
/// throw RedisError.protocolError("unexpected reply to SCRIPT LOAD")
/// ```
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Code: Sendable, Equatable {
        case invalidURL, connectFailed, io, protocolError, server, closed
    }

    let code: Code
    /// What happened, for logs and operators. For `.server` it is the server's error line, e.g.
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`.
    public var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The Redis URL could not be parsed.
    public static let invalidURL = RedisError(.invalidURL, "")
    /// Connecting (TCP connect, AUTH or SELECT) failed. Nothing of the command was sent, so retrying is safe.
    public static let connectFailed = RedisError(.connectFailed, "")
    /// The connection dropped or timed out mid-command. The command may or may not have run on the
    /// server; the caller decides whether a retry is safe. The next call reconnects.
    public static let io = RedisError(.io, "")
    /// The server sent something hiredis could not parse; the connection was dropped.
    public static let protocolError = RedisError(.protocolError, "")
    /// The server answered with an error reply; `message` holds it. The connection is still fine.
    public static let server = RedisError(.server, "")
    /// The connection or client was closed by `close()` / `shutdown()`.
    public static let closed = RedisError(.closed, "")

    // Factories that keep a message; `throw RedisError.server(message)`.
    public static func invalidURL(_ message: String) -> RedisError { RedisError(.invalidURL, message) }
    public static func connectFailed(_ message: String) -> RedisError { RedisError(.connectFailed, message) }
    public static func io(_ message: String) -> RedisError { RedisError(.io, message) }
    public static func protocolError(_ message: String) -> RedisError { RedisError(.protocolError, message) }
    public static func server(_ message: String) -> RedisError { RedisError(.server, message) }
    public static func closed(_ message: String) -> RedisError { RedisError(.closed, message) }

    /// Compares the kind of error only, so `error == .server` matches any server error message.
    public static func == (lhs: RedisError, rhs: RedisError) -> Bool {
        lhs.code == rhs.code
    }

    /// True when Redis could not be reached or the connection broke (`connectFailed` or `io`):
    /// the kind of failure that goes away when Redis comes back.
    public var isConnectionError: Bool { code == .connectFailed || code == .io }

    /// True when the server answered with an error reply.
    public var isServerError: Bool { code == .server }

    public var description: String {
        let kind = switch code {
        case .invalidURL: "invalid Redis URL"
        case .connectFailed: "cannot connect to Redis"
        case .io: "Redis connection failed"
        case .protocolError: "Redis protocol error"
        case .server: "Redis error reply"
        case .closed: "Redis client closed"
        }
        return message.isEmpty ? kind : "\(kind): \(message)"
    }
}
