import ArgumentParser
import BatchRunner
import ConcertCommandLine
import Foundation
import MariaDBStore
import RedisStore
import ReservationCore
import TokenAuth

@main
struct ConcertAdmin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert-admin",
        abstract: "Operator tasks: migrate the schema, create performances, mint bearer tokens.",
        discussion: "Reads CONCERT_MARIADB_URL, CONCERT_REDIS_URL and CONCERT_JWT_SECRET from the environment.",
        subcommands: [Migrate.self, CreatePerformance.self, Token.self, Tokens.self, Verify.self]
    )

    static func main() { runCommandLine(ConcertAdmin.self) }
}

func environment(_ name: String, example: String) throws -> String {
    try EnvironmentSettings(ProcessInfo.processInfo.environment).required(name, hint: "e.g. \(example)")
}

/// The signer of `CONCERT_JWT_SECRET`.
func tokenSigner() throws -> BearerTokenSigner {
    let secret = try environment("CONCERT_JWT_SECRET", example: "a random string of at least 32 bytes")
    return try EnvironmentSettings(ProcessInfo.processInfo.environment).parsed("CONCERT_JWT_SECRET", secret, BearerTokenSigner.init(secret:))
}

func openDatabase() throws -> MariaDBConnection {
    let text = try environment("CONCERT_MARIADB_URL", example: "mariadb://concert:pw@127.0.0.1:3306/concert")
    let url = try EnvironmentSettings(ProcessInfo.processInfo.environment).parsed("CONCERT_MARIADB_URL", text, MariaDBURL.init(parsing:))
    do { return try MariaDBConnection(url: url) } catch {
        throw OperatorError("MariaDB at \(url.socket ?? "\(url.host):\(url.port)") is unreachable: \(error)")
    }
}

