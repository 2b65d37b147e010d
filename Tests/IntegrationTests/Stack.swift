import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MariaDBStore
import RedisStore
import ReservationCore
import Testing
import TokenAuth

/// The real servers and the built executables, as `./deploy/test` sets them up:
/// `CONCERT_REDIS_URL`, `CONCERT_MARIADB_URL`, `CONCERT_JWT_SECRET` and `CONCERT_BIN_DIR`.
/// A missing variable fails the test (it never skips): run the suite through `./deploy/test`.
enum Stack {
    struct MissingEnvironment: Error, CustomStringConvertible {
        let name: String
        var description: String { "\(name) is not set: run the integration tests through ./deploy/test" }
    }

    static func environment(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { throw MissingEnvironment(name: name) }
        return value
    }

    /// Which servers a test talks to: the single Redis and MariaDB, or the scaled-out shape (`CONCERT_CLUSTER_REDIS_URL`,
    /// a Redis Cluster, and `CONCERT_CLUSTER_MARIADB_URL`, the Galera nodes). Set for a test's whole task with
    /// `Stack.$target.withValue(.cluster) { … }`: every helper and every process started then uses it.
    enum Target: Sendable { case single, cluster }
    @TaskLocal static var target = Target.single

    static func redisURL() throws -> String {
        try environment(target == .cluster ? "CONCERT_CLUSTER_REDIS_URL" : "CONCERT_REDIS_URL")
    }

    static func mariaDBURL() throws -> String {
        try environment(target == .cluster ? "CONCERT_CLUSTER_MARIADB_URL" : "CONCERT_MARIADB_URL")
    }

    /// What a started process needs in its environment to use the target's servers.
    static func targetEnvironment() throws -> [String: String] {
        guard target == .cluster else { return [:] }
        return ["CONCERT_REDIS_URL": try redisURL(), "CONCERT_MARIADB_URL": try mariaDBURL()]
    }

    static func redis() throws -> any RedisCommanding {
        try connectRedis(url: try RedisURL(parsing: try redisURL()))
    }

    static func database() throws -> MariaDBConnection {
        try MariaDBConnection(url: try MariaDBURL(parsing: try mariaDBURL()))
    }

    static func token(user: Int64, ttl: Int64 = 3600) throws -> String {
        try BearerTokenSigner(secret: try environment("CONCERT_JWT_SECRET"))
            .token(userID: user, issuedAt: Int64(Date().timeIntervalSince1970), ttlSeconds: ttl)
    }

    /// Removes the product's Redis keys and empties every product table, with the schema migrated.
    static func reset() throws {
        // The product's keys only: the Redis adapter's own tests share this database under their own prefix.
        let redis = try redis()
        if let cluster = redis as? RedisClusterConnection {
            _ = try cluster.forEachMaster { (_, node) throws(RedisError) in try deleteProductKeys(node) }
        } else {
            try deleteProductKeys(redis)
        }
        try run("concert-admin", ["migrate"]).requireSuccess()
        let db = try database()
        try db.executeScript("""
            SET FOREIGN_KEY_CHECKS = 0;
            TRUNCATE reservation_seats; TRUNCATE reservations; TRUNCATE seats; TRUNCATE performances;
            TRUNCATE batch_outcomes; TRUNCATE ledger; TRUNCATE balances; TRUNCATE queue_fences; TRUNCATE forwarded_requests;
            TRUNCATE batch_log;
            UPDATE id_blocks SET next_id = 1 WHERE name = 'reservation';
            SET FOREIGN_KEY_CHECKS = 1;
            """)
    }

