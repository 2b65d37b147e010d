/// One finished batch as the batch history keeps it: when it ended, its queue, its size and time, how long its
/// oldest request had waited, the holds its visit expired and what it decided.
///
/// The pass makes one per batch and records them per visit (`concert:batch:recent` in Redis for the live page,
/// `batch_log` in MariaDB for `concert-batch report`). Both stores use the forms written and read in this file:
/// the Redis text form (`redisText` / `init(redisText:)`) and the outcome counts as JSON (`outcomesJSON` /
/// `outcomes(json:)`).
public struct BatchTiming: Sendable, Equatable {
    /// When the batch ended (published to the publisher thread), milliseconds since 1970.
    public var endedAtMillis: Int64
    public var queue: QueueName
    /// Queue entries taken (0 for a visit that only expired holds).
    public var size: Int
    /// Take → handed to the publisher: the time the cost model records for the batch.
    public var seconds: Double
    /// How long the batch's first (oldest) request had waited when the batch was taken.
    public var oldestWaitSeconds: Double
    /// Holds expired: non-zero only on a visit's expiry record (size 0), written before the visit's batches.
    public var expired: Int
    /// Requests decided, by kind and outcome (`done` or a rejection reason).
    public var outcomes: [RequestKind: [String: Int]]

    public init(
        endedAtMillis: Int64, queue: QueueName, size: Int, seconds: Double, oldestWaitSeconds: Double, expired: Int,
        outcomes: [RequestKind: [String: Int]]
    ) {
        self.endedAtMillis = endedAtMillis
        self.queue = queue
        self.size = size
        self.seconds = seconds
        self.oldestWaitSeconds = oldestWaitSeconds
        self.expired = expired
        // Zero counts are dropped, so equal batches compare equal whichever way they were built.
        self.outcomes = outcomes.compactMapValues { counts in
            let positive = counts.filter { $0.value > 0 }
            return positive.isEmpty ? nil : positive
        }
    }

    /// What the pass knows right after a batch: when it took it, how long the batch took, the batch's entries
    /// (the first one's `acceptedAtMillis` gives the oldest wait) and what it decided.
    public init(
        queue: QueueName, takenAtMillis: Int64, seconds: Double, entries: [String], outcomes: [RequestKind: [String: Int]]
    ) {
        let oldest = entries.first.flatMap { try? QueuedRequest(wireFormat: $0) }?.acceptedAtMillis
        self.init(
            endedAtMillis: takenAtMillis + Int64((seconds * 1000).rounded()), queue: queue, size: entries.count,
            seconds: seconds, oldestWaitSeconds: oldest.map { max(0, Double(takenAtMillis - $0) / 1000) } ?? 0,
            expired: 0, outcomes: outcomes
        )
    }

    /// A visit that expired holds: a record of size 0, before the visit's batches.
    public static func expiry(queue: QueueName, holds: Int, atMillis: Int64) -> BatchTiming {
        BatchTiming(
            endedAtMillis: atMillis, queue: queue, size: 0, seconds: 0, oldestWaitSeconds: 0, expired: holds, outcomes: [:]
        )
    }

    /// Counts in `after` that were not yet in `before` (the pass keeps running totals; a batch is their difference).
    public static func outcomes(
        _ after: [RequestKind: [String: Int]], since before: [RequestKind: [String: Int]]
    ) -> [RequestKind: [String: Int]] {
        var difference: [RequestKind: [String: Int]] = [:]
        for (kind, counts) in after {
            for (outcome, count) in counts {
                let added = count - (before[kind]?[outcome] ?? 0)
                if added > 0 { difference[kind, default: [:]][outcome] = added }
            }
        }
        return difference
    }

    /// Requests decided (every kind and outcome).
    public var decided: Int { outcomes.values.reduce(0) { $0 + $1.values.reduce(0, +) } }

    public func count(_ kind: RequestKind, _ outcome: String) -> Int { outcomes[kind]?[outcome] ?? 0 }

    // MARK: Redis text form

    /// `1|<endedAtMillis>|<queue tag>|<size>|<seconds>|<oldestWaitSeconds>|<expired>|<kind>:<outcome>=<n>,…`
    /// (outcomes sorted, so one timing always has one text). Every field is a number or one of our own names.
    public var redisText: String {
        "1|\(endedAtMillis)|\(queue.tag)|\(size)|\(seconds)|\(oldestWaitSeconds)|\(expired)|" + outcomesText
    }

