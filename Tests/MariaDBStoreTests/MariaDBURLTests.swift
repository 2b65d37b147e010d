import MariaDBStore
import Testing

@Suite("MariaDBURL parsing")
struct MariaDBURLTests {
    @Test func tcpForm() throws {
        let url = try MariaDBURL(parsing: "mariadb://user:pw@127.0.0.1:3307/concert")
        #expect(url == MariaDBURL(user: "user", password: "pw", host: "127.0.0.1", port: 3307, database: "concert"))
    }

    @Test func defaultPortAndMySQLScheme() throws {
        let url = try MariaDBURL(parsing: "MySQL://app@db.internal/concert")
        #expect(url.port == 3306)
        #expect(url.host == "db.internal")
        #expect(url.password == nil)
        #expect(url.socket == nil)
    }

    @Test func socketForm() throws {
        let url = try MariaDBURL(parsing: "mariadb://root@localhost/concert?socket=/run/mysqld/mysqld.sock")
        #expect(url.user == "root")
        #expect(url.host == "localhost")
        #expect(url.database == "concert")
        #expect(url.socket == "/run/mysqld/mysqld.sock")
        // With a socket the host may be left out.
        let noHost = try MariaDBURL(parsing: "mariadb://root@/concert?socket=%2Frun%2Fmysqld%2Fmysqld.sock")
        #expect(noHost.socket == "/run/mysqld/mysqld.sock")
        #expect(noHost.host == "localhost")
    }

    @Test func percentDecoding() throws {
        let url = try MariaDBURL(parsing: "mariadb://us%40er:p%40ss%3Aw%2Fo%25rd+x@host/my%20db")
        #expect(url.user == "us@er")
        #expect(url.password == "p@ss:w/o%rd+x")
        #expect(url.database == "my db")
        let unicode = try MariaDBURL(parsing: "mariadb://u:%C3%A9t%C3%A9@h/d")
        #expect(unicode.password == "été")
    }

    @Test func ipv6AndWhitespace() throws {
        let url = try MariaDBURL(parsing: "  mariadb://u@[::1]:3310/d\n")
        #expect(url.host == "::1")
        #expect(url.port == 3310)
    }

    @Test func descriptionHidesPassword() throws {
        let url = try MariaDBURL(parsing: "mariadb://user:secret@127.0.0.1/concert")
        #expect(!url.description.contains("secret"))
        #expect(url.description == "mariadb://user:***@127.0.0.1:3306/concert")
    }

    @Test func severalHostsInOrder() throws {
        let url = try MariaDBURL(parsing: "mariadb://concert:pw@10.0.0.1:3306,10.0.0.2,[fd00::3]:3307/concert")
        #expect(url.hosts == [
            .init(host: "10.0.0.1", port: 3306), .init(host: "10.0.0.2", port: 3306), .init(host: "fd00::3", port: 3307),
        ])
        // The single-host API reads (and writes) the first, preferred host.
        #expect(url.host == "10.0.0.1")
        #expect(url.port == 3306)
        #expect(url.socket == nil)
        #expect(url.description == "mariadb://concert:***@10.0.0.1:3306,10.0.0.2:3306,[fd00::3]:3307/concert")
        var changed = url
        changed.port = 4000
        #expect(changed.hosts.map(\.port) == [4000, 3306, 3307])

        let loopback = try MariaDBURL(parsing: "mariadb://concert:concert-local@127.0.0.1:23306,127.0.0.1:23307,127.0.0.1:23308/concert")
        #expect(loopback.hosts.map(\.description) == ["127.0.0.1:23306", "127.0.0.1:23307", "127.0.0.1:23308"])
        #expect(loopback == MariaDBURL(user: "concert", password: "concert-local", hosts: [
            .init(host: "127.0.0.1", port: 23306), .init(host: "127.0.0.1", port: 23307), .init(host: "127.0.0.1", port: 23308),
        ], database: "concert"))
        #expect(!loopback.description.contains("concert-local"))
    }

    @Test func oneHostIsAListOfOne() throws {
        let url = try MariaDBURL(parsing: "mariadb://u@h:3310/d")
        #expect(url.hosts == [.init(host: "h", port: 3310)])
        #expect(MariaDBURL(user: "u", hosts: [], database: "d").hosts == [.init(host: "127.0.0.1", port: 3306)])
    }

    @Test(arguments: [
        "mariadb://u@h1,/db",
        "mariadb://u@,h2/db",
        "mariadb://u@h1,,h2/db",
        "mariadb://u@h1:3306,h1/db",
        "mariadb://u@h1,h2:0/db",
        "mariadb://u@h1,[::1/db",
        "mariadb://u@h1,h2/db?socket=/run/mysqld/mysqld.sock",
    ])
    func rejectsBadHostLists(_ input: String) {
        #expect(throws: MariaDBError.self) { try MariaDBURL(parsing: input) }
    }

    @Test(arguments: [
        "",
        "127.0.0.1:3306/concert",
        "postgres://u@h/db",
        "mariadb://h/db",
        "mariadb://@h/db",
        "mariadb://u@h",
        "mariadb://u@h/",
        "mariadb://u@h/a/b",
        "mariadb://u@h:/db",
        "mariadb://u@h:0/db",
        "mariadb://u@h:99999/db",
        "mariadb://u@h:33x/db",
        "mariadb://u:%zz@h/db",
        "mariadb://u:%4@h/db",
        "mariadb://u:%FF@h/db",
        "mariadb://u@/db",
        "mariadb://u@h/db?sock=/x",
        "mariadb://u@h/db?socket=",
        "mariadb://u@h/db#frag",
        "mariadb://u@[::1/db",
    ])
    func rejectsBadInput(_ input: String) {
        #expect(throws: MariaDBError.self) { try MariaDBURL(parsing: input) }
    }

    @Test func errorsSayWhatIsWrongWithoutThePassword() {
        do {
            _ = try MariaDBURL(parsing: "mariadb://u:topsecret@h:70000/db")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == 0)
            #expect(error.message.contains("port"))
            #expect(!error.description.contains("topsecret"))
        }
    }
}
