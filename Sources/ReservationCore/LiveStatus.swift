import Foundation

/// The JSON of `GET /v1/status`, the live on-sale page's one source, built from the caches the pass publishes
/// (performance list, seat maps, queues, the batch history and the cost model). Pure: the ingest reads the caches
/// and calls `json(…)` at most about once a second. The shape is documented in deploy/openapi/concert.yaml.
public enum LiveStatus {
    /// Requests decided per second are counted in buckets of this many seconds…
    public static let bucketSeconds = 5
    /// …over this many of the last seconds.
    public static let windowSeconds = 300
    /// Batches listed for the scatter of size against time.
    public static let scatterBatches = 200

    /// A performance of the published list that has not started.
    public struct Upcoming: Sendable, Equatable {
        public var id: Int64
        public var title: String
        /// ISO 8601 UTC, as the list has it.
        public var startsAt: String
        public var seats: Int

        public init(id: Int64, title: String, startsAt: String, seats: Int) {
            self.id = id
            self.title = title
            self.startsAt = startsAt
            self.seats = seats
        }
    }

    /// The performances of `GET /v1/performances`'s JSON that have not started at `nowSeconds`, in its order
    /// (soonest first). The list is as old as the last pass, so one that started since is dropped here.
    public static func upcoming(performanceListJSON: String?, nowSeconds: Int64) -> [Upcoming] {
        guard let text = performanceListJSON,
              let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let list = object["performances"] as? [[String: Any]]
        else { return [] }
        // Both sides are `YYYY-MM-DDTHH:MM:SSZ`, so text order is time order.
        let now = Timestamp.iso8601(seconds: nowSeconds)
        return list.compactMap { entry in
            guard let id = (entry["id"] as? NSNumber)?.int64Value, let title = entry["title"] as? String,
                  let startsAt = entry["startsAt"] as? String, let seats = (entry["seats"] as? NSNumber)?.intValue,
                  startsAt > now
            else { return nil }
            return Upcoming(id: id, title: title, startsAt: startsAt, seats: seats)
        }
    }

    /// One performance's part of the status.
    public struct PerformanceState: Sendable {
        public var performance: Upcoming
        /// `SeatMapDigest.json` of its seat map; nil when no seat map is published yet.
        public var seatMapJSON: String?
        public var queueDepth: Int
        public var oldestAcceptedAtMillis: Int64?

        public init(performance: Upcoming, seatMapJSON: String?, queueDepth: Int, oldestAcceptedAtMillis: Int64?) {
            self.performance = performance
            self.seatMapJSON = seatMapJSON
            self.queueDepth = queueDepth
            self.oldestAcceptedAtMillis = oldestAcceptedAtMillis
        }
    }

    /// The whole document. `batches` newest first (as the Redis list keeps them).
    ///
    /// Nothing in it depends on the clock but what is live (a waiting queue's age, the rate buckets, which move on
    /// every `bucketSeconds`), so an idle sale renders the same bytes again and viewers get 304s; the time it was
    /// built is the response's `Date` header.
    public static func json(
        nowMillis: Int64, performances: [PerformanceState], generalQueueDepth: Int, generalOldestAcceptedAtMillis: Int64?,
        fit: BatchCostModel.Fit?, batches: [BatchTiming]
    ) -> String {
        let bucketMillis = Int64(bucketSeconds) * 1000
        // The buckets are aligned to whole multiples of their width; the last one holds now.
        let windowEnd = (nowMillis / bucketMillis + 1) * bucketMillis
        let windowStart = windowEnd - Int64(windowSeconds) * 1000
        let recent = batches.filter { $0.endedAtMillis >= windowStart && $0.endedAtMillis < windowEnd }
        // The window's end is not written: it would change the bytes every bucket even when every count is 0.
        var out = "{\"window\":{\"seconds\":\(windowSeconds),\"bucketSeconds\":\(bucketSeconds)}"
        if let fit {
            out += ",\"costModel\":{\"costPerRequestSeconds\":\(number(fit.costPerRequest, 9)),"
            out += "\"overheadSeconds\":\(number(fit.overhead, 6))}"
        } else {
            out += ",\"costModel\":null"
        }
        out += ",\"lastBatchEndedAtMillis\":" + (batches.first.map { "\($0.endedAtMillis)" } ?? "null")
        out += ",\"decidedPerSecond\":" + rates(recent, windowEnd: windowEnd)
        out += ",\"generalQueue\":" + queue(depth: generalQueueDepth, oldest: generalOldestAcceptedAtMillis, nowMillis: nowMillis)
        out += ",\"batches\":["
        for (index, batch) in batches.lazy.filter({ $0.size > 0 }).prefix(scatterBatches).enumerated() {
            if index > 0 { out += "," }
            out += "{\"endedAtMillis\":\(batch.endedAtMillis),\"queue\":\"\(batch.queue.tag)\",\"size\":\(batch.size)"
            out += ",\"seconds\":\(number(batch.seconds, 4)),\"oldestWaitSeconds\":\(number(batch.oldestWaitSeconds, 1))"
            out += ",\"decided\":\(batch.decided)}"
        }
        out += "],\"performances\":["
        for (index, state) in performances.enumerated() {
            if index > 0 { out += "," }
            let performance = state.performance
            let tag = QueueName.performance(performance.id)
            out += "{\"id\":\(performance.id),\"title\":" + JSONText.quoted(performance.title)
            out += ",\"startsAt\":" + JSONText.quoted(performance.startsAt) + ",\"seats\":\(performance.seats)"
            out += ",\"queue\":" + queue(depth: state.queueDepth, oldest: state.oldestAcceptedAtMillis, nowMillis: nowMillis)
            out += ",\"lastBatchEndedAtMillis\":"
                + (batches.first { $0.queue == tag && $0.size > 0 }.map { "\($0.endedAtMillis)" } ?? "null")
            out += ",\"decidedPerSecond\":" + rates(recent.filter { $0.queue == tag }, windowEnd: windowEnd)
            out += ",\"seatMap\":" + (state.seatMapJSON ?? "null") + "}"
        }
        return out + "]}"
    }

    /// Decided requests per second in each bucket of the window ending at `windowEnd`, oldest bucket first.
    static func rates(_ batches: [BatchTiming], windowEnd: Int64) -> String {
        let buckets = windowSeconds / bucketSeconds
        var counts = [Int](repeating: 0, count: buckets)
        for batch in batches {
            let age = windowEnd - 1 - batch.endedAtMillis
            guard age >= 0 else { continue }
            let bucket = buckets - 1 - Int(age / Int64(bucketSeconds * 1000))
            if bucket >= 0 { counts[bucket] += batch.decided }
        }
        return "[" + counts.map { number(Double($0) / Double(bucketSeconds), 1) }.joined(separator: ",") + "]"
    }

    static func queue(depth: Int, oldest: Int64?, nowMillis: Int64) -> String {
        let wait = depth > 0 ? oldest.map { max(0, Double(nowMillis - $0) / 1000) } ?? 0 : 0
        return "{\"depth\":\(depth),\"oldestWaitSeconds\":\(number(wait, 1))}"
    }

    /// `value` rounded to `digits` decimals, written as a JSON number (no exponent, no trailing zeros).
    static func number(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "0" }
        var text = String(format: "%.\(digits)f", value)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }
}
