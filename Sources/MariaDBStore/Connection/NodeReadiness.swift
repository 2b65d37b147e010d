/// Whether one MariaDB server may take this process's writes, judged from what it reports about
/// itself right after connecting (`SHOW GLOBAL VARIABLES` / `SHOW GLOBAL STATUS`).
///
/// - A Galera node (`wsrep_on = ON` and a provider loaded) must be `wsrep_ready = ON` and
///   `wsrep_local_state_comment = Synced`: a joiner, a donor or a desynced node lags behind the
///   cluster, and a node outside the primary component refuses statements (error 1047). It must
///   not have `wsrep_reject_queries` set either: such a node still answers SHOW and says Synced,
///   but refuses every statement on a table (an operator draining it for maintenance).
/// - Any server must have `read_only = OFF`: a standby of a primary is read-only.
/// A server that reports no wsrep variables, or `wsrep_on = OFF` (a standalone server built with
/// wsrep support reports `wsrep_ready = OFF`), is not a Galera node.
enum NodeReadiness: Equatable, Sendable {
    case ready
    /// Why not, for the error that lists every host: "read_only", "not synced: Donor/Desynced".
    case notReady(String)

    /// The variable and status names the judgement reads, lower-case as the server prints them.
    static let variableNames = ["read_only", "wsrep_on", "wsrep_provider", "wsrep_reject_queries"]
    static let statusNames = ["wsrep_ready", "wsrep_local_state_comment", "wsrep_cluster_status"]

    /// Whether the server is a Galera node: wsrep on, with a provider loaded.
    static func isGalera(_ reported: [String: String]) -> Bool {
        let provider = reported["wsrep_provider"] ?? "none"
        return isOn(reported["wsrep_on"]) && !provider.isEmpty && provider.lowercased() != "none"
    }

    private static func isOn(_ value: String?) -> Bool {
        guard let value else { return false }
        return value.uppercased() == "ON" || value == "1"
    }

    /// `reported` maps lower-cased names to values; absent names were not reported.
    init(reported: [String: String]) {
        let isOn = Self.isOn
        if Self.isGalera(reported) {
            guard isOn(reported["wsrep_ready"]) else {
                let cluster = reported["wsrep_cluster_status"] ?? "unknown"
                let state = reported["wsrep_local_state_comment"] ?? "unknown"
                self = .notReady("not ready: wsrep_ready=OFF, \(cluster) component, state \(state)")
                return
            }
            let state = reported["wsrep_local_state_comment"] ?? "unknown"
            guard state == "Synced" else {
                self = .notReady("not synced: \(state)")
                return
            }
            if let rejecting = reported["wsrep_reject_queries"], rejecting.uppercased() != "NONE" {
                self = .notReady("rejecting queries: wsrep_reject_queries=\(rejecting)")
                return
            }
        }
        if isOn(reported["read_only"]) {
            self = .notReady("read_only")
            return
        }
        self = .ready
    }
}
