import ReservationCore

/// Commands written straight into the Redis protocol's bytes (RESP arrays of bulk strings), for pipelines of
/// thousands of commands: one growing buffer instead of an array of arguments and a C argv per command.
///
///     var buffer = RedisCommandBuffer()
///     buffer.command("SET", key, value, "EX", "60")
///     let replies = try connection.pipeline(buffer)
public struct RedisCommandBuffer: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Commands written so far (each gets one reply).
    public private(set) var count = 0

    public init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    public var isEmpty: Bool { count == 0 }

    /// Binary-safe commands, each an array of arguments.
    public init(_ commands: [[[UInt8]]]) {
        self.init(capacity: commands.reduce(0) { $0 + $1.reduce(16) { $0 + $1.count + 16 } })
        for arguments in commands {
            begin(arguments: arguments.count)
            for argument in arguments { bulk(argument) }
        }
    }

    /// Appends another buffer's commands after these.
    public mutating func append(_ other: RedisCommandBuffer) {
        bytes.append(contentsOf: other.bytes)
        count += other.count
    }

    public mutating func command(_ arguments: String...) {
        command(arguments)
    }

    public mutating func command(_ arguments: [String]) {
        precondition(!arguments.isEmpty, "a command needs at least one argument")
        header(UInt8(ascii: "*"), arguments.count)
        for argument in arguments { bulk(argument.utf8) }
        count += 1
    }

    /// Starts a command of `arguments` arguments; exactly that many `argument` calls must follow.
    public mutating func begin(arguments: Int) {
        precondition(arguments > 0, "a command needs at least one argument")
        header(UInt8(ascii: "*"), arguments)
        count += 1
    }

    public mutating func argument(_ text: String) { bulk(text.utf8) }

    public mutating func argument(_ value: Int64) {
        var digits: [UInt8] = []
        ByteText.appendDecimal(value, to: &digits)
        bulk(digits)
    }

    public mutating func argument(_ bytes: some Collection<UInt8>) { bulk(bytes) }

    private mutating func bulk(_ payload: some Collection<UInt8>) {
        header(UInt8(ascii: "$"), payload.count)
        bytes.append(contentsOf: payload)
        bytes.append(13)
        bytes.append(10)
    }

    private mutating func header(_ marker: UInt8, _ number: Int) {
        bytes.append(marker)
        ByteText.appendDecimal(Int64(number), to: &bytes)
        bytes.append(13)
        bytes.append(10)
    }
}
