/// Which of Redis Cluster's 16384 hash slots a key lives in, as the cluster specification defines it:
/// CRC16 (XMODEM) of the key's hash tag — the bytes inside its first `{…}` when that is not empty — or of the whole
/// key, modulo 16384. Keys with the same tag (`concert:{p17}:pending`, `concert:{p17}:inflight`) share a slot, which
/// is what lets one script or `MULTI`/`EXEC` touch them together.
public enum RedisClusterSlot {
    /// Number of hash slots in every Redis Cluster.
    public static let count = 16384

    /// The slot of a key given as text (its UTF-8 bytes).
    public static func of(_ key: String) -> Int {
        var key = key
        return key.withUTF8 { of(UnsafeRawBufferPointer($0)) }
    }

    /// The slot of a binary key.
    public static func of(_ key: [UInt8]) -> Int {
        key.withUnsafeBytes { of($0) }
    }

    /// The slot of a binary key given in place.
    public static func of(_ key: UnsafeRawBufferPointer) -> Int {
        Int(crc16(hashTag(key)) & 0x3FFF)
    }

    /// The part of `key` that is hashed: inside the first `{` and the first `}` after it, if that is not empty;
    /// otherwise the whole key (so `{}x` and `x{` hash whole, as the specification says).
    static func hashTag(_ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key }
        let afterOpen = open + 1
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close > afterOpen else { return key }
        return UnsafeRawBufferPointer(rebasing: key[afterOpen..<close])
    }

    /// CRC16-CCITT in the XMODEM variant (polynomial 0x1021, initial value 0, no reflection), as Redis uses.
    public static func crc16(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ crcTable[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    /// CRC16 of a byte array (for tests and callers with arrays).
    public static func crc16(_ bytes: [UInt8]) -> UInt16 {
        bytes.withUnsafeBytes { crc16($0) }
    }

    /// Byte-at-a-time lookup table, computed once from the polynomial.
    private static let crcTable: [UInt16] = (0..<256).map { (index: Int) -> UInt16 in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
