/// The request bodies clients almost always send, read without a JSON decoder: exactly `{"seatIds":[1,2]}` or
/// `{"amount":50000}`, no spaces, plain decimal integers. Anything else (spaces, other fields, other number
/// forms, errors) answers nil and goes to the full JSON decoder, so this only ever speeds up, never changes, what
/// a body means.
public enum CompactBody {
    /// The seat ids of `{"seatIds":[<int>,…]}` (at most 16 of them; validation then applies its own limits).
    public static func seatIDs(_ body: [UInt8]) -> [Int64]? {
        var reader = Reader(bytes: body)
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
        var reader = Reader(bytes: body)
        guard reader.skip(#"{"amount":"#), let amount = reader.integer(), reader.skip("}"), reader.atEnd else { return nil }
        return amount
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index == bytes.count }

        mutating func skip(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            let matches = literal.withUTF8Buffer { expected in
                expected.indices.allSatisfy { bytes[index + $0] == expected[$0] }
            }
            if matches { index += count }
            return matches
        }

        /// A JSON integer without sign, exponent or leading zero, of at most 18 digits (so it fits an Int64).
        mutating func integer() -> Int64? {
            var value: Int64 = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                if digits == 1, value == 0 { return nil }  // leading zero: not JSON, let the decoder say so
                if digits == 18 { return nil }  // a 19th digit might not fit: the decoder decides
                value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                digits += 1
                index += 1
            }
            return digits > 0 ? value : nil
        }
    }
}
