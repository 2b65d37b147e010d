// swift-crypto 3.12 does not yet mark SymmetricKey Sendable; it is an immutable value, safe to share.
@preconcurrency import Crypto
import Foundation
import ReservationCore
import Synchronization

/// HS256 JSON Web Tokens: the only algorithm we accept, with `sub` (a positive decimal user id) and `exp`
/// required and `nbf` honoured. The header's `alg` must be exactly `HS256`: `none` and every other
/// algorithm are refused before any signature work, so a token cannot choose how it is checked.
public struct BearerTokenVerifier: Sendable {
    private let key: SymmetricKey
    /// Tokens whose signature and claims were already checked: a buyer sends the same token with every
    /// request, and verifying it again (two base64 decodes, two JSON parses, an HMAC) cost more CPU than
    /// everything else the ingest does per request. The time claims are still checked on every use.
    let verified = VerifiedTokens(capacity: 200_000)
    /// Clock skew allowed on `exp` and `nbf`.
    public var leeway: Int64 = 5

    public static let minimumSecretBytes = 32

    public init(secret: String) throws(TokenError) {
        guard secret.utf8.count >= Self.minimumSecretBytes else { throw .weakSecret }
        self.key = SymmetricKey(data: Array(secret.utf8))
    }

    /// The token's user id, or why the token is refused.
    public func userID(fromToken token: some StringProtocol, now: Int64) throws(TokenError) -> Int64 {
        let token = String(token)
        if let known = verified.lookup(token) {
            guard Double(now) < known.exp + Double(leeway) else { throw .expired }
            if let nbf = known.nbf { guard Double(now + leeway) >= nbf else { throw .notYetValid } }
            return known.user
        }
        let (user, exp, nbf) = try verify(token, now: now)
        verified.insert(token, VerifiedTokens.Entry(user: user, exp: exp, nbf: nbf))
        return user
    }

    /// The full check: header, signature, then claims.
    private func verify(_ token: String, now: Int64) throws(TokenError) -> (Int64, Double, Double?) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 4096, parts.count == 3 else { throw .malformed }
        guard let headerBytes = Base64URL.decode(parts[0]) else { throw .malformed }
        // The header our signer writes, byte for byte, needs no decoder; any other goes through JSONDecoder.
        if headerBytes != Self.standardHeader {
            guard let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)) else { throw .malformed }
            guard header.alg == "HS256" else { throw .algorithmNotAllowed }
        }
        guard let signature = Base64URL.decode(parts[2]) else { throw .malformed }
        let signed = Data(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: key) else {
            throw .badSignature
        }
        guard let payloadBytes = Base64URL.decode(parts[1]),
              let claims = Claims(compact: payloadBytes) ?? (try? JSONDecoder().decode(Claims.self, from: Data(payloadBytes)))
        else { throw .malformed }
        guard let exp = claims.exp else { throw .missingClaim("exp") }
        guard exp.isFinite, Double(now) < exp + Double(leeway) else { throw .expired }
        if let nbf = claims.nbf {
            guard nbf.isFinite, Double(now + leeway) >= nbf else { throw .notYetValid }
        }
        guard let sub = claims.sub else { throw .missingClaim("sub") }
        guard let user = Int64(sub), user > 0, String(user) == sub else { throw .badSubject }
        return (user, exp, claims.nbf)
    }

    private struct Header: Decodable {
        let alg: String
    }

    /// A claim of the wrong JSON type (a numeric `sub`, a string `exp`) fails decoding: the token is refused.
    /// `{"alg":"HS256","typ":"JWT"}`, as `BearerTokenSigner` writes it.
    static let standardHeader = Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8)

    struct Claims: Decodable {
        let sub: String?
        let exp: Double?
        let nbf: Double?

        init(sub: String?, exp: Double?, nbf: Double?) {
            self.sub = sub
            self.exp = exp
            self.nbf = nbf
        }

        /// Exactly `{"sub":"<digits>","iat":<digits>,"exp":<digits>}`, the claims `BearerTokenSigner` writes, read
        /// without a decoder (an on-sale verifies a new token for nearly every buyer); nil for anything else, which
        /// then goes through JSONDecoder.
        init?(compact bytes: [UInt8]) {
            var reader = ByteText.CompactReader(bytes)
            guard reader.skip(#"{"sub":""#), let sub = reader.integer(), reader.skip(#"","iat":"#), reader.integer() != nil,
                  reader.skip(#","exp":"#), let exp = reader.integer(), reader.skip("}"), reader.atEnd
            else { return nil }
            self.init(sub: String(sub), exp: Double(exp), nbf: nil)
        }
    }
}

/// Signs tokens for `concert-admin token` and the tests.
public struct BearerTokenSigner: Sendable {
    private let key: SymmetricKey

    public init(secret: String) throws(TokenError) {
        guard secret.utf8.count >= BearerTokenVerifier.minimumSecretBytes else { throw .weakSecret }
        self.key = SymmetricKey(data: Array(secret.utf8))
    }

    public func token(userID: Int64, issuedAt: Int64, ttlSeconds: Int64) -> String {
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let claims = Base64URL.encode(Array(#"{"sub":"\#(userID)","iat":\#(issuedAt),"exp":\#(issuedAt + ttlSeconds)}"#.utf8))
        let signingInput = header + "." + claims
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: key)
        return signingInput + "." + Base64URL.encode(Array(mac))
    }
}

public enum TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    case weakSecret, malformed, algorithmNotAllowed, badSignature, expired, notYetValid, badSubject
    case missingClaim(String)

    public var description: String {
        switch self {
        case .weakSecret: "CONCERT_JWT_SECRET must be at least \(BearerTokenVerifier.minimumSecretBytes) bytes"
        case .malformed: "the bearer token is not a well-formed JWT"
        case .algorithmNotAllowed: "the bearer token must be signed with HS256"
        case .badSignature: "the bearer token's signature does not match"
        case .expired: "the bearer token has expired"
        case .notYetValid: "the bearer token is not valid yet"
        case .badSubject: "the bearer token's sub must be a positive decimal user id"
        case .missingClaim(let name): "the bearer token has no \(name) claim"
        }
    }
}

/// Base64url without padding (RFC 7515 §2), by table: no Foundation string rewriting on the hot path.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 2 < bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let n = UInt32(bytes[index]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil for anything outside the url-safe alphabet (padding, `+`, `/` included) or of impossible length.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in input {
            let value = values[Int(byte)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero (canonical encoding), or two texts would decode to the same bytes.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}

/// A bounded set of verified tokens. Cleared whole when full: simple, and a burst of new tokens only costs a
/// round of re-verification.
final class VerifiedTokens: Sendable {
    struct Entry: Sendable {
        let user: Int64
        let exp: Double
        let nbf: Double?
    }

    private let capacity: Int
    private let entries = Mutex<[String: Entry]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func lookup(_ token: String) -> Entry? {
        entries.withLock { $0[token] }
    }

    func insert(_ token: String, _ entry: Entry) {
        entries.withLock {
            if $0.count >= capacity { $0.removeAll(keepingCapacity: true) }
            $0[token] = entry
        }
    }
}
