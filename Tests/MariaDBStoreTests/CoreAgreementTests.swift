import Foundation
import Synchronization
import MariaDBStore
import ReservationCore
import Testing
import TestSupport

/// The differential test of the pure core against the real write path: random sequences of reserves, pays,
/// cancels and charges (with the clock moving past hold deadlines and performance starts) over tiny halls and
/// few users, so seats and users collide all the time. Each sequence is decided twice — by `Allocator` over a
/// state kept in memory, and through `ReservationDatabase.commit` into MariaDB — in random batch splits, with
/// the queues interleaved as the pass and the ingest would, forwards included. After every batch MariaDB's state
/// (live seats, holds and deadlines, reservations, balances, ledger) must equal the core's, the outcomes must be
/// the same, and no commit may be refused. Batches handed out again must replay, never decide twice.
///
/// Runs in its own schema (`concert_diff`, made by ./deploy/local-stack). `CONCERT_DIFF_SEQUENCES` sets how many
/// sequences (default 2,000); a failure prints its seed, and `CONCERT_DIFF_SEED=<seed>` replays that one alone.
@Suite("The core and MariaDB agree", .serialized)
struct CoreAgreementTests {
    @Test("random sequences decided by the core and committed through MariaDB in random batch splits")
    func randomSequences() throws {
        let environment = ProcessInfo.processInfo.environment
        let replay = environment["CONCERT_DIFF_SEED"].flatMap { UInt64($0) }
        let count = replay == nil ? (environment["CONCERT_DIFF_SEQUENCES"].flatMap { Int($0) } ?? 2_000) : 1
        var diffURL = try TestDatabase.url()
        diffURL.database = "concert_diff"
        let url = diffURL
        try DifferentialWorld.prepare(ReservationDatabase(connection: try MariaDBConnection(url: url)))

        // Sequences share nothing but the general queue, so several run at once, each on its own connection:
        // commits wait on the disk, and concurrent ones share its flushes.
        let workers = min(4, count)
        let tally = Mutex(Tally())
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            do {
                let database = ReservationDatabase(connection: try MariaDBConnection(url: url))
                for index in stride(from: worker, to: count, by: workers) {
                    let seed = replay ?? (0xC0FFEE &+ UInt64(index) &* 7_919)
                    var world = try DifferentialWorld(database: database, seed: seed)
                    do {
                        try world.run()
                    } catch {
                        tally.withLock { $0.failures.append("sequence with seed \(seed) failed: \(error)") }
                        return
                    }
                    tally.withLock {
                        $0.sequences += 1
                        $0.batches += world.batches
                        $0.requests += world.requestCount
                    }
                    if tally.withLock({ !$0.failures.isEmpty }) { return }
                }
            } catch {
                tally.withLock { $0.failures.append("worker \(worker) could not run: \(error)") }
            }
        }
        let result = tally.withLock { $0 }
        for failure in result.failures {
            Issue.record("\(failure)\nreplay it alone: CONCERT_DIFF_SEED=<seed> ./deploy/test --filter CoreAgreementTests")
        }
        let seconds = Date().timeIntervalSince(started)
        print("core agreement: \(result.sequences) sequences, \(result.requests) requests, \(result.batches) batches committed, "
            + "\(String(format: "%.1f", seconds)) s")
        #expect(result.sequences == count)
        #expect(result.batches > count, "every sequence committed batches")
    }

    struct Tally: Sendable {
        var sequences = 0
        var batches = 0
        var requests = 0
        var failures: [String] = []
    }
}

/// The state MariaDB should hold, kept by applying the core's decisions in memory.
private struct Model {
    var inventories: [Int64: PerformanceInventory] = [:]
    var reservations: [Int64: Reservation] = [:]
    var balances: [Int64: Int64] = [:]
    var ledger: [LedgerEntry] = []
}

private struct Mismatch: Error, CustomStringConvertible {
    let description: String
}

/// One random sequence: its two performances, its users, the queues as Redis would hold them, and both worlds.
private struct DifferentialWorld {
    static let holdSeconds: Int64 = 60

