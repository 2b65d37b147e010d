import Foundation
import MariaDBStore
import Testing

/// A URL with several hosts, against real servers: the single test server (CONCERT_MARIADB_URL) for
/// what needs no cluster, the 3-node Galera cluster (CONCERT_CLUSTER_MARIADB_URL) for the rest.
/// The cluster tests change the nodes' state (desync, read_only, reject_queries, shutdown) and
/// restore it, so they run one at a time; each starts by checking the cluster is healthy.
@Suite("Several hosts: failover and Galera", .serialized)
struct MultiHostTests {
    /// Nothing listens on ports 1 and 2 of loopback: connecting there is refused at once.
    private static let refused = [MariaDBURL.HostPort(host: "127.0.0.1", port: 1), MariaDBURL.HostPort(host: "127.0.0.1", port: 2)]

    @Test func hostThatDoesNotAnswerIsPassedOver() throws {
        var url = try TestDatabase.url()
        let server = url.hosts[0]
        url.hosts = [Self.refused[0], server]
        let db = try MariaDBConnection(url: url, connectTimeout: .seconds(2))
        defer { db.close() }
        // A standalone server (wsrep_on=OFF, not read-only) is ready for writes; no causal reads there.
        #expect(db.currentHost == server.description)
        #expect(try db.query("SELECT @@port, @@session.wsrep_sync_wait") == [[.int(Int64(server.port)), .int(0)]])
    }

    @Test func noHostAnsweringListsEveryHost() throws {
        var url = try TestDatabase.url()
        url.hosts = Self.refused
        do throws(MariaDBError) {
            _ = try MariaDBConnection(url: url, connectTimeout: .seconds(2))
            Issue.record("expected no host to be usable")
        } catch {
            #expect(error.isConnectionLost, "\(error)")
            #expect(error.message.contains("127.0.0.1:1 refused; 127.0.0.1:2 refused"), "\(error.message)")
            #expect(!error.message.contains(url.password ?? "no password"))
        }
    }

    @Test func desyncedAndReadOnlyNodesArePassedOver() throws {
        let nodes = try TestCluster.nodes()
        let all = nodes.map(\.address)
        try TestCluster.rootSQL(nodes[0], "SET GLOBAL wsrep_desync = ON")
        defer {
            _ = try? TestCluster.rootSQL(nodes[0], "SET GLOBAL wsrep_desync = OFF")
            _ = try? TestCluster.rootSQL(nodes[1], "SET GLOBAL read_only = OFF")
        }
        #expect(try TestCluster.status(nodes[0], "wsrep_local_state_comment") == "Donor/Desynced")

        let first = try MariaDBConnection(url: try TestCluster.url(all), connectTimeout: .seconds(3))
        defer { first.close() }
        #expect(first.currentHost == all[1].description)
        #expect(try first.query("SELECT @@port") == [[.int(Int64(all[1].port))]])

        // A standby is read-only: passed over too.
        try TestCluster.rootSQL(nodes[1], "SET GLOBAL read_only = ON")
        let second = try MariaDBConnection(url: try TestCluster.url(all), connectTimeout: .seconds(3))
        defer { second.close() }
        #expect(second.currentHost == all[2].description)

        // With only those two, the error says why each was passed over.
        let notReadyPair = try TestCluster.url([all[0], all[1]])
        do throws(MariaDBError) {
            _ = try MariaDBConnection(url: notReadyPair, connectTimeout: .seconds(3))
            Issue.record("expected no host to be ready")
        } catch {
            #expect(error.message.contains("\(all[0]) not synced: Donor/Desynced; \(all[1]) read_only"), "\(error.message)")
            #expect(error.isConnectionLost)
        }
        // One host alone keeps the code a statement would get there.
        let desyncedAlone = try TestCluster.url([all[0]])
        do throws(MariaDBError) {
            _ = try MariaDBConnection(url: desyncedAlone, connectTimeout: .seconds(3))
            Issue.record("expected the desynced node to be refused")
        } catch {
            #expect(error.code == 1047)
            #expect(error.isNodeUnusable)
            #expect(error.message.contains("not synced: Donor/Desynced"), "\(error.message)")
        }

        try TestCluster.rootSQL(nodes[0], "SET GLOBAL wsrep_desync = OFF")
        try TestCluster.rootSQL(nodes[1], "SET GLOBAL read_only = OFF")
        let synced = try TestCluster.eventually(within: 10) {
            try TestCluster.status(nodes[0], "wsrep_local_state_comment") == "Synced"
        }
        #expect(synced, "node 1 did not report Synced again")
        // The operator's order is the preference: node 1 again once it is ready.
        let third = try MariaDBConnection(url: try TestCluster.url(all), connectTimeout: .seconds(3))
        defer { third.close() }
        #expect(third.currentHost == all[0].description)
    }

