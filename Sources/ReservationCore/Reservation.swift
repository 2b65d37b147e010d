/// The contract's reservation `state`.
public enum ReservationState: String, Sendable, Codable {
    case held, confirmed, expired, cancelled

    /// Held and confirmed reservations own their seats; the others have given them back.
    public var isLive: Bool { self == .held || self == .confirmed }
}

/// A reservation as the API shows it and the database stores it.
public struct Reservation: Sendable, Equatable {
    public var id: Int64
    public var performanceID: Int64
    public var userID: Int64
    public var seatIDs: [Int64]
    public var state: ReservationState
    /// Sum of the seats' prices, in the currency's smallest unit.
    public var amount: Int64
    /// Seconds since 1970 after which an unpaid hold no longer counts.
    public var holdExpiresAt: Int64

    public init(
        id: Int64, performanceID: Int64, userID: Int64, seatIDs: [Int64], state: ReservationState,
        amount: Int64, holdExpiresAt: Int64
    ) {
        self.id = id
        self.performanceID = performanceID
        self.userID = userID
        self.seatIDs = seatIDs
        self.state = state
        self.amount = amount
        self.holdExpiresAt = holdExpiresAt
    }

    /// Seconds since 1970 as milliseconds, saturating (deadlines are compared with the millisecond times at which
    /// Redis accepted requests).
    public static func millis(_ seconds: Int64) -> Int64 {
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        return overflow ? (seconds < 0 ? .min : .max) : product
    }

    /// Whether a pay or cancel accepted by Redis at `acceptedAtMillis` came before this hold's deadline: such a
    /// request is decided as on time, however late the pass reaches it.
    public func isBeforeDeadline(_ acceptedAtMillis: Int64) -> Bool {
        acceptedAtMillis < Self.millis(holdExpiresAt)
    }

    /// `{"id":991,"performanceId":1,"seatIds":[5,6],"state":"held","amount":100000,"holdExpiresAt":"…"}`
    public var json: String {
        var out = "{\"id\":\(id),\"performanceId\":\(performanceID),\"seatIds\":["
        for (index, seat) in seatIDs.enumerated() {
            if index > 0 { out += "," }
            out += String(seat)
        }
        out += "],\"state\":\"\(state.rawValue)\",\"amount\":\(amount),\"holdExpiresAt\":\""
        out += Timestamp.iso8601(seconds: holdExpiresAt)
        out += "\"}"
        return out
    }
}

/// How a request ended. `done` carries what the contract shows for its kind.
public enum RequestOutcome: Sendable, Equatable {
    /// A reserve, pay or cancel that succeeded: the reservation as that request left it.
    case reservation(Reservation)
    /// A charge that succeeded: the balance after it.
    case balance(Int64)
    case rejected(RejectionReason)

    /// `done` or the rejection reason: the `outcome` label of the metrics and the database column.
    public var label: String {
        switch self {
        case .reservation, .balance: "done"
        case .rejected(let reason): reason.rawValue
        }
    }
}

/// One request's terminal result: what the pass records once and publishes.
public struct RequestResult: Sendable, Equatable {
    public let request: QueuedRequest
    public let outcome: RequestOutcome

    public init(request: QueuedRequest, outcome: RequestOutcome) {
        self.request = request
        self.outcome = outcome
    }

    /// The body of `GET /v1/requests/{id}` for this terminal status. Rendered where it is used — by the thread
    /// that publishes to Redis, not by the pass deciding the next batch — and so exactly once per request.
    public var statusJSON: String { Self.render(request, outcome) }

    private static func render(_ request: QueuedRequest, _ outcome: RequestOutcome) -> String {
        var out = "{\"requestId\":\"\(request.id.rawValue)\",\"kind\":\"\(request.kind.rawValue)\","
        switch outcome {
        case .reservation(let reservation):
            out += "\"status\":\"done\",\"reservation\":" + reservation.json + "}"
        case .balance(let balance):
            out += "\"status\":\"done\",\"balance\":\(balance)}"
        case .rejected(let reason):
            return rejectionJSON(id: request.id.rawValue, kind: request.kind.rawValue, reason: reason.rawValue)
        }
        return out
    }

    /// The status of a rejected request. The `request_outcomes` view in `sql/002_batch_outcomes.sql` builds the
    /// same text from a batch record, which stores no JSON for rejections (most of an on-sale's requests).
    public static func rejectionJSON(id: String, kind: String, reason: String) -> String {
        "{\"requestId\":\"\(id)\",\"kind\":\"\(kind)\",\"status\":\"rejected\",\"reason\":\"\(reason)\"}"
    }
}

/// UTC timestamps as the API writes them (`2026-11-24T20:00:00Z`), without Foundation's formatter cost.
public enum Timestamp {
    public static func iso8601(seconds: Int64) -> String {
        // Civil-from-days (Howard Hinnant's algorithm): exact for the proleptic Gregorian calendar.
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay % 3600 / 60, 2)):\(pad(secondOfDay % 60, 2))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS` with `Z` or `±HH:MM`, optional fractional seconds; nil otherwise.
    public static func parseISO8601(_ text: String) -> Int64? {
        let u = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= u.count else { return nil }
            var value: Int64 = 0
            for byte in u[from..<(from + count)] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        guard u.count >= 20, u[4] == 45, u[7] == 45, u[10] == 84 || u[10] == 32, u[13] == 58, u[16] == 58,
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        if index < u.count, u[index] == 46 {  // fractional seconds: ignored
            index += 1
            while index < u.count, u[index] >= 48, u[index] <= 57 { index += 1 }
        }
        var offset: Int64 = 0
        guard index < u.count else { return nil }
        if u[index] == 90 {  // Z
            index += 1
        } else if u[index] == 43 || u[index] == 45, let oh = number(index + 1, 2), u.count > index + 3,
                  u[index + 3] == 58, let om = number(index + 4, 2) {
            offset = (oh * 3600 + om * 60) * (u[index] == 43 ? 1 : -1)
            index += 6
        } else {
            return nil
        }
        guard index == u.count, abs(offset) < 86_400 else { return nil }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let daysInMonth: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= daysInMonth[Int(month - 1)] else { return nil }
        // Days from civil (inverse of the above).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * mp + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + hour * 3600 + minute * 60 + second - offset
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
