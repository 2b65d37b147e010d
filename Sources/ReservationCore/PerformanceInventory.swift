/// The most seats one user may hold or own, together, for one performance.
public let seatLimitPerUser = 4

/// What the pass knows of one performance while it owns that performance's queue: every seat and its price,
/// the seats in live reservations (per user, for the 4-seat limit), and the unpaid holds with their deadlines,
/// so that holds expire in the same decisions as the requests around them. Loaded from MariaDB when the pass
/// takes the queue and kept current as each batch commits.
public struct PerformanceInventory: Sendable, Equatable {
    public let performanceID: Int64
    /// When the performance begins (seconds since 1970): reserves accepted from then on are refused.
    public let startsAt: Int64
    /// Every seat of the performance and its price.
    public private(set) var prices: [Int64: Int64]
    /// Every seat's label (`SECTION-ROW-SEAT`), for the seat map; empty when not loaded (the rules never read it).
    public let labels: [Int64: String]
    /// Seats in a live (held or confirmed) reservation.
    public private(set) var taken: Set<Int64>
    /// Seats in live reservations, per user.
    public private(set) var liveSeatsByUser: [Int64: Int]
    /// Unpaid holds by id.
    public private(set) var holds: [Int64: Reservation]
    /// The holds' deadlines, soonest first (entries of holds paid or cancelled since are skipped when reached).
    private var deadlines = DeadlineHeap()

    public init(
        performanceID: Int64, startsAt: Int64 = .max, prices: [Int64: Int64], labels: [Int64: String] = [:],
        taken: Set<Int64>, liveSeatsByUser: [Int64: Int], holds: [Reservation] = []
    ) {
        self.performanceID = performanceID
        self.startsAt = startsAt
        self.prices = prices
        self.labels = labels
        self.taken = taken
        self.liveSeatsByUser = liveSeatsByUser
        self.holds = [:]
        for hold in holds where hold.state == .held {
            self.holds[hold.id] = hold
            deadlines.push(deadline: hold.holdExpiresAt, id: hold.id)
        }
    }

    public static func == (lhs: PerformanceInventory, rhs: PerformanceInventory) -> Bool {
        lhs.performanceID == rhs.performanceID && lhs.startsAt == rhs.startsAt && lhs.prices == rhs.prices
            && lhs.labels == rhs.labels
            && lhs.taken == rhs.taken && lhs.liveSeatsByUser == rhs.liveSeatsByUser && lhs.holds == rhs.holds
    }

    /// The reserve rule: every seat exists (`SEAT_UNKNOWN`), none is taken nor named twice (`SEAT_TAKEN`), and the
    /// user stays within the limit (`USER_LIMIT`); then all the seats are taken, or none. Returns the amount.
    func check(_ seats: [Int64], for user: Int64) -> Result<Int64, RejectionReason> {
        var amount: Int64 = 0
        guard !seats.isEmpty else { return .failure(.seatUnknown) }
        for seat in seats {
            guard let price = prices[seat] else { return .failure(.seatUnknown) }
            let (sum, overflow) = amount.addingReportingOverflow(price)
            guard !overflow else { return .failure(.internalError) }
            amount = sum
        }
        for (index, seat) in seats.enumerated() {
            if taken.contains(seat) || seats[..<index].contains(seat) { return .failure(.seatTaken) }
        }
        guard liveSeatsByUser[user, default: 0] + seats.count <= seatLimitPerUser else { return .failure(.userLimit) }
        return .success(amount)
    }

    /// Takes the seats of a new hold (already checked by `check`).
    mutating func add(_ hold: Reservation) {
        taken.formUnion(hold.seatIDs)
        liveSeatsByUser[hold.userID, default: 0] += hold.seatIDs.count
        holds[hold.id] = hold
        deadlines.push(deadline: hold.holdExpiresAt, id: hold.id)
    }

    /// A hold was paid: its seats stay taken, it no longer expires.
    mutating func confirm(_ id: Int64) {
        holds[id] = nil
    }

    /// Gives seats back when a reservation is cancelled or expires.
    public mutating func release(_ reservation: Reservation) {
        holds[reservation.id] = nil
        taken.subtract(reservation.seatIDs)
        let left = liveSeatsByUser[reservation.userID, default: 0] - reservation.seatIDs.count
        liveSeatsByUser[reservation.userID] = left > 0 ? left : nil
    }

    /// Expires every hold whose deadline is at or before `millis` (milliseconds since 1970), soonest first, and
    /// returns them as they are now.
    mutating func expire(through millis: Int64) -> [Reservation] {
        var expired: [Reservation] = []
        while let next = deadlines.peek, Reservation.millis(next.deadline) <= millis {
            deadlines.pop()
            guard var hold = holds[next.id], hold.holdExpiresAt == next.deadline else { continue }
            release(hold)
            hold.state = .expired
            expired.append(hold)
        }
        return expired
    }

    /// The soonest deadline of an unpaid hold, if any (seconds since 1970).
    public var nextDeadline: Int64? {
        var copy = deadlines
        while let next = copy.peek {
            if let hold = holds[next.id], hold.holdExpiresAt == next.deadline { return next.deadline }
            copy.pop()
        }
        return nil
    }
}

/// A binary min-heap of (deadline, reservation id).
struct DeadlineHeap: Sendable {
    private var items: [(deadline: Int64, id: Int64)] = []

    var peek: (deadline: Int64, id: Int64)? { items.first }

    mutating func push(deadline: Int64, id: Int64) {
        items.append((deadline, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.less(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count, Self.less(items[left], items[smallest]) { smallest = left }
            if right < items.count, Self.less(items[right], items[smallest]) { smallest = right }
            guard smallest != parent else { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }

    private static func less(_ a: (deadline: Int64, id: Int64), _ b: (deadline: Int64, id: Int64)) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.id < b.id
    }
}
