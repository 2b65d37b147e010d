import CMariaDB

/// An error from MariaDB, from Connector/C, or from this wrapper.
///
/// `code` is the MariaDB error number: 1000–1999 and 4000+ come from the server
/// (1062 duplicate key, 1213 deadlock, 1205 lock wait timeout), 2000–2999 from Connector/C
/// (2006 server gone away, 2013 connection lost). Code 0 means this wrapper refused the call
/// itself (bad URL, wrong number of parameters, nested transaction) and nothing was sent.
///
/// On a Galera cluster: 1213 also means a certification failure (another node committed a
/// conflicting write first; the whole transaction was rolled back), and 1047 means the node is not
/// ready (outside the primary component, joining, or rejecting queries).
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

    /// The connection is unusable: it could not be established, the server went away, it was
    /// killed, or the server can no longer take our statements (`isNodeUnusable`). The statement may
    /// or may not have run on the server. `MariaDBConnection` drops such a connection; its next
    /// connect tries the URL's hosts again from the first.
    public var isConnectionLost: Bool {
        if isNodeUnusable { return true }
        return switch code {
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

    /// The server is up but cannot take this statement, and another node of the URL may: a Galera
    /// node that is not ready (1047 ER_UNKNOWN_COM_ERROR, SQLSTATE 08S01, "WSREP has not yet
    /// prepared node for application use": it left the primary component, is still joining, or
    /// has `wsrep_reject_queries` set), or a server that became read-only (1290
    /// ER_OPTION_PREVENTS_STATEMENT, a primary demoted to standby). The statement did not run.
    public var isNodeUnusable: Bool { code == 1047 || code == 1290 }

    /// A UNIQUE or PRIMARY KEY constraint rejected the row (ER_DUP_ENTRY, 1062).
    public var isDuplicateKey: Bool { code == 1062 }

    /// The transaction lost a deadlock (1213) or waited too long for a lock (1205). InnoDB has
    /// rolled back (1213) or the statement failed (1205); retrying the whole transaction is the cure.
    /// On Galera, 1213 is also what a transaction gets at COMMIT (or at its next statement) when a
    /// write from another node on the same rows was certified first: it was rolled back whole and
    /// nothing of it is applied anywhere.
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
