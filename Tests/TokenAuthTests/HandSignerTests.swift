import Foundation
import TestSupport
import Testing

/// The tests' own HMAC-SHA256 (TestSupport's `HandSignedToken`), so no token test rests on a broken signer.
@Suite("Hand signer")
struct HandSignerTests {
    @Test("HMAC-SHA256 matches RFC 4231 test cases 1 and 2")
    func rfc4231() {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let case1 = HandSignedToken.hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
        #expect(hex(case1) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        let case2 = HandSignedToken.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(hex(case2) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
