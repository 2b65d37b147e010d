extension MariaDBConnection {
    /// Limits of one `insertRows` statement: the protocol counts placeholders in 16 bits, and a
    /// few MB per packet stays far below the default `max_allowed_packet` (16 MB).
    static let maxPlaceholders = 65_535
    static let maxStatementBytes = 4 * 1024 * 1024

    /// Inserts many rows with as few statements as possible: `prefix` such as
    /// `"INSERT INTO t (a,b,c) VALUES"`, one `rowPlaceholder` such as `"(?,?,?)"` per row, then
    /// `suffix` (for example `"ON DUPLICATE KEY UPDATE c = VALUES(c)"`).
    ///
    /// Rows are cut into chunks of at most 65,535 placeholders and about 4 MB; the statement for a
    /// full chunk (65,535 / row width rows) is cached, any other chunk is prepared, run and closed. Every row must have as
    /// many values as `rowPlaceholder` has `?`. Each chunk is its own statement: wrap the call in
    /// `transaction()` when all rows must land or none. Returns the total affected rows (with
    /// `ON DUPLICATE KEY UPDATE`, MariaDB counts an updated row as 2).
    @discardableResult
    public func insertRows(_ prefix: String, rowPlaceholder: String, rows: [[SQLValue]], suffix: String = "") throws(MariaDBError) -> Int64 {
        guard let width = rows.first?.count else { return 0 }
        guard width > 0, width <= Self.maxPlaceholders else {
            throw .client("insertRows needs between 1 and \(Self.maxPlaceholders) values per row, got \(width).")
        }
        if let bad = rows.firstIndex(where: { $0.count != width }) {
            throw .client("insertRows: row \(bad) has \(rows[bad].count) values, row 0 has \(width).")
        }
        let fullChunk = Self.maxPlaceholders / width
        var total: Int64 = 0
        var start = 0
        while start < rows.count {
            var end = start
            var bytes = 0
            while end < rows.count, end - start < fullChunk {
                let rowBytes = rows[end].reduce(0) { $0 + Self.estimatedWireSize($1) }
                if end > start, bytes + rowBytes > Self.maxStatementBytes { break }
                bytes += rowBytes
                end += 1
            }
            // Round a chunk down to a power of two (unless it is a full chunk or cut by the byte limit): batches
            // come in every size, and preparing a statement with thousands of placeholders for each one cost
            // more than running it. This way at most ~log2(fullChunk) shapes per statement are ever prepared.
            var count = end - start
            let cutByBytes = end < rows.count && count < fullChunk
            if count != fullChunk && !cutByBytes {
                count = 1 << (Int.bitWidth - 1 - count.leadingZeroBitCount)
                end = start + count
            }
            var sql = prefix
            sql.reserveCapacity(prefix.utf8.count + count * (rowPlaceholder.utf8.count + 1) + suffix.utf8.count + 2)
            sql += " "
            for index in 0..<count {
                if index > 0 { sql += "," }
                sql += rowPlaceholder
            }
            if !suffix.isEmpty { sql += " " + suffix }
            let parameters = Array(rows[start..<end].joined())
            // Full chunks and powers of two recur (same text every time), so caching them pays; a chunk cut by
            // the byte limit could have any size and would only fill the cache.
            let cache = count == fullChunk || count & (count - 1) == 0
            total += try withRetry { () throws(MariaDBError) in
                try run(sql, parameters, cache: cache)
            }
            start = end
        }
        return total
    }

    /// Bytes one bound value adds to COM_STMT_EXECUTE: 2 type bytes, a length prefix (up to 9) and
    /// the data. An estimate that errs high.
    private static func estimatedWireSize(_ value: SQLValue) -> Int {
        switch value {
        case .null: 2
        case .int, .double: 10
        case .text(let text): 11 + text.utf8.count
        case .blob(let bytes): 11 + bytes.count
        }
    }
}
