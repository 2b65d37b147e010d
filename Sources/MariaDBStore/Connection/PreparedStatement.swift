import CMariaDB

/// One server-side prepared statement (`MYSQL_STMT`), owned by a `MariaDBConnection`.
///
/// Same thread rule as the connection. It must be closed with `close()` before or after the
/// connection handle is closed (Connector/C detaches statements in `mysql_close`), never used after.
final class PreparedStatement {
    let handle: UnsafeMutablePointer<MYSQL_STMT>
    let parameterCount: Int

    init(connection mysql: UnsafeMutablePointer<MYSQL>, sql: String) throws(MariaDBError) {
        guard let stmt = mysql_stmt_init(mysql) else { throw MariaDBError(connection: mysql) }
        var sql = sql
        let status = sql.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { mysql_stmt_prepare(stmt, $0.baseAddress, UInt($0.count)) }
        }
        if status != 0 {
            let error = MariaDBError(statement: stmt)
            _ = mysql_stmt_close(stmt)
            throw error
        }
        // Let mysql_stmt_store_result record each column's longest value, so result buffers are
        // sized once per query instead of growing on truncation.
        var updateMaxLength: my_bool = 1
        guard mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &updateMaxLength) == 0 else {
            let error = MariaDBError(statement: stmt)
            _ = mysql_stmt_close(stmt)
            throw error
        }
        handle = stmt
        parameterCount = Int(mysql_stmt_param_count(stmt))
    }

    /// Frees the statement (and tells the server, if the connection is still up).
    func close() {
        // Returns non-zero only when COM_STMT_CLOSE could not be sent; the memory is freed either
        // way and the server drops the statement with the connection.
        _ = mysql_stmt_close(handle)
    }

    /// Binds `parameters` and executes. Returns the affected rows and the generated insert ID.
    /// A result set, if any, is left pending for `fetchAll()` or `discardResults()`.
    func execute(_ parameters: [SQLValue]) throws(MariaDBError) -> (affectedRows: Int64, insertID: Int64) {
        guard parameters.count == parameterCount else {
            // Connector/C reads exactly parameterCount binds, so a short array would be read past its end.
            throw .client("The statement has \(parameterCount) placeholders but \(parameters.count) parameters were given.")
        }
        if parameters.isEmpty {
            guard mysql_stmt_execute(handle) == 0 else { throw MariaDBError(statement: handle) }
        } else {
            try ParameterBuffer.withBinds(parameters) { binds throws(MariaDBError) in
                guard mysql_stmt_bind_param(handle, binds) == 0 else { throw MariaDBError(statement: handle) }
                // The binds and the bytes they point at stay alive until this returns.
                guard mysql_stmt_execute(handle) == 0 else { throw MariaDBError(statement: handle) }
            }
        }
        let affected = mysql_stmt_affected_rows(handle)
        // (my_ulonglong)-1 means "not applicable" (e.g. a SELECT before its rows are read).
        let affectedRows = affected == UInt64.max ? 0 : Int64(clamping: affected)
        return (affectedRows, Int64(bitPattern: mysql_stmt_insert_id(handle)))
    }

    /// Reads every row of the pending result set (none if the statement returns no rows), then
    /// frees it.
    func fetchAll() throws(MariaDBError) -> [[SQLValue]] {
        var rows: [[SQLValue]] = []
        try fetchEach(reservingFor: { rows.reserveCapacity($0) }) { row throws(MariaDBError) in rows.append(row) }
        return rows
    }

    /// Hands each row to `body` as it is read from the buffered result, without keeping the rows: a query of
    /// hundreds of thousands of rows then costs one row's values at a time (Connector/C's compact buffer aside).
    func fetchEach(
        reservingFor reserve: (Int) -> Void = { _ in }, _ body: ([SQLValue]) throws(MariaDBError) -> Void
    ) throws(MariaDBError) {
        guard mysql_stmt_field_count(handle) > 0 else { return }
        defer { discardResults() }
        guard mysql_stmt_store_result(handle) == 0 else { throw MariaDBError(statement: handle) }
        // Fields are read after store_result: the server may send new metadata on every execute
        // and store_result fills in max_length.
        guard let metadata = mysql_stmt_result_metadata(handle) else { throw MariaDBError(statement: handle) }
        defer { mysql_free_result(metadata) }
        let columnCount = Int(mysql_num_fields(metadata))
        guard let fields = mysql_fetch_fields(metadata) else { throw MariaDBError(statement: handle) }
        let columns = (0..<columnCount).map { ResultColumn(fields[$0]) }
        try ResultBuffer.withBinds(columns) { buffer throws(MariaDBError) in
            guard mysql_stmt_bind_result(handle, buffer.binds) == 0 else { throw MariaDBError(statement: handle) }
            reserve(Int(clamping: mysql_stmt_num_rows(handle)))
            var row: [SQLValue] = []
            row.reserveCapacity(columnCount)
            while true {
                let status = mysql_stmt_fetch(handle)
                if status == MYSQL_NO_DATA { break }
                // MYSQL_DATA_TRUNCATED is fine: long values are fetched again in full below.
                guard status == 0 || status == MYSQL_DATA_TRUNCATED else { throw MariaDBError(statement: handle) }
                row.removeAll(keepingCapacity: true)
                for index in 0..<columnCount {
                    row.append(try buffer.value(at: index, statement: handle))
                }
                try body(row)
            }
        }
    }

    /// Frees a pending or stored result set and skips any further result sets (CALL), so the
    /// connection is ready for the next command.
    func discardResults() {
        // Non-zero only if the connection broke, which the next command reports properly.
        _ = mysql_stmt_free_result(handle)
        while mysql_stmt_more_results(handle) != 0 {
            guard mysql_stmt_next_result(handle) == 0 else { break }
            _ = mysql_stmt_free_result(handle)
        }
    }
}

