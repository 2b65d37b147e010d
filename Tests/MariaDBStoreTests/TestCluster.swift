import Foundation
import MariaDBStore
import Testing

/// The 3-node Galera cluster of `./deploy/cluster/galera`, named by CONCERT_CLUSTER_MARIADB_URL.
/// Tests reach each node as `concert` over TCP, and as root over the node's own Unix socket
/// (`mariadb`, `mariadb-admin`) for what needs privileges: desync, read_only, shutdown. Root over
/// the socket works because the tests run on the machine where the script started the nodes.
enum TestCluster {
    /// One node: where the client connects, and where root reaches it.
    struct Node: CustomStringConvertible {
        var address: MariaDBURL.HostPort
        var socket: String
        var description: String { address.description }
    }

    /// The cluster from `CONCERT_CLUSTER_MARIADB_URL`. A missing variable fails the test (never
    /// skips it), so a CI job without the cluster cannot pass silently.
    static func url() throws -> MariaDBURL {
        let raw = try #require(
            ProcessInfo.processInfo.environment["CONCERT_CLUSTER_MARIADB_URL"].flatMap { $0.isEmpty ? nil : $0 },
            """
            CONCERT_CLUSTER_MARIADB_URL is not set. These tests need the 3-node Galera cluster: run them through \
            ./deploy/test, or ./deploy/cluster/galera up and then e.g. CONCERT_CLUSTER_MARIADB_URL=\
            mariadb://concert:concert-local@127.0.0.1:23306,127.0.0.1:23307,127.0.0.1:23308/concert_test swift test
            """
        )
        let url = try MariaDBURL(parsing: raw)
        try #require(url.hosts.count == 3, "CONCERT_CLUSTER_MARIADB_URL should name the 3 nodes, it names \(url.hosts.count)")
        return url
    }

    /// The URL restricted to the given hosts, in that order.
    static func url(_ hosts: [MariaDBURL.HostPort]) throws -> MariaDBURL {
        var url = try url()
        url.hosts = hosts
        return url
    }

    /// The nodes in the URL's order, with their sockets (asked from each node while it is ready).
    static func nodes() throws -> [Node] {
        try ensureHealthy()
        return try url().hosts.map { address in
            let db = try MariaDBConnection(url: try url([address]), connectTimeout: .seconds(3))
            defer { db.close() }
            let socket = try #require(try db.query("SELECT @@socket").first?.first?.text)
            return Node(address: address, socket: socket)
        }
    }

    /// Every node Synced and the cluster of 3 nodes; if not (an earlier test or run left it broken),
    /// `./deploy/cluster/galera up` repairs it once, then it must be healthy.
    static func ensureHealthy() throws {
        if try unhealthyReason() == nil { return }
        try runScript(["up"])
        if let reason = try unhealthyReason() {
            Issue.record("the Galera cluster is not healthy after ./deploy/cluster/galera up: \(reason)")
            throw HealthError(reason: reason)
        }
    }

    struct HealthError: Error { var reason: String }

    private static func unhealthyReason() throws -> String? {
        for address in try url().hosts {
            do {
                let db = try MariaDBConnection(url: try url([address]), connectTimeout: .seconds(3))
                defer { db.close() }
                let size = try db.query("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'").first?.last?.text
                if size != "3" { return "\(address) sees a cluster of \(size ?? "?") nodes" }
            } catch {
                return "\(address): \(error)"
            }
        }
        return nil
    }

    /// Runs `deploy/cluster/galera` with the arguments; fails the test when it fails.
    static func runScript(_ arguments: [String]) throws {
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/cluster/galera")
        let result = try run(script.path, arguments)
        try #require(result.status == 0, "deploy/cluster/galera \(arguments.joined(separator: " ")) failed: \(result.output)")
    }

    /// Runs SQL as root over the node's socket; answers the rows, tab-separated.
    @discardableResult
    static func rootSQL(_ node: Node, _ sql: String) throws -> String {
        let result = try run("/usr/bin/mariadb", ["--no-defaults", "-uroot", "-S", node.socket, "--batch", "--skip-column-names", "-e", sql])
        try #require(result.status == 0, "mariadb on \(node) failed on \(sql): \(result.output)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One status value of the node, read as root (works whatever state the node is in).
    static func status(_ node: Node, _ name: String) throws -> String {
        let line = try rootSQL(node, "SHOW GLOBAL STATUS LIKE '\(name)'")
        return String(line.split(separator: "\t").last ?? "")
    }

    /// Stops the node cleanly; mariadb-admin waits until the server has exited.
    static func shutdown(_ node: Node) throws {
        let result = try run("/usr/bin/mariadb-admin", ["--no-defaults", "-uroot", "-S", node.socket, "shutdown"])
        try #require(result.status == 0, "mariadb-admin shutdown of \(node) failed: \(result.output)")
    }

    /// Polls `condition` every 50 ms for at most `seconds`; answers whether it became true.
    static func eventually(within seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        return try condition()
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Read before waiting, so a chatty child cannot block on a full pipe.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
