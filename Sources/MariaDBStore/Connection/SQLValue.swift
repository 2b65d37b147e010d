/// One value sent to or read from MariaDB.
///
/// Parameters: `.int` binds as BIGINT, `.double` as DOUBLE, `.text` as a utf8mb4 string, `.blob` as
/// binary bytes, `.null` as NULL. Results are typed by the column: integer columns give `.int`,
/// FLOAT/DOUBLE give `.double`, binary strings and BLOB/BIT give `.blob`, everything else (character
/// strings, DECIMAL, dates and times) gives `.text` in MariaDB's own text form.
public enum SQLValue: Sendable, Equatable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    /// The integer, or the text parsed as a decimal integer (DECIMAL results such as `SUM(int_col)`
    /// arrive as text). nil for anything else.
    public var int: Int64? {
        switch self {
        case .int(let value): value
        case .text(let text): Int64(text)
        default: nil
        }
    }

    /// The string of a `.text` value; nil for every other case (no implicit formatting of numbers).
    public var text: String? {
        if case .text(let text) = self { text } else { nil }
    }

    /// The double, an integer converted to double, or the text parsed as a number (DECIMAL results).
    public var double: Double? {
        switch self {
        case .double(let value): value
        case .int(let value): Double(value)
        case .text(let text): Double(text)
        default: nil
        }
    }

    /// The bytes of a `.blob` value; nil for every other case.
    public var blob: [UInt8]? {
        if case .blob(let bytes) = self { bytes } else { nil }
    }

    /// True for SQL NULL.
    public var isNull: Bool {
        if case .null = self { true } else { false }
    }
}
