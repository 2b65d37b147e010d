import RedisStore
import Testing

@Suite("RedisURL parsing (no server)")
struct RedisURLTests {
    @Test func fullURL() throws {
        let url = try RedisURL(parsing: "redis://alice:s3cret@cache.internal:6380/4")
        #expect(url == RedisURL(host: "cache.internal", port: 6380, database: 4, password: "s3cret", username: "alice"))
    }

    @Test func defaults() throws {
        #expect(try RedisURL(parsing: "redis://localhost") == RedisURL(host: "localhost", port: 6379, database: 0))
        #expect(try RedisURL(parsing: "redis://localhost/") == RedisURL(host: "localhost"))
        #expect(try RedisURL(parsing: "REDIS://127.0.0.1:16379/0") == RedisURL(host: "127.0.0.1", port: 16379))
    }

    @Test func passwordOnlyFollowsRedisCli() throws {
        #expect(try RedisURL(parsing: "redis://:pw@h").password == "pw")
        #expect(try RedisURL(parsing: "redis://:pw@h").username == nil)
        #expect(try RedisURL(parsing: "redis://pw@h").password == "pw")
        #expect(try RedisURL(parsing: "redis://pw@h").username == nil)
    }

    @Test func percentEncodedCredentials() throws {
        let url = try RedisURL(parsing: "redis://us%3Aer:p%40ss%2Fword@h:1/2")
        #expect(url.username == "us:er")
        #expect(url.password == "p@ss/word")
        #expect(url.database == 2)
    }

    @Test func ipv6Host() throws {
        #expect(try RedisURL(parsing: "redis://[::1]:7000/3") == RedisURL(host: "::1", port: 7000, database: 3))
        #expect(try RedisURL(parsing: "redis://[::1]").port == 6379)
    }

    @Test(arguments: [
        "http://localhost", "rediss://localhost", "localhost:6379", "redis://", "redis://:6379",
        "redis://h:0", "redis://h:65536", "redis://h:port", "redis://h:-1", "redis://h/x", "redis://h/-1",
        "redis://h?db=1", "redis://[::1", "redis://[::1]x", "redis://pw@",
    ])
    func rejectsBadInput(_ text: String) {
        #expect(throws: RedisError.invalidURL) { try RedisURL(parsing: text) }
    }

    @Test func errorSaysWhatIsWrongWithoutThePassword() {
        do {
            _ = try RedisURL(parsing: "redis://user:hunter2@h:99999")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("port '99999'"))
            #expect(error.description.contains("redis://[user:password@]host[:port][/db]"))
            #expect(!error.description.contains("hunter2"))
        }
    }

    @Test func descriptionMasksThePassword() throws {
        let url = try RedisURL(parsing: "redis://alice:hunter2@h:1/2")
        #expect(url.description == "redis://alice:***@h:1/2")
    }

    @Test func clusterSeeds() throws {
        let url = try RedisURL(parsing: "redis-cluster://127.0.0.1:17000,127.0.0.1:17001,127.0.0.1:17002")
        #expect(url.isCluster)
        #expect(url.clusterSeeds == [
            RedisEndpoint(host: "127.0.0.1", port: 17000), RedisEndpoint(host: "127.0.0.1", port: 17001),
            RedisEndpoint(host: "127.0.0.1", port: 17002),
        ])
        #expect(url.database == 0)
        #expect(url.host == "127.0.0.1" && url.port == 17000, "host and port are the first seed's")
        #expect(try RedisURL(parsing: "redis-cluster://h1:7000,h2:7001/0").clusterSeeds.count == 2)
        #expect(try RedisURL(parsing: "REDIS-CLUSTER://h1/").clusterSeeds == [RedisEndpoint(host: "h1", port: 6379)])
        #expect(try RedisURL(parsing: "redis-cluster://[::1]:7000,[::1]:7001").clusterSeeds.map(\.port) == [7000, 7001])
        #expect(try RedisURL(parsing: "redis://h:1/0").isCluster == false)
    }

    @Test func clusterCredentialsApplyToEveryNode() throws {
        let url = try RedisURL(parsing: "redis-cluster://alice:p%2Cw@h1:7000,h2:7001")
        #expect(url.username == "alice")
        #expect(url.password == "p,w")
        let node = url.node(RedisEndpoint(host: "h3", port: 7002))
        #expect(node == RedisURL(host: "h3", port: 7002, database: 0, password: "p,w", username: "alice"))
        #expect(!node.isCluster)
    }

    @Test(arguments: [
        "redis-cluster://h:1/1", "redis-cluster://h:1/x", "redis-cluster://", "redis-cluster://h1:1,,h2:2",
        "redis-cluster://h1:1,", "redis-cluster://,h1:1", "redis-cluster://h1:1,h2:99999", "redis-cluster://h1:1,:2",
        "redis://h1:1,h2:2", "redis-clusters://h:1",
    ])
    func rejectsBadClusterInput(_ text: String) {
        #expect(throws: RedisError.invalidURL) { try RedisURL(parsing: text) }
    }

    @Test func clusterErrorsSayWhy() {
        let database = #expect(throws: RedisError.invalidURL) { try RedisURL(parsing: "redis-cluster://:hunter2@h:1/3") }
        #expect(database?.message.contains("only database 0") == true)
        #expect(database?.message.contains("redis-cluster://") == true)
        #expect(database?.description.contains("hunter2") == false)
        let several = #expect(throws: RedisError.invalidURL) { try RedisURL(parsing: "redis://h1:1,h2:2") }
        #expect(several?.message.contains("redis-cluster://") == true)
    }

    @Test func clusterDescriptionMasksThePassword() throws {
        let url = try RedisURL(parsing: "redis-cluster://alice:hunter2@h1:7000,[::1]:7001")
        #expect(url.description == "redis-cluster://alice:***@h1:7000,[::1]:7001/0")
        #expect(try RedisURL(parsing: "redis-cluster://h1:7000").description == "redis-cluster://h1:7000/0")
    }
}
