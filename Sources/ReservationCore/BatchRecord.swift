/// What MariaDB keeps of one committed batch (the `batch_outcomes` row): its key, every terminal status it
/// decided, and the requests it forwarded to other queues — one row per batch, so recording thousands of
/// outcomes costs one insert.
///
/// The key names the batch as the queue handed it out: queue tag, the queue's batch number, and the first
/// entry's request id (so a Redis that lost its counter can never make a new batch look like an old one).
/// A pass finishing a dead pass's in-flight batch looks the key up: found means committed.
public enum BatchRecord {
    /// An upper bound of one request's share of a record: a done reserve's status JSON with four seats, quoted,
    /// with its other fields, is under 530 bytes even with every number at its largest (a rejection under 120).
    public static let maxBytesPerRequest = 640

    public static func key(queue: QueueName, number: Int64, entries: [String]) -> String {
        "\(queue.tag):\(number):\(entries.first.flatMap(firstRequestID) ?? "-")"
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

    /// The request id of a queue entry (`1|<id>|…`), without parsing the rest; nil if it is not one of ours.
    static func firstRequestID(_ entry: String) -> String? {
        let fields = entry.utf8.split(separator: UInt8(ascii: "|"), maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count >= 2, let id = RequestID(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return id.rawValue
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
