import Foundation
import TestSupport
import Testing
@testable import TokenAuth

/// HS256 bearer tokens: the signer's tokens verify; every other token is refused for the right reason.
@Suite("Bearer tokens")
struct TokenTests {
    static let secret = "test-secret-of-at-least-32-bytes!!"
    static let now: Int64 = 1_795_550_400

    static func verifier(leeway: Int64 = 5) throws(TokenError) -> BearerTokenVerifier {
        var verifier = try BearerTokenVerifier(secret: secret)
        verifier.leeway = leeway
        return verifier
    }

    static func decodeBase64url(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    /// A token with the header and claims written by hand, signed (independently of TokenAuth) with `secret` unless
    /// a signature is given.
    static func token(
        header: String = #"{"alg":"HS256","typ":"JWT"}"#, claims: String, secret: String = secret,
        signature: String? = nil
    ) -> String {
        HandSignedToken.make(header: header, claims: claims, secret: secret, signature: signature)
    }

    static func claims(sub: String = #""42""#, exp: Int64? = now + 600, nbf: Int64? = nil) -> String {
        var fields = [#""sub":\#(sub)"#, #""iat":\#(now)"#]
        if let exp { fields.append(#""exp":\#(exp)"#) }
        if let nbf { fields.append(#""nbf":\#(nbf)"#) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func refusal(_ token: String, leeway: Int64 = 5, now: Int64 = now) throws -> TokenError? {
        let verifier = try verifier(leeway: leeway)
        do throws(TokenError) {
            _ = try verifier.userID(fromToken: token, now: now)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Accepted

    @Test("a signed token gives back its user", arguments: [Int64(1), 42, .max])
    func signerVerifierRoundTrip(user: Int64) throws {
        let token = try BearerTokenSigner(secret: Self.secret).token(userID: user, issuedAt: Self.now, ttlSeconds: 3_600)
        #expect(try Self.verifier().userID(fromToken: token, now: Self.now) == user)
        #expect(try Self.verifier().userID(fromToken: Substring(token), now: Self.now + 3_599) == user)
    }

    @Test("the signer writes a standard JWT: HS256 header, string sub, numeric exp, HMAC-SHA256 of the first two parts")
    func signerWritesStandardJWT() throws {
        let token = try BearerTokenSigner(secret: Self.secret).token(userID: 42, issuedAt: Self.now, ttlSeconds: 600)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        try #require(parts.count == 3)
        #expect(!token.contains("="))
        let headerData = try #require(Self.decodeBase64url(parts[0]))
        let claimsData = try #require(Self.decodeBase64url(parts[1]))
        let header = try #require(try JSONSerialization.jsonObject(with: headerData) as? [String: Any])
        let claims = try #require(try JSONSerialization.jsonObject(with: claimsData) as? [String: Any])
        #expect(header["alg"] as? String == "HS256")
        #expect(claims["sub"] as? String == "42")
        #expect((claims["exp"] as? NSNumber)?.int64Value == Self.now + 600)
        let mac = HandSignedToken.hmacSHA256(key: Array(Self.secret.utf8), message: Array((parts[0] + "." + parts[1]).utf8))
        #expect(String(parts[2]) == HandSignedToken.base64url(mac))
    }

    @Test("a hand-made token with nbf in the past and extra claims is accepted")
    func handMadeTokenAccepted() throws {
        let token = Self.token(claims: #"{"sub":"7","exp":\#(Self.now + 60),"nbf":\#(Self.now - 60),"aud":"x","iat":1}"#)
        #expect(try Self.verifier().userID(fromToken: token, now: Self.now) == 7)
        let fractional = Self.token(claims: #"{"sub":"7","exp":\#(Self.now).75}"#)
        #expect(try Self.verifier(leeway: 0).userID(fromToken: fractional, now: Self.now) == 7)
    }

    // MARK: Refused

    @Test("a token signed with another secret is refused")
    func forgedSignature() throws {
        let forged = Self.token(claims: Self.claims(), secret: "another-secret-also-32-bytes-long!!")
        #expect(try Self.refusal(forged) == .badSignature)
        let signed = try BearerTokenSigner(secret: "another-secret-also-32-bytes-long!!")
            .token(userID: 42, issuedAt: Self.now, ttlSeconds: 600)
        #expect(try Self.refusal(signed) == .badSignature)
    }

    @Test("changing the claims of a valid token breaks its signature")
    func tamperedClaims() throws {
        let genuine = try BearerTokenSigner(secret: Self.secret).token(userID: 42, issuedAt: Self.now, ttlSeconds: 600)
        let parts = genuine.split(separator: ".")
        let promoted = parts[0] + "." + HandSignedToken.base64url(Array(Self.claims(sub: #""1""#).utf8)) + "." + parts[2]
        #expect(try Self.refusal(promoted) == .badSignature)
        let truncated = parts[0] + "." + parts[1] + "." + parts[2].dropLast(2)
        #expect(try Self.refusal(String(truncated)) != nil)
        #expect(try Self.refusal(parts[0] + "." + parts[1] + ".") == .badSignature)
    }

    @Test(
        "only HS256 is accepted, whatever the token asks for",
        arguments: [#"{"alg":"none","typ":"JWT"}"#, #"{"alg":"None"}"#, #"{"alg":"HS512","typ":"JWT"}"#,
                    #"{"alg":"HS384"}"#, #"{"alg":"RS256"}"#, #"{"alg":"hs256"}"#, #"{"alg":"HS256 "}"#]
    )
    func algorithmNotAllowed(header: String) throws {
        // `none` with an empty signature is the classic attack; a correct HMAC must not rescue a wrong alg either.
        #expect(try Self.refusal(Self.token(header: header, claims: Self.claims(), signature: "")) == .algorithmNotAllowed)
        #expect(try Self.refusal(Self.token(header: header, claims: Self.claims())) == .algorithmNotAllowed)
    }

    @Test("an expired token is refused; leeway covers only a few seconds of clock skew")
    func expired() throws {
        #expect(try Self.refusal(Self.token(claims: Self.claims(exp: Self.now - 3_600))) == .expired)
        #expect(try Self.refusal(Self.token(claims: Self.claims(exp: Self.now - 6))) == .expired)
        #expect(try Self.refusal(Self.token(claims: Self.claims(exp: Self.now - 4))) == nil)
        #expect(try Self.refusal(Self.token(claims: Self.claims(exp: Self.now)), leeway: 0) == .expired)
        #expect(try Self.refusal(Self.token(claims: Self.claims(exp: Self.now + 1)), leeway: 0) == nil)
        let signed = try BearerTokenSigner(secret: Self.secret).token(userID: 42, issuedAt: Self.now, ttlSeconds: 60)
        #expect(try Self.refusal(signed, leeway: 0, now: Self.now + 60) == .expired)
    }

    @Test("a token verified while valid, and so remembered, is refused once past its exp")
    func rememberedTokenStillExpires() throws {
        let verifier = try Self.verifier(leeway: 5)
        let token = try BearerTokenSigner(secret: Self.secret).token(userID: 42, issuedAt: Self.now, ttlSeconds: 60)
        #expect(try verifier.userID(fromToken: token, now: Self.now) == 42)
        #expect(verifier.verified.lookup(token) != nil, "the verifier remembers a token it checked")
        #expect(try verifier.userID(fromToken: token, now: Self.now + 64) == 42, "within the 5 s leeway")
        #expect(throws: TokenError.expired) { try verifier.userID(fromToken: token, now: Self.now + 65) }
        #expect(throws: TokenError.expired) { try verifier.userID(fromToken: token, now: Self.now + 86_400) }
        // A hand-made token with nbf: remembered at a time it was valid, refused at one it is not.
        let windowed = Self.token(claims: Self.claims(exp: Self.now + 10, nbf: Self.now - 10))
        #expect(try verifier.userID(fromToken: windowed, now: Self.now) == 42)
        #expect(throws: TokenError.notYetValid) { try verifier.userID(fromToken: windowed, now: Self.now - 16) }
        #expect(throws: TokenError.expired) { try verifier.userID(fromToken: windowed, now: Self.now + 15) }
    }

    @Test("a token not valid yet is refused")
    func notYetValid() throws {
        #expect(try Self.refusal(Self.token(claims: Self.claims(nbf: Self.now + 3_600))) == .notYetValid)
        #expect(try Self.refusal(Self.token(claims: Self.claims(nbf: Self.now + 1)), leeway: 0) == .notYetValid)
        #expect(try Self.refusal(Self.token(claims: Self.claims(nbf: Self.now)), leeway: 0) == nil)
    }

    @Test(
        "sub must be a positive decimal user id written as a string",
        arguments: [#""0""#, #""-3""#, #""abc""#, #""""#, #""007""#, #""+5""#, #"" 5""#, #""5.0""#, #""1e3""#,
                    #""9223372036854775808""#]
    )
    func badSubject(sub: String) throws {
        #expect(try Self.refusal(Self.token(claims: Self.claims(sub: sub))) == .badSubject)
    }

    @Test("claims of the wrong JSON type make the token malformed", arguments: [
        Self.claims(sub: "5"),  // numeric sub
        Self.claims(sub: "null").replacingOccurrences(of: "null", with: "[\"5\"]"),
        #"{"sub":"5","exp":"\#(now + 600)"}"#,  // string exp
        #"{"sub":"5","exp":\#(now + 600),"nbf":"0"}"#,
        "[]", "null", "not json",
    ])
    func wrongClaimTypes(claims: String) throws {
        #expect(try Self.refusal(Self.token(claims: claims)) == .malformed)
    }

    @Test("exp and sub are required")
    func missingClaims() throws {
        #expect(try Self.refusal(Self.token(claims: Self.claims(exp: nil))) == .missingClaim("exp"))
        #expect(try Self.refusal(Self.token(claims: #"{"exp":\#(Self.now + 600)}"#)) == .missingClaim("sub"))
        #expect(try Self.refusal(Self.token(claims: "{}")) == .missingClaim("exp"))
    }

    @Test(
        "garbage is malformed",
        arguments: ["", ".", "..", "abc", "a.b", "a.b.c.d", "!!!.???.###", "Bearer x.y.z",
                    "eyJhbGciOiJIUzI1NiJ9.e30", "e30.e30.e30",  // header without alg
                    "eyJhbGciOiJIUzI1NiJ9=.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.a+b/",  // padded / non-url alphabet
                    "eyJhbGciOiJIUzI1NiJ9.e30.abcde"]  // a base64 length that cannot be
    )
    func garbage(token: String) throws {
        #expect(try Self.refusal(token) == .malformed)
    }

    @Test("an oversized token is refused before any work")
    func oversized() throws {
        let huge = Self.token(claims: #"{"sub":"5","exp":\#(Self.now + 600),"pad":""# + String(repeating: "x", count: 5_000) + "\"}")
        #expect(try Self.refusal(huge) == .malformed)
    }

    @Test("a secret under 32 bytes is refused by both sides")
    func weakSecret() {
        for secret in ["", "short", String(repeating: "k", count: 31)] {
            #expect(throws: TokenError.weakSecret) { try BearerTokenVerifier(secret: secret) }
            #expect(throws: TokenError.weakSecret) { try BearerTokenSigner(secret: secret) }
        }
        #expect(throws: Never.self) { try BearerTokenVerifier(secret: String(repeating: "k", count: 32)) }
        #expect(throws: Never.self) { try BearerTokenSigner(secret: String(repeating: "é", count: 16)) }  // 32 bytes
    }

    @Test("every refusal explains itself to an operator")
    func descriptions() {
        let errors: [TokenError] = [.weakSecret, .malformed, .algorithmNotAllowed, .badSignature, .expired,
                                    .notYetValid, .badSubject, .missingClaim("exp")]
        #expect(Set(errors.map(\.description)).count == errors.count)
        #expect(TokenError.weakSecret.description.contains("CONCERT_JWT_SECRET"))
        #expect(TokenError.missingClaim("exp").description.contains("exp"))
    }

    @Test("the signer's claims are read without a decoder exactly as the decoder reads them; others fall back")
    func compactClaims() throws {
        for text in [#"{"sub":"42","iat":1795550400,"exp":1795554000}"#, #"{"sub":"7","iat":0,"exp":1}"#] {
            let fast = try #require(BearerTokenVerifier.Claims(compact: Array(text.utf8)))
            let decoded = try JSONDecoder().decode(BearerTokenVerifier.Claims.self, from: Data(text.utf8))
            #expect(fast.sub == decoded.sub && fast.exp == decoded.exp && fast.nbf == decoded.nbf)
        }
        for text in [
            #"{"sub":"42","exp":1795554000}"#, #"{"sub":"42","iat":1,"exp":1,"nbf":2}"#, #"{"sub":42,"iat":1,"exp":1}"#,
            #"{"sub":"42","iat":1,"exp":1.5}"#, #"{"sub":"42","iat":1,"exp":1} "#, #"{"sub":"-4","iat":1,"exp":1}"#,
            #"{"sub":"42","iat":1,"exp":1234567890123456789}"#, #"{"exp":1,"iat":1,"sub":"42"}"#, "",
            #"{"sub":"007","iat":0,"exp":1}"#,  // a leading zero: the decoder reads it, and the subject check refuses it
        ] {
            #expect(BearerTokenVerifier.Claims(compact: Array(text.utf8)) == nil, "\(text)")
        }
        // A token whose claims need the decoder (nbf present, other order) still verifies.
        let token = Self.token(
            header: #"{"typ":"JWT","alg":"HS256"}"#, claims: #"{"exp":\#(Self.now + 60),"nbf":\#(Self.now - 60),"sub":"9"}"#
        )
        #expect(try Self.verifier().userID(fromToken: token, now: Self.now) == 9)
    }
}
