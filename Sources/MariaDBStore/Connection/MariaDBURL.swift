/// Where and how to connect to MariaDB, parsed from a URL.
///
/// ```
/// mariadb://user:password@127.0.0.1:3306/concert
/// mariadb://root@localhost/concert?socket=/run/mysqld/mysqld.sock
/// mariadb://user:password@10.0.0.1:3306,10.0.0.2:3306,[fd00::3]:3306/concert
/// ```
/// The scheme may also be `mysql://`. User, password, database and socket are percent-decoded, so a
/// password containing `@`, `:` or `/` is written `%40`, `%3A`, `%2F`. The port defaults to 3306.
/// With `socket` the connection uses that Unix socket and ignores host and port; without it, it
/// always uses TCP, even for `localhost`.
///
/// Several comma-separated hosts are the nodes of one Galera cluster (or a primary and its standbys),
/// in the operator's order of preference: `MariaDBConnection` writes through the first that answers
/// and is ready. A socket URL names exactly one server.
public struct MariaDBURL: Sendable, Equatable, CustomStringConvertible {
    /// One server of the URL: a host name or IP address (IPv6 without brackets) and a TCP port.
    public struct HostPort: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int = 3306) {
            self.host = host
            self.port = port
        }

        /// `host:port`, with an IPv6 address in brackets: `[::1]:3306`.
        public var description: String {
            "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
    }

    public var user: String
    public var password: String?
    /// The servers in the order they are tried; never empty (the parser and initialisers see to it).
    public var hosts: [HostPort]
    public var database: String
    /// Path of the server's Unix socket; when set, host and port are not used.
    public var socket: String?

    /// The first (preferred) host. Setting it replaces the first host's name only.
    public var host: String {
        get { hosts[0].host }
        set { hosts[0].host = newValue }
    }

    /// The first (preferred) host's port. Setting it replaces the first host's port only.
    public var port: Int {
        get { hosts[0].port }
        set { hosts[0].port = newValue }
    }

    public init(user: String, password: String? = nil, host: String = "127.0.0.1", port: Int = 3306,
                database: String, socket: String? = nil) {
        self.init(user: user, password: password, hosts: [HostPort(host: host, port: port)], database: database, socket: socket)
    }

    /// Several servers, tried in this order. An empty list means the default `127.0.0.1:3306`.
    public init(user: String, password: String? = nil, hosts: [HostPort], database: String, socket: String? = nil) {
        self.user = user
        self.password = password
        self.hosts = hosts.isEmpty ? [HostPort(host: "127.0.0.1")] : hosts
        self.database = database
        self.socket = socket
    }

    /// Parses a `mariadb://` or `mysql://` URL; throws a `MariaDBError` with code 0 whose message says
    /// what is wrong (never echoing the password).
    public init(parsing string: String) throws(MariaDBError) {
        let input = Substring(string).trimmingASCIIWhitespace()
        guard let schemeRange = input.firstRange(of: "://") else {
            throw Self.invalid("expected mariadb://user[:password]@host[:port]/database")
        }
        let scheme = input[..<schemeRange.lowerBound].lowercased()
        guard scheme == "mariadb" || scheme == "mysql" else {
            throw Self.invalid("unsupported scheme '\(scheme)', use mariadb:// or mysql://")
        }
        var rest = input[schemeRange.upperBound...]
        guard !rest.contains("#") else { throw Self.invalid("a fragment ('#') is not allowed; percent-encode '#' as %23") }

        var query: Substring = ""
        if let questionMark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: questionMark)...]
            rest = rest[..<questionMark]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw Self.invalid("missing database name, e.g. mariadb://user@host/concert")
        }
        let authority = rest[..<slash]
        let path = rest[rest.index(after: slash)...]

        // The last '@' separates user info from host, so a stray '@' in the password still parses.
        guard let at = authority.lastIndex(of: "@") else {
            throw Self.invalid("missing user, e.g. mariadb://user@host/concert")
        }
        let userInfo = authority[..<at]
        let hostList = authority[authority.index(after: at)...]

        let rawUser: Substring
        if let colon = userInfo.firstIndex(of: ":") {
            rawUser = userInfo[..<colon]
            password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], what: "password")
        } else {
            rawUser = userInfo
            password = nil
        }
        user = try Self.percentDecoded(rawUser, what: "user")
        guard !user.isEmpty else { throw Self.invalid("the user name is empty") }

        // Commas never occur inside a host, a port or an IPv6 literal, so they separate hosts.
        let entries = hostList.split(separator: ",", omittingEmptySubsequences: false)
        var parsedHosts: [HostPort] = []
        for entry in entries {
            let (name, port) = try Self.hostAndPort(entry)
            if name.isEmpty, entries.count > 1 {
                throw Self.invalid("an empty host in the list '\(hostList)'; write host:port pairs separated by commas")
            }
            let parsed = HostPort(host: name, port: port)
            guard !parsedHosts.contains(parsed) else { throw Self.invalid("\(parsed) is listed twice") }
            parsedHosts.append(parsed)
        }
        hosts = parsedHosts

        database = try Self.percentDecoded(path, what: "database")
        guard !database.isEmpty else { throw Self.invalid("missing database name after '/'") }
        guard !database.contains("/") else { throw Self.invalid("the database name must not contain '/'") }

        socket = nil
        for parameter in query.split(separator: "&", omittingEmptySubsequences: true) {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, pair[0] == "socket" else {
                throw Self.invalid("unknown query parameter '\(pair[0])'; the only one supported is socket=PATH")
            }
            let path = try Self.percentDecoded(pair[1], what: "socket")
            guard !path.isEmpty else { throw Self.invalid("socket= needs a path") }
            socket = path
        }
        if socket != nil, hosts.count > 1 {
            throw Self.invalid("a socket URL names one server; remove ?socket= or all hosts but one")
        }
        if hosts[0].host.isEmpty {
            guard socket != nil else { throw Self.invalid("missing host (or ?socket=PATH)") }
            hosts[0].host = "localhost"
        }
    }

    /// The URL with the password replaced by `***`, safe for logs.
    public var description: String {
        var text = "mariadb://\(user)"
        if password != nil { text += ":***" }
        text += "@" + hosts.map(\.description).joined(separator: ",") + "/\(database)"
        if let socket { text += "?socket=\(socket)" }
        return text
    }

    private static func hostAndPort(_ text: Substring) throws(MariaDBError) -> (String, Int) {
        var hostPart = text
        var portPart: Substring?
        if text.hasPrefix("[") {
            // IPv6 literal: [::1] or [::1]:3306
            guard let close = text.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address '['") }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 address") }
                portPart = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        var port = 3306
        if let portPart {
            guard !portPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(portPart), (1...65535).contains(value) else {
                throw invalid("the port '\(portPart)' is not a number between 1 and 65535")
            }
            port = value
        }
        return (String(hostPart), port)
    }

    /// RFC 3986 percent-decoding; '+' stays '+'. The result must be valid UTF-8.
    private static func percentDecoded(_ text: Substring, what: String) throws(MariaDBError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw invalid("bad percent-encoding in the \(what); '%' must be followed by two hex digits")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw invalid("the \(what) is not valid UTF-8 after percent-decoding")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func invalid(_ reason: String) -> MariaDBError {
        .client("Invalid MariaDB URL: \(reason).")
    }
}

extension Substring {
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
