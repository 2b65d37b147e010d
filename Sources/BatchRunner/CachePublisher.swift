import Foundation
import MariaDBStore
import RedisStore
import ReservationCore

/// Rebuilds the read caches from MariaDB (the source of truth) and publishes them to Redis.
public struct CachePublisher {
    let database: ReservationDatabase
    let queues: PassQueues

    public init(database: ReservationDatabase, queues: PassQueues) {
        self.database = database
        self.queues = queues
    }

    /// The list of performances not yet started, and the ids the ingest routes reserves by (the same: a reserve
    /// for a performance that has begun goes to the general queue, whose pass refuses it PERFORMANCE_STARTED).
    public func publishPerformanceList(now: Int64) throws {
        let upcoming = try database.upcomingPerformances(now: now)
        var json = "{\"performances\":["
        for (index, performance) in upcoming.enumerated() {
            if index > 0 { json += "," }
            json += "{\"id\":\(performance.id),\"title\":\(JSONText.quoted(performance.title)),"
            json += "\"startsAt\":\"\(Timestamp.iso8601(seconds: performance.startsAt))\","
            json += "\"seats\":\(performance.seats),\"available\":\(performance.available)}"
        }
        json += "]}"
        try queues.publishPerformanceList(json: json, ids: upcoming.map(\.id))
    }

    /// After Redis lost its data (or on first use), every balance MariaDB holds gets its cache, page by page, and
    /// then the mark that says so: until then the ingest answers a missing balance with 503, not a wrong 0.
    /// Nothing to do when the mark is there.
    public func ensureBalancesComplete(now: Int64) throws {
        guard try !queues.balancesComplete() else { return }
        var after: Int64 = 0
        while true {
            let page = try database.balances(after: after, limit: 5_000)
            guard let last = page.last else { break }
            try queues.publishBalances(page.map { ($0.userID, $0.balance.balance, $0.balance.version) }, asOf: now)
            after = last.userID
        }
        try queues.markBalancesComplete(asOf: now)
    }

    /// The seat map without a fence, for `concert-admin create-performance` (before any pass owns the queue).
    public func publishSeatMap(performance: Int64, now: Int64) throws {
        guard let inventory = try database.loadInventory(performance: performance) else { return }
        try queues.publishSeatMap(performance: performance, json: SeatMap.bytes(inventory, asOf: now))
    }
}