/// How a result column is fetched and turned into a `SQLValue`.
private struct ResultColumn {
    enum Kind { case int(unsigned: Bool), double, text, blob }
    let kind: Kind
    /// Initial buffer size for text and blob columns; longer values are fetched again in full.
    let capacity: Int

    /// Charset number 63 is `binary`: BINARY/VARBINARY/BLOB columns, as opposed to character strings.
    private static let binaryCharset: UInt32 = 63

    init(_ field: MYSQL_FIELD) {
        switch field.type {
        case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_INT24, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_YEAR:
            kind = .int(unsigned: field.flags & UInt32(UNSIGNED_FLAG) != 0)
        case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
            kind = .double
        case MYSQL_TYPE_BIT, MYSQL_TYPE_GEOMETRY:
            kind = .blob
        case MYSQL_TYPE_DECIMAL, MYSQL_TYPE_NEWDECIMAL, MYSQL_TYPE_DATE, MYSQL_TYPE_NEWDATE, MYSQL_TYPE_TIME,
             MYSQL_TYPE_DATETIME, MYSQL_TYPE_TIMESTAMP, MYSQL_TYPE_NULL:
            // Numeric and temporal columns also report charset 63, but their text form is what we want.
            kind = .text
        default:
            kind = field.charsetnr == Self.binaryCharset ? .blob : .text
        }
        // 64 bytes covers any date, time or DECIMAL(65) text even if max_length was not filled in.
        capacity = max(Int(field.max_length), 64)
    }
}

/// The `MYSQL_BIND` array and buffers for one result set.
private struct ResultBuffer {
    let columns: [ResultColumn]
    let binds: UnsafeMutablePointer<MYSQL_BIND>
    let isNull: UnsafeMutablePointer<my_bool>
    let lengths: UnsafeMutablePointer<UInt>
    let errors: UnsafeMutablePointer<my_bool>
    let storage: [UnsafeMutableRawPointer]

    static func withBinds<T>(_ columns: [ResultColumn], _ body: (ResultBuffer) throws(MariaDBError) -> T) throws(MariaDBError) -> T {
        let count = columns.count
        let binds = UnsafeMutablePointer<MYSQL_BIND>.allocate(capacity: count)
        binds.initialize(repeating: MYSQL_BIND(), count: count)
        let isNull = UnsafeMutablePointer<my_bool>.allocate(capacity: count)
        isNull.initialize(repeating: 0, count: count)
        let lengths = UnsafeMutablePointer<UInt>.allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
        let errors = UnsafeMutablePointer<my_bool>.allocate(capacity: count)
        errors.initialize(repeating: 0, count: count)
        var storage: [UnsafeMutableRawPointer] = []
        storage.reserveCapacity(count)
        defer {
            for pointer in storage { pointer.deallocate() }
            binds.deallocate()
            isNull.deallocate()
            lengths.deallocate()
            errors.deallocate()
        }
        for (index, column) in columns.enumerated() {
            let bufferType: enum_field_types
            let size: Int
            switch column.kind {
            case .int(let unsigned):
                bufferType = MYSQL_TYPE_LONGLONG
                size = 8
                binds[index].is_unsigned = unsigned ? 1 : 0
            case .double:
                bufferType = MYSQL_TYPE_DOUBLE
                size = 8
            case .text:
                bufferType = MYSQL_TYPE_STRING
                size = column.capacity
            case .blob:
                bufferType = MYSQL_TYPE_BLOB
                size = column.capacity
            }
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
            storage.append(pointer)
            binds[index].buffer_type = bufferType
            binds[index].buffer = pointer
            binds[index].buffer_length = UInt(size)
            binds[index].is_null = isNull + index
            binds[index].length = lengths + index
            binds[index].error = errors + index
        }
        return try body(ResultBuffer(columns: columns, binds: binds, isNull: isNull, lengths: lengths,
                                     errors: errors, storage: storage))
    }

