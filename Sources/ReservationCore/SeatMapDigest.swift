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
