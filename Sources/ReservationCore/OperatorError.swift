/// A failure the operator can act on: what happened and what to do next, in one line. The executables print it on
/// stderr and exit with code 1. Every module throws this one type for such messages (configuration, schema,
/// migrations, servers out of reach), so it lives here, the module every other one imports; it is a plain value,
/// no I/O.
public struct OperatorError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
