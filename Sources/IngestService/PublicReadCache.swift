import Foundation
import Logging
import Metrics
import NIOCore

/// `GET /v1/performances` and `GET /v1/performances/{id}/seats` as the pass last published them, read from the
/// store at most about once a second per resource however many readers ask (`SingleFlightCache`). A
/// 100,000-seat map is 6.4 MB: read once per reader, a crowd refreshing it would fill the Redis pipelines the
/// enqueues share. Answers carry an `ETag`, so browsers and CDNs revalidate and get 304 while nothing changed.
final class PublicReadCache: Sendable {
    enum Resource: Hashable, Sendable {
        case performanceList
        case seatMap(performance: Int64)
    }

    struct Rendered: Sendable {
        let body: ByteBuffer
        /// A strong validator: the same bytes always get the same tag.
        let etag: String
    }

    /// nil: the store holds nothing for that resource (remembered for `maxAge` too, so a missing map is not
    /// asked for once per reader either).
    private let cache: SingleFlightCache<Resource, Rendered?>

    init(store: some IntakeStore, maxAge: Duration = .seconds(1), uptime: @escaping @Sendable () -> Double) {
        let reads = [
            "performances": Counter(label: "concert_ingest_public_reads_from_store_total", dimensions: [("resource", "performances")]),
            "seats": Counter(label: "concert_ingest_public_reads_from_store_total", dimensions: [("resource", "seats")]),
        ]
        cache = SingleFlightCache(maxAge: maxAge, uptime: uptime) { resource, previous in
            let bytes: [UInt8]?
            switch resource {
            case .performanceList:
                reads["performances"]?.increment()
                bytes = try await store.performanceListBytes()
            case .seatMap(let performance):
                reads["seats"]?.increment()
                bytes = try await store.seatMapBytes(performance: performance)
            }
            guard let bytes else { return nil }
            // Unchanged bytes keep their tag without hashing them again.
            if let previous = previous ?? nil, Self.equal(previous.body, bytes) { return previous }
            let body = ByteBuffer(bytes: bytes)
            return Rendered(body: body, etag: EntityTag.of(body))
        }
    }

    /// The list, or nil before any pass published it.
    func performanceList() async throws -> Rendered? {
        try await cache.value(for: .performanceList)
    }

    /// The performance's seat map, or nil when none is published (an unknown performance).
    func seatMap(performance: Int64) async throws -> Rendered? {
        try await cache.value(for: .seatMap(performance: performance))
    }

    private static func equal(_ buffer: ByteBuffer, _ bytes: [UInt8]) -> Bool {
        guard buffer.readableBytes == bytes.count else { return false }
        guard !bytes.isEmpty else { return true }
        return buffer.withUnsafeReadableBytes { cached in
            bytes.withUnsafeBytes { fresh in memcmp(cached.baseAddress!, fresh.baseAddress!, fresh.count) == 0 }
        }
    }
}
