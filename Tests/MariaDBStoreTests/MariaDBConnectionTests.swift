import MariaDBStore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Against the real server named by CONCERT_MARIADB_URL.
@Suite("MariaDBConnection against a real server")
struct MariaDBConnectionTests {
    @Test func roundTripsEveryValueType() throws {
        try TestDatabase.withTable("roundtrip", columns: """
            id BIGINT AUTO_INCREMENT PRIMARY KEY, i BIGINT NULL, d DOUBLE NULL,
            t VARCHAR(200) NULL, b BLOB NULL, lt LONGTEXT NULL, lb LONGBLOB NULL
            """) { db, table in
            let longText = String(repeating: "ß✓", count: 50_000)
            let longBlob = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let rows: [[SQLValue]] = [
                [.int(Int64.max), .double(-1.5e300), .text("Zoë 🎫 東京"), .blob([0, 1, 0, 255, 0]), .text(longText), .blob(longBlob)],
                [.int(Int64.min), .double(0.1), .text(""), .blob([]), .text("a\0b"), .blob([0])],
                [.null, .null, .null, .null, .null, .null],
            ]
            for row in rows {
                let affected = try db.execute("INSERT INTO \(table) (i, d, t, b, lt, lb) VALUES (?, ?, ?, ?, ?, ?)", row)
                #expect(affected == 1)
                #expect(db.lastInsertID > 0)
            }
            let back = try db.query("SELECT i, d, t, b, lt, lb FROM \(table) ORDER BY id")
            #expect(back.count == 3)
            for (expected, actual) in zip(rows, back) {
                #expect(actual == expected)
            }
            // Same statement again (cached) with a parameter.
            let one = try db.query("SELECT t FROM \(table) WHERE i = ?", [.int(Int64.max)])
            #expect(one == [[.text("Zoë 🎫 東京")]])
            #expect(try db.query("SELECT t FROM \(table) WHERE i = ?", [.int(Int64.min)]) == [[.text("")]])
        }
    }

