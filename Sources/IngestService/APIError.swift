import Hummingbird
import ReservationCore

/// An error answered with the contract's body: `{"error":{"code":"…","message":"…"}}`.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        let body = "{\"error\":{\"code\":\(JSONText.quoted(code)),\"message\":\(JSONText.quoted(message))}}"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, code: "BAD_REQUEST", message: message) }
    static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, code: "UNAUTHORIZED", message: message)
        error.headers[.wwwAuthenticate] = "Bearer"
        return error
    }
    static let notFound = APIError(.notFound, code: "NOT_FOUND", message: "no such resource")
    static func methodNotAllowed(allowed: [HTTPRequest.Method]) -> APIError {
        var error = APIError(.methodNotAllowed, code: "METHOD_NOT_ALLOWED", message: "this path does not accept that method")
        error.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
        return error
    }
    static let tooLarge = APIError(.contentTooLarge, code: "BODY_TOO_LARGE", message: "the body is larger than 16 KiB")
    static let unsupportedMediaType = APIError(
        .unsupportedMediaType, code: "UNSUPPORTED_MEDIA_TYPE", message: "send the body as application/json"
    )
    static func rateLimited(retryAfter: Int) -> APIError {
        var error = APIError(.tooManyRequests, code: "RATE_LIMITED", message: "too many requests; retry after \(retryAfter) s")
        error.headers[.retryAfter] = String(retryAfter)
        return error
    }
    static let unavailable = APIError(
        .serviceUnavailable, code: "UNAVAILABLE", message: "the request queue (Redis) is unreachable; nothing was queued, retry shortly"
    )
    /// No balance cache and no mark that every balance has one: Redis lost its data (or no pass ran yet), so a
    /// missing cache may hide a real balance.
    static let balancesRebuilding = APIError(
        .serviceUnavailable, code: "UNAVAILABLE", message: "balances are being rebuilt by the batch pass; retry shortly"
    )
    /// No pass (nor `concert-admin create-performance`) has published the list to this Redis yet.
    static let performanceListMissing = APIError(
        .serviceUnavailable, code: "UNAVAILABLE",
        message: "the performance list has not been published by the batch pass yet; retry shortly"
    )
}

