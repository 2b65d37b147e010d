import Foundation
import MariaDBStore
import ReservationCore

extension BatchReport {
    /// What `write` put in the file, for the one line `concert-batch report` prints.
    public struct Written: Sendable {
        public var batches: Int
        public var decided: Int
        public var bytes: Int
    }

    /// The report's input for `[fromMillis, toMillis)` from MariaDB: `batch_log`, the titles of the performances
    /// seen, and their reservations by state now. Reads only; never touches Redis.
    public static func read(database: ReservationDatabase, fromMillis: Int64, toMillis: Int64) throws -> Input {
        let batches = try database.loggedBatches(fromMillis: fromMillis, toMillis: toMillis)
        let performances = Set(batches.compactMap { batch -> Int64? in
            if case .performance(let id) = batch.queue { id } else { nil }
        }).sorted()
        return Input(
            fromMillis: fromMillis, toMillis: toMillis, batches: batches,
            titles: performances.isEmpty ? [:] : try database.performanceTitles(performances),
            reservationsNow: performances.isEmpty ? [:] : try database.reservationStates(performances: performances)
        )
    }

    /// Renders the report and replaces `path` with it atomically (a temporary file beside it, then a rename), so a
    /// reader never sees half a file.
    public static func write(_ input: Input, to path: String) throws -> Written {
        let html = html(input)
        let url = URL(fileURLWithPath: path).absoluteURL
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try Data(html.utf8).write(to: temporary)
        } catch {
            throw OperatorError("could not write \(temporary.path): \(error.localizedDescription); check that the folder exists and is writable")
        }
        // rename(2) replaces the file in one step.
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw OperatorError("could not move the report into place at \(url.path): \(reason)")
        }
        return Written(batches: input.batches.filter { $0.size > 0 }.count, decided: input.batches.reduce(0) { $0 + $1.decided }, bytes: html.utf8.count)
    }
}
