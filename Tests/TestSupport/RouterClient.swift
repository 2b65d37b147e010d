import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The parts of an answer the tests look at.
public struct Answer: Sendable {
    public let status: HTTPResponse.Status
    public let headers: HTTPFields
    public let body: Data

    public var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
    public var text: String { String(decoding: body, as: UTF8.self) }
    /// A 202's `requestId`, or "" when there is none.
    public var requestID: String { json?["requestId"] as? String ?? "" }

    /// `{"error":{"code":"…","message":"…"}}` and nothing else, as JSON, with a JSON content type.
    public func expectError(_ code: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = json?["error"] as? [String: Any]
        #expect(json?.count == 1 && error?.count == 2, "\(what): body \(text)", sourceLocation: sourceLocation)
        #expect(error?["code"] as? String == code, "\(what): code \(String(describing: error?["code"]))", sourceLocation: sourceLocation)
        let message = error?["message"] as? String ?? ""
        #expect(!message.isEmpty, "\(what): no message", sourceLocation: sourceLocation)
        #expect(headers[.contentType]?.hasPrefix("application/json") == true, "\(what): \(headers)", sourceLocation: sourceLocation)
    }
}

extension TestClientProtocol {
    /// One request; `token` becomes `Authorization: Bearer`, a `json` body gets `Content-Type: application/json`
    /// unless `contentType` says otherwise.
    public func send(
        _ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: String? = nil,
        contentType: String? = "application/json", headers extra: [String: String] = [:]
    ) async throws -> Answer {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil, let contentType { headers[.contentType] = contentType }
        for (name, value) in extra { headers[.init(name)!] = value }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) { response in
            Answer(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
        }
    }
}
