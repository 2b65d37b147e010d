import Foundation
import ReservationCore

/// What one `run` or `flush` did: counted as it goes, printed at the end, written to the metrics file.
public struct PassSummary: Sendable {
    /// Requests decided, by kind and outcome (`done` or a rejection reason).
    public var outcomes: [RequestKind: [String: Int]] = [:]
    /// Requests found already committed by an earlier, interrupted pass and published again (not re-applied).
    public var replayed = 0
    public var forwarded = 0
    public var unreadable = 0
    public var expired = 0
    /// Requests rejected `INTERNAL_ERROR` because the database refused them alone.
    public var internalErrors = 0
    /// Queue visits that failed (logged with the queue); the pass went on with the other queues.
    public var queueFailures = 0
    /// Queues this process worked on, and live queues it left because another process held them.
    public var queuesWorked: Set<QueueName> = []
    public var queuesHeldElsewhere: Set<QueueName> = []
    /// Money moved, by ledger kind.
    public var money: [LedgerEntry.Kind: Int64] = [:]
    public var batches = 0
    public var lastBatchSize = 0
    public var seconds: Double = 0
    public var fit: BatchCostModel.Fit?
    /// |predicted − actual| / actual of each batch predicted by the model before it ran.
    public var predictionErrors: [Double] = []
    /// Seconds spent in each stage of the batches, to show where a pass's time goes.
    public var stageSeconds: [Stage: Double] = [:]

    /// Stages on the pass's own thread: `store` is MariaDB's part of the batch's transaction (reads, writes,
    /// commit), `decide` the core's. Publishing a committed batch overlaps the next batch on another thread;
    /// `publishWait` is the time the pass waited for it.
    public enum Stage: String, CaseIterable, Sendable {
        case take, parse, decide, store, publishWait = "wait for publish"
        /// Per visit rather than per batch: claiming the queue and loading its performance, and the seat map.
        case claim = "claim and load", seatMap = "seat map"
    }
    /// Seconds of the `store` stage by step of the batch transaction (fence, reads, reservation rows, …).
    public var storeSeconds: [String: Double] = [:]
    /// Seconds the publisher thread spent publishing, overlapped with the stages above.
    public var publishingSeconds: Double = 0

    public init() {}

    public var decided: Int { outcomes.values.reduce(0) { $0 + $1.values.reduce(0, +) } }

    mutating func count(_ plan: BatchPlan) {
        // Counted under a small key first (by index: copying each result would retain its strings and arrays),
        // so the outcome's label is built once per kind of outcome, not once per request.
        var counts: [OutcomeKey: Int] = [:]
        for index in plan.results.indices {
            let key = OutcomeKey(kind: plan.results[index].request.kind, outcome: plan.results[index].outcome)
            counts[key, default: 0] += 1
        }
        for (key, count) in counts {
            outcomes[key.kind, default: [:]][key.label, default: 0] += count
        }
        for entry in plan.ledger { money[entry.kind, default: 0] += abs(entry.amount) }
        forwarded += plan.forwarded.count
        expired += plan.expiredCount
    }

    public var medianPredictionError: Double? {
        guard !predictionErrors.isEmpty else { return nil }
        let sorted = predictionErrors.sorted()
        return sorted[sorted.count / 2]
    }

    /// The human summary `flush` and `run` print.
    public var text: String {
        var lines: [String] = []
        let rate = seconds > 0 ? Double(decided + replayed) / seconds : 0
        lines.append("requests: \(decided) decided, \(replayed) replayed from an earlier pass, \(forwarded) forwarded, \(unreadable) unreadable")
        for kind in RequestKind.allCases {
            guard let byOutcome = outcomes[kind], !byOutcome.isEmpty else { continue }
            let parts = byOutcome.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append("  \(kind.rawValue): \(parts)")
        }
        lines.append("holds expired: \(expired)")
        if internalErrors > 0 { lines.append("rejected INTERNAL_ERROR (the database refused them; see the log): \(internalErrors)") }
        if queueFailures > 0 { lines.append("queue visits failed (see the log): \(queueFailures)") }
        var queues = "queues worked on: \(queuesWorked.count)"
        if !queuesHeldElsewhere.isEmpty {
            queues += "; left to other processes: " + queuesHeldElsewhere.map(\.tag).sorted().joined(separator: ", ")
        }
        lines.append(queues)
        if !money.isEmpty {
            let parts = [LedgerEntry.Kind.charge, .payment, .refund].compactMap { kind in
                money[kind].map { "\(kind.rawValue)s \($0)" }
            }
            lines.append("money moved: " + parts.joined(separator: ", "))
        }
        lines.append("batches: \(batches) (last size \(lastBatchSize))")
        let staged = stageSeconds.values.reduce(0, +)
        if staged > 0 {
            let parts = Stage.allCases.compactMap { stage in
                stageSeconds[stage].map { "\(stage.rawValue) \(String(format: "%.0f", $0 / staged * 100))%" }
            }
            lines.append("time in batch stages: " + parts.joined(separator: ", ") + " of \(String(format: "%.2f", staged)) s"
                + "; publishing overlapped: \(String(format: "%.2f", publishingSeconds)) s")
        }
        let stored = storeSeconds.values.reduce(0, +)
        if stored > 0 {
            let parts = storeSeconds.sorted { $0.value > $1.value }.map { "\($0.key) \(String(format: "%.0f", $0.value / stored * 100))%" }
            lines.append("time in the store (MariaDB): " + parts.joined(separator: ", ") + " of \(String(format: "%.2f", stored)) s")
        }
        lines.append("duration: \(String(format: "%.3f", seconds)) s, \(String(format: "%.0f", rate)) requests/s")
        if let fit {
            var model = "cost model: \(String(format: "%.2f", fit.costPerRequest * 1e6)) µs/request + \(String(format: "%.2f", fit.overhead * 1e3)) ms/batch"
            if let error = medianPredictionError {
                model += ", median prediction error \(String(format: "%.1f", error * 100))% over \(predictionErrors.count) batches"
            }
            lines.append(model)
        }
        return lines.joined(separator: "\n")
    }
}

/// A request kind and its outcome (`done` or a rejection reason), without building the label's text.
private struct OutcomeKey: Hashable {
    let kind: RequestKind
    let rejection: RejectionReason?

    init(kind: RequestKind, outcome: RequestOutcome) {
        self.kind = kind
        if case .rejected(let reason) = outcome { rejection = reason } else { rejection = nil }
    }

    var label: String { rejection?.rawValue ?? "done" }
}
