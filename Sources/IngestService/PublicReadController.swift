import Hummingbird
import Logging

/// The public reads: no token (one sent is ignored), a per-client limit (`ClientRateLimit`), and answers from
/// `PublicReadCache` with `ETag` and `Cache-Control: public, max-age=1`, so a crowd, a browser or a CDN refreshing
/// them costs the store at most one read per resource and second.
struct PublicReadController: Sendable {
    let store: any IntakeStore
    let cache: PublicReadCache
    let logger: Logger

    /// Browsers and shared caches may keep an answer for a second, then revalidate with its ETag.
    static let cacheControl = "public, max-age=1"

    @Sendable func performances(_ request: Request, context: IngestRequestContext) async throws -> Response {
        guard let list = try await StoreCall.run(logger, { try await cache.performanceList() }) else {
            throw APIError.performanceListMissing
        }
        return Self.answer(list, to: request)
    }

    @Sendable func seats(_ request: Request, context: IngestRequestContext) async throws -> Response {
        let performance = try PathID.require(context, "performanceId", notFound: true)
        guard let map = try await StoreCall.run(logger, { try await cache.seatMap(performance: performance) }) else {
            throw APIError.notFound
        }
        return Self.answer(map, to: request)
    }

    @Sendable func health(_ request: Request, context: IngestRequestContext) async throws -> Response {
        do {
            try await store.ping()
            return JSONResponse.make("{\"status\":\"ok\"}")
        } catch {
            logger.warning("health check: the store does not answer", metadata: ["error": "\(error)"])
            return JSONResponse.make("{\"status\":\"unavailable\",\"redis\":\"unreachable\"}", status: .serviceUnavailable)
        }
    }

    /// 200 with the cached bytes, or 304 when `If-None-Match` names their tag.
    static func answer(_ rendered: PublicReadCache.Rendered, to request: Request) -> Response {
        var headers: HTTPFields = [.cacheControl: cacheControl, .eTag: rendered.etag]
        if EntityTag.matches(request.headers[.ifNoneMatch], rendered.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: rendered.body))
    }
}
