import Foundation
import Hummingbird
import Logging

/// `GET /` (the live on-sale page) and `GET /v1/status` (the JSON behind it). Public, like the other reads: no
/// token, and a token sent is ignored. The status comes from `LiveStatusCache`, so any number of viewers costs
/// Redis and the ingest at most one rebuild a second; browsers revalidate with `If-None-Match` and get 304 while
/// nothing changed.
struct StatusRoutes: Sendable {
    let cache: LiveStatusCache
    let logger: Logger

    /// The page's own validator: it only changes with the build.
    static let pageETag = LiveStatusCache.etag(of: LivePage.html)

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/", use: page)
        router.get("/v1/status", use: status)
    }

    @Sendable func page(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .cacheControl: "no-cache",
            .eTag: Self.pageETag,
            .contentSecurityPolicy: LivePage.contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
        ]
        if Self.matches(request.headers[.ifNoneMatch], Self.pageETag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(LivePage.html.utf8.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: LivePage.html)))
    }

    @Sendable func status(_ request: Request, context: BasicRequestContext) async throws -> Response {
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
        if Self.matches(request.headers[.ifNoneMatch], rendered.etag) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: rendered.body))
    }

    /// `If-None-Match`: `*`, or a comma-separated list of tags (weak ones compared weakly, as RFC 9110 says for it).
    static func matches(_ header: String?, _ etag: String) -> Bool {
        guard let header else { return false }
        for candidate in header.split(separator: ",") {
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            if tag == etag { return true }
        }
        return false
    }
}
