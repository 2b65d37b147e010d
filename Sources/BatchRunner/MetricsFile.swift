import Foundation
import ReservationCore

/// The Prometheus textfile the node_exporter textfile collector reads, replaced atomically (temporary file in
/// the same folder, then rename) after every run, failed ones included, and every 15 s during a long run.
///
/// Counters (`_total`) must keep growing across runs of a one-shot job, so the previous file is the state:
/// its counter values are read back and what this run counted since its last write is added. Several batch
/// processes of one machine share the file, so each read-modify-write holds an exclusive lock (`<file>.lock`).
/// If the file is lost, the counters restart from zero, which Prometheus's `rate()` treats as an ordinary
/// counter reset.
public struct MetricsFile: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public struct QueueGauge: Sendable {
        public var performanceID: Int64
        public var depth: Int
        public var oldestAgeSeconds: Double
        public init(performanceID: Int64, depth: Int, oldestAgeSeconds: Double) {
            self.performanceID = performanceID
            self.depth = depth
            self.oldestAgeSeconds = oldestAgeSeconds
        }
    }

    /// When the file is written: during a run (a checkpoint: the pass is alive and working), or at its end.
    public enum Moment: Sendable {
        case checkpoint
        case runEnded(failed: Bool, durationSeconds: Double)
    }

    /// Writes the file. `summary` is what this run has counted so far (nil for a run that failed before it counted
    /// anything) and `written` what an earlier write of this run already added; `model` nil or without a fit, and
    /// `queues` nil, keep the previous file's values.
    public func write(summary: PassSummary?, since written: PassSummary?, at moment: Moment, model: BatchCostModel?,
                      queues: [QueueGauge]?, now: Double) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let lock = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard lock >= 0 else {
            throw OperatorError("cannot open \(path).lock: \(String(cString: strerror(errno)))")
        }
        defer { close(lock) }  // closing releases the lock
        guard flock(lock, LOCK_EX) == 0 else {
            throw OperatorError("cannot lock \(path).lock: \(String(cString: strerror(errno)))")
        }
        let previous = (try? String(contentsOfFile: path, encoding: .utf8)).map(Self.parse) ?? [:]
        func total(_ key: String, adding value: Double) -> Double { (previous[key] ?? 0) + value }
        func added(_ value: (PassSummary) -> Int) -> Double {
            Double((summary.map(value) ?? 0) - (written.map(value) ?? 0))
        }
        let ended: (failed: Bool, seconds: Double)? = if case .runEnded(let failed, let seconds) = moment { (failed, seconds) } else { nil }
        let failed = ended?.failed ?? false

        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name)\(labels) \(Self.format(value))\n" }
        }

        let lastSuccess = failed ? (previous["concert_batch_last_success_timestamp_seconds"] ?? 0) : now
        metric("concert_batch_last_success_timestamp_seconds", "gauge",
               "When a run last ended successfully, or a running pass last checked in (every 15 s) (Unix seconds).",
               [("", lastSuccess)])
        metric("concert_batch_last_run_timestamp_seconds", "gauge", "When the last run ended, successful or not (Unix seconds).",
               [("", ended == nil ? previous["concert_batch_last_run_timestamp_seconds"] ?? 0 : now)])
        metric("concert_batch_last_run_duration_seconds", "gauge", "How long the last run took.",
               [("", ended?.seconds ?? previous["concert_batch_last_run_duration_seconds"] ?? 0)])
        metric("concert_batch_last_run_success", "gauge", "1 if the last run succeeded, else 0.",
               [("", ended.map { $0.failed ? 0 : 1 } ?? previous["concert_batch_last_run_success"] ?? 1)])
        metric("concert_batch_runs_total", "counter", "Runs, by result.", [
            ("{result=\"success\"}", total("concert_batch_runs_total{result=\"success\"}", adding: ended != nil && !failed ? 1 : 0)),
            ("{result=\"failure\"}", total("concert_batch_runs_total{result=\"failure\"}", adding: failed ? 1 : 0)),
        ])

        // Every kind × outcome the run saw, plus every series the file already had, so none disappears.
        var requestSeries: [String: Double] = [:]
        for (key, value) in previous where key.hasPrefix("concert_batch_requests_total{") { requestSeries[key] = value }
        for (kind, byOutcome) in summary?.outcomes ?? [:] {
            for (outcome, count) in byOutcome {
                let before = written?.outcomes[kind]?[outcome] ?? 0
                requestSeries["concert_batch_requests_total{kind=\"\(kind.rawValue)\",outcome=\"\(outcome)\"}", default: 0] += Double(count - before)
            }
        }
        metric("concert_batch_requests_total", "counter", "Requests decided by the batch pass, by kind and outcome (done or a rejection reason).",
               requestSeries.sorted { $0.key < $1.key }.map { (String($0.key.dropFirst("concert_batch_requests_total".count)), $0.value) })
        metric("concert_batch_batches_total", "counter", "Batches committed.",
               [("", total("concert_batch_batches_total", adding: added(\.batches)))])
        metric("concert_batch_holds_expired_total", "counter", "Holds expired by the pass.",
               [("", total("concert_batch_holds_expired_total", adding: added(\.expired)))])
        metric("concert_batch_queue_failures_total", "counter",
               "Queue visits that failed (logged with the queue and the error); the pass went on with the other queues.",
               [("", total("concert_batch_queue_failures_total", adding: added(\.queueFailures)))])
        metric("concert_batch_batch_size", "gauge", "Size of the last batch of the last run.", [("", Double(summary?.lastBatchSize ?? 0))])

        let fit = model?.fit
        metric("concert_batch_cost_per_request_seconds", "gauge", "Fitted cost per request (batch time = cost per request * batch size + overhead).",
               [("", fit?.costPerRequest ?? previous["concert_batch_cost_per_request_seconds"] ?? 0)])
        metric("concert_batch_overhead_seconds", "gauge", "Fitted fixed cost per batch (batch time = cost per request * batch size + overhead).",
               [("", fit?.overhead ?? previous["concert_batch_overhead_seconds"] ?? 0)])
        if let error = summary?.medianPredictionError {
            metric("concert_batch_prediction_error_ratio", "gauge", "Median relative error of the model's predicted batch time in the last run.",
                   [("", error)])
        }

        func previousSeries(_ name: String) -> [(String, Double)] {
            previous.filter { $0.key.hasPrefix(name + "{") }.sorted { $0.key < $1.key }
                .map { (String($0.key.dropFirst(name.count)), $0.value) }
        }
        metric("concert_queue_depth", "gauge", "Requests waiting, per performance not yet started.",
               queues?.map { ("{performance=\"\($0.performanceID)\"}", Double($0.depth)) } ?? previousSeries("concert_queue_depth"))
        metric("concert_queue_oldest_age_seconds", "gauge", "Age of the oldest waiting request, per performance not yet started (0 when empty).",
               queues?.map { ("{performance=\"\($0.performanceID)\"}", $0.oldestAgeSeconds) }
                   ?? previousSeries("concert_queue_oldest_age_seconds"))

        // Leftovers of runs killed mid-write (not *.prom, so the collector ignores them, but they pile up); no other
        // process writes now (we hold the lock).
        let base = (path as NSString).lastPathComponent
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
        where name.hasPrefix(base + ".tmp.") {
            try? FileManager.default.removeItem(atPath: (directory.isEmpty ? "." : directory) + "/" + name)
        }
        let temporary = path + ".tmp.\(getpid())"
        try out.write(toFile: temporary, atomically: false, encoding: .utf8)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw OperatorError("cannot replace the metrics file \(path): \(reason)")
        }
    }

    /// `series → value` of a text exposition (comments skipped).
    static func parse(_ text: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        return values
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
