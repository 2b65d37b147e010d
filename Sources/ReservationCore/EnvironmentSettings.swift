/// Settings read from environment variables, with the refusals every service words the same way:
/// `NAME is not set (hint)`, `NAME: why the value does not parse`, `NAME must be …, not 'value'`.
/// Pure: the caller passes the environment in (tests pass a dictionary).
public struct EnvironmentSettings: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String]) {
        self.values = values
    }

    /// The variable's value; nil when it is unset or empty.
    public func text(_ name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    /// The variable's value, or `NAME is not set (hint)`.
    public func required(_ name: String, hint: String) throws(OperatorError) -> String {
        guard let value = text(name) else { throw OperatorError("\(name) is not set (\(hint))") }
        return value
    }

    /// The variable's value as `parse` reads it; a parse failure becomes `NAME: <the error>`.
    public func parsed<Value>(_ name: String, _ value: String, _ parse: (String) throws -> Value) throws(OperatorError) -> Value {
        do { return try parse(value) } catch { throw OperatorError("\(name): \(error)") }
    }

    /// The variable as a number (`Int`, `Int64`, `Double`) that `isValid` accepts; nil when unset or empty, and
    /// `NAME must be <expected>, not 'value'` when it is not such a number.
    public func number<Number: LosslessStringConvertible>(
        _ name: String, as type: Number.Type = Number.self, expected: String, where isValid: (Number) -> Bool
    ) throws(OperatorError) -> Number? {
        guard let text = text(name) else { return nil }
        guard let value = Number(text), isValid(value) else { throw OperatorError("\(name) must be \(expected), not '\(text)'") }
        return value
    }
}
