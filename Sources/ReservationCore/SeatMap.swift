/// The body of `GET /v1/performances/{id}/seats`:
/// `{"performanceId":1,"asOf":"…","seats":[{"id":1,"label":"A-1-1","price":50000,"status":"available"},…]}`,
/// in seat-id order, `status` `available`, `held` or `sold`. The pass renders it from the performance it keeps in
/// memory (no query per publication); `SeatMapDigest` reads it back for the live page.
public enum SeatMap {
    public static func json(_ inventory: PerformanceInventory, asOf seconds: Int64) -> String {
        String(decoding: bytes(inventory, asOf: seconds), as: UTF8.self)
    }

    /// The same, as UTF-8 bytes (what the pass sends: a large hall's map is tens of megabytes).
    public static func bytes(_ inventory: PerformanceInventory, asOf seconds: Int64) -> [UInt8] {
        var held: Set<Int64> = []
        for hold in inventory.holds.values { held.formUnion(hold.seatIDs) }
        var out: [UInt8] = []
        out.reserveCapacity(inventory.prices.count * 64 + 96)
        out.append(contentsOf: "{\"performanceId\":".utf8)
        ByteText.appendDecimal(inventory.performanceID, to: &out)
        out.append(contentsOf: ",\"asOf\":\"\(Timestamp.iso8601(seconds: seconds))\",\"seats\":[".utf8)
        for (index, seat) in inventory.prices.keys.sorted().enumerated() {
            out.append(contentsOf: index > 0 ? ",{\"id\":".utf8 : "{\"id\":".utf8)
            ByteText.appendDecimal(seat, to: &out)
            out.append(contentsOf: ",\"label\":".utf8)
            out.append(contentsOf: JSONText.quoted(inventory.labels[seat] ?? "").utf8)
            out.append(contentsOf: ",\"price\":".utf8)
            ByteText.appendDecimal(inventory.prices[seat] ?? 0, to: &out)
            let status = !inventory.taken.contains(seat) ? "available" : held.contains(seat) ? "held" : "sold"
            out.append(contentsOf: ",\"status\":\"\(status)\"}".utf8)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }
}
