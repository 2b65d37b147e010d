/// One reply from Redis (RESP2; hiredis 0.14 has no RESP3 types).
public enum RedisValue: Sendable, Equatable {
    /// A simple string such as `OK` or `PONG`.
    case status(String)
    /// An error reply. `RedisConnection.command` throws these as `RedisError.server`; pipelines return them in place.
    case error(String)
    case integer(Int64)
    /// A bulk string: arbitrary bytes.
    case bulk([UInt8])
    /// A nil bulk string or nil array (`GET` of a missing key, `BLPOP` timeout).
    case null
    case array([RedisValue])

    /// A bulk or status reply as text; nil for other replies and for bytes that are not valid UTF-8
    /// (use `bytes` for binary data).
    public var string: String? {
        switch self {
        case .status(let text): text
        case .bulk(let bytes): String(validating: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The raw bytes of a bulk reply.
    public var bytes: [UInt8]? {
        if case .bulk(let bytes) = self { bytes } else { nil }
    }

    /// An integer reply, or a bulk string holding a decimal integer (what `GET` returns for a counter).
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk(let bytes): Int64(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    /// The elements of an array reply.
    public var array: [RedisValue]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    public var isNull: Bool { self == .null }
}
