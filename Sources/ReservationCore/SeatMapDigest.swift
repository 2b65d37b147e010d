/// A performance's seat map reduced to what the live page draws: one state per seat in the seat map's order
/// (seat id), and the hall's layout derived from the labels `SECTION-ROW-SEAT` — sections, and in each, groups of
/// consecutive rows of equal length. A 100,000-seat map (about 6 MB of JSON) becomes 100,000 bytes of states and a
/// layout of a few hundred bytes.
public struct SeatMapDigest: Sendable, Equatable {
    /// Rows `firstRow`, `firstRow + 1`, … (`rows` of them, each `seatsPerRow` seats) whose states are
    /// `states[start ..< start + rows × seatsPerRow]`, row after row. A row whose label is not a number is a group
    /// of its own.
    public struct RowGroup: Sendable, Equatable {
        public var firstRow: String
        public var rows: Int
        public var seatsPerRow: Int
        public var start: Int

        public init(firstRow: String, rows: Int, seatsPerRow: Int, start: Int) {
            self.firstRow = firstRow
            self.rows = rows
            self.seatsPerRow = seatsPerRow
            self.start = start
        }
    }

    public struct Section: Sendable, Equatable {
        public var name: String
        public var groups: [RowGroup]

        public init(name: String, groups: [RowGroup]) {
            self.name = name
            self.groups = groups
        }
    }

    /// The seat map's `asOf` (when the pass published it).
    public var asOf: String?
    /// One ASCII byte per seat in the seat map's order: `a` available, `h` held, `s` sold.
    public var states: [UInt8]
    public var sections: [Section]
    public private(set) var available = 0
    public private(set) var held = 0
    public private(set) var sold = 0

    public static let availableState = UInt8(ascii: "a")
    public static let heldState = UInt8(ascii: "h")
    public static let soldState = UInt8(ascii: "s")

    /// The part of `/v1/status` this map contributes, rendered once per map (the ingest keeps it until the map
    /// changes): `{"asOf":…,"counts":{…},"states":"…","sections":[…]}`.
    public var json: String {
        var out = "{\"asOf\":" + (asOf.map(JSONText.quoted) ?? "null")
        out += ",\"counts\":{\"available\":\(available),\"held\":\(held),\"sold\":\(sold)},\"states\":\""
        out.reserveCapacity(states.count + 64 + sections.reduce(0) { $0 + 24 + $1.groups.count * 64 })
        out += String(decoding: states, as: UTF8.self)
        out += "\",\"sections\":["
        for (index, section) in sections.enumerated() {
            if index > 0 { out += "," }
            out += "{\"name\":" + JSONText.quoted(section.name) + ",\"groups\":["
            for (groupIndex, group) in section.groups.enumerated() {
                if groupIndex > 0 { out += "," }
                out += "{\"firstRow\":" + JSONText.quoted(group.firstRow)
                out += ",\"rows\":\(group.rows),\"seatsPerRow\":\(group.seatsPerRow),\"start\":\(group.start)}"
            }
            out += "]}"
        }
        return out + "]}"
    }

    /// Seats by label and state, in seat order (what the seat map JSON lists).
    public init(seats: [(label: String, state: UInt8)], asOf: String?) {
        var builder = LayoutBuilder()
        for (label, state) in seats {
            Array(label.utf8).withUnsafeBufferPointer { builder.add(label: $0, state: state) }
        }
        self.init(builder: builder, asOf: asOf)
    }

    /// Reads the JSON of `GET /v1/performances/{id}/seats` (`{"asOf":…,"seats":[{"label":…,"status":…},…]}`, keys
    /// in any order, other keys ignored) in one pass over the bytes; nil when it is not that shape.
    public init?(seatMapJSON bytes: [UInt8]) {
        let parsed: (LayoutBuilder, String?)? = bytes.withUnsafeBufferPointer { buffer in
            var reader = SeatMapReader(bytes: buffer)
            return reader.read()
        }
        guard let (builder, asOf) = parsed else { return nil }
        self.init(builder: builder, asOf: asOf)
    }

    private init(builder: LayoutBuilder, asOf: String?) {
        var builder = builder
        builder.finishRun()
        self.asOf = asOf
        self.states = builder.states
        self.sections = builder.sections
        for state in states {
            switch state {
            case Self.heldState: held += 1
            case Self.soldState: sold += 1
            default: available += 1
            }
        }
    }
}

/// Groups seats into sections and rows as they arrive, without a String per seat: a seat joins the current run
/// when its section and row bytes equal the run's.
struct LayoutBuilder {
    /// Seats a row holds at most: a longer run (labels without rows) is cut, so it still draws as a block.
    static let longestRow = 100
    var states: [UInt8] = []
    var sections: [SeatMapDigest.Section] = []
    private var sectionIndex: [String: Int] = [:]
    private var runSection: [UInt8] = []
    private var runRow: [UInt8] = []
    private var runStart = 0
    private var runCount = 0

    mutating func add(label: UnsafeBufferPointer<UInt8>, state: UInt8) {
        // SECTION-ROW-SEAT: the last two dashes split it (a section name may hold dashes of its own).
        let dash = UInt8(ascii: "-")
        var last = -1
        var beforeLast = -1
        var index = label.count - 1
        while index >= 0 {
            if label[index] == dash {
                if last < 0 { last = index } else { beforeLast = index; break }
            }
            index -= 1
        }
        let section: Slice<UnsafeBufferPointer<UInt8>>
        let row: Slice<UnsafeBufferPointer<UInt8>>
        if beforeLast >= 0 {
            section = label[0..<beforeLast]
            row = label[(beforeLast + 1)..<last]
        } else if last >= 0 {
            section = label[0..<0]
            row = label[0..<last]
        } else {
            section = label[0..<0]
            row = label[0..<0]
        }
        if runCount > 0, runCount < Self.longestRow, section.elementsEqual(runSection), row.elementsEqual(runRow) {
            runCount += 1
        } else {
            finishRun()
            runSection = Array(section)
            runRow = Array(row)
            runStart = states.count
            runCount = 1
        }
        states.append(state)
    }

    /// Files the current run of seats (one row) under its section, extending the section's last group when the
    /// row continues it (next row number, same length, next seats).
    mutating func finishRun() {
        guard runCount > 0 else { return }
        let name = String(decoding: runSection, as: UTF8.self)
        let row = String(decoding: runRow, as: UTF8.self)
        let index: Int
        if let known = sectionIndex[name] {
            index = known
        } else {
            index = sections.count
            sectionIndex[name] = index
            sections.append(SeatMapDigest.Section(name: name, groups: []))
        }
        if var group = sections[index].groups.last, group.seatsPerRow == runCount,
           group.start + group.rows * group.seatsPerRow == runStart,
           let first = Self.rowNumber(group.firstRow), let this = Self.rowNumber(row), this == first + group.rows {
            group.rows += 1
            sections[index].groups[sections[index].groups.count - 1] = group
        } else {
            sections[index].groups.append(SeatMapDigest.RowGroup(firstRow: row, rows: 1, seatsPerRow: runCount, start: runStart))
        }
        runCount = 0
    }

    /// A row label that is a plain decimal number (no sign, no leading zero), so `first + k` names row k.
    private static func rowNumber(_ text: String) -> Int? {
        guard let value = Int(text), value >= 0, String(value) == text else { return nil }
        return value
    }
}

/// A small JSON reader for the seat map: the top-level object's `asOf` and `seats`, and in each seat its `label`
/// and `status`; every other value is skipped whole. Refuses anything that is not well-formed where it reads.
private struct SeatMapReader {
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
