/// A small JSON reader for the seat map: the top-level object's `asOf` and `seats`, and in each seat its `label`
/// and `status`; every other value is skipped whole. Refuses anything that is not well-formed where it reads.
struct SeatMapReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var builder = LayoutBuilder()
    /// A decoded string with escapes (rare: labels are ASCII letters, digits and dashes).
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func read() -> (LayoutBuilder, String?)? {
        var asOf: String?
        var sawSeats = false
        guard consume(UInt8(ascii: "{")) else { return nil }
        if consume(UInt8(ascii: "}")) { return nil }
        repeat {
            guard let key = string() else { return nil }
            guard consume(UInt8(ascii: ":")) else { return nil }
            if equals(key, "seats") {
                guard seats() else { return nil }
                sawSeats = true
            } else if equals(key, "asOf") {
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                    guard let value = string() else { return nil }
                    asOf = String(decoding: text(value), as: UTF8.self)
                } else {
                    guard skipValue() else { return nil }
                }
            } else {
                guard skipValue() else { return nil }
            }
        } while consume(UInt8(ascii: ","))
        guard consume(UInt8(ascii: "}")), sawSeats else { return nil }
        skipWhitespace()
        guard index == bytes.count else { return nil }
        return (builder, asOf)
    }

    private mutating func seats() -> Bool {
        guard consume(UInt8(ascii: "[")) else { return false }
        if consume(UInt8(ascii: "]")) { return true }
        repeat {
            guard consume(UInt8(ascii: "{")) else { return false }
            var label: StringSpan?
            var state: UInt8?
            if !consume(UInt8(ascii: "}")) {
                repeat {
                    guard let key = string(), consume(UInt8(ascii: ":")) else { return false }
                    if equals(key, "label") {
                        skipWhitespace()
                        guard let value = string() else { return false }
                        label = value
                    } else if equals(key, "status") {
                        guard let value = string() else { return false }
                        if equals(value, "available") {
                            state = SeatMapDigest.availableState
                        } else if equals(value, "held") {
                            state = SeatMapDigest.heldState
                        } else if equals(value, "sold") {
                            state = SeatMapDigest.soldState
                        } else {
                            return false
                        }
                    } else {
                        guard skipValue() else { return false }
                    }
                } while consume(UInt8(ascii: ","))
                guard consume(UInt8(ascii: "}")) else { return false }
            }
            guard let label, let state else { return false }
            switch label {
            case .raw(let range):
                builder.add(label: UnsafeBufferPointer(rebasing: bytes[range]), state: state)
            case .decoded(let decoded):
                decoded.withUnsafeBufferPointer { builder.add(label: $0, state: state) }
            }
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "]"))
    }

    /// A string's contents: a range of the input when it has no escapes, else the decoded bytes.
    enum StringSpan {
        case raw(Range<Int>)
        case decoded([UInt8])
    }

    private func text(_ span: StringSpan) -> [UInt8] {
        switch span {
        case .raw(let range): Array(bytes[range])
        case .decoded(let decoded): decoded
        }
    }

    private func equals(_ span: StringSpan, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { expected in
            switch span {
            case .raw(let range): bytes[range].elementsEqual(expected)
            case .decoded(let decoded): decoded.elementsEqual(expected)
            }
        }
    }

    private mutating func string() -> StringSpan? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return .raw(start..<(index - 1))
            }
            if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
            if byte < 0x20 { return nil }
            index += 1
        }
        return nil
    }

    private mutating func escapedString(from start: Int) -> StringSpan? {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return .decoded(scratch)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escape)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "u"):
                    // Kept as the escape's text: a label is only compared and shown, never taken apart by it.
                    guard index + 4 <= bytes.count else { return nil }
                    scratch.append(contentsOf: Array("\\u".utf8) + Array(bytes[index..<(index + 4)]))
                    index += 4
                default: return nil
                }
            default:
                if byte < 0x20 { return nil }
                scratch.append(byte)
            }
        }
        return nil
    }

    private mutating func skipValue() -> Bool {
        skipWhitespace()
        guard index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return string() != nil
        case UInt8(ascii: "{"):
            index += 1
            if consume(UInt8(ascii: "}")) { return true }
            repeat {
                guard string() != nil, consume(UInt8(ascii: ":")), skipValue() else { return false }
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            index += 1
            if consume(UInt8(ascii: "]")) { return true }
            repeat {
                guard skipValue() else { return false }
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "]"))
        default:
            // A number or a literal: the run of bytes that can make one up.
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                let isNumberOrLiteral = (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || byte == UInt8(ascii: "E")
                guard isNumberOrLiteral else { break }
                index += 1
            }
            return index > start
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }
}
