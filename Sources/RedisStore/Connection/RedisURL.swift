import Foundation

/// Where and how to reach Redis: one server, `redis://[user:password@]host[:port][/db]`, or the seed nodes of a
/// Redis Cluster, `redis-cluster://[user:password@]host:port,host:port,…[/0]`.
///
/// User info follows redis-cli: `user:password@` sets both, `:password@` or `password@` sets the
/// password only. Both are percent-decoded, so a password containing `@`, `:`, `/` or `,` must be written
/// as `%40`, `%3A`, `%2F`, `%2C`. IPv6 hosts go in brackets: `redis://[::1]:6379`. TLS (`rediss://`) and
/// query parameters are not supported.
///
/// A cluster URL lists seed nodes only: any one that answers tells the client the whole slot map (`CLUSTER SLOTS`),
/// so it needs a few, not all. A cluster has only database 0 (`SELECT` is refused there), so any other database
/// in a `redis-cluster://` URL is an error. The password, if any, is the same on every node.
public struct RedisURL: Sendable, Equatable {
    /// The server; for a cluster URL, the first seed node.
    public var host: String
    public var port: Int
    public var database: Int
    public var password: String?
    public var username: String?
    /// The seed nodes of a Redis Cluster (`redis-cluster://`), in the URL's order; empty for a single server.
    public var clusterSeeds: [RedisEndpoint]

    public init(host: String, port: Int = 6379, database: Int = 0, password: String? = nil, username: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.password = password
        self.username = username
        self.clusterSeeds = []
    }

    /// A Redis Cluster reached through `seeds` (at least one), database 0.
    public init(clusterSeeds seeds: [RedisEndpoint], password: String? = nil, username: String? = nil) {
        precondition(!seeds.isEmpty, "a Redis Cluster URL needs at least one seed node")
        self.init(host: seeds[0].host, port: seeds[0].port, database: 0, password: password, username: username)
        self.clusterSeeds = seeds
    }

    /// True for a `redis-cluster://` URL.
    public var isCluster: Bool { !clusterSeeds.isEmpty }

    /// The same credentials, pointed at one node (how a cluster client reaches each master).
    public func node(_ endpoint: RedisEndpoint) -> RedisURL {
        RedisURL(host: endpoint.host, port: endpoint.port, database: 0, password: password, username: username)
    }

    /// Parses a `redis://` or `redis-cluster://` URL. Throws `RedisError.invalidURL` saying what is wrong; the
    /// message never repeats the password.
    public init(parsing text: String) throws(RedisError) {
        let lowered = text.lowercased()
        let isCluster = lowered.hasPrefix(Self.clusterScheme)
        let expected = isCluster
            ? "redis-cluster://[user:password@]host:port,host:port,…[/0]" : "redis://[user:password@]host[:port][/db]"
        func invalid(_ reason: String) -> RedisError {
            RedisError(.invalidURL, "\(reason) (expected \(expected))")
        }
        guard isCluster || lowered.hasPrefix(Self.singleScheme) else {
            if lowered.hasPrefix("rediss://") { throw invalid("TLS (rediss://) is not supported") }
            throw invalid("the URL must start with redis:// (one server) or redis-cluster:// (seed nodes of a cluster)")
        }
        var rest = text.dropFirst(isCluster ? Self.clusterScheme.count : Self.singleScheme.count)
        guard !rest.contains("?"), !rest.contains("#") else { throw invalid("query parameters are not supported") }

        // The authority ends at the first "/", so a password containing "/" must be percent-encoded.
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }

        var username: String?
        var password: String?
        // The last "@" ends the user info, which tolerates an unencoded "@" inside a password.
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let rawUser: Substring?
            let rawPassword: Substring
            if let colon = userInfo.firstIndex(of: ":") {
                rawUser = userInfo[..<colon]
                rawPassword = userInfo[userInfo.index(after: colon)...]
            } else {
                rawUser = nil
                rawPassword = userInfo
            }
            if let rawUser, !rawUser.isEmpty {
                guard let decoded = String(rawUser).removingPercentEncoding else { throw invalid("the user name has a bad %-escape") }
                username = decoded
            }
            if !rawPassword.isEmpty {
                guard let decoded = String(rawPassword).removingPercentEncoding else { throw invalid("the password has a bad %-escape") }
                password = decoded
            }
        }

        var database = 0
        if !path.isEmpty {
            guard let value = Int(path), value >= 0 else {
                throw invalid("the database '\(path)' is not a non-negative number")
            }
            database = value
        }

        if isCluster {
            guard database == 0 else {
                throw invalid("a Redis Cluster has only database 0, not \(database); keep the products apart with key prefixes")
            }
            var seeds: [RedisEndpoint] = []
            for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
                guard !part.isEmpty else { throw invalid("a seed node is empty (two commas, or one at either end)") }
                seeds.append(try Self.endpoint(part, invalid: invalid))
            }
            self.init(clusterSeeds: seeds, password: password, username: username)
        } else {
            guard !rest.contains(",") else {
                throw invalid("several hosts need redis-cluster:// (Redis Cluster seed nodes)")
            }
            let endpoint = try Self.endpoint(rest, invalid: invalid)
            self.init(host: endpoint.host, port: endpoint.port, database: database, password: password, username: username)
        }
    }

    private static let singleScheme = "redis://"
    private static let clusterScheme = "redis-cluster://"

    /// `host`, `host:port`, `[v6]` or `[v6]:port`; the port defaults to 6379.
    private static func endpoint(_ text: Substring, invalid: (String) -> RedisError) throws(RedisError) -> RedisEndpoint {
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("an IPv6 host needs a closing ]") }
            host = text[text.index(after: text.startIndex)..<close]
            let afterHost = text[text.index(after: close)...]
            if !afterHost.isEmpty {
                guard afterHost.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 host") }
                portText = afterHost.dropFirst()
            }
        } else if let colon = text.firstIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = text
        }
        guard !host.isEmpty else { throw invalid("the host is missing") }

        var port = 6379
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw invalid("the port '\(portText)' is not a number from 1 to 65535")
            }
            port = value
        }
        return RedisEndpoint(host: String(host), port: port)
    }
}

/// One Redis server's address: a cluster seed, or a node named by `CLUSTER SLOTS`, `MOVED` or `ASK`.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Reads `host:port` as a cluster node names itself in `MOVED`/`ASK` (the last colon separates the port, so an
    /// unbracketed IPv6 address works too).
    init?(redirectTarget text: Substring) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port)
        else { return nil }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        self.init(host: String(host), port: port)
    }

    /// `host:port`, with IPv6 hosts in brackets.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

extension RedisURL: CustomStringConvertible {
    /// The URL with the password masked, safe for logs.
    public var description: String {
        var userInfo = ""
        if let username { userInfo = username }
        if password != nil { userInfo += ":***" }
        if !userInfo.isEmpty { userInfo += "@" }
        if isCluster {
            return "redis-cluster://\(userInfo)\(clusterSeeds.map(\.description).joined(separator: ","))/0"
        }
        return "redis://\(userInfo)\(RedisEndpoint(host: host, port: port))/\(database)"
    }
}
