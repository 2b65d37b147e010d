import Logging
import MariaDBStore
import RedisStore
import ReservationCore

extension PassContext {
    /// Records a visit's batches in the batch history: one LPUSH + LTRIM on `concert:batch:recent` (the live page)
    /// and one multi-row INSERT into `batch_log` (`concert-batch report`), after the batches' own transactions.
    /// `QueueVisit` calls it once, when the visit ends (also when it failed: committed batches are recorded).
    ///
    /// Never throws: like the metrics file, the history is for people, and a problem writing it must not fail a
    /// pass that committed its batches. A failure is logged with what it costs.
    func record(_ timings: [BatchTiming]) {
        guard !timings.isEmpty else { return }
        do {
            try BatchHistory.append(timings, to: queues.redis)
        } catch {
            logger.error("batch history not written to redis; the live page's charts miss these batches", metadata: [
                "batches": "\(timings.count)", "error": "\(error)",
            ])
        }
        do {
            try database.logBatches(timings)
        } catch {
            logger.error("batch history not written to batch_log; concert-batch report misses these batches (run concert-admin migrate if the table is missing)", metadata: [
                "batches": "\(timings.count)", "error": "\(error)",
            ])
        }
    }
}
