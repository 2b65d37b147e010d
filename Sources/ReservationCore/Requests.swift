/// What a queued request asks for. The raw values are the contract's `kind` strings.
public enum RequestKind: String, Sendable, CaseIterable, Codable {
    case reserve, pay, cancel, charge
}

/// Why the batch pass refused a request. The raw values are the contract's reason codes.
public enum RejectionReason: String, Sendable, CaseIterable, Codable, Error {
    case performanceUnknown = "PERFORMANCE_UNKNOWN"
    /// A reserve accepted once the performance had begun.
    case performanceStarted = "PERFORMANCE_STARTED"
    case seatUnknown = "SEAT_UNKNOWN"
    case seatTaken = "SEAT_TAKEN"
    case userLimit = "USER_LIMIT"
    case reservationUnknown = "RESERVATION_UNKNOWN"
    /// Kept for the contract's list, but never decided: to anyone but its owner a reservation answers as if it
    /// did not exist (`RESERVATION_UNKNOWN`), so a stranger cannot learn which ids exist.
    case notOwner = "NOT_OWNER"
    case holdExpired = "HOLD_EXPIRED"
    case alreadyPaid = "ALREADY_PAID"
    case alreadyCancelled = "ALREADY_CANCELLED"
    case insufficientBalance = "INSUFFICIENT_BALANCE"
    /// The pass could not decide or store this one request (it is logged with its id); the requests behind it go on.
    case internalError = "INTERNAL_ERROR"
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
    /// When Redis accepted it, in milliseconds since 1970, by Redis's own clock (the enqueue script stamps it):
    /// pays and cancels are judged at this moment, and it gives queue ages and end-to-end latency.
    public var acceptedAtMillis: Int64
    /// Its number in its queue (1, 2, …), given by the enqueue script; the database records the highest number
    /// each queue has decided, so a request Redis hands out again is recognised (0: not numbered yet).
    public var sequence: Int64

    public init(
        id: RequestID, kind: RequestKind, userID: Int64, performanceID: Int64 = 0, reservationID: Int64 = 0,
        amount: Int64 = 0, seatIDs: [Int64] = [], acceptedAtMillis: Int64, sequence: Int64 = 0
    ) {
        self.id = id
        self.kind = kind
        self.userID = userID
        self.performanceID = performanceID
        self.reservationID = reservationID
        self.amount = amount
        self.seatIDs = seatIDs
        self.acceptedAtMillis = acceptedAtMillis
        self.sequence = sequence
    }
}

extension QueuedRequest {
    /// The queue entry: one line, `|`-separated, versioned. Every field is ours or a number, so no escaping is
    /// needed, and the batch pass parses a million of these far faster than JSON.
    /// `2|<id>|<kind>|<user>|<performance>|<reservation>|<amount>|<acceptedAtMillis>|<sequence>|<seat,seat,...>`
    /// The enqueue script builds it from `wireHead`, Redis's clock, the queue's next number and `wireSeats`.
    public var wireFormat: String {
        wireHead + "\(acceptedAtMillis)|\(sequence)|" + wireSeats
    }

    /// The entry up to the fields Redis fills in: `2|<id>|<kind>|<user>|<performance>|<reservation>|<amount>|`.
    public var wireHead: String {
        var line = "2|"
        line += id.rawValue
        line += "|"
        line += kind.rawValue
        line += "|\(userID)|\(performanceID)|\(reservationID)|\(amount)|"
        return line
    }

    /// The last field of the entry: the seats, comma-separated.
    public var wireSeats: String {
        var line = ""
        for (index, seat) in seatIDs.enumerated() {
            if index > 0 { line += "," }
            line += String(seat)
        }
        return line
    }

    /// Parses a queue entry; throws for anything malformed (the pass then sets it aside, never drops it silently).
    /// Works on the UTF-8 bytes: the pass parses a million of these, and `split` on Characters cost more than
    /// the allocation rules themselves.
    public init(wireFormat line: some StringProtocol) throws(QueueEntryError) {
        let parsed: QueuedRequest? = line.utf8.withContiguousStorageIfAvailable { Self.parse($0) }
            ?? Array(line.utf8).withUnsafeBufferPointer { Self.parse($0) }
        guard let parsed else { throw QueueEntryError(entry: String(line)) }
        self = parsed
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> QueuedRequest? {
        let bar = UInt8(ascii: "|")
        // The ten fields' bounds: the last one (seats) runs to the end.
        var bounds: [Range<Int>] = []
        bounds.reserveCapacity(10)
        var start = 0
        for index in 0..<bytes.count where bytes[index] == bar && bounds.count < 9 {
            bounds.append(start..<index)
            start = index + 1
        }
        bounds.append(start..<bytes.count)
        guard bounds.count == 10, bounds[0].count == 1, bytes[bounds[0].lowerBound] == UInt8(ascii: "2") else { return nil }

        func integer(_ range: Range<Int>) -> Int64? {
            guard !range.isEmpty, range.count <= 19 else { return nil }
            var index = range.lowerBound
            let negative = bytes[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            guard index < range.upperBound else { return nil }
            var value: Int64 = 0
            while index < range.upperBound {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = shifted.addingReportingOverflow(Int64(digit))
                guard !overflowA, !overflowB else { return nil }  // a hostile entry must not trap the pass
                value = sum
                index += 1
            }
            return negative ? -value : value
        }
        func text(_ range: Range<Int>) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }

        guard let id = RequestID(text(bounds[1])),
              let kind = RequestKind(rawValue: text(bounds[2])),
              let user = integer(bounds[3]), user > 0,
              let performance = integer(bounds[4]),
              let reservation = integer(bounds[5]),
              let amount = integer(bounds[6]),
              let accepted = integer(bounds[7]),
              let sequence = integer(bounds[8]), sequence >= 0
        else { return nil }
        var seats: [Int64] = []
        let seatField = bounds[9]
        if !seatField.isEmpty {
            var from = seatField.lowerBound
            for index in seatField.lowerBound...seatField.upperBound
            where index == seatField.upperBound || bytes[index] == UInt8(ascii: ",") {
                guard let seat = integer(from..<index) else { return nil }
                seats.append(seat)
                from = index + 1
            }
        }
        return QueuedRequest(
            id: id, kind: kind, userID: user, performanceID: performance, reservationID: reservation,
            amount: amount, seatIDs: seats, acceptedAtMillis: accepted, sequence: sequence
        )
    }
}

public struct QueueEntryError: Error, Sendable, CustomStringConvertible {
    public let entry: String
    public var description: String { "unreadable queue entry: \(entry.prefix(120))" }
}
