import CMariaDB

/// Choosing the host to write through: each of the URL's hosts in order, each attempt bounded by the connect timeout,
/// the first that answers and reports itself ready (`NodeReadiness`) wins.
extension MariaDBConnection {
    /// Opens the first host of the URL that answers and is ready for writes, trying them in order; returns its
    /// handle and its name for logs. Throws an error naming every host and why it was passed over when none is.
    func firstReadyHost() throws(MariaDBError) -> (handle: UnsafeMutablePointer<MYSQL>, name: String) {
        // A socket URL names one server (the parser refuses more); its host is not used.
        let candidates = url.socket == nil ? url.hosts : [url.hosts[0]]
        var passedOver: [PassedOver] = []
        for candidate in candidates {
            let name = url.socket ?? candidate.description
            let mysql: UnsafeMutablePointer<MYSQL>
            let started = ContinuousClock.now
            do throws(MariaDBError) {
                mysql = try open(candidate)
            } catch {
                passedOver.append(PassedOver(host: name, error: error, reason: unreachableReason(error, after: ContinuousClock.now - started)))
                continue
            }
            let readiness: NodeReadiness
            do throws(MariaDBError) {
                let reported = try reportedState(mysql)
                readiness = NodeReadiness(reported: reported)
                if readiness == .ready, NodeReadiness.isGalera(reported) {
                    // Other nodes apply a commit shortly after it is certified, so a read through the
                    // node we fail over to could miss our own last commit. Causal reads wait for it.
                    guard realQuery(mysql, "SET SESSION wsrep_sync_wait = 1") == 0 else { throw MariaDBError(connection: mysql) }
                }
            } catch {
                mysql_close(mysql)
                passedOver.append(PassedOver(host: name, error: error, reason: "error \(error.code): \(error.message)"))
                continue
            }
            if case .notReady(let reason) = readiness {
                mysql_close(mysql)
                // The code a statement would get on such a node: 1290 read-only, 1047 WSREP not ready.
                let error = reason == "read_only"
                    ? MariaDBError(code: 1290, sqlState: "HY000", message: "\(name) is read-only")
                    : MariaDBError(code: 1047, sqlState: "08S01", message: "\(name) is \(reason)")
                passedOver.append(PassedOver(host: name, error: error, reason: reason))
                continue
            }
            return (mysql, name)
        }
        throw noHostReady(passedOver)
    }

    /// One connection attempt to one host, bounded by the connect timeout; the handle is open and
    /// authenticated, nothing else is known about the server yet.
    private func open(_ host: MariaDBURL.HostPort) throws(MariaDBError) -> UnsafeMutablePointer<MYSQL> {
        guard let mysql = mysql_init(nil) else {
            throw MariaDBError(code: 2008, sqlState: "HY000", message: "MariaDB client ran out of memory (mysql_init).")
        }
        do throws(MariaDBError) {
            try setOption(mysql, MYSQL_OPT_CONNECT_TIMEOUT, Self.seconds(connectTimeout))
            try setOption(mysql, MYSQL_OPT_READ_TIMEOUT, Self.seconds(readTimeout))
            try setOption(mysql, MYSQL_OPT_WRITE_TIMEOUT, Self.seconds(readTimeout))
            // Force the transport the URL names: "localhost" without a socket would otherwise
            // silently use the default Unix socket.
            let protocolType = url.socket == nil ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET
            try setOption(mysql, MYSQL_OPT_PROTOCOL, protocolType.rawValue)
            try setOption(mysql, MYSQL_OPT_LOCAL_INFILE, UInt32(0))
            // Report truncated result columns, so long values are fetched again in full.
            var report: my_bool = 1
            guard mysql_options(mysql, MYSQL_REPORT_DATA_TRUNCATION, &report) == 0 else {
                throw MariaDBError.client("Connector/C rejected MYSQL_REPORT_DATA_TRUNCATION.")
            }
            let charsetStatus = "utf8mb4".withCString { mysql_options(mysql, MYSQL_SET_CHARSET_NAME, $0) }
            guard charsetStatus == 0 else { throw MariaDBError.client("Connector/C rejected the utf8mb4 character set.") }
        } catch {
            mysql_close(mysql)
            throw error
        }
        // CLIENT_MULTI_STATEMENTS is only ever used by executeScript and the readiness probe (text
        // protocol); prepared statements are single statements whatever this flag says.
        let flags = UInt(CLIENT_MULTI_STATEMENTS) | UInt(CLIENT_MULTI_RESULTS)
        let connected = mysql_real_connect(
            mysql, host.host, url.user, url.password, url.database,
            url.socket == nil ? UInt32(host.port) : 0, url.socket, flags
        )
        guard connected != nil else {
            let error = MariaDBError(connection: mysql)
            mysql_close(mysql)
            throw error
        }
        return mysql
    }

