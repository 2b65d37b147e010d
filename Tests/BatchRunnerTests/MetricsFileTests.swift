import Foundation
import Testing
@testable import BatchRunner
import ReservationCore

/// The Prometheus textfile: counters carry on across runs, checkpoints and processes sharing one machine's file.
@Suite("Metrics file")
struct MetricsFileTests {
    static func file() -> MetricsFile {
        MetricsFile(path: FileManager.default.temporaryDirectory
            .appendingPathComponent("concert-metrics-\(UUID().uuidString)/concert_batch.prom").path)
    }

    static func values(_ file: MetricsFile) throws -> [String: Double] {
        MetricsFile.parse(try String(contentsOfFile: file.path, encoding: .utf8))
    }

    static func summary(reserves: Int, batches: Int) -> PassSummary {
        var summary = PassSummary()
        summary.outcomes[.reserve] = ["done": reserves]
        summary.batches = batches
        return summary
    }

    @Test("a checkpoint and the run's end add the run's counts once")
    func checkpointThenEnd() throws {
        let file = Self.file()
        let early = Self.summary(reserves: 10, batches: 2)
        try file.write(summary: early, since: nil, at: .checkpoint, model: nil, queues: [], now: 100)
        var values = try Self.values(file)
        #expect(values[#"concert_batch_requests_total{kind="reserve",outcome="done"}"#] == 10)
        #expect(values["concert_batch_last_success_timestamp_seconds"] == 100)
        #expect(values[#"concert_batch_runs_total{result="success"}"#] == 0, "a checkpoint is not a run")

        let late = Self.summary(reserves: 25, batches: 5)
        try file.write(summary: late, since: early, at: .runEnded(failed: false, durationSeconds: 3), model: nil, queues: [], now: 103)
        values = try Self.values(file)
        #expect(values[#"concert_batch_requests_total{kind="reserve",outcome="done"}"#] == 25)
        #expect(values["concert_batch_batches_total"] == 5)
        #expect(values[#"concert_batch_runs_total{result="success"}"#] == 1)
        #expect(values["concert_batch_last_run_duration_seconds"] == 3)
    }

    @Test("two processes of one machine writing the file at once: both runs' counts are kept")
    func concurrentWriters() async throws {
        let file = Self.file()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    for round in 1...50 {
                        try? file.write(
                            summary: Self.summary(reserves: round, batches: round), since: Self.summary(reserves: round - 1, batches: round - 1),
                            at: .checkpoint, model: nil, queues: [], now: Double(round)
                        )
                    }
                }
            }
        }
        let values = try Self.values(file)
        #expect(values[#"concert_batch_requests_total{kind="reserve",outcome="done"}"#] == 100)
        #expect(values["concert_batch_batches_total"] == 100)
    }

    @Test("a failed run keeps the last success and counts a failure")
    func failedRun() throws {
        let file = Self.file()
        try file.write(summary: Self.summary(reserves: 1, batches: 1), since: nil, at: .runEnded(failed: false, durationSeconds: 1),
                       model: nil, queues: [MetricsFile.QueueGauge(performanceID: 7, depth: 3, oldestAgeSeconds: 2)], now: 50)
        try file.write(summary: nil, since: nil, at: .runEnded(failed: true, durationSeconds: 2), model: nil, queues: nil, now: 60)
        let values = try Self.values(file)
        #expect(values["concert_batch_last_success_timestamp_seconds"] == 50)
        #expect(values["concert_batch_last_run_success"] == 0)
        #expect(values[#"concert_batch_runs_total{result="failure"}"#] == 1)
        #expect(values[#"concert_queue_depth{performance="7"}"#] == 3, "unreadable gauges keep their last values")
    }
}
