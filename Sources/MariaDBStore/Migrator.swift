import Foundation
import ReservationCore

/// Applies the numbered files of `sql/` (`001_schema.sql`, `002_….sql`, …) in order, each once, recording each
/// in `schema_migrations`. Safe to run again and again; a file that fails is not recorded, so the next run retries it.
public struct Migrator {
    public struct Migration: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var sql: String
    }

    public let connection: MariaDBConnection

    public init(connection: MariaDBConnection) {
        self.connection = connection
    }

    /// Reads `NNN_name.sql` files from `directory`, ordered by number; refuses duplicates and gaps in numbering.
    public static func migrations(in directory: URL) throws -> [Migration] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
        var migrations: [Migration] = []
        for name in names {
            guard let version = Int(name.prefix { $0.isNumber }), version > 0 else {
                throw OperatorError("\(name): a migration file name must start with its number, e.g. 001_schema.sql")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (index, migration) in migrations.enumerated() where migration.version != index + 1 {
            throw OperatorError("\(migration.name): expected migration number \(index + 1) (numbers must be 1, 2, 3, … without gaps)")
        }
        return migrations
    }

    /// Applies what is missing; returns the names applied now.
    @discardableResult
    public func apply(_ migrations: [Migration]) throws -> [String] {
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
              version INT NOT NULL PRIMARY KEY,
              name VARCHAR(200) NOT NULL,
              applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
            ) ENGINE=InnoDB
            """)
        // One migrator at a time, even across machines: a named lock for as long as this connection holds it.
        guard try connection.query("SELECT GET_LOCK('concert_migrations', 60)").first?.first?.int == 1 else {
            throw OperatorError("another concert-admin migrate has held the migration lock for 60 s")
        }
        defer { _ = try? connection.query("SELECT RELEASE_LOCK('concert_migrations')") }
        let applied = Set(try connection.query("SELECT version FROM schema_migrations").compactMap { $0.first?.int })
        var done: [String] = []
        for migration in migrations where !applied.contains(Int64(migration.version)) {
            // DDL commits implicitly in MariaDB, so a migration is not atomic; keep each file small and re-runnable.
            try connection.executeScript(migration.sql)
            try connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                [.int(Int64(migration.version)), .text(migration.name)]
            )
            done.append(migration.name)
        }
        return done
    }
}