    /// What a freshly opened server says about its role, in one round trip: SHOW statements, which
    /// a Galera node answers even when it refuses everything else (error 1047).
    private func reportedState(_ mysql: UnsafeMutablePointer<MYSQL>) throws(MariaDBError) -> [String: String] {
        let quoted: ([String]) -> String = { names in names.map { "'\($0)'" }.joined(separator: ",") }
        let sql = "SHOW GLOBAL VARIABLES WHERE Variable_name IN (\(quoted(NodeReadiness.variableNames))); "
            + "SHOW GLOBAL STATUS WHERE Variable_name IN (\(quoted(NodeReadiness.statusNames)))"
        guard realQuery(mysql, sql) == 0 else { throw MariaDBError(connection: mysql) }
        var reported: [String: String] = [:]
        while true {
            guard let result = mysql_store_result(mysql) else { throw MariaDBError(connection: mysql) }
            while let row = mysql_fetch_row(result) {
                if let name = row[0], let value = row[1] {
                    reported[String(cString: name).lowercased()] = String(cString: value)
                }
            }
            mysql_free_result(result)
            // 0: another result follows, -1: done, > 0: the second statement failed.
            let next = mysql_next_result(mysql)
            if next == -1 { return reported }
            guard next == 0 else { throw MariaDBError(connection: mysql) }
        }
    }

    /// A host passed over while connecting, and why, in a few words.
    private struct PassedOver {
        var host: String
        var error: MariaDBError
        var reason: String
    }

    /// The error when no host could be used. With one host it is that host's own error; with
    /// several it lists each host and why, and carries their common code, or 2003
    /// (CR_CONN_HOST_ERROR, so `isConnectionLost`) when they differ.
    private func noHostReady(_ passedOver: [PassedOver]) -> MariaDBError {
        if passedOver.count == 1, let only = passedOver.first {
            var error = only.error
            error.message = only.error.isNodeUnusable
                ? "\(only.host) is not ready for writes: \(only.reason) (connecting to \(url))"
                : "\(only.error.message) (connecting to \(url))"
            return error
        }
        let codes = Set(passedOver.map(\.error.code))
        let first = passedOver.first?.error
        return MariaDBError(
            code: codes.count == 1 ? first?.code ?? 2003 : 2003,
            sqlState: codes.count == 1 ? first?.sqlState ?? "HY000" : "HY000",
            message: "No MariaDB host of \(url) is ready for writes: "
                + passedOver.map { "\($0.host) \($0.reason)" }.joined(separator: "; ")
                + ". Start or repair a node (a Galera node must be Synced, a standby is read-only), then retry."
        )
    }

    /// Why a host could not be reached. Connector/C connects without blocking and reports errno 115
    /// (EINPROGRESS) whether the host refused or never answered, so the time taken tells them apart.
    private func unreachableReason(_ error: MariaDBError, after elapsed: Duration) -> String {
        guard error.code == 2002 || error.code == 2003 else { return "error \(error.code): \(error.message)" }
        if elapsed >= .seconds(Int64(Self.seconds(connectTimeout))) * 0.9 {
            return "timed out after \(Self.seconds(connectTimeout)) s"
        }
        return "refused"
    }

    private func setOption(_ mysql: UnsafeMutablePointer<MYSQL>, _ option: mysql_option, _ value: UInt32) throws(MariaDBError) {
        var value = value
        guard mysql_options(mysql, option, &value) == 0 else {
            throw .client("Connector/C rejected connection option \(option.rawValue).")
        }
    }

    private static func seconds(_ duration: Duration) -> UInt32 {
        let (seconds, attoseconds) = duration.components
        let rounded = seconds + (attoseconds > 0 ? 1 : 0)
        return UInt32(clamping: max(rounded, 1))
    }
}
