/// What a queued request asks for. The raw values are the contract's `kind` strings.
public enum RequestKind: String, Sendable, CaseIterable, Codable {
    case reserve, pay, cancel, charge
}

/// Why the batch pass refused a request. The raw values are the contract's reason codes.
public enum RejectionReason: String, Sendable, CaseIterable, Codable, Error {
    case performanceUnknown = "PERFORMANCE_UNKNOWN"
    case seatUnknown = "SEAT_UNKNOWN"
    case seatTaken = "SEAT_TAKEN"
    case userLimit = "USER_LIMIT"
    case reservationUnknown = "RESERVATION_UNKNOWN"
    case notOwner = "NOT_OWNER"
    case holdExpired = "HOLD_EXPIRED"
    case alreadyPaid = "ALREADY_PAID"
    case alreadyCancelled = "ALREADY_CANCELLED"
    case insufficientBalance = "INSUFFICIENT_BALANCE"
}

/// Where a request waits: the queue of one performance, or the general queue for work the ingest
/// could not route to a performance (charges, and requests naming something it has not seen yet).
public enum QueueName: Hashable, Sendable, CustomStringConvertible {
    case performance(Int64)
    case general

    /// The short tag that starts a request id (`p17`, `g`); it also names the Redis keys.
    public var tag: String {
        switch self {
        case .performance(let id): "p\(id)"
        case .general: "g"
        }
    }

    public init?(tag: Substring) {
        if tag == "g" {
            self = .general
        } else if tag.first == "p", let id = Int64(tag.dropFirst()), id > 0, "p\(id)" == tag {
            self = .performance(id)
        } else {
            return nil
        }
    }

    public var description: String { tag }
}

/// A request id: the queue tag, a dash, and 32 lowercase hex digits of randomness.
/// The tag tells a reader where the request's status lives without any lookup; the random part
/// makes ids unguessable, and the owner check makes a guessed one useless anyway.
public struct RequestID: Hashable, Sendable, CustomStringConvertible {
    public let queue: QueueName
    public let rawValue: String

    public init(queue: QueueName, random: (UInt64, UInt64)) {
        self.queue = queue
        self.rawValue = queue.tag + "-" + Self.hex16(random.0) + Self.hex16(random.1)
    }

    public static func random(queue: QueueName) -> RequestID {
        var generator = SystemRandomNumberGenerator()
        return RequestID(queue: queue, random: (generator.next(), generator.next()))
    }

    /// Parses an id from a URL or a queue entry; nil for anything that is not exactly our shape.
    public init?(_ text: some StringProtocol) {
        guard text.utf8.count <= 64, let dash = text.firstIndex(of: "-") else { return nil }
        guard let queue = QueueName(tag: Substring(text[..<dash])) else { return nil }
        let random = text[text.index(after: dash)...]
        guard random.utf8.count == 32,
              random.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) })
        else { return nil }
        self.queue = queue
        self.rawValue = String(text)
    }

    public var description: String { rawValue }

    private static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// One request as it waits in a Redis list, in arrival order.
public struct QueuedRequest: Sendable, Equatable {
    public var id: RequestID
    public var kind: RequestKind
    public var userID: Int64
    /// The performance a `reserve` names; 0 for the other kinds.
    public var performanceID: Int64
    /// The reservation a `pay` or `cancel` names; 0 for the other kinds.
    public var reservationID: Int64
    /// The amount of a `charge`; 0 for the other kinds.
    public var amount: Int64
    /// The seats of a `reserve`; empty for the other kinds.
    public var seatIDs: [Int64]
    /// When the ingest accepted it, in milliseconds since 1970 (for queue age and end-to-end latency).
    public var acceptedAtMillis: Int64

    public init(
        id: RequestID, kind: RequestKind, userID: Int64, performanceID: Int64 = 0, reservationID: Int64 = 0,
        amount: Int64 = 0, seatIDs: [Int64] = [], acceptedAtMillis: Int64
    ) {
        self.id = id
        self.kind = kind
        self.userID = userID
        self.performanceID = performanceID
        self.reservationID = reservationID
        self.amount = amount
        self.seatIDs = seatIDs
        self.acceptedAtMillis = acceptedAtMillis
    }
}

extension QueuedRequest {
    /// The queue entry: one line, `|`-separated, versioned. Every field is ours or a number, so no escaping is
    /// needed, and the batch pass parses a million of these far faster than JSON.
    /// `1|<id>|<kind>|<user>|<performance>|<reservation>|<amount>|<acceptedAtMillis>|<seat,seat,...>`
    public var wireFormat: String {
        var line = "1|"
        line += id.rawValue
        line += "|"
        line += kind.rawValue
        line += "|\(userID)|\(performanceID)|\(reservationID)|\(amount)|\(acceptedAtMillis)|"
        for (index, seat) in seatIDs.enumerated() {
            if index > 0 { line += "," }
            line += String(seat)
        }
        return line
    }

    /// Parses a queue entry; throws for anything malformed (the pass then records it as unreadable, never drops it silently).
    public init(wireFormat line: some StringProtocol) throws(QueueEntryError) {
        let fields = line.split(separator: "|", maxSplits: 8, omittingEmptySubsequences: false)
        guard fields.count == 9, fields[0] == "1" else { throw QueueEntryError(entry: String(line)) }
        guard let id = RequestID(fields[1]),
              let kind = RequestKind(rawValue: String(fields[2])),
              let user = Int64(fields[3]), user > 0,
              let performance = Int64(fields[4]),
              let reservation = Int64(fields[5]),
              let amount = Int64(fields[6]),
              let accepted = Int64(fields[7])
        else { throw QueueEntryError(entry: String(line)) }
        var seats: [Int64] = []
        if !fields[8].isEmpty {
            for part in fields[8].split(separator: ",", omittingEmptySubsequences: false) {
                guard let seat = Int64(part) else { throw QueueEntryError(entry: String(line)) }
                seats.append(seat)
            }
        }
        self.init(
            id: id, kind: kind, userID: user, performanceID: performance, reservationID: reservation,
            amount: amount, seatIDs: seats, acceptedAtMillis: accepted
        )
    }
}

public struct QueueEntryError: Error, Sendable, CustomStringConvertible {
    public let entry: String
    public var description: String { "unreadable queue entry: \(entry.prefix(120))" }
}
