import Foundation
import MariaDBStore
import RedisStore
import ReservationCore
import Testing

extension IntegrationSuite {
    /// One owner per queue, fenced: processes paused past their lease, killed, or running side by side never
    /// decide a request twice, and a run costs what the live queues cost.
    @Suite(.serialized) struct Ownership {
        /// 200 reservations for one performance, 150 of them queued in the general queue (as the ingest does before
        /// it knows a performance), so the stalled owner is caught with forwards in flight too.
        static func stallWorkload(performance: Int64) -> [QueuedRequest] {
            var random = SplitMix64(state: 1_001)
            return (0..<200).map { index in
                let queue: QueueName = index % 4 == 0 ? .performance(performance) : .general
                return QueuedRequest(
                    id: RequestID(queue: queue, random: (random.next(), random.next())), kind: .reserve,
                    userID: Int64(index % 60 + 1), performanceID: performance,
                    seatIDs: [Int64(index % 100 + 1)], acceptedAtMillis: 1
                )
            }
        }

        /// After a stall: every request has exactly one outcome in MariaDB and one matching terminal status in
        /// Redis, no queue holds an entry twice or has work left, and `verify` is clean.
        static func expectDecidedOnce(_ requests: [QueuedRequest]) throws {
            try expectDecidedOnce(ids: requests.map(\.id))
        }

        static func expectDecidedOnce(ids: [RequestID]) throws {
            let db = try Stack.database()
            let twice = try db.query("SELECT request_id, COUNT(*) FROM request_outcomes GROUP BY request_id HAVING COUNT(*) > 1")
            #expect(twice.isEmpty, "decided twice: \(twice.prefix(5))")
            #expect(try db.query("SELECT COUNT(*) FROM request_outcomes").first?.first?.int == Int64(ids.count))
            let recorded = Dictionary(uniqueKeysWithValues: try db.query("SELECT request_id, status_json FROM request_outcomes")
                .compactMap { row in row[0].text.flatMap(RequestID.init).map { ($0, row[1].text ?? "") } })
            var mismatched = 0
            for (id, status) in try Stack.statuses(ids) {
                guard case .final(_, let json) = status, json == recorded[id] else { mismatched += 1; continue }
            }
            #expect(mismatched == 0, "statuses that disagree with MariaDB")
            #expect(try Stack.requestsLeftInQueues() == 0)
            #expect(try Stack.doubleBookedSeats() == 0)
            try Stack.run("concert-admin", ["verify"]).requireSuccess()
        }

        /// Owner A is paused (SIGSTOP) in the middle of its work with a 1 s lease; B takes the queues over and
        /// drains them; then A is resumed, wakes believing it owns them, and every write it tries is refused.
        /// Queues the stall workload and starts owner A (1 s lease, batches of 3); returns once A has decided some.
        static func startOwnerA() async throws -> (requests: [QueuedRequest], a: Stack.RunningProcess) {
            try Stack.reset()
            let performance = try Stack.createPerformance(seats: 100)
            let requests = Self.stallWorkload(performance: performance)
            #expect(try BulkIntake(redis: try Stack.redis()).enqueue(requests) == 200)
            let a = try Stack.start("concert-batch", ["flush", "--batch-size", "3"], environment: lease)
            try await Stack.waitForOutcomes(atLeast: 12)
            return (requests, a)
        }

        static let lease = ["CONCERT_LOCK_LEASE_SECONDS": "1"]

        @Test func ownerPausedPastItsLeaseDecidesNothingTwice() async throws {
            let (requests, a) = try await Self.startOwnerA()
            let environment = Self.lease
            defer { a.kill(SIGCONT) }  // never leave a paused process holding locks behind a failed expectation
            a.kill(SIGSTOP)
            try await Task.sleep(for: .milliseconds(1_500))
            let b = try Stack.run("concert-batch", ["flush", "--lock-timeout", "30"], environment: environment)
            try b.requireSuccess()
            a.kill(SIGCONT)
            let resumed = a.wait()
            #expect(resumed.stdout.contains("lost the queue to a newer owner"), "A was caught mid-work: \(resumed.stdout.suffix(3000))")
            try Self.expectDecidedOnce(requests)
        }

