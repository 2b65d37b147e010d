import ReservationCore

/// The read caches the batch pass writes and the ingest reads, each format's writer beside its reader.
///
/// Every value starts with a number that only grows for its key — a reservation's state rank, a balance's
/// version — and `QueueScripts.setCaches` never lets a smaller one replace a larger one, so a publication that
/// arrives late (a pass that stalled) cannot undo a newer one.
public enum ReadCaches {
    /// A reservation's cache: `<rank>|<user>|<performance>|<reservation JSON>`.
    public struct CachedReservation: Sendable, Equatable {
        public var userID: Int64
        public var performanceID: Int64
        public var json: String
    }

    /// Held, then paid, then cancelled or expired: a reservation only moves forward.
    static func rank(_ state: ReservationState) -> Int {
        switch state {
        case .held: 0
        case .confirmed: 1
        case .cancelled, .expired: 2
        }
    }

    public static func reservationValue(_ reservation: Reservation) -> String {
        "\(rank(reservation.state))|\(reservation.userID)|\(reservation.performanceID)|\(reservation.json)"
    }

    public static func reservation(from stored: String) -> CachedReservation? {
        let parts = stored.split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, Int(parts[0]) != nil, let user = Int64(parts[1]), let performance = Int64(parts[2]) else {
            return nil
        }
        return CachedReservation(userID: user, performanceID: performance, json: String(parts[3]))
    }

    /// A balance's cache: `<version>|<balance>|<asOf seconds>`.
    public static func balanceValue(balance: Int64, version: Int64, asOf: Int64) -> String {
        "\(version)|\(balance)|\(asOf)"
    }

    public static func balance(from stored: String) -> (balance: Int64, asOf: Int64)? {
        let parts = stored.split(separator: "|")
        guard parts.count == 3, Int64(parts[0]) != nil, let balance = Int64(parts[1]), let asOf = Int64(parts[2]) else {
            return nil
        }
        return (balance, asOf)
    }
}
