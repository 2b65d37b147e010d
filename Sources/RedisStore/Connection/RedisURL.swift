import Foundation

/// Where and how to reach Redis: `redis://[user:password@]host[:port][/db]`.
///
/// User info follows redis-cli: `user:password@` sets both, `:password@` or `password@` sets the
/// password only. Both are percent-decoded, so a password containing `@`, `:` or `/` must be written
/// as `%40`, `%3A`, `%2F`. IPv6 hosts go in brackets: `redis://[::1]:6379`. TLS (`rediss://`) and
/// query parameters are not supported.
public struct RedisURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var database: Int
    public var password: String?
    public var username: String?

    public init(host: String, port: Int = 6379, database: Int = 0, password: String? = nil, username: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.password = password
        self.username = username
    }

    /// Parses a `redis://` URL. Throws `RedisError.invalidURL` saying what is wrong; the message never
    /// repeats the password.
    public init(parsing text: String) throws(RedisError) {
        func invalid(_ reason: String) -> RedisError {
            RedisError(.invalidURL, "\(reason) (expected redis://[user:password@]host[:port][/db])")
        }
        let scheme = "redis://"
        guard text.lowercased().hasPrefix(scheme) else {
            throw invalid(text.lowercased().hasPrefix("rediss://") ? "TLS (rediss://) is not supported" : "the URL must start with redis://")
        }
        var rest = text.dropFirst(scheme.count)
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

        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw invalid("an IPv6 host needs a closing ]") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let afterHost = rest[rest.index(after: close)...]
            if !afterHost.isEmpty {
                guard afterHost.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 host") }
                portText = afterHost.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw invalid("the host is missing") }

        var port = 6379
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw invalid("the port '\(portText)' is not a number from 1 to 65535")
            }
            port = value
        }

        var database = 0
        if !path.isEmpty {
            guard let value = Int(path), value >= 0 else {
                throw invalid("the database '\(path)' is not a non-negative number")
            }
            database = value
        }

        self.init(host: String(host), port: port, database: database, password: password, username: username)
    }
}

extension RedisURL: CustomStringConvertible {
    /// The URL with the password masked, safe for logs.
    public var description: String {
        var userInfo = ""
        if let username { userInfo = username }
        if password != nil { userInfo += ":***" }
        if !userInfo.isEmpty { userInfo += "@" }
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "redis://\(userInfo)\(hostText):\(port)/\(database)"
    }
}
