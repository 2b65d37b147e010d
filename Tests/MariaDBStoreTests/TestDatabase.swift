import MariaDBStore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Access to the real MariaDB server the tests run against.
enum TestDatabase {
    /// The server from `CONCERT_MARIADB_URL`. A missing variable fails the test (never skips it),
    /// so a CI job without a database cannot pass silently.
    static func url() throws -> MariaDBURL {
        let raw = try #require(
            getenv("CONCERT_MARIADB_URL").map { String(cString: $0) },
            """
            CONCERT_MARIADB_URL is not set. These tests need a real MariaDB: start one and run e.g. \
            CONCERT_MARIADB_URL=mariadb://concert:concert-local@127.0.0.1:13306/concert_test swift test
            """
        )
        return try MariaDBURL(parsing: raw)
    }

    static func connect() throws -> MariaDBConnection {
        try MariaDBConnection(url: url())
    }

    /// A table name no other test (or concurrent run) uses.
    static func uniqueName(_ base: String) -> String {
        "\(base)_\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    }

    /// Creates a table `name (columns)`, runs `body`, and drops the table whatever happens.
    static func withTable<T>(_ base: String, columns: String,
                             _ body: (MariaDBConnection, String) throws -> T) throws -> T {
        let connection = try connect()
        defer { connection.close() }
        let table = uniqueName(base)
        try connection.execute("CREATE TABLE \(table) (\(columns)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
        defer { _ = try? connection.execute("DROP TABLE IF EXISTS \(table)") }
        return try body(connection, table)
    }
}
