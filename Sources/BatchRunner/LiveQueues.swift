import MariaDBStore
import RedisStore
import ReservationCore

/// Which queues a sweep visits, and in what order: only live ones — with entries waiting or in flight, or a
/// performance with holds due — so a sweep costs what the live work costs, not the platform's history (one
/// round trip for every known queue's length, one indexed query for holds due).
struct LiveQueues {
    let queues: PassQueues
    let database: ReservationDatabase
    let holder: String

    /// The live queues: the general queue first (it forwards into the others), then in this process's own
    /// order — rendezvous hashing of the holder and the queue — so several processes start on different queues.
    func scan(nowSeconds: Int64) throws -> [QueueName] {
        let known = try queues.knownQueues()
        var live = Set(try queues.entryCounts(known).filter { $0.value > 0 }.keys)
        for performance in try database.performancesWithHoldsDue(now: nowSeconds) { live.insert(.performance(performance)) }
        return order(Array(live))
    }

    func order(_ live: [QueueName]) -> [QueueName] {
        live.sorted { a, b in
            if (a == .general) != (b == .general) { return a == .general }
            let (ha, hb) = (Self.score(holder, a), Self.score(holder, b))
            return ha != hb ? ha > hb : a.tag < b.tag
        }
    }

    /// FNV-1a of the holder and the queue's tag.
    static func score(_ holder: String, _ queue: QueueName) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in holder.utf8 + [0] + queue.tag.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
