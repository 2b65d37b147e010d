// swift-crypto 3.12 does not yet mark SymmetricKey Sendable; it is an immutable value, safe to share.
@preconcurrency import Crypto
import Foundation

/// HS256 JSON Web Tokens: the only algorithm we accept, with `sub` (a positive decimal user id) and `exp`
/// required and `nbf` honoured. The header's `alg` must be exactly `HS256`: `none` and every other
/// algorithm are refused before any signature work, so a token cannot choose how it is checked.
public struct BearerTokenVerifier: Sendable {
    private let key: SymmetricKey
    /// Clock skew allowed on `exp` and `nbf`.
    public var leeway: Int64 = 5

    public static let minimumSecretBytes = 32

    public init(secret: String) throws(TokenError) {
        guard secret.utf8.count >= Self.minimumSecretBytes else { throw .weakSecret }
        self.key = SymmetricKey(data: Array(secret.utf8))
    }

    /// The token's user id, or why the token is refused.
    public func userID(fromToken token: some StringProtocol, now: Int64) throws(TokenError) -> Int64 {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 4096, parts.count == 3 else { throw .malformed }
        guard let headerBytes = Base64URL.decode(parts[0]),
              let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes))
        else { throw .malformed }
        guard header.alg == "HS256" else { throw .algorithmNotAllowed }
        guard let signature = Base64URL.decode(parts[2]) else { throw .malformed }
        let signed = Data(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: key) else {
            throw .badSignature
        }
        guard let payloadBytes = Base64URL.decode(parts[1]),
              let claims = try? JSONDecoder().decode(Claims.self, from: Data(payloadBytes))
        else { throw .malformed }
        guard let exp = claims.exp else { throw .missingClaim("exp") }
        guard exp.isFinite, Double(now) < exp + Double(leeway) else { throw .expired }
        if let nbf = claims.nbf {
            guard nbf.isFinite, Double(now + leeway) >= nbf else { throw .notYetValid }
        }
        guard let sub = claims.sub else { throw .missingClaim("sub") }
        guard let user = Int64(sub), user > 0, String(user) == sub else { throw .badSubject }
        return user
    }

    private struct Header: Decodable {
        let alg: String
    }

    /// A claim of the wrong JSON type (a numeric `sub`, a string `exp`) fails decoding: the token is refused.
    private struct Claims: Decodable {
        let sub: String?
        let exp: Double?
        let nbf: Double?
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

/// Base64url without padding (RFC 7515 §2).
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard text.utf8.allSatisfy({ $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") })
        else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        switch base64.utf8.count % 4 {
        case 0: break
        case 2: base64 += "=="
        case 3: base64 += "="
        default: return nil
        }
        return Data(base64Encoded: base64).map { Array($0) }
    }
}