    /// Reads `redisText`; nil for anything else (a later version's entry, a damaged one).
    public init?(redisText text: some StringProtocol) {
        let fields = text.split(separator: "|", omittingEmptySubsequences: false)
        guard fields.count == 8, fields[0] == "1",
              let ended = Int64(fields[1]), let queue = QueueName(tag: Substring(fields[2])),
              let size = Int(fields[3]), size >= 0,
              let seconds = Double(fields[4]), seconds.isFinite, seconds >= 0,
              let oldest = Double(fields[5]), oldest.isFinite, oldest >= 0,
              let expired = Int(fields[6]), expired >= 0
        else { return nil }
        var outcomes: [RequestKind: [String: Int]] = [:]
        for pair in fields[7].split(separator: ",") {
            guard let colon = pair.firstIndex(of: ":"), let equals = pair.firstIndex(of: "="), colon < equals,
                  let kind = RequestKind(rawValue: String(pair[..<colon])),
                  case let outcome = String(pair[pair.index(after: colon)..<equals]), Self.isOutcomeLabel(outcome),
                  let count = Int(pair[pair.index(after: equals)...]), count > 0
            else { return nil }
            outcomes[kind, default: [:]][outcome] = count
        }
        self.init(
            endedAtMillis: ended, queue: queue, size: size, seconds: seconds, oldestWaitSeconds: oldest,
            expired: expired, outcomes: outcomes
        )
    }

    private var outcomesText: String {
        sortedOutcomes.map { "\($0.kind.rawValue):\($0.outcome)=\($0.count)" }.joined(separator: ",")
    }

    // MARK: MariaDB's outcomes column

    /// `{"reserve":{"SEAT_TAKEN":30,"done":120},…}`, keys sorted: `batch_log.outcomes`.
    public var outcomesJSON: String {
        var json = "{"
        var lastKind: RequestKind?
        for entry in sortedOutcomes {
            if entry.kind != lastKind {
                if lastKind != nil { json += "}," }
                json += "\"\(entry.kind.rawValue)\":{"
            } else {
                json += ","
            }
            json += "\"\(entry.outcome)\":\(entry.count)"
            lastKind = entry.kind
        }
        if lastKind != nil { json += "}" }
        return json + "}"
    }

    /// Reads `outcomesJSON` (whitespace allowed, as a database may give it back); nil when the text is not that shape.
    public static func outcomes(json text: String) -> [RequestKind: [String: Int]]? {
        var bytes = Array(text.utf8)[...]
        func skipSpace() { while let first = bytes.first, first == 32 || first == 9 || first == 10 || first == 13 { bytes.removeFirst() } }
        func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard bytes.first == byte else { return false }
            bytes.removeFirst()
            return true
        }
        func name() -> String? {
            guard take(UInt8(ascii: "\"")), let end = bytes.firstIndex(of: UInt8(ascii: "\"")) else { return nil }
            defer { bytes = bytes[(end + 1)...] }
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
        func number() -> Int? {
            skipSpace()
            let digits = bytes.prefix { $0 >= 48 && $0 <= 57 }
            guard !digits.isEmpty, digits.count <= 18 else { return nil }
            bytes = bytes.dropFirst(digits.count)
            return Int(String(decoding: digits, as: UTF8.self))
        }
        var outcomes: [RequestKind: [String: Int]] = [:]
        guard take(UInt8(ascii: "{")) else { return nil }
        if !take(UInt8(ascii: "}")) {
            repeat {
                guard let kindText = name(), let kind = RequestKind(rawValue: kindText), take(UInt8(ascii: ":")),
                      take(UInt8(ascii: "{")) else { return nil }
                if !take(UInt8(ascii: "}")) {
                    repeat {
                        guard let outcome = name(), isOutcomeLabel(outcome), take(UInt8(ascii: ":")), let count = number()
                        else { return nil }
                        if count > 0 { outcomes[kind, default: [:]][outcome] = count }
                    } while take(UInt8(ascii: ","))
                    guard take(UInt8(ascii: "}")) else { return nil }
                }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { return nil }
        }
        skipSpace()
        return bytes.isEmpty ? outcomes : nil
    }

    // MARK: Pieces

    private var sortedOutcomes: [(kind: RequestKind, outcome: String, count: Int)] {
        var entries: [(kind: RequestKind, outcome: String, count: Int)] = []
        for kind in RequestKind.allCases {
            for (outcome, count) in (outcomes[kind] ?? [:]).sorted(by: { $0.key < $1.key }) where count > 0 {
                entries.append((kind, outcome, count))
            }
        }
        return entries
    }

    /// `done` or a rejection reason: letters and underscores only, so neither form needs escaping.
    static func isOutcomeLabel(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 32
            && text.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 }
    }
}