    @Test func resultValuesAreTypedByColumn() throws {
        let db = try TestDatabase.connect()
        defer { db.close() }
        let row = try #require(try db.query("""
            SELECT CAST(1.50 AS DECIMAL(5,2)), DATE('2024-05-06'), TIMESTAMP('2024-05-06 07:08:09.123456'),
                   CAST(7 AS UNSIGNED), 18446744073709551615, CAST(2.5 AS FLOAT), CAST('ab' AS BINARY),
                   NULL, 'x', TRUE, CAST(? AS CHAR), ? + 1, SUM(3)
            """, [.int(42), .int(41)]).first)
        #expect(row == [
            .text("1.50"), .text("2024-05-06"), .text("2024-05-06 07:08:09.123456"),
            .int(7), .text("18446744073709551615"), .double(2.5), .blob([97, 98]),
            .null, .text("x"), .int(1), .text("42"), .int(42), .text("3"),
        ])
        #expect(row[12].int == 3)
        #expect(row[0].double == 1.5)
        #expect(try db.query("SELECT 1 FROM DUAL WHERE 1 = 0") == [])
    }

    @Test func insertRowsInsertsTwentyThousandRowsInOneCall() throws {
        try TestDatabase.withTable("bulk", columns: """
            id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, score DOUBLE NOT NULL, note TEXT NULL
            """) { db, table in
            // 4 columns: 16,383 rows fill one (cached) full chunk, the other 3,617 a second statement.
            let rows: [[SQLValue]] = (0..<20_000).map { index in
                [.int(Int64(index)), .text("seat-\(index)"), .double(Double(index) / 4), index % 7 == 0 ? .null : .text("n\(index)")]
            }
            let affected = try db.insertRows("INSERT INTO \(table) (id, name, score, note) VALUES",
                                             rowPlaceholder: "(?,?,?,?)", rows: rows)
            #expect(affected == 20_000)
            let summary = try db.query("SELECT COUNT(*), SUM(id), SUM(score), COUNT(note) FROM \(table)")
            #expect(summary[0][0] == .int(20_000))
            #expect(summary[0][1].int == 199_990_000)
            #expect(summary[0][2].double == 49_997_500)
            #expect(summary[0][3] == .int(Int64(20_000 - 2_858)))
            let back = try db.query("SELECT id, name, score, note FROM \(table) ORDER BY id")
            #expect(back == rows)

            // The suffix: an upsert over the same keys counts 2 per changed row.
            let updated = try db.insertRows("INSERT INTO \(table) (id, name, score, note) VALUES",
                                            rowPlaceholder: "(?,?,?,?)", rows: Array(rows[0..<10]),
                                            suffix: "ON DUPLICATE KEY UPDATE score = score + 1")
            #expect(updated == 20)
            #expect(try db.query("SELECT score FROM \(table) WHERE id = 8") == [[.double(3)]])
        }
    }

    @Test func insertRowsSplitsByBytes() throws {
        try TestDatabase.withTable("bulkbytes", columns: "id INT PRIMARY KEY, payload LONGBLOB NOT NULL") { db, table in
            // 12 rows of 1 MB cannot go in one ~4 MB statement.
            let rows: [[SQLValue]] = (0..<12).map { [.int(Int64($0)), .blob([UInt8](repeating: UInt8($0), count: 1 << 20))] }
            let affected = try db.insertRows("INSERT INTO \(table) (id, payload) VALUES", rowPlaceholder: "(?,?)", rows: rows)
            #expect(affected == 12)
            let back = try db.query("SELECT id, LENGTH(payload), MIN(payload) = MAX(payload) FROM \(table) GROUP BY id ORDER BY id")
            #expect(back.map { $0[1] } == Array(repeating: .int(1 << 20), count: 12))
            #expect(try db.insertRows("INSERT INTO \(table) (id, payload) VALUES", rowPlaceholder: "(?,?)", rows: []) == 0)
            #expect(throws: MariaDBError.self) {
                try db.insertRows("INSERT INTO \(table) (id, payload) VALUES", rowPlaceholder: "(?,?)",
                                  rows: [[.int(100), .blob([])], [.int(101)]])
            }
        }
    }

    struct BodyFailed: Error {}

    @Test func transactionCommitsOrRollsBack() throws {
        try TestDatabase.withTable("tx", columns: "id INT PRIMARY KEY, label VARCHAR(20)") { db, table in
            let value = try db.transaction {
                try db.execute("INSERT INTO \(table) VALUES (?, ?)", [.int(1), .text("one")])
                try db.insertRows("INSERT INTO \(table) VALUES", rowPlaceholder: "(?,?)",
                                  rows: [[.int(2), .text("two")], [.int(3), .text("three")]])
                return "done"
            }
            #expect(value == "done")
            #expect(try db.query("SELECT COUNT(*) FROM \(table)") == [[.int(3)]])

            #expect(throws: BodyFailed.self) {
                try db.transaction {
                    try db.execute("INSERT INTO \(table) VALUES (?, ?)", [.int(4), .text("four")])
                    try db.execute("DELETE FROM \(table) WHERE id = 1")
                    throw BodyFailed()
                }
            }
            #expect(try db.query("SELECT id FROM \(table) ORDER BY id") == [[.int(1)], [.int(2)], [.int(3)]])

            // A database error inside the body rolls back the earlier statements too.
            #expect(throws: MariaDBError.self) {
                try db.transaction {
                    try db.execute("INSERT INTO \(table) VALUES (?, ?)", [.int(5), .text("five")])
                    try db.execute("INSERT INTO \(table) VALUES (?, ?)", [.int(1), .text("dup")])
                }
            }
            #expect(try db.query("SELECT COUNT(*) FROM \(table)") == [[.int(3)]])

            #expect(throws: MariaDBError.self) {
                try db.transaction { try db.transaction { 1 } }
            }
        }
    }

    @Test func duplicateKeyCarriesCodeAndSQLState() throws {
        try TestDatabase.withTable("dup", columns: "id INT PRIMARY KEY") { db, table in
            try db.execute("INSERT INTO \(table) VALUES (?)", [.int(1)])
            do throws(MariaDBError) {
                try db.execute("INSERT INTO \(table) VALUES (?)", [.int(1)])
                Issue.record("expected a duplicate key error")
            } catch {
                #expect(error.code == 1062)
                #expect(error.sqlState == "23000")
                #expect(error.isDuplicateKey)
                #expect(!error.isConnectionLost)
                #expect(error.message.contains("Duplicate entry"))
            }
            // The connection (and the cached statement) still work.
            try db.execute("INSERT INTO \(table) VALUES (?)", [.int(2)])
        }
    }

    @Test func wrongParameterCountIsRefused() throws {
        let db = try TestDatabase.connect()
        defer { db.close() }
        #expect(throws: MariaDBError.self) { try db.query("SELECT ?, ?", [.int(1)]) }
        #expect(throws: MariaDBError.self) { try db.query("SELECT ?", [.int(1), .int(2)]) }
        #expect(try db.query("SELECT ?, ?", [.int(1), .int(2)]) == [[.int(1), .int(2)]])
    }

    @Test func executeDiscardsRowsAndKeepsTheConnectionInSync() throws {
        let db = try TestDatabase.connect()
        defer { db.close() }
        #expect(try db.execute("SELECT seq FROM seq_1_to_1000") == 0)
        #expect(try db.query("SELECT COUNT(*) FROM seq_1_to_1000") == [[.int(1000)]])
        #expect(try db.execute("SELECT ?", [.text("again")]) == 0)
        #expect(try db.query("SELECT ?", [.text("next")]) == [[.text("next")]])
    }

    @Test func reconnectsAfterTheServerKilledTheConnection() throws {
        try TestDatabase.withTable("reconnect", columns: "id INT PRIMARY KEY") { admin, table in
            let db = try TestDatabase.connect()
            defer { db.close() }
            let insert = "INSERT INTO \(table) VALUES (?)"
            try db.execute(insert, [.int(1)]) // prepared and cached on the first connection
            let firstID = try #require(try db.query("SELECT CONNECTION_ID()").first?.first?.int)

            try kill(firstID, using: admin)
            // Outside a transaction: reconnect, re-prepare, and retry once, invisibly.
            try db.execute(insert, [.int(2)])
            let secondID = try #require(try db.query("SELECT CONNECTION_ID()").first?.first?.int)
            #expect(secondID != firstID)
            #expect(try admin.query("SELECT id FROM \(table) ORDER BY id") == [[.int(1)], [.int(2)]])

            // Inside a transaction: no retry, the error says the connection was lost, nothing commits.
            do {
                try db.transaction {
                    try db.execute(insert, [.int(3)])
                    try kill(secondID, using: admin)
                    try db.execute(insert, [.int(4)])
                }
                Issue.record("expected the transaction to fail")
            } catch let error as MariaDBError {
                #expect(error.isConnectionLost, "\(error)")
            }
            // The next call reconnects.
            #expect(try db.query("SELECT id FROM \(table) ORDER BY id") == [[.int(1)], [.int(2)]])
        }
    }

    /// Kills a connection from another one and waits until the server has let go of it.
    private func kill(_ id: Int64, using admin: MariaDBConnection) throws {
        try admin.executeScript("KILL CONNECTION \(id)")
        for _ in 0..<100 {
            let remaining = try admin.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", [.int(id)])
            if remaining == [[.int(0)]] { return }
            usleep(20_000)
        }
        Issue.record("connection \(id) still listed 2 s after KILL")
    }

    @Test func injectionTextStaysData() throws {
        try TestDatabase.withTable("inject", columns: "id INT PRIMARY KEY, name VARCHAR(200)") { db, table in
            let hostile = "x'); DROP TABLE \(table); -- \" ; SELECT 1; /*"
            try db.execute("INSERT INTO \(table) (id, name) VALUES (?, ?)", [.int(1), .text(hostile)])
            #expect(try db.query("SELECT name FROM \(table) WHERE name = ?", [.text(hostile)]) == [[.text(hostile)]])
            #expect(try db.query("SELECT id FROM \(table) WHERE name = ?", [.text("' OR '1'='1")]) == [])
            #expect(try db.query("SELECT id FROM \(table) WHERE id = ?", [.text("1 OR 1=1")]).count <= 1)
            // The table is still there.
            #expect(try db.query("SELECT COUNT(*) FROM \(table)") == [[.int(1)]])
        }
    }

    @Test func connectsThroughTheUnixSocket() throws {
        let tcp = try TestDatabase.url()
        let admin = try MariaDBConnection(url: tcp)
        defer { admin.close() }
        // The server names its own socket, so this works wherever the test server runs.
        let socketPath = try #require(try admin.query("SELECT @@socket").first?.first?.text)
        var url = tcp
        url.host = "localhost"
        url.socket = socketPath
        let db = try MariaDBConnection(url: url)
        defer { db.close() }
        let row = try #require(try db.query("SELECT DATABASE(), @@character_set_client, ?", [.text("é")]).first)
        #expect(row == [.text(tcp.database), .text("utf8mb4"), .text("é")])

        // The socket URL form, parsed.
        let parsed = try MariaDBURL(parsing: "mariadb://\(tcp.user):\(tcp.password ?? "")@localhost/\(tcp.database)?socket=\(socketPath)")
        let viaParsed = try MariaDBConnection(url: parsed)
        defer { viaParsed.close() }
        #expect(try viaParsed.query("SELECT 1") == [[.int(1)]])
    }

    @Test func executeScriptRunsSeveralStatements() throws {
        let db = try TestDatabase.connect()
        defer { db.close() }
        let table = TestDatabase.uniqueName("script")
        defer { _ = try? db.execute("DROP TABLE IF EXISTS \(table)") }
        try db.executeScript("""
            CREATE TABLE \(table) (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10));
            INSERT INTO \(table) (v) VALUES ('a'), ('b');
            SELECT * FROM \(table);
            UPDATE \(table) SET v = 'c' WHERE id = 2;
            """)
        #expect(try db.query("SELECT v FROM \(table) ORDER BY id") == [[.text("a")], [.text("c")]])
        // An error in a later statement is reported.
        do {
            try db.executeScript("INSERT INTO \(table) (v) VALUES ('d'); INSERT INTO no_such_table_\(table) VALUES (1);")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == 1146)
        }
        // And the connection is usable afterwards.
        #expect(try db.query("SELECT COUNT(*) FROM \(table)") == [[.int(3)]])
    }

    @Test func unreachableServerIsAConnectionError() throws {
        var url = try TestDatabase.url()
        url.host = "127.0.0.1"
        url.port = 1 // nothing listens there
        do {
            _ = try MariaDBConnection(url: url, connectTimeout: .seconds(2))
            Issue.record("expected a connection error")
        } catch {
            #expect(error.isConnectionLost, "\(error)")
            #expect(error.message.contains("127.0.0.1:1"))
        }
    }

    @Test func badCredentialsFailClearly() throws {
        var url = try TestDatabase.url()
        url.password = "definitely-wrong"
        do {
            _ = try MariaDBConnection(url: url, connectTimeout: .seconds(2))
            Issue.record("expected access denied")
        } catch {
            #expect(error.code == 1045)
            #expect(!error.message.contains("definitely-wrong"))
        }
    }
}