extension ConcertAdmin {
    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the sql/ migrations in order, each once (safe to run again)."
        )

        @Option(help: "Folder of NNN_name.sql files (default: CONCERT_SQL_DIR, else ./sql, else the sql/ beside the build).")
        var sqlDir: String?

        func run() throws {
            let directory = try locateSQL()
            let migrations: [Migrator.Migration]
            do { migrations = try Migrator.migrations(in: directory) } catch { throw OperatorError("\(error)") }
            let connection = try openDatabase()
            do {
                let applied = try Migrator(connection: connection).apply(migrations)
                if applied.isEmpty {
                    print("schema is up to date (\(migrations.count) migrations)")
                } else {
                    for name in applied { print("applied \(name)") }
                }
            } catch {
                throw OperatorError("migration failed: \(error)")
            }
        }

        func locateSQL() throws -> URL {
            var candidates: [String] = []
            if let sqlDir { candidates.append(sqlDir) } else {
                if let fromEnvironment = ProcessInfo.processInfo.environment["CONCERT_SQL_DIR"] { candidates.append(fromEnvironment) }
                candidates.append(FileManager.default.currentDirectoryPath + "/sql")
                // .build/<config>/concert-admin → the repository's sql/
                let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
                candidates.append(executable.deletingLastPathComponent().appendingPathComponent("../../../sql").standardized.path)
                candidates.append(executable.deletingLastPathComponent().appendingPathComponent("../../../../sql").standardized.path)
            }
            for candidate in candidates {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue {
                    return URL(fileURLWithPath: candidate)
                }
            }
            throw OperatorError("no sql/ folder found (looked in \(candidates.joined(separator: ", "))); pass --sql-dir")
        }
    }

    struct CreatePerformance: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-performance",
            abstract: "Create a concert performance with N seats; prints its id alone on the last line."
        )

        @Option(help: "Title shown in the performance list.")
        var title: String

        @Option(help: "Start time, ISO 8601 (e.g. 2026-12-24T20:00:00Z).")
        var startsAt: String

        @Option(help: "Number of seats (1…1,000,000).")
        var seats: Int

        @Option(help: "Price of each seat, in the currency's smallest unit.")
        var price: Int64 = 50_000

        @Option(help: "Number of sections the seats are split into (labels SECTION-ROW-SEAT).")
        var sections: Int = 1

        func validate() throws {
            guard !title.isEmpty, title.count <= 200 else { throw ValidationError("--title must be 1…200 characters") }
            guard Timestamp.parseISO8601(startsAt) != nil else {
                throw ValidationError("--starts-at must be ISO 8601, e.g. 2026-12-24T20:00:00Z")
            }
            guard (1...1_000_000).contains(seats) else { throw ValidationError("--seats must be 1…1000000") }
            guard price >= 0 else { throw ValidationError("--price must not be negative") }
            guard (1...seats).contains(sections), sections <= 702 else {
                throw ValidationError("--sections must be 1…min(seats, 702)")
            }
        }

        func run() throws {
            let starts = Timestamp.parseISO8601(startsAt)!
            let database = ReservationDatabase(connection: try openDatabase())
            let id: Int64
            do {
                id = try database.createPerformance(title: title, startsAt: starts, seats: seats, price: price, sections: sections)
            } catch {
                throw OperatorError("could not create the performance: \(error) (has `concert-admin migrate` run?)")
            }
            // Publish the caches now so the performance is listed and routable before the next pass.
            if let redisText = ProcessInfo.processInfo.environment["CONCERT_REDIS_URL"], !redisText.isEmpty {
                do {
                    let redis = try connectRedis(url: try RedisURL(parsing: redisText))
                    let publisher = CachePublisher(database: database, queues: PassQueues(redis: redis))
                    let now = Int64(Date().timeIntervalSince1970)
                    try publisher.publishSeatMap(performance: id, now: now)
                    try publisher.publishPerformanceList(now: now)
                } catch {
                    FileHandle.standardError.write(Data(
                        "concert-admin: created, but the Redis caches were not updated (\(error)); the next batch pass publishes them\n".utf8
                    ))
                }
            }
            print("created performance \"\(title)\" with \(seats) seats")
            print(id)
        }
    }

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a signed HS256 bearer token for a user.")

        @Option(help: "The user id (a positive integer): the token's sub.")
        var user: Int64

        @Option(help: "Seconds until the token expires.")
        var ttl: Int64 = 3600

        func validate() throws {
            guard user > 0 else { throw ValidationError("--user must be a positive integer") }
            guard ttl > 0 else { throw ValidationError("--ttl must be positive") }
        }

        func run() throws {
            let signer = try tokenSigner()
            print(signer.token(userID: user, issuedAt: Int64(Date().timeIntervalSince1970), ttlSeconds: ttl))
        }
    }

    struct Tokens: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print signed tokens for a range of users, one \"USER TOKEN\" line each (for load tests and demos)."
        )

        @Option(help: "First user id.")
        var first: Int64 = 1

        @Option(help: "How many users.")
        var count: Int64

        @Option(help: "Seconds until the tokens expire.")
        var ttl: Int64 = 3600

        func validate() throws {
            guard first > 0, (1...1_000_000).contains(count), ttl > 0 else {
                throw ValidationError("--first must be positive, --count 1…1000000, --ttl positive")
            }
        }

        func run() throws {
            let signer = try tokenSigner()
            let now = Int64(Date().timeIntervalSince1970)
            var out = ""
            for user in first..<(first + count) {
                out += "\(user) \(signer.token(userID: user, issuedAt: now, ttlSeconds: ttl))\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the invariants in MariaDB and Redis; exit 1 with a list of violations.",
            discussion: """
                No seat in two live reservations; seats agree with reservation states; at most 4 seats per user and \
                performance; every reservation created by one recorded request; every balance equals its ledger and \
                is not negative; every confirmed reservation paid once (cancelled ones refunded); nothing left in \
                flight with no pass running. Run it after an incident; the tests run it after every fault.
                """
        )

        func run() throws {
            let database = try openDatabase()
            let redisText = try environment("CONCERT_REDIS_URL", example: "redis://127.0.0.1:6379/0")
            let redis: any RedisCommanding
            do { redis = try connectRedis(url: try RedisURL(parsing: redisText)) } catch {
                throw OperatorError("Redis is unreachable: \(error)")
            }
            let leaseMillis = try BatchConfiguration.leaseMillis(EnvironmentSettings(ProcessInfo.processInfo.environment))
            let violations = try InvariantCheck(database: database, redis: redis, leaseMillis: leaseMillis).run()
            guard violations.isEmpty else {
                for violation in violations { print(violation) }
                throw OperatorError("\(violations.count) invariant violations (listed on stdout)")
            }
            print("verify: all invariants hold")
        }
    }
}