    /// The value of column `index` in the row just fetched.
    func value(at index: Int, statement: UnsafeMutablePointer<MYSQL_STMT>) throws(MariaDBError) -> SQLValue {
        if isNull[index] != 0 { return .null }
        let buffer = storage[index]
        switch columns[index].kind {
        case .int(unsigned: false):
            return .int(buffer.load(as: Int64.self))
        case .int(unsigned: true):
            let value = buffer.load(as: UInt64.self)
            // BIGINT UNSIGNED above Int64.max cannot be an .int; keep it exact as text.
            return value <= UInt64(Int64.max) ? .int(Int64(value)) : .text(String(value))
        case .double:
            return .double(buffer.load(as: Double.self))
        case .text:
            return .text(try bytes(at: index, statement: statement) { String(decoding: $0, as: UTF8.self) })
        case .blob:
            return .blob(try bytes(at: index, statement: statement) { Array($0) })
        }
    }

    /// Hands the column's full bytes to `convert`, fetching them again when the buffer was too short.
    private func bytes<T>(at index: Int, statement: UnsafeMutablePointer<MYSQL_STMT>,
                          _ convert: (UnsafeRawBufferPointer) -> T) throws(MariaDBError) -> T {
        let length = Int(lengths[index])
        if length <= Int(binds[index].buffer_length) {
            return convert(UnsafeRawBufferPointer(start: storage[index], count: length))
        }
        let full = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 8)
        defer { full.deallocate() }
        var fetchedLength: UInt = 0
        var fetchedNull: my_bool = 0
        var fetchedError: my_bool = 0
        let status = withUnsafeMutablePointer(to: &fetchedLength) { lengthPointer in
            withUnsafeMutablePointer(to: &fetchedNull) { nullPointer in
                withUnsafeMutablePointer(to: &fetchedError) { errorPointer in
                    var bind = MYSQL_BIND()
                    bind.buffer_type = binds[index].buffer_type
                    bind.buffer = full
                    bind.buffer_length = UInt(length)
                    bind.length = lengthPointer
                    bind.is_null = nullPointer
                    bind.error = errorPointer
                    return mysql_stmt_fetch_column(statement, &bind, UInt32(index), 0)
                }
            }
        }
        guard status == 0 else { throw MariaDBError(statement: statement) }
        return convert(UnsafeRawBufferPointer(start: full, count: min(Int(fetchedLength), length)))
    }
}

/// Parameter binds for one execution: every value is copied into one allocation that lives until
/// `body` (bind + execute) returns.
enum ParameterBuffer {
    static func withBinds<T>(_ parameters: [SQLValue],
                             _ body: (UnsafeMutablePointer<MYSQL_BIND>) throws(MariaDBError) -> T) throws(MariaDBError) -> T {
        // Fixed-size values first (8-byte aligned), variable-length bytes after them.
        var fixedCount = 0
        var variableBytes = 0
        for parameter in parameters {
            switch parameter {
            case .int, .double: fixedCount += 1
            case .text(let text): variableBytes += text.utf8.count
            case .blob(let bytes): variableBytes += bytes.count
            case .null: break
            }
        }
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(fixedCount * 8 + variableBytes, 1), alignment: 8)
        let binds = UnsafeMutablePointer<MYSQL_BIND>.allocate(capacity: parameters.count)
        binds.initialize(repeating: MYSQL_BIND(), count: parameters.count)
        defer {
            binds.deallocate()
            arena.deallocate()
        }
        var fixedOffset = 0
        var variableOffset = fixedCount * 8
        for (index, parameter) in parameters.enumerated() {
            switch parameter {
            case .null:
                binds[index].buffer_type = MYSQL_TYPE_NULL
            case .int(let value):
                arena.storeBytes(of: value, toByteOffset: fixedOffset, as: Int64.self)
                binds[index].buffer_type = MYSQL_TYPE_LONGLONG
                binds[index].buffer = arena + fixedOffset
                binds[index].buffer_length = 8
                fixedOffset += 8
            case .double(let value):
                arena.storeBytes(of: value, toByteOffset: fixedOffset, as: Double.self)
                binds[index].buffer_type = MYSQL_TYPE_DOUBLE
                binds[index].buffer = arena + fixedOffset
                binds[index].buffer_length = 8
                fixedOffset += 8
            case .text(var text):
                let count = text.withUTF8 { utf8 in
                    if let base = utf8.baseAddress { (arena + variableOffset).copyMemory(from: base, byteCount: utf8.count) }
                    return utf8.count
                }
                // Connector/C takes the length from buffer_length when `length` is NULL.
                binds[index].buffer_type = MYSQL_TYPE_STRING
                binds[index].buffer = arena + variableOffset
                binds[index].buffer_length = UInt(count)
                variableOffset += count
            case .blob(let bytes):
                bytes.withUnsafeBytes { raw in
                    if let base = raw.baseAddress { (arena + variableOffset).copyMemory(from: base, byteCount: raw.count) }
                }
                binds[index].buffer_type = MYSQL_TYPE_BLOB
                binds[index].buffer = arena + variableOffset
                binds[index].buffer_length = UInt(bytes.count)
                variableOffset += bytes.count
            }
        }
        return try body(binds)
    }
}
