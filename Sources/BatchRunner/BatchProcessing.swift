import Foundation
import Logging
import MariaDBStore
import RedisStore
import ReservationCore

extension QueueVisit {
    /// What one batch decided, for the batch history.
    struct Processed {
        var outcomes: [RequestKind: [String: Int]] = [:]
        var expired = 0
    }

    /// Takes → decides → commits → publishes one batch (nil: no requests, only holds due to expire). Requests the
    /// queue decided before (a batch handed out again) are published again from their records, never re-applied.
    @discardableResult
    func process(_ batch: TakenBatch?) throws -> Processed {
        var mark = context.clock.now
        var requests: [QueuedRequest] = []
        var seen: Set<RequestID> = []
        var unreadable: [String] = []
        for entry in batch?.entries ?? [] {
            do {
                let request = try QueuedRequest(wireFormat: entry)
                // The same request twice in one batch (an entry pushed twice by hand) is decided once.
                if seen.insert(request.id).inserted { requests.append(request) }
            } catch {
                unreadable.append(entry)
                context.logger.error("unreadable queue entry set aside", metadata: ["queue": "\(queue)", "entry": "\(entry.prefix(80))"])
            }
        }
        context.lap(.parse, since: &mark)

        // Holds expire only up to the oldest request that could still pay one on time.
        let clock = DecisionClock(
            now: context.nowSeconds,
            expireThroughMillis: min(context.nowMillis, batch?.nextAcceptedAtMillis ?? .max, generalOldestMillis ?? .max)
        )
        let parts = try commitIsolating(requests, clock: clock)
        context.lap(.store, since: &mark)

        var publication = PassQueues.Publication()
        publication.unreadable = unreadable
        publication.asOf = context.nowSeconds
        var balances: [Int64: (Int64, Int64)] = [:]
        var processed = Processed()
        let outcomesBefore = context.summary.outcomes
        for part in parts {
            processed.expired += part.plan.expiredCount
            publication.decided += part.plan.results
            publication.replayed += part.replayed
            publication.reservations += part.plan.created + part.plan.changed
            publication.forwarded += part.plan.forwarded.map { ($0.0, $0.1) } + part.replayedForwards
            for (user, version) in part.balanceVersions { balances[user] = (part.state.balances[user] ?? 0, version) }
            context.summary.count(part.plan)
            context.summary.replayed += part.replayed.count + part.replayedForwards.count
            if !part.plan.created.isEmpty || !part.plan.changed.isEmpty { seatsChanged = true }
        }
        publication.balances = balances.sorted { $0.key < $1.key }.map { ($0.key, $0.value.0, $0.value.1) }
        publication.commitNumber = parts.map(\.commitNumber).max() ?? 0
        if let last = parts.last, performanceID != nil { inventory = last.state.inventory }
        // Replayed requests' reservations and balances are published again from what MariaDB holds now.
        let replayed = parts.flatMap(\.replayed)
        try addCurrentState(
            reservations: replayed.filter(\.isDone).compactMap(\.reservationID),
            balances: replayed.filter { $0.isDone && $0.kind != .reserve }.map(\.userID).filter { balances[$0] == nil },
            to: &publication
        )

        try context.publisher.submit(publication, finishing: batch, lease: lease)
        context.lap(.publishWait, since: &mark)
        context.summary.unreadable += unreadable.count
        if let batch {
            context.summary.batches += 1
            context.summary.lastBatchSize = batch.entries.count
            batches += 1
        }
        context.onBatch?(context.summary)
        processed.outcomes = BatchTiming.outcomes(context.summary.outcomes, since: outcomesBefore)
        return processed
    }

    /// Adds these reservations and balances, as MariaDB holds them now, to a publication.
    func addCurrentState(reservations: [Int64], balances users: [Int64], to publication: inout PassQueues.Publication) throws {
        if !reservations.isEmpty {
            publication.reservations += try context.database.reservations(reservations).values.sorted { $0.id < $1.id }
        }
        if !users.isEmpty {
            for (user, stored) in try context.database.balances(users).sorted(by: { $0.key < $1.key }) {
                publication.balances.append((user, stored.balance, stored.version))
            }
        }
    }

    /// Commits a dead or stalled owner made and never finished publishing (MariaDB's commit number is past the one
    /// Redis notes as published): their statuses and caches again — holds they expired included — from what
    /// MariaDB holds now.
    func republishUnfinishedCommits() throws {
        let published = try context.queues.publishedCommit(queue)
        let (through, changes) = try context.database.commits(of: queue, after: published)
        guard through > published else { return }
        context.logger.notice("publishing again what an earlier owner committed but never finished publishing", metadata: [
            "queue": "\(queue)", "commits": "\(published + 1)...\(through)", "outcomes": "\(changes.outcomes.count)",
            "reservations": "\(changes.reservationIDs.count)",
        ])
        var publication = PassQueues.Publication()
        publication.replayed = changes.outcomes
        publication.asOf = context.nowSeconds
        publication.commitNumber = through
        try addCurrentState(reservations: Array(Set(changes.reservationIDs)), balances: Array(Set(changes.balanceUsers)),
                            to: &publication)
        try context.publisher.submit(publication, finishing: nil, lease: lease)
    }

