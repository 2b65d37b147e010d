/// The request bodies clients almost always send, read without a JSON decoder: exactly `{"seatIds":[1,2]}` or
/// `{"amount":50000}`, no spaces, plain decimal integers. Anything else (spaces, other fields, other number
/// forms, errors) answers nil and goes to the full JSON decoder, so this only ever speeds up, never changes, what
/// a body means.
public enum CompactBody {
    /// The seat ids of `{"seatIds":[<int>,…]}` (at most 16 of them; validation then applies its own limits).
    public static func seatIDs(_ body: [UInt8]) -> [Int64]? {
        var reader = ByteText.CompactReader(body)
        guard reader.skip(#"{"seatIds":["#) else { return nil }
        var seats: [Int64] = []
        if reader.skip("]}") { return reader.atEnd ? seats : nil }
        while seats.count < 16 {
            guard let seat = reader.integer() else { return nil }
            seats.append(seat)
            if reader.skip(",") { continue }
            return reader.skip("]}") && reader.atEnd ? seats : nil
        }
        return nil
    }

    /// The amount of `{"amount":<int>}`.
    public static func amount(_ body: [UInt8]) -> Int64? {
        var reader = ByteText.CompactReader(body)
        guard reader.skip(#"{"amount":"#), let amount = reader.integer(), reader.skip("}"), reader.atEnd else { return nil }
        return amount
    }
}
