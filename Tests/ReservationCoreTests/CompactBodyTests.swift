import Foundation
import Testing
@testable import ReservationCore

/// The decoder-free reading of the common bodies: whatever it accepts, it reads exactly as JSON does; everything
/// else it leaves to the full decoder.
@Suite("Compact request bodies")
struct CompactBodyTests {
    struct Seats: Decodable { let seatIds: [Int64] }
    struct Charge: Decodable { let amount: Int64 }

    @Test("compact seat lists read as JSON reads them", arguments: [
        #"{"seatIds":[1]}"#, #"{"seatIds":[1,2,3,4]}"#, #"{"seatIds":[]}"#, #"{"seatIds":[0]}"#,
        #"{"seatIds":[999999999999999999]}"#, #"{"seatIds":[5,5]}"#,
    ])
    func seats(body: String) throws {
        let fast = try #require(CompactBody.seatIDs(Array(body.utf8)))
        #expect(fast == (try JSONDecoder().decode(Seats.self, from: Data(body.utf8))).seatIds)
    }

    @Test("anything else is left to the decoder", arguments: [
        "", "{", #"{"seatIds":[1,2]"#, #"{"seatIds":[1,2]} "#, #" {"seatIds":[1]}"#, #"{"seatIds": [1]}"#,
        #"{"seatIds":[01]}"#, #"{"seatIds":[-1]}"#, #"{"seatIds":[1.0]}"#, #"{"seatIds":[1e3]}"#,
        #"{"seatIds":[1,]}"#, #"{"seatIds":[,1]}"#, #"{"seatIds":["1"]}"#, #"{"seatIds":[1],"x":1}"#,
        #"{"seatIds":[9999999999999999999]}"#, #"{"seatIDs":[1]}"#, #"{"seatIds":[1]}x"#,
        #"{"seatIds":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}"#,
    ])
    func seatsFallBack(body: String) {
        #expect(CompactBody.seatIDs(Array(body.utf8)) == nil)
    }

    @Test("compact amounts read as JSON reads them, everything else falls back")
    func amounts() throws {
        for body in [#"{"amount":1}"#, #"{"amount":50000}"#, #"{"amount":0}"#] {
            #expect(CompactBody.amount(Array(body.utf8)) == (try JSONDecoder().decode(Charge.self, from: Data(body.utf8))).amount)
        }
        for body in [#"{"amount":-5}"#, #"{"amount": 5}"#, #"{"amount":5.5}"#, #"{"amount":05}"#, #"{"amount":5,"a":1}"#, "{}"] {
            #expect(CompactBody.amount(Array(body.utf8)) == nil)
        }
    }
}
