import Foundation
import NIOCore

/// Strong validators (`ETag`) of the cached public answers, and `If-None-Match`.
enum EntityTag {
    /// `"<16 hex digits>"`: a 64-bit hash of the bytes, read eight at a time (a 100,000-seat map of 6.4 MB hashes
    /// in a few milliseconds). The same bytes always get the same tag; it guards no secret, so it need not be a
    /// cryptographic hash.
    static func of(_ bytes: UnsafeRawBufferPointer) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(bytes.count)
        let words = bytes.count / 8
        for index in 0..<words {
            let word = bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
            hash = ((hash ^ (word &* 0x9E37_79B9_7F4A_7C15)) << 31 | (hash ^ (word &* 0x9E37_79B9_7F4A_7C15)) >> 33)
                &* 0xC2B2_AE3D_27D4_EB4F
        }
        for index in (words * 8)..<bytes.count {
            hash = (hash ^ UInt64(bytes[index])) &* 0x0000_0100_0000_01B3
        }
        // SplitMix64's finaliser: every input bit reaches every output bit.
        hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        hash ^= hash >> 31
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
    }

    static func of(_ buffer: ByteBuffer) -> String {
        buffer.withUnsafeReadableBytes { of($0) }
    }

    static func of(_ text: String) -> String {
        var text = text
        return text.withUTF8 { of(UnsafeRawBufferPointer($0)) }
    }

    /// `If-None-Match`: `*`, or a comma-separated list of tags (weak ones compared weakly, as RFC 9110 says for it).
    static func matches(_ header: String?, _ etag: String) -> Bool {
        guard let header else { return false }
        for candidate in header.split(separator: ",") {
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            if tag == etag { return true }
        }
        return false
    }
}