        /// Owner A stalls inside its batch transaction (a table lock holds its INSERT of the batch record) past its
        /// lease. B ends A's open transaction (KILL) to claim the queue's fence row, and A's retry is refused by it.
        @Test func ownerStalledInsideItsTransactionIsEnded() async throws {
            let (requests, a) = try await Self.startOwnerA()
            let environment = Self.lease
            let lock = try Stack.database()
            try lock.executeScript("LOCK TABLES batch_outcomes WRITE")
            defer { try? lock.executeScript("UNLOCK TABLES") }
            try await Task.sleep(for: .milliseconds(1_500))
            let b = try Stack.start("concert-batch", ["flush", "--lock-timeout", "30"], environment: environment)
            try await Task.sleep(for: .milliseconds(4_000))
            try lock.executeScript("UNLOCK TABLES")
            try b.wait().requireSuccess()
            let stalled = a.wait()
            #expect(stalled.stdout.contains("lost the queue to a newer owner"), "A was stalled in its transaction: \(stalled.stdout.suffix(3000))")
            try Self.expectDecidedOnce(requests)
        }

        /// Three runners at once over 50,000 mixed requests on 8 performances (reserves, some through the general
        /// queue, charges, then pays and cancels), each restarted as cron would, with random SIGKILLs and
        /// SIGSTOP/SIGCONT: every request decided once, verify clean, and every runner committed batches.
        @Test func threeRunnersWithKillsAndPauses() async throws {
            try Stack.reset()
            var performances: [Int64] = []
            for _ in 0..<8 { performances.append(try Stack.createPerformance(seats: 2_000, price: 5_000)) }
            var random = SplitMix64(state: 3_003)
            func id(_ queue: QueueName) -> RequestID { RequestID(queue: queue, random: (random.next(), random.next())) }
            var phase1: [QueuedRequest] = []
            for index in 0..<35_000 {
                let user = Int64.random(in: 1...6_000, using: &random)
                if index % 7 == 6 {
                    phase1.append(QueuedRequest(id: id(.general), kind: .charge, userID: user, amount: 20_000, acceptedAtMillis: 1))
                    continue
                }
                let performance = performances[Int.random(in: 0..<8, using: &random)]
                let seat = Int64.random(in: 1...2_000, using: &random)
                phase1.append(QueuedRequest(
                    id: id(index % 10 == 0 ? .general : .performance(performance)), kind: .reserve, userID: user,
                    performanceID: performance, seatIDs: [seat], acceptedAtMillis: 1
                ))
            }
            let redis = try Stack.redis()
            try BulkIntake(redis: redis).enqueue(phase1)
            let runners = try RunnerChaos(slots: 3)
            try await runners.run(seconds: 14, seed: 1)

            let held = try Stack.database().query("SELECT id, user_id FROM reservations ORDER BY id")
            #expect(held.count > 1_000)
            var phase2: [QueuedRequest] = []
            for index in 0..<15_000 {
                let row = held[Int.random(in: 0..<held.count, using: &random)]
                let reservation = row[0].int ?? 0
                phase2.append(QueuedRequest(
                    id: id(.general), kind: index % 3 == 0 ? .cancel : .pay, userID: row[1].int ?? 0,
                    reservationID: reservation, acceptedAtMillis: 1
                ))
            }
            try BulkIntake(redis: redis).enqueue(phase2)
            try await runners.run(seconds: 10, seed: 2)
            try Stack.run("concert-batch", ["flush", "--lock-timeout", "30"]).requireSuccess()

            try Self.expectDecidedOnce(phase1 + phase2)
            print("ownership: 3 runners over \(phase1.count + phase2.count) requests: \(runners.kills) SIGKILLs, "
                + "\(runners.pauses) SIGSTOP/SIGCONT, batches committed per runner \(try runners.batchesCommitted())")
            for (slot, batches) in try runners.batchesCommitted().enumerated() {
                #expect(batches > 0, "runner \(slot) committed batches")
            }
            let outcomes = Set(try Stack.database().query("SELECT DISTINCT CONCAT(kind, ' ', outcome) FROM request_outcomes")
                .compactMap { $0.first?.text })
            for expected in ["reserve done", "reserve SEAT_TAKEN", "charge done", "pay done", "cancel done"] {
                #expect(outcomes.contains(expected), "outcomes include \(expected): \(outcomes.sorted())")
            }
        }