    /// Commits the requests as one batch; if MariaDB refuses it for something in the requests themselves (a
    /// constraint the rules did not foresee, a value out of range, a record too large), commits each half on its
    /// own, down to the one request that causes it, which is rejected `INTERNAL_ERROR` — so one poison request
    /// never wedges its queue. Deadlocks, lock waits and a lost connection retry the same batch (a commit whose
    /// outcome was unknown is found decided and replays). A newer owner (`StaleFenceError`) ends it.
    private func commitIsolating(_ requests: [QueuedRequest], clock: DecisionClock) throws -> [CommittedBatch] {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return [try commitOnce(requests, clock: clock)]
            } catch let error as MariaDBError where (error.isDeadlockOrLockTimeout || error.isConnectionLost) && attempt < 4 {
                context.logger.warning("batch not committed; trying it again", metadata: [
                    "queue": "\(queue)", "requests": "\(requests.count)", "error": "\(error)", "attempt": "\(attempt)",
                ])
            } catch let error as MariaDBError where error.isRefusalOfContent {
                guard requests.count > 1 else {
                    guard let request = requests.first else { throw error }
                    context.logger.error("request rejected INTERNAL_ERROR: the database refused it", metadata: [
                        "queue": "\(queue)", "request.id": "\(request.id)", "request.kind": "\(request.kind.rawValue)",
                        "error": "\(error)",
                    ])
                    context.summary.internalErrors += 1
                    return [try commitRejection(request, clock: clock)]
                }
                context.logger.warning("batch refused by the database; committing its halves apart", metadata: [
                    "queue": "\(queue)", "requests": "\(requests.count)", "first": "\(requests[0].id)", "error": "\(error)",
                ])
                let half = requests.count / 2
                let first = try commitIsolating(Array(requests[..<half]), clock: clock)
                return first + (try commitIsolating(Array(requests[half...]), clock: clock))
            }
        }
    }

    private func commitOnce(_ requests: [QueuedRequest], clock: DecisionClock) throws -> CommittedBatch {
        let queue = self.queue
        let holdSeconds = context.configuration.holdSeconds
        let committed = try context.database.commit(
            PendingBatch(queue: queue, fence: lease.token, requests: requests), inventory: inventory, performances: performances
        ) { requests, state, ids in
            Allocator.decide(requests, from: queue, state: &state, ids: &ids, clock: clock, holdSeconds: holdSeconds)
        }
        // The decision's share of the transaction's time, moved from `store` (where the caller counts it) to `decide`.
        let deciding = committed.timings.seconds[.decide] ?? 0
        context.summary.stageSeconds[.decide, default: 0] += deciding
        context.summary.stageSeconds[.store, default: 0] -= deciding
        for (step, seconds) in committed.timings.seconds where step != .decide {
            context.summary.storeSeconds[step.rawValue, default: 0] += seconds
        }
        if performanceID != nil { inventory = committed.state.inventory }
        return committed
    }

    /// Records the one request MariaDB would not take as rejected `INTERNAL_ERROR`, changing nothing else.
    private func commitRejection(_ request: QueuedRequest, clock: DecisionClock) throws -> CommittedBatch {
        try context.database.commit(
            PendingBatch(queue: queue, fence: lease.token, requests: [request]), inventory: inventory, performances: performances
        ) { requests, _, _ in
            var plan = BatchPlan()
            plan.results = requests.map { RequestResult(request: $0, outcome: .rejected(.internalError)) }
            return plan
        }
    }
}

extension MariaDBError {
    /// The server refused what a statement carried — a constraint, a value, a packet too large — rather than the
    /// statement itself: the same batch would fail again, so it is split to find the request behind it. A schema
    /// or permission error (an unknown column, a missing table) is no request's fault and is not here: it fails
    /// the visit, logged, and rejects nothing.
    var isRefusalOfContent: Bool {
        Self.contentRefusals.contains(code)
    }

    private static let contentRefusals: Set<UInt32> = [
        1048,  // a column cannot be null
        1062,  // duplicate entry for a unique key
        1153,  // a packet larger than max_allowed_packet
        1264, 1690,  // a value out of range
        1265, 1292, 1366,  // a value truncated or of the wrong form
        1406,  // data too long for a column
        1451, 1452,  // a foreign key refused the row
        3140,  // invalid JSON
        4025,  // a CHECK constraint refused the row
    ]
}
