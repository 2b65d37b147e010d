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

    public func publishSeatMap(performance: Int64, now: Int64) throws {
        guard let json = try database.seatMapJSON(performance: performance, asOf: now) else { return }
        try queues.publishSeatMap(performance: performance, json: json)
    }
}