    let database: ReservationDatabase
    var random: SplitMix64
    let performances: [Int64]
    let starts: [Int64: Int64]
    let users: [Int64]
    var clockMillis: Int64
    var model = Model()
    /// The inventories the database side carries between batches (sometimes reloaded, as a new owner would).
    var carried: [Int64: PerformanceInventory] = [:]
    var queues: [QueueName: [QueuedRequest]] = [:]
    var numbers: [QueueName: Int64] = [:]
    var batches = 0
    var requestCount = 0
    /// Every performance of every sequence in this schema shares the general queue: its fence is claimed once.
    static let generalFence: Int64 = 1

    static func prepare(_ database: ReservationDatabase) throws {
        let sqlDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../sql").standardized
        _ = try Migrator(connection: database.connection).apply(try Migrator.migrations(in: sqlDirectory))
        try database.connection.executeScript("""
            SET FOREIGN_KEY_CHECKS = 0;
            TRUNCATE reservation_seats; TRUNCATE reservations; TRUNCATE seats; TRUNCATE performances;
            TRUNCATE batch_outcomes; TRUNCATE ledger; TRUNCATE balances; TRUNCATE queue_fences; TRUNCATE forwarded_requests;
            UPDATE id_blocks SET next_id = 1 WHERE name = 'reservation';
            SET FOREIGN_KEY_CHECKS = 1;
            """)
        try database.claimFence(queue: .general, token: generalFence, holder: "differential test")
    }

    init(database: ReservationDatabase, seed: UInt64) throws {
        self.database = database
        random = SplitMix64(state: seed)
        clockMillis = 1_800_000_000_000 + Int64.random(in: 0..<1_000_000, using: &random)
        var performances: [Int64] = []
        var starts: [Int64: Int64] = [:]
        for seats in [6, 4] {
            // The second performance begins part-way through some sequences: reserves after that are refused.
            let startsAt = seats == 4 && Bool.random(using: &random)
                ? clockMillis / 1000 + Int64.random(in: 20...400, using: &random)
                : clockMillis / 1000 + 86_400
            let id = try database.createPerformance(title: "diff", startsAt: startsAt, seats: seats, price: 100 + Int64(seats), sections: 1)
            performances.append(id)
            starts[id] = startsAt
            try database.claimFence(queue: .performance(id), token: 1, holder: "differential test")
        }
        self.performances = performances
        self.starts = starts
        let firstUser = Int64(performances[0]) * 10
        users = (1...3).map { firstUser + $0 }
        for id in performances {
            model.inventories[id] = try database.loadInventory(performance: id)
            carried[id] = model.inventories[id]
        }
    }

    mutating func run() throws {
        let length = Int.random(in: 8...60, using: &random)
        var generated = 0
        while generated < length || queues.values.contains(where: { !$0.isEmpty }) {
            if generated < length, queues.values.allSatisfy(\.isEmpty) || Int.random(in: 0..<3, using: &random) > 0 {
                enqueue(makeRequest())
                generated += 1
            } else {
                try processBatch()
            }
        }
        // The clock runs past every deadline; an empty pass over each performance expires what is left.
        clockMillis += (Self.holdSeconds + 5) * 1000
        for performance in performances { try commit(.performance(performance), taking: 0) }
    }

    // MARK: Requests, as the ingest would route them

