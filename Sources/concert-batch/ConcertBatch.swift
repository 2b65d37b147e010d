import ArgumentParser
import BatchRunner
import ConcertCommandLine
import Foundation
import Logging
import MariaDBStore
import RedisStore
import ReservationCore
import Synchronization

@main
struct ConcertBatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert-batch",
        abstract: "Drain the request queues and run the bulk allocation pass against MariaDB.",
        discussion: """
            Configuration comes from the environment: CONCERT_REDIS_URL, CONCERT_MARIADB_URL, CONCERT_HOLD_SECONDS \
            (default 300), CONCERT_LOCK_LEASE_SECONDS (a queue's lease, default 10), CONCERT_METRICS_FILE \
            (Prometheus textfile, written after every run), CONCERT_LOG_LEVEL.
            Several processes may run at once, on one machine or many: each works on the queues whose lease it \
            holds and leaves the others.
            Exit codes: 0 done (also when every queue was held by another process, for run), 1 failure, 2 usage error.
            """,
        subcommands: [Run.self, Flush.self, Report.self]
    )

    static func main() { runCommandLine(ConcertBatch.self) }
}

struct PassOptions: ParsableArguments {
    @Option(help: "The batch time the cost model aims for, in milliseconds.")
    var targetBatchMs: Double = 250

    @Option(help: "Use this batch size instead of the cost model's choice (benchmarks compare against 1).")
    var batchSize: Int?

    @Option(help: "Largest batch the cost model may choose.")
    var maxBatchSize: Int = 50_000

    func validate() throws {
        guard targetBatchMs > 0 else { throw ValidationError("--target-batch-ms must be positive") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        guard maxBatchSize >= 50 else { throw ValidationError("--max-batch-size must be at least 50") }
    }

    func configuration() throws -> BatchConfiguration {
        var configuration: BatchConfiguration
        do { configuration = try BatchConfiguration.fromEnvironment() } catch { throw OperatorError("\(error)") }
        configuration.targetBatchSeconds = targetBatchMs / 1000
        configuration.fixedBatchSize = batchSize
        configuration.batchSizeBounds = 50...maxBatchSize
        return configuration
    }
}

extension ConcertBatch {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What cron or the systemd timer calls: one sweep over every live queue, then on until the queues are empty.",
            discussion: """
                With --budget S it goes on until S seconds have passed instead: when the queues are empty it waits for \
                new requests and wakes within milliseconds of one arriving; it takes no new batch once S is spent. \
                Queues another process holds are left to it; a run that can claim nothing exits 0 and says so.
                """
        )

        @Option(help: "Keep working (waiting for requests when the queues are empty) until this many seconds have passed.")
        var budget: Double?

        @OptionGroup var options: PassOptions

        func validate() throws {
            if let budget, !(budget >= 0) { throw ValidationError("--budget must not be negative") }
        }

        func run() throws {
            let logger = bootstrapLogging(label: "concert-batch")
            try runPass(.run(budgetSeconds: budget), configuration: options.configuration(), logger: logger, printSummary: false)
        }
    }

    struct Flush: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manual one-shot: drain every queue to empty, print a summary."
        )

        @Option(help: "Seconds to wait for queues another process is working on.")
        var lockTimeout: Double = 60

        @OptionGroup var options: PassOptions

        func validate() throws {
            guard lockTimeout >= 0 else { throw ValidationError("--lock-timeout must not be negative") }
        }

        func run() throws {
            let logger = bootstrapLogging(label: "concert-batch")
            try runPass(.flush(lockTimeoutSeconds: lockTimeout), configuration: options.configuration(), logger: logger, printSummary: true)
        }
    }
}

extension ConcertBatch {
    /// `report --html FILE [--since ISO8601]`: Sources/BatchRunner/Report (reads MariaDB only).
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one self-contained HTML report (inline SVG charts) about the batches since a time.",
            discussion: """
                Reads MariaDB only (CONCERT_MARIADB_URL): the batch history in batch_log, performance titles and \
                reservation states. Charts: batch size against batch time with the fitted line cost × n + overhead and its \
                residuals, requests decided per second, outcomes by kind and reason, holds → payments → expiries, and \
                the queues' oldest wait over time.
                """
        )

        @Option(help: "The HTML file to write (replaced atomically).")
        var html: String

        @Option(help: "Start of the period, ISO 8601 such as 2026-11-24T18:00:00Z (default: 24 hours ago).")
        var since: String?

        func validate() throws {
            if let since, Timestamp.parseISO8601(since) == nil {
                throw ValidationError("--since must be ISO 8601, e.g. 2026-11-24T18:00:00Z or 2026-11-24T19:00:00+01:00")
            }
            guard !html.isEmpty else { throw ValidationError("--html needs a file name") }
        }

        func run() throws {
            _ = bootstrapLogging(label: "concert-batch")
            let settings = EnvironmentSettings(ProcessInfo.processInfo.environment)
            let text = try settings.required("CONCERT_MARIADB_URL", hint: "e.g. mariadb://concert:pw@127.0.0.1:3306/concert")
            let url = try settings.parsed("CONCERT_MARIADB_URL", text, MariaDBURL.init(parsing:))
            let toMillis = Int64(Date().timeIntervalSince1970 * 1000)
            let fromMillis = since.flatMap(Timestamp.parseISO8601).map { $0 * 1000 } ?? toMillis - 86_400_000
            guard fromMillis < toMillis else { throw OperatorError("--since \(since ?? "") is in the future; pick a time before now") }
            let database: ReservationDatabase
            do {
                database = ReservationDatabase(connection: try MariaDBConnection(url: url))
            } catch {
                throw OperatorError("MariaDB at \(url.socket ?? "\(url.host):\(url.port)") is unreachable: \(error)")
            }
            let input: BatchReport.Input
            do {
                input = try BatchReport.read(database: database, fromMillis: fromMillis, toMillis: toMillis)
            } catch {
                throw OperatorError("could not read the batch history: \(error) (has `concert-admin migrate` run?)")
            }
            let written = try BatchReport.write(input, to: html)
            print("wrote \(html): \(written.batches) batches, \(written.decided) requests decided, "
                + "\(Timestamp.iso8601(seconds: fromMillis / 1000)) to \(Timestamp.iso8601(seconds: toMillis / 1000)), \(written.bytes / 1024) KiB")
        }
    }
}

