@testable import MariaDBStore
import Testing

/// The writer-readiness judgement and error classification, without a server. The same judgement
/// runs against real nodes in GaleraClusterTests.
@Suite("Node readiness and error classification")
struct NodeReadinessTests {
    /// What a Galera node of this cluster reports, Synced in the primary component.
    private static let syncedNode = [
        "read_only": "OFF", "wsrep_on": "ON", "wsrep_provider": "/usr/lib/galera/libgalera_smm.so",
        "wsrep_ready": "ON", "wsrep_local_state_comment": "Synced", "wsrep_cluster_status": "Primary",
        "wsrep_reject_queries": "NONE",
    ]

    @Test func syncedGaleraNodeIsReady() {
        #expect(NodeReadiness(reported: Self.syncedNode) == .ready)
    }

    @Test(arguments: [
        ("Donor/Desynced", "not synced: Donor/Desynced"),
        ("Joining", "not synced: Joining"),
        ("Joined", "not synced: Joined"),
    ])
    func galeraNodeThatIsNotSyncedIsPassedOver(state: String, reason: String) {
        var reported = Self.syncedNode
        reported["wsrep_local_state_comment"] = state
        #expect(NodeReadiness(reported: reported) == .notReady(reason))
    }

    @Test func galeraNodeOutsideThePrimaryComponentIsPassedOver() {
        var reported = Self.syncedNode
        reported["wsrep_ready"] = "OFF"
        reported["wsrep_cluster_status"] = "non-Primary"
        reported["wsrep_local_state_comment"] = "Initialized"
        #expect(NodeReadiness(reported: reported) == .notReady("not ready: wsrep_ready=OFF, non-Primary component, state Initialized"))
    }

    @Test func galeraNodeRejectingQueriesIsPassedOver() {
        var reported = Self.syncedNode
        reported["wsrep_reject_queries"] = "ALL"
        #expect(NodeReadiness(reported: reported) == .notReady("rejecting queries: wsrep_reject_queries=ALL"))
    }

    @Test func readOnlyServerIsPassedOver() {
        var galera = Self.syncedNode
        galera["read_only"] = "ON"
        #expect(NodeReadiness(reported: galera) == .notReady("read_only"))
        #expect(NodeReadiness(reported: ["read_only": "ON"]) == .notReady("read_only"))
    }

    /// A standalone 10.11 server (as ./deploy/local-stack runs it) reports wsrep_ready=OFF: with
    /// wsrep_on=OFF it is not a Galera node and only read_only counts.
    @Test func standaloneServerIsNotGalera() {
        let standalone = [
            "read_only": "OFF", "wsrep_on": "OFF", "wsrep_provider": "none",
            "wsrep_ready": "OFF", "wsrep_cluster_status": "Disconnected",
        ]
        #expect(NodeReadiness(reported: standalone) == .ready)
        // A server built without wsrep reports none of its variables.
        #expect(NodeReadiness(reported: ["read_only": "OFF"]) == .ready)
        // wsrep_on without a provider is not a cluster either.
        #expect(NodeReadiness(reported: ["read_only": "OFF", "wsrep_on": "ON", "wsrep_provider": "none", "wsrep_ready": "OFF"]) == .ready)
    }

    @Test func galeraErrorsAreRecognised() {
        let notPrepared = MariaDBError(code: 1047, sqlState: "08S01", message: "WSREP has not yet prepared node for application use")
        #expect(notPrepared.isNodeUnusable)
        #expect(notPrepared.isConnectionLost)
        #expect(!notPrepared.isDeadlockOrLockTimeout)

        let readOnly = MariaDBError(code: 1290, sqlState: "HY000",
                                    message: "The MariaDB server is running with the --read-only option so it cannot execute this statement")
        #expect(readOnly.isNodeUnusable)
        #expect(readOnly.isConnectionLost)

        let certification = MariaDBError(code: 1213, sqlState: "40001", message: "Deadlock found when trying to get lock; try restarting transaction")
        #expect(certification.isDeadlockOrLockTimeout)
        #expect(!certification.isConnectionLost)
        #expect(!certification.isNodeUnusable)

        let duplicate = MariaDBError(code: 1062, sqlState: "23000", message: "Duplicate entry '1' for key 'PRIMARY'")
        #expect(!duplicate.isNodeUnusable)
        #expect(!duplicate.isConnectionLost)
        #expect(!duplicate.isDeadlockOrLockTimeout)
    }
}
