import CMariaDB

/// An error from MariaDB, from Connector/C, or from this wrapper.
///
/// `code` is the MariaDB error number: 1000–1999 and 4000+ come from the server
/// (1062 duplicate key, 1213 deadlock, 1205 lock wait timeout), 2000–2999 from Connector/C
/// (2006 server gone away, 2013 connection lost). Code 0 means this wrapper refused the call
/// itself (bad URL, wrong number of parameters, nested transaction) and nothing was sent.
public struct MariaDBError: Error, Sendable, CustomStringConvertible {
    /// Server or client error number, e.g. 1062; 0 for errors raised by this wrapper.
    public var code: UInt32
    /// Five-character SQLSTATE, e.g. "23000" for an integrity constraint violation.
    public var sqlState: String
    /// The message as MariaDB or Connector/C wrote it (or this wrapper's own explanation).
    public var message: String

    public init(code: UInt32, sqlState: String, message: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
    }

    /// The connection is unusable: it could not be established, the server went away, or it was
    /// killed. The statement may or may not have run on the server.
    public var isConnectionLost: Bool {
        switch code {
        case 2002, // CR_CONNECTION_ERROR: cannot connect through the socket
             2003, // CR_CONN_HOST_ERROR: cannot connect over TCP
             2006, // CR_SERVER_GONE_ERROR
             2013, // CR_SERVER_LOST
             2055, // CR_SERVER_LOST_EXTENDED
             1053, // ER_SERVER_SHUTDOWN
             1927: // ER_CONNECTION_KILLED
            true
        default:
            false
        }
    }

    /// A UNIQUE or PRIMARY KEY constraint rejected the row (ER_DUP_ENTRY, 1062).
    public var isDuplicateKey: Bool { code == 1062 }

    /// The transaction lost a deadlock (1213) or waited too long for a lock (1205). InnoDB has
    /// rolled back (1213) or the statement failed (1205); retrying the whole transaction is the cure.
    public var isDeadlockOrLockTimeout: Bool { code == 1213 || code == 1205 }

    public var description: String {
        "MariaDB error \(code) (SQLSTATE \(sqlState)): \(message)"
    }

    /// An error raised by this wrapper before anything reached the server.
    static func client(_ message: String) -> MariaDBError {
        MariaDBError(code: 0, sqlState: "HY000", message: message)
    }

    /// The last error recorded on a connection handle.
    init(connection mysql: UnsafeMutablePointer<MYSQL>) {
        self.init(
            code: mysql_errno(mysql),
            sqlState: String(cString: mysql_sqlstate(mysql)),
            message: String(cString: mysql_error(mysql))
        )
    }

    /// The last error recorded on a statement handle.
    init(statement stmt: UnsafeMutablePointer<MYSQL_STMT>) {
        self.init(
            code: mysql_stmt_errno(stmt),
            sqlState: String(cString: mysql_stmt_sqlstate(stmt)),
            message: String(cString: mysql_stmt_error(stmt))
        )
    }

    /// Thrown when a call needs the server but the connection was lost inside `transaction()`.
    static let lostInTransaction = MariaDBError(
        code: 2013, sqlState: "HY000",
        message: "Lost connection to server inside a transaction; the server rolled it back. Retry the whole transaction."
    )

    /// Statements that must be prepared again: ER_NEED_REPREPARE (1615) before execution, or
    /// CR_NEW_STMT_METADATA (2057) when a table's column count changed under a cached SELECT.
    var needsReprepare: Bool { code == 1615 || code == 2057 }
}
