import ReservationCore
import Synchronization

/// Values rebuilt at most once per `maxAge` per key, however many callers ask at once: the first caller after a
/// value expired starts one rebuild, and every caller meanwhile waits for that same rebuild (single flight). A
/// failed rebuild is not kept: its waiters get the error, and the next caller tries again.
///
/// The live page's status and the public reads (performance list, seat maps) are served through it, so a crowd of
/// readers costs Redis one read per resource and second, not one per reader.
///
/// Threads: rebuilds run as unstructured tasks on the concurrency pool, never on an event loop (they await the
/// store, whose Redis client blocks on its own threads). `entries` is the only shared state, behind a mutex held
/// for lookups and assignments only.
final class SingleFlightCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// Builds the value for `key`; `previous` is the last value built for it (expired), so a builder can reuse
    /// work when nothing changed.
    typealias Build = @Sendable (_ key: Key, _ previous: Value?) async throws -> Value

    private struct Entry {
        var value: Value?
        /// `uptime()` when the rebuild that made `value` started.
        var builtAt: Double
        var rebuilding: Task<Value, any Error>?
    }

    private enum Lookup {
        case ready(Value)
        case waitFor(Task<Value, any Error>)
    }

    private let entries = Mutex<[Key: Entry]>([:])
    private let maxAge: Double
    private let capacity: Int
    private let uptime: @Sendable () -> Double
    private let build: Build

    /// - Parameter capacity: past this many keys, expired entries are dropped (keys come from request paths, so
    ///   a client asking for many different ones must not grow the cache without bound).
    /// - Parameter uptime: monotonic seconds, by which values age (`IngestClock.uptime`).
    init(maxAge: Duration, capacity: Int = 1_024, uptime: @escaping @Sendable () -> Double, build: @escaping Build) {
        self.maxAge = maxAge.seconds
        self.capacity = capacity
        self.uptime = uptime
        self.build = build
    }

    /// The value for `key`: cached if younger than `maxAge`, else the result of the one rebuild in flight.
    func value(for key: Key) async throws -> Value {
        let now = uptime()
        let lookup: Lookup = entries.withLock { entries in
            let entry = entries[key]
            if let entry, let value = entry.value, now - entry.builtAt < maxAge { return .ready(value) }
            if let running = entry?.rebuilding { return .waitFor(running) }
            // The task finishes by taking this same lock, so it cannot store its result before `rebuilding` is set.
            let previous = entry?.value
            let started = Task { try await self.rebuild(key, previous: previous) }
            entries[key] = Entry(value: previous, builtAt: entry?.builtAt ?? now, rebuilding: started)
            if entries.count > capacity { Self.dropExpired(&entries, now: now, maxAge: maxAge) }
            return .waitFor(started)
        }
        switch lookup {
        case .ready(let value): return value
        case .waitFor(let rebuild): return try await rebuild.value
        }
    }

    private func rebuild(_ key: Key, previous: Value?) async throws -> Value {
        let started = uptime()
        do {
            let value = try await build(key, previous)
            entries.withLock { $0[key] = Entry(value: value, builtAt: started, rebuilding: nil) }
            return value
        } catch {
            entries.withLock { $0[key]?.rebuilding = nil }
            throw error
        }
    }

    private static func dropExpired(_ entries: inout [Key: Entry], now: Double, maxAge: Double) {
        entries = entries.filter { _, entry in
            entry.rebuilding != nil || (entry.value != nil && now - entry.builtAt < maxAge)
        }
    }
}
