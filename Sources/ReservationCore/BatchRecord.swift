/// What MariaDB keeps of one committed batch (the `batch_outcomes` row): its key, every terminal status it
/// decided, and the requests it forwarded to other queues — one row per batch, so recording thousands of
/// outcomes costs one insert.
///
/// Each record also carries its queue and the numbers of the requests it decided, so a request the queue hands
/// out again is found decided (see `ReservationDatabase.commit`).
public enum BatchRecord {
    /// An upper bound of one request's share of a record: a done reserve's status JSON with four seats, quoted,
    /// with its other fields, is under 530 bytes even with every number at its largest (a rejection under 120).
    public static let maxBytesPerRequest = 640

    /// The record's key: the queue and its commit number (counted under the queue's fence, so unique).
    public static func key(queue: QueueName, commit: Int64) -> String {
        "\(queue.tag):\(commit)"
    }

    /// `[1,2,3]`: the ids a record lists as changed (reservations, balance users).
    public static func idsJSON(_ ids: [Int64]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (index, id) in ids.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            ByteText.appendDecimal(id, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads what `idsJSON` wrote.
    public static func readIDs(_ text: String) throws(BatchRecordError) -> [Int64] {
        // One row of numbers is what `PositionalJSON` reads as the inner array of `[[…]]`.
        var reader = PositionalJSON(Array(("[" + text + "]").utf8))
        guard let rows = reader.rows(), reader.atEnd, rows.count == 1 else {
            throw BatchRecordError(description: "a batch record's id list is not in the recorded shape: \(text.prefix(120))")
        }
        return try rows[0].map { (value: PositionalJSON.Value) throws(BatchRecordError) -> Int64 in
            guard case .number(let id) = value else {
                throw BatchRecordError(description: "a batch record's id list holds \(value)")
            }
            return id
        }
    }

    /// `[[request_id, kind, user_id, outcome, reservation_id|null, accepted_at_ms, status_json_text|null], ...]`,
    /// the status JSON null for rejections (it follows from id, kind and reason: `RequestResult.rejectionJSON`).
    /// (arrays rather than objects: fewer bytes, and the `request_outcomes` view reads them by position).
    /// Written as bytes: a batch renders thousands of these, and String appends cost more than the JSON.
    public static func outcomesJSON(_ results: [RequestResult]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(results.count * 220)
        out.append(UInt8(ascii: "["))
        // By index, and fields read in place: copying each result would retain its strings and arrays.
        for index in results.indices {
            out.append(contentsOf: index > 0 ? #",[""#.utf8 : #"[""#.utf8)
            let request = results[index].request
            let outcome = results[index].outcome
            out.append(contentsOf: request.id.rawValue.utf8)
            out.append(contentsOf: #"",""#.utf8)
            out.append(contentsOf: request.kind.rawValue.utf8)
            out.append(contentsOf: #"","#.utf8)
            ByteText.appendDecimal(request.userID, to: &out)
            out.append(contentsOf: #",""#.utf8)
            out.append(contentsOf: outcome.label.utf8)
            out.append(contentsOf: #"","#.utf8)
            switch outcome {
            case .reservation(let reservation): ByteText.appendDecimal(reservation.id, to: &out)
            case .balance, .rejected:
                if request.reservationID > 0 { ByteText.appendDecimal(request.reservationID, to: &out) } else { out.append(contentsOf: "null".utf8) }
            }
            out.append(UInt8(ascii: ","))
            ByteText.appendDecimal(request.acceptedAtMillis, to: &out)
            out.append(UInt8(ascii: ","))
            if case .rejected = outcome {
                out.append(contentsOf: "null".utf8)  // derived from the other fields: RequestResult.rejectionJSON
            } else {
                appendQuoted(results[index].statusJSON, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `[[queue_tag, queue_entry], ...]`
    public static func forwardedJSON(_ forwarded: [(QueueName, QueuedRequest)]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (index, (queue, request)) in forwarded.enumerated() {
            out.append(contentsOf: index > 0 ? #",[""#.utf8 : #"[""#.utf8)
            out.append(contentsOf: queue.tag.utf8)
            out.append(contentsOf: #"","#.utf8)
            appendQuoted(request.wireFormat, to: &out)
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `text` as a JSON string. Statuses and entries are our own ASCII (no user text), so the common case only
    /// escapes quotes, copying the runs between them whole; anything else goes through the general escaper.
    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        var text = text
        let copied: Bool = text.withUTF8 { bytes in
            guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x80 && $0 != UInt8(ascii: "\\") }) else { return false }
            out.append(UInt8(ascii: "\""))
            var runStart = 0
            for index in bytes.indices where bytes[index] == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                out.append(UInt8(ascii: "\\"))
                runStart = index
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
            out.append(UInt8(ascii: "\""))
            return true
        }
        if !copied { out.append(contentsOf: JSONText.quoted(text).utf8) }
    }
}

/// One request's outcome as a batch record holds it (what a pass publishes again for a request that was
/// already decided).
public struct RecordedOutcome: Sendable, Equatable {
    public var requestID: RequestID
    public var kind: RequestKind
    public var userID: Int64
    /// `done` or a rejection reason.
    public var outcome: String
    /// The reservation a reserve created, or the one a pay or cancel named.
    public var reservationID: Int64?
    public var acceptedAtMillis: Int64
    /// The body of `GET /v1/requests/{id}`.
    public var statusJSON: String

    public var isDone: Bool { outcome == "done" }
}

public struct BatchRecordError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

extension BatchRecord {
    /// Reads what `outcomesJSON` wrote (and the rows migration 002 made of older per-request outcomes, which
    /// have spaces after their commas).
    public static func readOutcomes(_ text: String) throws(BatchRecordError) -> [RecordedOutcome] {
        var reader = PositionalJSON(Array(text.utf8))
        guard let rows = reader.rows(), reader.atEnd else {
            throw BatchRecordError(description: "a batch record's outcomes are not in the recorded shape: \(text.prefix(120))")
        }
        return try rows.map { (row: [PositionalJSON.Value]) throws(BatchRecordError) -> RecordedOutcome in
            guard row.count == 7, case .string(let idText) = row[0], let id = RequestID(idText),
                  case .string(let kindText) = row[1], let kind = RequestKind(rawValue: kindText),
                  case .number(let user) = row[2], case .string(let outcome) = row[3],
                  case .number(let accepted) = row[5]
            else { throw BatchRecordError(description: "a batch record has an unreadable outcome: \(row)") }
            var reservation: Int64?
            if case .number(let value) = row[4] { reservation = value }
            let json: String
            switch row[6] {
            case .string(let text): json = text
            case .null: json = RequestResult.rejectionJSON(id: id.rawValue, kind: kind.rawValue, reason: outcome)
            case .number: throw BatchRecordError(description: "a batch record has a number for a status: \(row)")
            }
            return RecordedOutcome(
                requestID: id, kind: kind, userID: user, outcome: outcome, reservationID: reservation,
                acceptedAtMillis: accepted, statusJSON: json
            )
        }
    }

    /// Reads what `forwardedJSON` wrote: the target queue and the entry of each forwarded request.
    public static func readForwards(_ text: String) throws(BatchRecordError) -> [(queue: QueueName, entry: String)] {
        var reader = PositionalJSON(Array(text.utf8))
        guard let rows = reader.rows(), reader.atEnd else {
            throw BatchRecordError(description: "a batch record's forwards are not in the recorded shape: \(text.prefix(120))")
        }
        return try rows.map { (row: [PositionalJSON.Value]) throws(BatchRecordError) -> (queue: QueueName, entry: String) in
            guard row.count == 2, case .string(let tag) = row[0], let queue = QueueName(tag: Substring(tag)),
                  case .string(let entry) = row[1]
            else { throw BatchRecordError(description: "a batch record has an unreadable forward: \(row)") }
            return (queue, entry)
        }
    }
}

/// A reader of exactly the JSON batch records are made of: an array of arrays of strings, integers and nulls.
struct PositionalJSON {
    enum Value: Equatable {
        case string(String), number(Int64), null
    }

    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool {
        mutating get {
            skipSpace()
            return index == bytes.count
        }
    }

    mutating func rows() -> [[Value]]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var rows: [[Value]] = []
        if take(UInt8(ascii: "]")) { return rows }
        repeat {
            guard take(UInt8(ascii: "[")) else { return nil }
            var row: [Value] = []
            if !take(UInt8(ascii: "]")) {
                repeat {
                    guard let value = value() else { return nil }
                    row.append(value)
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "]")) else { return nil }
            }
            rows.append(row)
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]")) ? rows : nil
    }

    private mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 32 || bytes[index] == 9 || bytes[index] == 10 || bytes[index] == 13 {
            index += 1
        }
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func value() -> Value? {
        skipSpace()
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string().map(Value.string)
        case UInt8(ascii: "n"):
            guard bytes.count - index >= 4, bytes[index..<index + 4].elementsEqual("null".utf8) else { return nil }
            index += 4
            return .null
        default: return number().map(Value.number)
        }
    }

    private mutating func number() -> Int64? {
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var value: Int64 = 0
        var digits = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            let (shifted, a) = value.multipliedReportingOverflow(by: 10)
            let (sum, b) = shifted.addingReportingOverflow(Int64(bytes[index] - UInt8(ascii: "0")))
            guard !a, !b else { return nil }
            value = sum
            digits += 1
            index += 1
        }
        return digits > 0 ? (negative ? -value : value) : nil
    }

    private mutating func string() -> String? {
        index += 1  // the opening quote
        var out: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(scalar) {  // a surrogate pair
                        guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                        else { return nil }
                        index += 2
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: String(Character(unicode)).utf8)
                default: return nil
                }
            default:
                out.append(byte)
            }
        }
        return nil
    }

    private mutating func hex4() -> UInt32? {
        guard bytes.count - index >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }
}
