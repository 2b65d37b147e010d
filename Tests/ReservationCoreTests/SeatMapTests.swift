import Foundation
import Testing
@testable import ReservationCore

/// The seat map the pass publishes, rendered from the performance it keeps in memory.
@Suite("Seat map")
struct SeatMapTests {
    @Test("every seat in id order with its label, price and status; the live page's digest reads it back")
    func rendersAndReadsBack() throws {
        let paid = Fixture.reservation(2, user: 8, seats: [3], state: .confirmed)
        let held = Fixture.reservation(1, user: 7, seats: [1, 2])
        var inventory = Fixture.inventory(seats: 4, holding: [held, paid])
        inventory = PerformanceInventory(
            performanceID: inventory.performanceID, prices: inventory.prices,
            labels: [1: "A-1-1", 2: "A-1-2", 3: "A-1-3", 4: #"B "VIP"-1-1"#], taken: inventory.taken,
            liveSeatsByUser: inventory.liveSeatsByUser, holds: [held]
        )
        let json = SeatMap.json(inventory, asOf: Fixture.now)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["performanceId"] as? Int == Int(Fixture.performanceID))
        #expect(object["asOf"] as? String == "2026-11-24T20:00:00Z")
        let seats = try #require(object["seats"] as? [[String: Any]])
        #expect(seats.map { $0["id"] as? Int } == [1, 2, 3, 4])
        #expect(seats.map { $0["status"] as? String } == ["held", "held", "sold", "available"])
        #expect(seats.map { $0["price"] as? Int } == [1_000, 2_000, 3_000, 4_000])
        #expect(seats[3]["label"] as? String == #"B "VIP"-1-1"#)
        let digest = try #require(SeatMapDigest(seatMapJSON: Array(json.utf8)))
        #expect(digest.states == Array("hhsa".utf8))
        #expect((digest.available, digest.held, digest.sold) == (1, 2, 1))
    }
}