        /// A `run` on empty queues costs what the live queues cost, not the platform's history: with 30 past
        /// performances of 20,000 seats (sold, their queues registered) it takes no more than twice the time and
        /// memory of the same run with one.
        @Test func emptyRunCostsTheLiveWorkNotTheHistory() async throws {
            try Stack.reset()
            let first = try Stack.createPerformance(seats: 20_000)
            try BulkIntake(redis: try Stack.redis()).enqueue(CrashRecovery.requests(count: 500, seats: 20_000, users: 400, performance: first, seed: 5))
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            let one = try Self.measureEmptyRuns()

            let db = try Stack.database()
            var past: [Int64] = []
            for index in 0..<30 {
                try db.execute("INSERT INTO performances (title, starts_at, seat_count) VALUES (?, ?, 20000)",
                               [.text("Past \(index)"), .int(Int64(Date().timeIntervalSince1970) + 86_400)])
                let id = db.lastInsertID
                try db.execute("INSERT INTO seats (performance_id, seat_id, label, price) SELECT ?, seat_id, label, price FROM seats WHERE performance_id = ?",
                               [.int(id), .int(first)])
                past.append(id)
            }
            var requests: [QueuedRequest] = []
            for (index, performance) in past.enumerated() {
                requests += CrashRecovery.requests(count: 300, seats: 20_000, users: 250, performance: performance, seed: UInt64(index))
            }
            try BulkIntake(redis: try Stack.redis()).enqueue(requests)
            try Stack.run("concert-batch", ["flush"]).requireSuccess()
            // They have begun: history now, with their holds and registered queues.
            try db.execute("UPDATE performances SET starts_at = ? WHERE id <> ?", [.int(Int64(Date().timeIntervalSince1970) - 60), .int(first)])
            let thirtyOne = try Self.measureEmptyRuns()

            print("ownership: empty run with 1 performance \(one.seconds) s, \(one.kilobytes) KiB; "
                + "with 31 (30 past, 20,000 seats each) \(thirtyOne.seconds) s, \(thirtyOne.kilobytes) KiB")
            #expect(thirtyOne.seconds <= one.seconds * 2 + 0.05, "empty run: \(one.seconds) s with one performance, \(thirtyOne.seconds) s with 31")
            #expect(thirtyOne.kilobytes <= one.kilobytes * 2, "peak RSS: \(one.kilobytes) KiB with one performance, \(thirtyOne.kilobytes) KiB with 31")
        }

        /// The median wall time and peak RSS of five `run`s on empty queues, from /usr/bin/time.
        static func measureEmptyRuns() throws -> (seconds: Double, kilobytes: Double) {
            var samples: [(Double, Double)] = []
            for _ in 0..<5 {
                let result = try Stack.runTimed("concert-batch", ["run"])
                try result.process.requireSuccess()
                samples.append((result.seconds, result.kilobytes))
            }
            let seconds = samples.map(\.0).sorted()[2]
            let kilobytes = samples.map(\.1).sorted()[2]
            return (seconds, kilobytes)
        }
    }
}

/// Runner slots as cron or a timer would keep them: each slot runs `concert-batch run --budget 3` again and again,
/// while a chaos loop SIGKILLs or pauses (SIGSTOP, then SIGCONT 1–3 s later) a random one now and then. Each slot
/// writes its own metrics file, so what it committed survives its kills.
final class RunnerChaos: @unchecked Sendable {  // used from one test task at a time
    let metrics: [URL]
    private(set) var kills = 0
    private(set) var pauses = 0

    init(slots: Int) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("concert-runners-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        metrics = (0..<slots).map { folder.appendingPathComponent("runner-\($0).prom") }
    }

    func run(seconds: Double, seed: UInt64) async throws {
        var random = SplitMix64(state: seed)
        let environment = ["CONCERT_LOCK_LEASE_SECONDS": "2"]
        var running: [Stack.RunningProcess?] = Array(repeating: nil, count: metrics.count)
        var paused: [Int: ContinuousClock.Instant] = [:]
        let clock = ContinuousClock()
        let end = clock.now + .seconds(seconds)
        while clock.now < end {
            for slot in running.indices where running[slot] == nil || !running[slot]!.process.isRunning {
                running[slot] = try Stack.start("concert-batch", ["run", "--budget", "3", "--batch-size", "500"],
                                                environment: environment.merging(["CONCERT_METRICS_FILE": metrics[slot].path]) { $1 })
            }
            for (slot, until) in paused where clock.now >= until {
                running[slot]?.kill(SIGCONT)
                paused[slot] = nil
            }
            let slot = Int.random(in: 0..<running.count, using: &random)
            switch Int.random(in: 0..<10, using: &random) {
            case 0 where paused[slot] == nil:
                running[slot]?.kill(SIGKILL)
                kills += 1
                _ = running[slot]?.wait()
                running[slot] = nil
            case 1 where paused[slot] == nil:
                running[slot]?.kill(SIGSTOP)
                pauses += 1
                paused[slot] = clock.now + .milliseconds(Int.random(in: 1_000...3_000, using: &random))
            default:
                break
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        for (slot, _) in paused { running[slot]?.kill(SIGCONT) }
        for process in running.compactMap({ $0 }) { _ = process.wait() }
    }

    /// `concert_batch_batches_total` of each slot's metrics file.
    func batchesCommitted() throws -> [Double] {
        try metrics.map { file in
            let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n").first { $0.hasPrefix("concert_batch_batches_total ") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
    }
}