/// Set by SIGTERM or SIGINT (systemd stopping the unit, an operator's Ctrl-C): the pass stops after the batch it is
/// on, publishes what it committed and gives its leases back, instead of dying with work in flight.
let stopRequested = Atomic<Bool>(false)

func stopOnTerminationSignals() {
    for signalNumber in [SIGTERM, SIGINT] {
        signal(signalNumber) { _ in stopRequested.store(true, ordering: .relaxed) }
    }
}

/// Runs one pass and always writes the metrics file afterwards, also after a failure (then with the failure
/// counted and the last-success time unchanged); a metrics problem is logged, never fails the pass.
func runPass(_ mode: BatchPass.Mode, configuration: BatchConfiguration, logger: Logger, printSummary: Bool) throws {
    let started = Date()
    var configuration = configuration
    stopOnTerminationSignals()
    configuration.shouldStop = { stopRequested.load(ordering: .relaxed) }
    var pass: BatchPass?
    var outcome: Result<BatchPass.Result, any Error>
    var written: PassSummary?  // what the metrics file has of this run already
    do {
        let created = try BatchPass(configuration: configuration, logger: logger)
        pass = created
        var lastProgress = Date()
        created.onBatch = { summary in
            guard printSummary, Date().timeIntervalSince(lastProgress) >= 2 else { return }
            lastProgress = Date()
            let rate = Double(summary.decided + summary.replayed) / max(Date().timeIntervalSince(started), 0.001)
            FileHandle.standardError.write(Data(
                "flush: \(summary.decided + summary.replayed) requests in \(summary.batches) batches, \(Int(rate)) requests/s\n".utf8
            ))
        }
        // During a long run (the timer's 55 s), the metrics file is written every 15 s too: queue gauges stay fresh
        // and the staleness alert sees a working pass.
        created.onCheckpoint = { pass in
            guard let path = configuration.metricsFile else { return }
            do {
                try MetricsFile(path: path).write(
                    summary: pass.currentSummary, since: written, at: .checkpoint, model: pass.costModel,
                    queues: try pass.queueGauges(), now: Date().timeIntervalSince1970
                )
                written = pass.currentSummary
            } catch {
                logger.error("could not write the metrics file", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
        outcome = .success(try created.execute(mode))
    } catch {
        outcome = .failure(error)
    }

    let duration = Date().timeIntervalSince(started)
    // A run that claimed nothing did nothing: the processes that hold the queues write the file.
    let claimedNothing: Bool = if case .success(.claimedNothing) = outcome { true } else { false }
    if let path = configuration.metricsFile, !claimedNothing {
        do {
            let failed: Bool = if case .failure = outcome { true } else { false }
            // After a failure the queue gauges may be unreadable (the server that failed); the file then keeps
            // the last known values rather than dropping the series the alerts watch.
            let gauges: [MetricsFile.QueueGauge]?
            do { gauges = try pass?.queueGauges() } catch {
                logger.warning("queue gauges unreadable; the metrics file keeps their last values", metadata: ["error": "\(error)"])
                gauges = nil
            }
            try MetricsFile(path: path).write(
                summary: pass?.currentSummary, since: written, at: .runEnded(failed: failed, durationSeconds: duration),
                model: pass?.costModel, queues: gauges, now: Date().timeIntervalSince1970
            )
        } catch {
            logger.error("could not write the metrics file", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    switch outcome {
    case .failure(let error):
        logger.error("pass failed", metadata: ["error": "\(error)"])
        throw OperatorError("\(error)")
    case .success(.claimedNothing(let summary)):
        logger.notice("claimed nothing: every live queue is held by another process; exiting 0", metadata: [
            "queues": "\(summary.queuesHeldElsewhere.map(\.tag).sorted().joined(separator: ","))",
        ])
        if printSummary { print("claimed nothing: every live queue is held by another process") }
    case .success(.completed(let summary)):
        // `run` prints no text summary (its stdout is one JSON object per line for the journal), so this line is
        // its summary: it carries the same counts as flush's text, money included.
        logger.info("pass done", metadata: [
            "requests": "\(summary.decided)", "replayed": "\(summary.replayed)", "batches": "\(summary.batches)",
            "expired": "\(summary.expired)", "internal_errors": "\(summary.internalErrors)",
            "queues": "\(summary.queuesWorked.count)", "seconds": "\(String(format: "%.3f", summary.seconds))",
            "payments": "\(summary.outcomes[.pay]?["done"] ?? 0)",
            "cancellations": "\(summary.outcomes[.cancel]?["done"] ?? 0)",
            "money.charges": "\(summary.money[.charge] ?? 0)",
            "money.payments": "\(summary.money[.payment] ?? 0)",
            "money.refunds": "\(summary.money[.refund] ?? 0)",
        ])
        if printSummary { print(summary.text) }
        if summary.queueFailures > 0 {
            throw OperatorError("\(summary.queueFailures) queue visits failed (the log has each queue and error); the other queues were drained")
        }
    }
}