    mutating func makeRequest() -> QueuedRequest {
        clockMillis += Int64.random(in: 0...100, using: &random) < 8
            ? Int64.random(in: 30_000...90_000, using: &random)  // now and then, long enough for holds to lapse
            : Int64.random(in: 0...3_000, using: &random)
        let user = users.randomElement(using: &random)!
        let id = RequestID(queue: .general, random: (random.next(), random.next()))
        let known = Array(model.reservations.keys).sorted()
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<4:
            let performance = performances.randomElement(using: &random)!
            let hall = Int64(model.inventories[performance]!.prices.count)
            let seats = (0..<Int.random(in: 1...3, using: &random)).map { _ in Int64.random(in: 1...(hall + 1), using: &random) }
            return QueuedRequest(id: id, kind: .reserve, userID: user, performanceID: performance,
                                 seatIDs: seats, acceptedAtMillis: clockMillis)
        case 4..<6 where !known.isEmpty:
            return QueuedRequest(id: id, kind: .pay, userID: Bool.random(using: &random) ? model.reservations[known.randomElement(using: &random)!]!.userID : user,
                                 reservationID: known.randomElement(using: &random)!, acceptedAtMillis: clockMillis)
        case 6..<8 where !known.isEmpty:
            return QueuedRequest(id: id, kind: .cancel, userID: user,
                                 reservationID: Int.random(in: 0..<8, using: &random) == 0 ? 999_999_999 : known.randomElement(using: &random)!,
                                 acceptedAtMillis: clockMillis)
        default:
            return QueuedRequest(id: id, kind: .charge, userID: user, amount: Int64.random(in: 50...400, using: &random),
                                 acceptedAtMillis: clockMillis)
        }
    }

    /// Routes as the ingest does: a reserve to its performance's queue, a pay or cancel to its reservation's
    /// (unless the ingest has no cache of it, now and then), a charge or anything unknown to the general queue.
    mutating func enqueue(_ request: QueuedRequest) {
        var request = request
        let queue: QueueName
        switch request.kind {
        case .reserve:
            queue = Int.random(in: 0..<6, using: &random) == 0 ? .general : .performance(request.performanceID)
        case .pay, .cancel:
            if let reservation = model.reservations[request.reservationID], Int.random(in: 0..<4, using: &random) > 0 {
                queue = .performance(reservation.performanceID)
            } else {
                queue = .general
            }
        case .charge:
            queue = .general
        }
        request.id = RequestID(queue: queue, random: (random.next(), random.next()))
        push(request, into: queue)
        requestCount += 1
    }

    mutating func push(_ request: QueuedRequest, into queue: QueueName) {
        var request = request
        if queue == .general {
            // Every sequence shares the general queue, and Redis numbers its requests once, for all of them.
            request.sequence = Self.generalNumbers.withLock { next in
                next += 1
                return next
            }
        } else {
            numbers[queue, default: 0] += 1
            request.sequence = numbers[queue]!
        }
        queues[queue, default: []].append(request)
    }

    static let generalNumbers = Mutex<Int64>(0)

    // MARK: Batches

    mutating func processBatch() throws {
        let busy = queues.filter { !$0.value.isEmpty }.keys.sorted { $0.tag < $1.tag }
        let queue = busy.randomElement(using: &random)!
        try commit(queue, taking: Int.random(in: 1...queues[queue]!.count, using: &random))
    }

    /// Takes `count` requests from the head of `queue` and decides them in both worlds.
    mutating func commit(_ queue: QueueName, taking count: Int) throws {
        let batch = Array(queues[queue, default: []].prefix(count))
        queues[queue]?.removeFirst(count)
        let oldestWaiting = min(
            queues[queue, default: []].map(\.acceptedAtMillis).min() ?? .max,
            queues[.general, default: []].map(\.acceptedAtMillis).min() ?? .max
        )
        let clock = DecisionClock(now: clockMillis / 1000, expireThroughMillis: oldestWaiting)
        let performance: Int64? = if case .performance(let id) = queue { id } else { nil }

        // The database's side. Now and then it starts from a fresh load, as a new owner of the queue would.
        if let performance, Int.random(in: 0..<5, using: &random) == 0 {
            carried[performance] = try database.loadInventory(performance: performance)
        }
        let fence = queue == .general ? Self.generalFence : 1
        let committed = try commit(batch, queue: queue, fence: fence, performance: performance, clock: clock)
        guard committed.replayed.isEmpty, committed.replayedForwards.isEmpty else {
            throw Mismatch(description: "a fresh batch of \(queue) replayed \(committed.replayed.map(\.requestID))")
        }
        if let performance { carried[performance] = committed.state.inventory }

        // The core's side, over the model, with the ids the database handed out.
        var state = BatchState(
            inventory: performance.flatMap { model.inventories[$0] }, reservations: model.reservations,
            balances: model.balances, performances: starts
        )
        var ids = ReservationIDBlock(first: committed.plan.created.map(\.id).min() ?? 1, count: batch.count)
        let plan = Allocator.decide(batch, from: queue, state: &state, ids: &ids, clock: clock, holdSeconds: Self.holdSeconds)
        if let performance { model.inventories[performance] = state.inventory }
        for reservation in plan.created + plan.changed { model.reservations[reservation.id] = reservation }
        for (user, balance) in state.balances where plan.ledger.contains(where: { $0.userID == user }) {
            model.balances[user] = balance
        }
        model.ledger += plan.ledger

        guard plan == committed.plan else {
            throw Mismatch(description: "\(queue): the core decided\n\(plan.results.map(\.outcome))\nthe database path\n\(committed.plan.results.map(\.outcome))")
        }
        for (target, request) in plan.forwarded { push(request, into: target) }
        batches += 1
        try compareWithDatabase()

        // Now and then Redis hands the same batch out again (a lost finish): every request replays.
        if !batch.isEmpty, Int.random(in: 0..<8, using: &random) == 0 {
            let again = try commit(batch, queue: queue, fence: fence, performance: performance, clock: clock)
            guard again.plan.results.isEmpty, again.plan.forwarded.isEmpty,
                  again.replayed.map(\.requestID) == plan.results.map(\.request.id),
                  again.replayedForwards.map(\.request.id) == plan.forwarded.map(\.1.id),
                  again.replayedForwards.map(\.queue) == plan.forwarded.map(\.0)
            else {
                throw Mismatch(description: "\(queue): a batch handed out again decided \(again.plan.results.count) requests anew")
            }
            try compareWithDatabase()
        }
    }

    /// One batch through the real write path. Sequences run side by side and share the general queue, so a
    /// transaction can lose a deadlock or a lock wait to another's, as concurrent passes do: like the pass, it is
    /// tried again (InnoDB rolled it back; nothing here changed).
    func commit(_ batch: [QueuedRequest], queue: QueueName, fence: Int64, performance: Int64?, clock: DecisionClock) throws -> CommittedBatch {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try database.commit(
                    PendingBatch(queue: queue, fence: fence, requests: batch),
                    inventory: performance.flatMap { carried[$0] }, performances: starts
                ) { requests, state, ids in
                    Allocator.decide(requests, from: queue, state: &state, ids: &ids, clock: clock, holdSeconds: Self.holdSeconds)
                }
            } catch let error as MariaDBError where error.isDeadlockOrLockTimeout && attempt < 10 {
                continue
            }
        }
    }

    // MARK: What MariaDB holds

    func compareWithDatabase() throws {
        for performance in performances {
            let stored = try database.loadInventory(performance: performance)
            guard stored == model.inventories[performance] else {
                throw Mismatch(description: "performance \(performance): MariaDB holds\n\(String(describing: stored))\nthe core\n\(String(describing: model.inventories[performance]))")
            }
        }
        let list = performances.map(String.init).joined(separator: ",")
        let ids = try database.connection.query("SELECT id FROM reservations WHERE performance_id IN (\(list))").compactMap { $0[0].int }
        let stored = try database.reservations(ids)
        let expected = model.reservations.filter { performances.contains($0.value.performanceID) }
        guard stored == expected else {
            throw Mismatch(description: "reservations: MariaDB holds \(stored.values.sorted { $0.id < $1.id })\nthe core \(expected.values.sorted { $0.id < $1.id })")
        }
        let balances = try database.balances(users).mapValues(\.balance)
        guard balances == model.balances.filter({ users.contains($0.key) }) else {
            throw Mismatch(description: "balances: MariaDB \(balances), the core \(model.balances)")
        }
        let userList = users.map(String.init).joined(separator: ",")
        let ledger = try database.connection.query(
            "SELECT user_id, kind, amount, request_id, reservation_id FROM ledger WHERE user_id IN (\(userList)) ORDER BY id"
        ).map { row in
            LedgerEntry(
                userID: row[0].int ?? 0, kind: LedgerEntry.Kind(rawValue: row[1].text ?? "") ?? .charge, amount: row[2].int ?? 0,
                requestID: RequestID(row[3].text ?? "")!, reservationID: row[4].int
            )
        }
        guard ledger == model.ledger else {
            throw Mismatch(description: "ledger: MariaDB \(ledger)\nthe core \(model.ledger)")
        }
    }
}
