/// Reading and writing the few ASCII forms the hot paths handle as bytes (queue entries' numbers, batch records,
/// the Redis protocol, compact request bodies and token claims), where String and Foundation cost more than the work.
public enum ByteText {
    /// Appends `value` in decimal.
    public static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = out.count
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        out[start...].reverse()
    }

    /// Reads an exact, compact JSON form left to right: literal pieces and plain integers, nothing else. Callers
    /// answer nil for anything it refuses and leave that text to a real JSON decoder.
    public struct CompactReader {
        let bytes: [UInt8]
        var index = 0

        public init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        public var atEnd: Bool { index == bytes.count }

        /// Consumes `literal` if the text continues with exactly it.
        public mutating func skip(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            let matches = literal.withUTF8Buffer { expected in
                expected.indices.allSatisfy { bytes[index + $0] == expected[$0] }
            }
            if matches { index += count }
            return matches
        }

        /// A JSON integer without sign, exponent or leading zero, of at most 18 digits (so it fits an Int64).
        public mutating func integer() -> Int64? {
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
