import Foundation
import Hummingbird
import Logging

/// `GET /` (the live on-sale page) and `GET /v1/status` (the JSON behind it). Public, like the other reads: no
/// token, and a token sent is ignored. The status comes from `LiveStatusCache`, so any number of viewers costs
/// the store and the ingest at most one rebuild a second; browsers revalidate with `If-None-Match` and get 304
/// while nothing changed.
struct StatusRoutes: Sendable {
    let cache: LiveStatusCache
    let logger: Logger

    /// The page's own validator: it only changes with the build.
    static let pageETag = EntityTag.of(LivePage.html)

    @Sendable func page(_ request: Request, context: IngestRequestContext) async throws -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .cacheControl: "no-cache",
            .eTag: Self.pageETag,
            .contentSecurityPolicy: LivePage.contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
        ]
        if EntityTag.matches(request.headers[.ifNoneMatch], Self.pageETag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(LivePage.html.utf8.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: LivePage.html)))
    }

    @Sendable func status(_ request: Request, context: IngestRequestContext) async throws -> Response {
        let rendered: LiveStatusCache.Rendered
        do {
            rendered = try await cache.current()
        } catch {
            logger.warning("live status could not be read from redis", metadata: ["error": "\(error)"])
            throw APIError.unavailable
        }
        let headers: HTTPFields = [
            .contentType: "application/json; charset=utf-8",
            .cacheControl: "max-age=1",
            .eTag: rendered.etag,
        ]
        if EntityTag.matches(request.headers[.ifNoneMatch], rendered.etag) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: rendered.body))
    }
}
