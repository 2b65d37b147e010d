import RedisStore
import Testing

@Suite("Redis Cluster slots, routes and scripts (no server)")
struct RedisClusterRoutingTests {
    @Test func crc16MatchesTheSpecificationsTestVector() {
        #expect(RedisClusterSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(RedisClusterSlot.crc16([]) == 0)
    }

    /// Expected slots are what `CLUSTER KEYSLOT` answered on redis-server 7.0.
    @Test(arguments: [
        ("foo", 12182), ("bar", 5061), ("123456789", 12739), ("{user1000}.following", 3443),
        ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061), ("{}", 15257),
        ("concert:{p17}:pending", 10264), ("concert:{g}:pending", 7233), ("", 0), ("é{ü}", 9552),
    ])
    func slotsMatchRedis(_ key: String, _ slot: Int) {
        #expect(RedisClusterSlot.of(key) == slot)
        #expect(RedisClusterSlot.of(Array(key.utf8)) == slot)
    }

    @Test func keysWithOneHashTagShareASlot() {
        let slot = RedisClusterSlot.of("concert:{p17}:pending")
        for suffix in ["inflight", "batches", "lock", "accepted", "finished", "req:p17-abc", "idem:5:key"] {
            #expect(RedisClusterSlot.of("concert:{p17}:\(suffix)") == slot)
        }
        #expect(RedisClusterSlot.of("concert:{p18}:pending") != slot)
    }

    @Test func singleKeyCommandsGoToTheirKeysSlot() throws {
        var buffer = RedisCommandBuffer()
        buffer.command("GET", "foo")
        buffer.command("set", "bar", "1")
        buffer.command("PING")
        buffer.command("CLIENT", "ID")
        buffer.command("WAIT", "1", "100")
        let routes = try buffer.clusterRoutes()
        #expect(routes.map(\.target) == [.slot(12182), .slot(5061), .anyMaster, .anyMaster, .anyMaster])
        #expect(routes.map(\.replies) == [1, 1, 1, 1, 1])
        // The ranges tile the buffer: each command's bytes, in order.
        #expect(routes.first?.bytes.lowerBound == 0)
        #expect(routes.last?.bytes.upperBound == buffer.bytes.count)
        for (earlier, later) in zip(routes, routes.dropFirst()) { #expect(earlier.bytes.upperBound == later.bytes.lowerBound) }
        #expect(Array(buffer.bytes[routes[0].bytes]) == Array("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n".utf8))
    }

    @Test func scriptsRouteByTheirFirstKeyOrToAnyMaster() throws {
        var buffer = RedisCommandBuffer()
        buffer.command("EVALSHA", String(repeating: "a", count: 40), "2", "concert:{p17}:pending", "concert:{p17}:lock", "argv")
        buffer.command("EVAL", "return 1", "0", "not-a-key")
        buffer.command("EVAL", "return 1", "1", "foo")
        let routes = try buffer.clusterRoutes()
        #expect(routes.map(\.target) == [.slot(10264), .anyMaster, .slot(12182)])
    }

    @Test func scriptLoadAndFlushGoToEveryMaster() throws {
        var buffer = RedisCommandBuffer()
        buffer.command("SCRIPT", "LOAD", "return 'routing-test'")
        buffer.command("script", "flush")
        buffer.command("SCRIPT", "EXISTS", "abc")
        buffer.command("FLUSHALL")
        #expect(try buffer.clusterRoutes().map(\.target) == [.everyMaster, .everyMaster, .anyMaster, .everyMaster])
        // A SCRIPT LOAD sent through the cluster path registers the source, so NOSCRIPT can be answered elsewhere.
        #expect(RedisScript.registered(sha1: RedisScript("return 'routing-test'").sha1) == "return 'routing-test'")
    }

    @Test(arguments: [
        ["DEL", "foo", "bar"], ["MGET", "foo", "bar"], ["MSET", "foo", "1", "bar", "2"], ["RENAME", "foo", "bar"],
        ["RPOPLPUSH", "foo", "bar"], ["BLPOP", "foo", "bar", "0"], ["EVAL", "return 1", "2", "foo", "bar"],
        ["ZUNIONSTORE", "foo", "1", "bar"], ["SMOVE", "foo", "bar", "member"],
    ])
    func multiKeyCommandsAcrossSlotsAreRefusedNamingTheKeys(_ command: [String]) {
        var buffer = RedisCommandBuffer()
        buffer.command(command)
        let error = #expect(throws: RedisError.protocolError) { try buffer.clusterRoutes() }
        #expect(error?.message.contains("CROSSSLOT") == true)
        #expect(error?.message.contains("'foo' (slot 12182)") == true, "\(String(describing: error))")
        #expect(error?.message.contains("'bar' (slot 5061)") == true, "\(String(describing: error))")
    }

    @Test func multiKeyCommandsInOneSlotAreFine() throws {
        var buffer = RedisCommandBuffer()
        buffer.command("DEL", "{q}a", "{q}b", "{q}c")
        buffer.command("RENAME", "{q}next", "{q}ids")
        buffer.command("MSET", "{q}a", "1", "{q}b", "2")
        buffer.command("BLPOP", "{q}a", "{q}b", "5")  // the timeout is not a key
        let slot = RedisClusterSlot.of("q")
        #expect(try buffer.clusterRoutes().map(\.target) == Array(repeating: .slot(slot), count: 4))
    }

    @Test func aTransactionIsOneRouteToItsSlot() throws {
        var buffer = RedisCommandBuffer()
        buffer.command("GET", "foo")
        buffer.command("MULTI")
        buffer.command("SET", "{q}a", "1")
        buffer.command("EVAL", "return 1", "1", "{q}b")
        buffer.command("EXEC")
        buffer.command("GET", "bar")
        let routes = try buffer.clusterRoutes()
        #expect(routes.map(\.target) == [.slot(12182), .slot(RedisClusterSlot.of("q")), .slot(5061)])
        #expect(routes.map(\.replies) == [1, 4, 1])
        #expect(routes.map(\.isTransaction) == [false, true, false])
    }

    @Test func aTransactionAcrossSlotsIsRefused() {
        var buffer = RedisCommandBuffer()
        buffer.command("MULTI")
        buffer.command("SET", "foo", "1")
        buffer.command("SET", "bar", "1")
        buffer.command("EXEC")
        let error = #expect(throws: RedisError.protocolError) { try buffer.clusterRoutes() }
        #expect(error?.message.contains("CROSSSLOT") == true)
        #expect(error?.message.contains("'foo'") == true && error?.message.contains("'bar'") == true)
    }

    @Test(arguments: [
        [["SELECT", "1"]], [["SCAN", "0"]], [["KEYS", "*"]], [["WATCH", "foo"]], [["MULTI"], ["SET", "foo", "1"]],
        [["EXEC"]], [["MULTI"], ["MULTI"]], [["MULTI"], ["SCRIPT", "LOAD", "return 1"], ["EXEC"]],
    ])
    func commandsACLusterCannotRouteAreRefused(_ commands: [[String]]) {
        var buffer = RedisCommandBuffer()
        for command in commands { buffer.command(command) }
        let error = #expect(throws: RedisError.protocolError) { try buffer.clusterRoutes() }
        #expect(error?.message.contains("nothing was sent") == true || error?.message.contains("send it on its own") == true, "\(String(describing: error))")
    }

    @Test func binaryKeysAndBuffersBuiltArgumentByArgument() throws {
        var buffer = RedisCommandBuffer()
        buffer.begin(arguments: 3)
        buffer.argument("SET")
        buffer.argument([0x7B, 0x00, 0xFF, 0x7D, 0x0D, 0x0A] as [UInt8])  // "{\0\xFF}\r\n": tag is 0x00 0xFF
        buffer.argument(Int64(42))
        #expect(try buffer.clusterRoutes().map(\.target) == [.slot(RedisClusterSlot.of([0x00, 0xFF]))])
    }

    @Test func aMalformedBufferIsRefused() {
        var buffer = RedisCommandBuffer()
        buffer.begin(arguments: 3)
        buffer.argument("SET")
        buffer.argument("foo")  // one argument short
        #expect(throws: RedisError.protocolError) { try buffer.clusterRoutes() }
    }

    @Test func scriptSHA1sAreRedis() {
        // FIPS 180 test vectors, and the empty string.
        #expect(RedisScript("abc").sha1 == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(RedisScript("").sha1 == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(RedisScript("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").sha1 == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        let long = RedisScript(String(repeating: "a", count: 1_000))
        #expect(long.sha1 == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
        #expect(RedisScript.registered(sha1: long.sha1.uppercased()) == long.source)
    }
}