    /// Deletes every `concert:*` key of one server (SCAN sees one node's keys only).
    private static func deleteProductKeys(_ redis: any RedisCommanding) throws(RedisError) {
        var cursor = "0"
        repeat {
            let reply = try redis.command(["SCAN", cursor, "MATCH", "concert:*", "COUNT", "10000"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else { break }
            for key in (parts[1].array ?? []).compactMap(\.string) { _ = try redis.command(["DEL", key]) }
            cursor = next
        } while cursor != "0"
    }

    /// Creates a performance through `concert-admin` and returns its id (the last line it prints).
    static func createPerformance(
        seats: Int, price: Int64 = 50_000, startsAt: String = "2030-01-01T20:00:00Z", environment: [String: String] = [:]
    ) throws -> Int64 {
        let result = try run("concert-admin", [
            "create-performance", "--title", "Test \(seats)", "--starts-at", startsAt, "--seats", String(seats),
            "--price", String(price), "--sections", "2",
        ], environment: environment)
        try result.requireSuccess()
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(Int64(last), "create-performance printed \(result.stdout)")
    }

    /// Waits (bounded, 30 s) until MariaDB has recorded at least `count` outcomes, then runs `act` at once on the
    /// polling thread (e.g. a SIGKILL mid-pass); answers how many it had seen.
    @discardableResult
    static func waitForOutcomes(
        atLeast count: Int64, url: String? = nil, then act: @escaping @Sendable () -> Void = {}
    ) async throws -> Int64 {
        let url = try url ?? mariaDBURL()
        // Polled on a thread of its own: the cooperative pool has one thread per core, and the suites running beside
        // this one can hold them for seconds, long enough for a whole pass to finish between two polls.
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    let db = try MariaDBConnection(url: try MariaDBURL(parsing: url))
                    var recorded: Int64 = 0
                    for _ in 0..<3_000 {
                        // The batch rows' counts, not the per-request view (which unpacks every batch's JSON).
                        recorded = try db.query("SELECT CAST(COALESCE(SUM(request_count), 0) AS SIGNED) FROM batch_outcomes")
                            .first?.first?.int ?? 0
                        if recorded >= count { break }
                        Thread.sleep(forTimeInterval: 0.01)
                    }
                    act()
                    return recorded
                })
            }.start()
        }
    }

    // MARK: Processes

    struct ProcessResult {
        var status: Int32
        var stdout: String
        var stderr: String

        func requireSuccess(sourceLocation: SourceLocation = #_sourceLocation) throws {
            if status != 0 {
                Issue.record("exit \(status): \(stderr)\n\(stdout.suffix(2000))", sourceLocation: sourceLocation)
                throw ProcessFailure()
            }
        }
    }

    struct ProcessFailure: Error {}

    static func executable(_ name: String) throws -> URL {
        URL(fileURLWithPath: try environment("CONCERT_BIN_DIR")).appendingPathComponent(name)
    }

    /// Starts an executable with output going to files (so a chatty child never blocks on a full pipe).
    static func start(_ name: String, _ arguments: [String], environment extra: [String: String] = [:]) throws -> RunningProcess {
        try launch(try executable(name), arguments, environment: extra)
    }

    /// Starts any program with the target's environment and `extra`, its output in files.
    static func launch(_ program: URL, _ arguments: [String], environment extra: [String: String]) throws -> RunningProcess {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment.merge(try targetEnvironment()) { $1 }
        environment.merge(extra) { $1 }
        process.environment = environment
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("concert-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let out = directory.appendingPathComponent("stdout")
        let err = directory.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        return RunningProcess(process: process, stdoutFile: out, stderrFile: err)
    }

    @discardableResult
    static func run(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        let running = try start(name, arguments, environment: environment)
        return running.wait()
    }

    /// Runs an executable under `/usr/bin/time`: its result, wall seconds and peak RSS in KiB.
    static func runTimed(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws
        -> (process: ProcessResult, seconds: Double, kilobytes: Double) {
        let result = try launch(
            URL(fileURLWithPath: "/usr/bin/time"), ["-f", "timed: %e %M", try executable(name).path] + arguments,
            environment: environment
        ).wait()
        let timing = result.stderr.split(separator: "\n").last { $0.hasPrefix("timed: ") } ?? ""
        let parts = timing.dropFirst("timed: ".count).split(separator: " ")
        guard parts.count == 2, let seconds = Double(parts[0]), let kilobytes = Double(parts[1]) else {
            throw MissingEnvironment(name: "/usr/bin/time output (\(result.stderr.suffix(200)))")
        }
        return (result, seconds, kilobytes)
    }

    final class RunningProcess: @unchecked Sendable {  // used from one test task at a time
        let process: Process
        let stdoutFile: URL
        let stderrFile: URL

        init(process: Process, stdoutFile: URL, stderrFile: URL) {
            self.process = process
            self.stdoutFile = stdoutFile
            self.stderrFile = stderrFile
        }

        func wait() -> ProcessResult {
            process.waitUntilExit()
            return ProcessResult(
                status: process.terminationStatus,
                stdout: (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
            )
        }

        func kill(_ signal: Int32) {
            Foundation.kill(process.processIdentifier, signal)
        }
    }

    // MARK: Checks shared by the tests

    /// Seats that two live reservations claim (must be empty; the schema's unique key makes it so).
    static func doubleBookedSeats() throws -> Int {
        try database().query("""
            SELECT COUNT(*) FROM (SELECT rs.performance_id, rs.seat_id FROM reservation_seats rs
              JOIN reservations r ON r.id = rs.reservation_id WHERE r.state IN ('held', 'confirmed')
              GROUP BY rs.performance_id, rs.seat_id HAVING COUNT(*) > 1) AS twice
            """).first?.first?.int.map { Int($0) } ?? -1
    }

    /// Reservations whose seat rows disagree with their state (live rows for a dead reservation or the reverse).
    static func inconsistentReservations() throws -> Int {
        try database().query("""
            SELECT COUNT(*) FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id
            WHERE (r.state IN ('held', 'confirmed')) <> (rs.live IS NOT NULL)
            """).first?.first?.int.map { Int($0) } ?? -1
    }

    /// Users holding or owning more than four seats of one performance.
    static func usersOverLimit() throws -> Int {
        try database().query("""
            SELECT COUNT(*) FROM (SELECT r.performance_id, r.user_id FROM reservations r
              JOIN reservation_seats rs ON rs.reservation_id = r.id WHERE rs.live = 1
              GROUP BY r.performance_id, r.user_id HAVING COUNT(*) > 4) AS over_limit
            """).first?.first?.int.map { Int($0) } ?? -1
    }

    /// Requests still waiting or in flight in any queue.
    static func requestsLeftInQueues() throws -> Int {
        let redis = try redis()
        var left = 0
        for queue in try PassQueues(redis: redis).knownQueues() {
            left += try PassQueues(redis: redis).depth(queue)
            left += try PassQueues(redis: redis).inflightCount(queue)
        }
        return left
    }

    /// The stored status of each request id.
    static func statuses(_ ids: [RequestID]) throws -> [RequestID: RequestStatus] {
        let redis = try redis()
        var statuses: [RequestID: RequestStatus] = [:]
        for start in stride(from: 0, to: ids.count, by: 5_000) {
            let chunk = Array(ids[start..<min(start + 5_000, ids.count)])
            let replies = try redis.pipeline(chunk.map { ["GET", RedisKeys.status($0)] })
            for (id, reply) in zip(chunk, replies) {
                if let text = reply.string, let status = RequestStatus(stored: text) { statuses[id] = status }
            }
        }
        return statuses
    }
}
