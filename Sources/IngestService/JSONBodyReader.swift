import Foundation
import Hummingbird
import ReservationCore

/// Reading a write's JSON body: at most `maxBytes`, `application/json` only, the common compact form read without
/// a decoder, anything else through `JSONDecoder`; every refusal in the contract's terms (413, 415, 400).
struct JSONBodyReader: Sendable {
    let maxBytes: Int

    /// A body's value: read by `compact` when the client sent the common compact form, else by the JSON decoder.
    func decode<Body: Decodable, Value>(
        _ type: Body.Type, from request: Request, compact: ([UInt8]) -> Value?, _ value: (Body) -> Value
    ) async throws -> Value {
        let buffer = try await json(of: request, allowEmpty: false)
        if let fast = compact(Array(buffer.readableBytesView)) { return fast }
        return value(try Self.decodeJSON(Body.self, buffer))
    }

    /// The body decoded as `Body`; an empty body reads as `{}`.
    func decodeAllowingEmpty<Body: Decodable>(_ type: Body.Type, from request: Request) async throws -> Body {
        let buffer = try await json(of: request, allowEmpty: true)
        if buffer.readableBytes == 0 { return try JSONDecoder().decode(Body.self, from: Data("{}".utf8)) }
        return try Self.decodeJSON(Body.self, buffer)
    }

    /// The body (at most `maxBytes`) of a request that says it is JSON; or an empty one where `allowEmpty`.
    private func json(of request: Request, allowEmpty: Bool) async throws -> ByteBuffer {
        var mutable = request
        let buffer: ByteBuffer
        do {
            buffer = try await mutable.collectBody(upTo: maxBytes)
        } catch {
            throw APIError.tooLarge
        }
        if allowEmpty, buffer.readableBytes == 0 { return buffer }
        guard Self.isJSON(request.headers[.contentType]) else { throw APIError.unsupportedMediaType }
        return buffer
    }

    private static func decodeJSON<Body: Decodable>(_ type: Body.Type, _ buffer: ByteBuffer) throws -> Body {
        do {
            return try JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest(describe(error))
        }
    }

    /// `application/json`, in any case, with or without parameters (`; charset=utf-8`); `application/jsonx` is not.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }
        let trimmed = mediaType.drop { $0 == 32 || $0 == 9 }.reversed().drop { $0 == 32 || $0 == 9 }.reversed()
        let expected = "application/json".utf8
        func lowercased(_ byte: UInt8) -> UInt8 { (65...90).contains(byte) ? byte + 32 : byte }
        return trimmed.count == expected.count && zip(trimmed, expected).allSatisfy { lowercased($0) == $1 }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "the body has no '\(key.stringValue)' field"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: "the body is not valid JSON or a number is out of range"
        default: "the body is not valid JSON"
        }
    }
}

/// The bodies of the writes.
enum WriteBodies {
    struct Reserve: Decodable {
        let seatIds: [Int64]
    }

    struct Charge: Decodable {
        let amount: Int64
    }

    /// `{}`: any JSON object (its fields are ignored), and nothing else. The synthesized decoder of an empty
    /// struct reads nothing, so it would accept `[]`, `5` or `"x"`; asking for an object refuses them.
    struct Empty: Decodable {
        private struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            _ = try decoder.container(keyedBy: AnyKey.self)
        }
    }
}