    /// A node that starts refusing statements while connected (1047, as when it leaves the primary
    /// component; here an operator drains it with wsrep_reject_queries) is left for the next one.
    @Test func writerThatStartsRefusingStatementsIsLeftForTheNextNode() throws {
        let nodes = try TestCluster.nodes()
        let all = nodes.map(\.address)
        let db = try MariaDBConnection(url: try TestCluster.url(all), connectTimeout: .seconds(3))
        defer { db.close() }
        let table = TestDatabase.uniqueName("draining")
        try db.execute("CREATE TABLE \(table) (id INT PRIMARY KEY) ENGINE=InnoDB")
        defer { _ = try? db.execute("DROP TABLE IF EXISTS \(table)") }
        let insert = "INSERT INTO \(table) VALUES (?)"
        try db.execute(insert, [.int(1)])
        #expect(db.currentHost == all[0].description)

        defer { _ = try? TestCluster.rootSQL(nodes[0], "SET GLOBAL wsrep_reject_queries = NONE") }
        do {
            try db.transaction {
                try db.execute(insert, [.int(10)])
                try TestCluster.rootSQL(nodes[0], "SET GLOBAL wsrep_reject_queries = ALL")
                try db.execute(insert, [.int(11)])
            }
            Issue.record("expected the transaction to fail when its node refused statements")
        } catch let error as MariaDBError {
            #expect(error.code == 1047, "\(error)")
            #expect(error.isNodeUnusable && error.isConnectionLost)
        }
        // Outside a transaction the next statement reconnects, passing over the refusing node.
        try db.execute(insert, [.int(2)])
        #expect(db.currentHost == all[1].description)
        #expect(try db.query("SELECT id FROM \(table) ORDER BY id") == [[.int(1)], [.int(2)]])
    }

    @Test func writerStoppedMidwayFailsOverAndItsTransactionIsNotApplied() throws {
        let nodes = try TestCluster.nodes()
        let all = nodes.map(\.address)
        let db = try MariaDBConnection(url: try TestCluster.url(all), connectTimeout: .seconds(3))
        defer { db.close() }
        let table = TestDatabase.uniqueName("failover")
        try db.execute("CREATE TABLE \(table) (id INT PRIMARY KEY, label VARCHAR(20) NOT NULL) ENGINE=InnoDB")
        defer { _ = try? db.execute("DROP TABLE IF EXISTS \(table)") }
        let insert = "INSERT INTO \(table) VALUES (?, ?)"
        try db.execute(insert, [.int(1), .text("before")])
        #expect(db.currentHost == all[0].description)

        defer {
            // Whatever happens below, bring node 1 back so later tests find 3 Synced nodes.
            _ = try? TestCluster.runScript(["up"])
        }

        // The writer stops cleanly while a transaction is open on it.
        var stopped = false
        do {
            try db.transaction {
                try db.execute(insert, [.int(2), .text("in flight")])
                try db.execute(insert, [.int(3), .text("in flight")])
                try TestCluster.shutdown(nodes[0])
                stopped = true
                try db.execute(insert, [.int(4), .text("in flight")])
            }
            Issue.record("expected the transaction to fail when its node stopped")
        } catch let error as MariaDBError {
            #expect(error.isConnectionLost, "\(error)")
        }
        #expect(stopped)

        // The next statement reconnects, passing over the stopped node (refused) to the next one.
        #expect(try db.query("SELECT id, label FROM \(table) ORDER BY id") == [[.int(1), .text("before")]])
        #expect(db.currentHost == all[1].description)
        #expect(try db.query("SELECT @@session.wsrep_sync_wait") == [[.int(1)]], "causal reads again after the reconnect")
        try db.execute(insert, [.int(5), .text("after")])

        // The third node agrees: nothing of the stopped transaction was applied anywhere.
        let third = try MariaDBConnection(url: try TestCluster.url([all[2]]), connectTimeout: .seconds(3))
        defer { third.close() }
        #expect(try third.query("SELECT id FROM \(table) ORDER BY id") == [[.int(1)], [.int(5)]])

        // Node 1 rejoins (IST) and catches up with what was written while it was down.
        try TestCluster.runScript(["up"])
        let rejoined = try MariaDBConnection(url: try TestCluster.url([all[0]]), connectTimeout: .seconds(3))
        defer { rejoined.close() }
        #expect(try rejoined.query("SELECT id FROM \(table) ORDER BY id") == [[.int(1)], [.int(5)]])
        #expect(try rejoined.query("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'").first?.last == .text("3"))
    }

    @Test func twoNodesWritingOneKeyAbortOneTransactionAtCommit() throws {
        let nodes = try TestCluster.nodes()
        let first = try MariaDBConnection(url: try TestCluster.url([nodes[0].address]), connectTimeout: .seconds(3))
        defer { first.close() }
        let second = try MariaDBConnection(url: try TestCluster.url([nodes[1].address]), connectTimeout: .seconds(3))
        defer { second.close() }
        let table = TestDatabase.uniqueName("conflict")
        try first.execute("CREATE TABLE \(table) (id INT PRIMARY KEY, writer VARCHAR(20) NOT NULL) ENGINE=InnoDB")
        defer { _ = try? first.execute("DROP TABLE IF EXISTS \(table)") }
        let insert = "INSERT INTO \(table) VALUES (?, ?)"

        // Node 2's transaction holds the key locally; node 1 commits the same key meanwhile.
        do {
            try second.transaction {
                try second.execute(insert, [.int(1), .text("second")])
                _ = try first.transaction { try first.execute(insert, [.int(1), .text("first")]) }
            }
            Issue.record("expected the second node's transaction to be aborted")
        } catch let error as MariaDBError {
            #expect(error.code == 1213, "\(error)")
            #expect(error.isDeadlockOrLockTimeout)
            #expect(!error.isConnectionLost)
        }
        // Rolled back whole: both nodes hold the first writer's row only, and the connection goes on.
        #expect(try second.query("SELECT id, writer FROM \(table)") == [[.int(1), .text("first")]])
        #expect(try first.query("SELECT id, writer FROM \(table)") == [[.int(1), .text("first")]])
    }
}
