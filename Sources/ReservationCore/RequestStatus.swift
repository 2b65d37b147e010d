/// A request's status as stored in Redis under its id: who owns it, and either where it waits or how it ended.
/// Stored as `Q|<user>|<kind>|<sequence>|<position>[|<queue>]` while queued (written by the enqueue script, and
/// by the finish script when the request moves to another queue) and `F|<user>|<status JSON>` once terminal.
public enum RequestStatus: Sendable, Equatable {
    /// `sequence` is its 1-based arrival number in the queue it waits in — `queue` when it was forwarded there,
    /// else the queue its id names; the pass counts how many of that queue's requests it finished. `position` is
    /// the position the first answer (the 202) gave.
    case queued(userID: Int64, kind: RequestKind, sequence: Int64, position: Int64, queue: QueueName?)
    /// `json` is the body `GET /v1/requests/{id}` answers.
    case final(userID: Int64, json: String)

    public var userID: Int64 {
        switch self {
        case .queued(let user, _, _, _, _), .final(let user, _): user
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
            let rest = parts[2].split(separator: "|", omittingEmptySubsequences: false)
            guard rest.count == 3 || rest.count == 4, let kind = RequestKind(rawValue: String(rest[0])),
                  let sequence = Int64(rest[1]), let position = Int64(rest[2])
            else { return nil }
            var queue: QueueName?
            if rest.count == 4 {
                guard let moved = QueueName(tag: rest[3]) else { return nil }
                queue = moved
            }
            self = .queued(userID: user, kind: kind, sequence: sequence, position: position, queue: queue)
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
