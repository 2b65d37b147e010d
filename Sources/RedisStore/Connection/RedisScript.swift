import Synchronization

/// A Lua script and its SHA1, the name `EVALSHA` calls it by.
///
/// Creating one registers it in a process-wide table (SHA1 → source), and so does every `SCRIPT LOAD` sent through
/// a `RedisClusterConnection`. That table is what lets the cluster client answer a `NOSCRIPT` by itself: each master
/// has its own script cache (emptied by a restart, a failover to a replica that never saw the script, or
/// `SCRIPT FLUSH`), so an `EVALSHA` that worked on one master may find nothing on another; the client then loads the
/// source on that master and sends the `EVALSHA` again (it did not run the first time).
///
///     static let take = RedisScript("return redis.call('LPOP', KEYS[1])")
///     try redis.command(["EVALSHA", take.sha1, "1", key])
public struct RedisScript: Sendable, Hashable {
    public let source: String
    /// Lower-case hexadecimal SHA1 of the source's UTF-8 bytes, as Redis computes it.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(Array(source.utf8))
        Self.register(self)
    }

    /// The source of a script this process has created or loaded, by SHA1 (any case).
    public static func registered(sha1: String) -> String? {
        registry.withLock { $0[sha1.lowercased()] }
    }

    /// Adds the script to the process-wide table (idempotent).
    static func register(_ script: RedisScript) {
        registry.withLock { table in
            if table[script.sha1] == nil { table[script.sha1] = script.source }
        }
    }

    /// A handful of scripts per process, never removed: they are part of the program.
    private static let registry = Mutex<[String: String]>([:])
}

/// SHA1 (FIPS 180-4), only to name Lua scripts the way Redis does; not used for anything secret.
enum SHA1 {
    static func hexDigest(_ message: [UInt8]) -> String {
        let digest = hash(message)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(40)
        for byte in digest {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func hash(_ message: [UInt8]) -> [UInt8] {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        var padded = message
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        let bitLength = UInt64(message.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }

        var w = [UInt32](repeating: 0, count: 80)
        for chunk in stride(from: 0, to: padded.count, by: 64) {
            for i in 0..<16 {
                let b = chunk + i * 4
                w[i] = UInt32(padded[b]) << 24 | UInt32(padded[b + 1]) << 16 | UInt32(padded[b + 2]) << 8 | UInt32(padded[b + 3])
            }
            for i in 16..<80 {
                let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                w[i] = x << 1 | x >> 31
            }
            var (a, b, c, d, e) = h
            for i in 0..<80 {
                let f: UInt32
                let k: UInt32
                switch i {
                case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
                case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
                case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
                default: f = b ^ c ^ d; k = 0xCA62_C1D6
                }
                let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
                e = d
                d = c
                c = b << 30 | b >> 2
                b = a
                a = temp
            }
            h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
        }
        var digest: [UInt8] = []
        digest.reserveCapacity(20)
        for word in [h.0, h.1, h.2, h.3, h.4] {
            for shift in stride(from: 24, through: 0, by: -8) { digest.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return digest
    }
}
