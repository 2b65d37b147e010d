/// A request's status as stored in Redis under its id: who owns it, and either where it waits or how it ended.
/// Stored as `Q|<user>|<kind>|<sequence>` while queued and `F|<user>|<status JSON>` once terminal.
public enum RequestStatus: Sendable, Equatable {
    /// `sequence` is its 1-based arrival number in its queue; the pass counts how many it finished.
    case queued(userID: Int64, kind: RequestKind, sequence: Int64)
    /// `json` is the body `GET /v1/requests/{id}` answers.
    case final(userID: Int64, json: String)

    public var userID: Int64 {
        switch self {
        case .queued(let user, _, _), .final(let user, _): user
        }
    }

    public var stored: String {
        switch self {
        case .queued(let user, let kind, let sequence): "Q|\(user)|\(kind.rawValue)|\(sequence)"
        case .final(let user, let json): Self.finalPrefix(userID: user) + json
        }
    }

    /// What precedes the JSON in the stored form of `.final`, for writers that append the JSON bytes themselves.
    public static func finalPrefix(userID: Int64) -> String { "F|\(userID)|" }

    public init?(stored text: String) {
        let parts = text.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let user = Int64(parts[1]) else { return nil }
        switch parts[0] {
        case "F":
            self = .final(userID: user, json: String(parts[2]))
        case "Q":
            let rest = parts[2].split(separator: "|")
            guard rest.count == 2, let kind = RequestKind(rawValue: String(rest[0])), let sequence = Int64(rest[1])
            else { return nil }
            self = .queued(userID: user, kind: kind, sequence: sequence)
        default:
            return nil
        }
    }

    /// The body for a request still queued: requests ahead of it and a rough time to its answer.
    public static func queuedJSON(id: RequestID, kind: RequestKind, position: Int64, etaSeconds: Double) -> String {
        let eta = (max(0, etaSeconds) * 10).rounded() / 10
        return "{\"requestId\":\"\(id.rawValue)\",\"kind\":\"\(kind.rawValue)\",\"status\":\"queued\","
            + "\"position\":\(max(0, position)),\"etaSeconds\":\(eta)}"
    }
}
