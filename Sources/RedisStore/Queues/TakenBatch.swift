import ReservationCore

/// Entries a pass took from a queue as one numbered batch (they stay the first entries of its pending list until
/// the batch is finished).
public struct TakenBatch: Sendable {
    public let queue: QueueName
    public let number: Int64
    public let entries: [String]
    /// When the first entry after the batch was accepted (nil if none waited): holds may expire only up to there,
    /// since that request could be a pay or cancel on time.
    public let nextAcceptedAtMillis: Int64?

    public init(queue: QueueName, number: Int64, entries: [String], nextAcceptedAtMillis: Int64? = nil) {
        self.queue = queue
        self.number = number
        self.entries = entries
        self.nextAcceptedAtMillis = nextAcceptedAtMillis
    }

    /// How the queue's in-flight list names the batch: `<number>:<count>`.
    public var inflightRecord: String { "\(number):\(entries.count)" }
}
