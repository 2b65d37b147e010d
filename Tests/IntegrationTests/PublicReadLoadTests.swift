import Foundation
import Hummingbird
import HummingbirdTesting
import ReservationCore
import Synchronization
import Testing

extension IntegrationSuite {
    /// Issue 14 item 10: a crowd reading a big hall's seat map must not starve the queue. A real `concert-ingest`,
    /// Redis, MariaDB and batch pass; 200 readers of a 100,000-seat map (6.4 MB) refreshing it as a browser does
    /// (`If-None-Match`, about once a second, as `max-age=1` allows) while an on-sale burst of reserves arrives at a
    /// fixed rate. Before the fix every read took the 6.4 MB from Redis through the pipelines the enqueues share.
    @Suite(.serialized) struct PublicReadLoad {
        /// Held: the crowd costs the store about one read of the map a second whatever its size (before the cache
        /// every reader's refresh read 6.4 MB through the pipelines the enqueues share), every reserve is answered
        /// 202 and every read 200 or 304, and the enqueues stay fast. On a release build run by hand (`CONCERT_BIN_DIR`
        /// naming it): p99 under 20 ms as the ingest measures it (its latency histogram of the reserve route), under
        /// 250 ms at the client. In `./deploy/test` (debug build, run alone after the other suites) the bound is the
        /// one that still tells the cache from no cache: p99 under 500 ms at the ingest and 1 s at the client (without
        /// the cache the client's p99 was 2.6 s). Tighter bounds failed there on this machine's disk: every enqueue
        /// waits for Redis's fsync (`appendfsync always`), and right after the other suites' writes some fsyncs take
        /// 100–200 ms (one alone-run: 85% of reserves within 20 ms, max 234 ms; two others: 100% within 20 ms).
        static let isRelease = (ProcessInfo.processInfo.environment["CONCERT_BIN_DIR"] ?? "").split(separator: "/").contains("release")
        static let serverP99Bucket = isRelease ? "0.02" : "0.5"
        static let clientP99: Duration = isRelease ? .milliseconds(250) : .seconds(1)
        /// 200; `CONCERT_LOAD_READERS=N` changes it for a measurement (0: the burst alone, as a baseline).
        static let readers = Int(ProcessInfo.processInfo.environment["CONCERT_LOAD_READERS"] ?? "") ?? 200
        static let reservesPerSecond = 200
        static let burstSeconds = 10

        @Test func seatMapReadersDoNotStarveEnqueues() async throws {
            try Stack.reset()
            let seats = 100_000
            let performance = try Stack.createPerformance(seats: seats)
            let ingest = try await IngestHarness()
            defer { ingest.stop() }
            let port = try #require(ingest.base.port)
            let path = "/v1/performances/\(performance)/seats"
            let reserves = Self.reservesPerSecond * Self.burstSeconds
            let tokens = try (1...reserves).map { try Stack.token(user: Int64($0)) }

            let log = LoadLog()
            let (firstRead, firstReadDone) = AsyncStream.makeStream(of: Void.self)
            // Readers on threads of their own with blocking sockets that discard the bodies: the ingest, not the test's
            // own HTTP client, must be what is measured (HummingbirdTesting's client gathers each 6.4 MB body, which
            // cost this process more than the ingest spent sending them).
            let readerThreads = (0..<Self.readers).map { index in
                ReaderThread(port: port, path: path, log: log, pause: .milliseconds(800 + (index * 37) % 400)) { firstReadDone.yield() }
            }
            // Every reader holds the map before the burst starts.
            var started = 0
            if Self.readers > 0 {
                for await _ in firstRead {
                    started += 1
                    if started == Self.readers { break }
                }
            }
            let fullBefore = log.snapshot.full

            // The burst: reserves at a fixed rate (open loop: a slow answer does not slow the arrivals), each on a
            // connection of its own from a pool of 64, one seat each; a pass runs in the middle of it.
            let pool = ConnectionPool(port: port, size: 64)
            let burstStart = ContinuousClock.now
            // With CONCERT_LOAD_PASS_MID_BURST=1 a pass runs in the middle of the burst and changes the map, so every
            // reader downloads all 6.4 MB again while reserves arrive (a measurement: on two shared cores that wave is
            // the ingest's egress, which a CDN in front absorbs; see README "Public reads").
            let passMidBurst = ProcessInfo.processInfo.environment["CONCERT_LOAD_PASS_MID_BURST"] == "1"
            let pass = Task {
                guard passMidBurst else { return Stack.ProcessResult(status: 0, stdout: "", stderr: "") }
                try await Task.sleep(until: burstStart + .seconds(Self.burstSeconds / 2), clock: .continuous)
                return try await IngestPromises.onThread { try Stack.run("concert-batch", ["run"]) }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<reserves {
                    group.addTask {
                        try await Task.sleep(until: burstStart + .microseconds(1_000_000 * index / Self.reservesPerSecond), clock: .continuous)
                        let client = await pool.take()
                        var headers = HTTPFields()
                        headers[.authorization] = "Bearer \(tokens[index])"
                        headers[.contentType] = "application/json"
                        let sent = ContinuousClock.now
                        let response = try await client.post(
                            "/v1/performances/\(performance)/reservations", headers: headers,
                            body: ByteBuffer(string: "{\"seatIds\":[\(index + 1)]}")
                        )
                        log.reserve(response.status, took: ContinuousClock.now - sent)
                        await pool.give(client)
                    }
                }
                try await group.waitForAll()
            }
            let burstTook = ContinuousClock.now - burstStart

            try await pass.value.requireSuccess()
            if passMidBurst {  // readers go on until every one has seen the changed map (or 20 s more)
                let deadline = ContinuousClock.now + .seconds(20)
                while log.snapshot.full - fullBefore < Self.readers, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            log.stop()
            for reader in readerThreads { await reader.finished() }
            try await pool.close()

            let result = log.snapshot
            let metrics = String(decoding: try await ingest.raw("GET", "/metrics", contentType: nil).2, as: UTF8.self)
            let storeReads = Self.counter(metrics, "concert_ingest_public_reads_from_store_total", label: "resource=\"seats\"")
            let serverWithin20ms = Self.reserveShareWithin(metrics, bucket: "0.02")
            let serverWithin50ms = Self.reserveShareWithin(metrics, bucket: "0.05")
            let summary = """
                burst: \(reserves) reserves at \(Self.reservesPerSecond)/s in \(burstTook); enqueue (client) p50 \(result.percentile(0.5)) \
                p99 \(result.percentile(0.99)) max \(result.percentile(1)); the ingest's own share answered within 20 ms \
                \(serverWithin20ms.map { String(format: "%.4f", $0) } ?? "?"), within 50 ms \(serverWithin50ms.map { String(format: "%.4f", $0) } ?? "?"); statuses \(result.reserveStatuses); readers: \
                \(result.reads) reads (\(result.full) full maps, \(result.notModified) 304, \(result.readBytes / 1_000_000) MB), \
                statuses \(result.readStatuses), failures \(result.readFailures); seat map reads from Redis \(storeReads.map(String.init) ?? "?") \
                in \(result.elapsedSeconds) s; pass mid-burst: \(passMidBurst)
                """
            print("public-read load: \(summary)")
            #expect(result.reserveStatuses == [202: reserves], "\(summary)")
            #expect(result.readStatuses.keys.allSatisfy { $0 == 200 || $0 == 304 } && result.readFailures.isEmpty, "\(summary)")
            let serverShare = try #require(Self.reserveShareWithin(metrics, bucket: Self.serverP99Bucket), "no histogram: \(summary)")
            #expect(serverShare >= 0.99, "enqueue p99 over \(Self.serverP99Bucket) s as the ingest measures it: \(summary)")
            #expect(result.percentile(0.99) < Self.clientP99, "enqueue p99 at the client: \(summary)")
            if passMidBurst { #expect(result.full - fullBefore >= Self.readers, "every reader saw the map the pass changed: \(summary)") }
            // The crowd cost Redis about one read of the map per second, not one per reader.
            let elapsed = Double(result.elapsedSeconds)
            #expect((storeReads ?? .max) <= Int(elapsed * 1.5) + 3, "\(summary), over \(elapsed) s")
        }

        /// A counter's value in Prometheus text (`name{…label…} value`).
        static func counter(_ text: String, _ name: String, label: String) -> Int? {
            text.split(separator: "\n").first { $0.hasPrefix(name) && $0.contains(label) }
                .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }.map { Int($0) }
        }

        /// The share of 202 answers to reserves the ingest's own latency histogram counts within `bucket` seconds.
        static func reserveShareWithin(_ text: String, bucket: String) -> Double? {
            let lines = text.split(separator: "\n").filter {
                $0.contains("reservations") && $0.contains("202") && $0.contains("_bucket")
            }
            func value(_ le: String) -> Double? {
                lines.first { $0.contains("le=\"\(le)\"") }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
            }
            guard let within = value(bucket), let all = value("+Inf"), all > 0 else { return nil }
            return within / all
        }
    }
}

/// What the load test saw, shared by its tasks.
final class LoadLog: Sendable {
    struct Snapshot {
        var started = ContinuousClock.now
        var latencies: [Duration] = []
        var reserveStatuses: [Int: Int] = [:]
        var readStatuses: [Int: Int] = [:]
        var reads = 0
        var full = 0
        var notModified = 0
        var readBytes = 0
        /// The readers stop at their next turn.
        var stopped = false
        /// Requests of readers that failed (a timeout, a dropped connection), by error.
        var readFailures: [String: Int] = [:]

        var elapsedSeconds: Int64 { (ContinuousClock.now - started).components.seconds + 1 }

        func percentile(_ p: Double) -> Duration {
            let sorted = latencies.sorted()
            guard !sorted.isEmpty else { return .zero }
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
        }
    }

    private let state = Mutex(Snapshot())

    var snapshot: Snapshot { state.withLock { $0 } }

    func stop() {
        state.withLock { $0.stopped = true }
    }

    func readFailed(_ error: any Error) {
        state.withLock { $0.readFailures["\(error)", default: 0] += 1 }
    }

    func read(_ status: HTTPResponse.Status, bytes: Int) {
        state.withLock {
            $0.reads += 1
            $0.readStatuses[status.code, default: 0] += 1
            $0.readBytes += bytes
            if status == .ok { $0.full += 1 }
            if status == .notModified { $0.notModified += 1 }
        }
    }

    func reserve(_ status: HTTPResponse.Status, took: Duration) {
        state.withLock {
            $0.reserveStatuses[status.code, default: 0] += 1
            $0.latencies.append(took)
        }
    }
}

/// Connections for the reserves, so the burst measures the ingest, not connection set-up.
actor ConnectionPool {
    private var idle: [TestClient] = []
    private var waiting: [CheckedContinuation<TestClient, Never>] = []
    private var all: [TestClient] = []

    init(port: Int, size: Int) {
        for _ in 0..<size {
            let client = TestClient(host: "127.0.0.1", port: port)
            client.connect()
            idle.append(client)
            all.append(client)
        }
    }

    func take() async -> TestClient {
        if let client = idle.popLast() { return client }
        return await withCheckedContinuation { waiting.append($0) }
    }

    func give(_ client: TestClient) {
        if waiting.isEmpty { idle.append(client) } else { waiting.removeFirst().resume(returning: client) }
    }

    func close() async throws {
        for client in all { try await client.shutdown() }
    }
}

/// A browser-like reader of one URL on a thread of its own: a keep-alive HTTP/1.1 connection over a blocking socket,
/// `If-None-Match` with the last ETag, then a pause (what `max-age=1` allows); bodies are read and discarded.
final class ReaderThread: Sendable {
    private let done = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let exited = Mutex(false)

    init(port: Int, path: String, log: LoadLog, pause: Duration, firstRead: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            Self.run(port: port, path: path, log: log, pause: pause, firstRead: firstRead)
            let waiter = exited.withLock { exited in
                exited = true
                return done.withLock { $0.take() }
            }
            waiter?.resume()
        }
        thread.start()
    }

    /// Returns once the thread has stopped (after `log.stop()`).
    func finished() async {
        await withCheckedContinuation { continuation in
            let already = exited.withLock { exited in
                if !exited { done.withLock { $0 = continuation } }
                return exited
            }
            if already { continuation.resume() }
        }
    }

    private static func run(port: Int, path: String, log: LoadLog, pause: Duration, firstRead: @Sendable () -> Void) {
        var signalled = false
        defer { if !signalled { firstRead() } }
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return log.readFailed(ReaderError("socket: errno \(errno)")) }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return log.readFailed(ReaderError("connect: errno \(errno)")) }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var pending: [UInt8] = []
        var etag: String?
        while !log.snapshot.stopped {
            let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (etag.map { "If-None-Match: \($0)\r\n" } ?? "") + "\r\n"
            guard Array(request.utf8).withUnsafeBytes({ send(socket, $0.baseAddress, $0.count, 0) }) == request.utf8.count else {
                return log.readFailed(ReaderError("send: errno \(errno)"))
            }
            // Headers, up to the blank line.
            var headerEnd: Int?
            while headerEnd == nil {
                if let end = pending.firstRange(of: [13, 10, 13, 10]) { headerEnd = end.upperBound; break }
                let count = recv(socket, &buffer, buffer.count, 0)
                guard count > 0 else { return log.readFailed(ReaderError(count == 0 ? "closed by the ingest" : "recv: errno \(errno)")) }
                pending += buffer[0..<count]
            }
            let head = String(decoding: pending[0..<headerEnd!], as: UTF8.self)
            pending.removeFirst(headerEnd!)
            let lines = head.split(separator: "\r\n")
            let code = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            var length = 0
            for line in lines.dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2 else { continue }
                switch parts[0].lowercased() {
                case "content-length": length = Int(parts[1]) ?? 0
                case "etag": if code == 200 { etag = parts[1] }
                default: break
                }
            }
            // The body, discarded.
            var left = length - min(length, pending.count)
            pending.removeFirst(min(length, pending.count))
            while left > 0 {
                let count = recv(socket, &buffer, min(buffer.count, left), 0)
                guard count > 0 else { return log.readFailed(ReaderError(count == 0 ? "closed by the ingest" : "recv: errno \(errno)")) }
                left -= count
            }
            log.read(HTTPResponse.Status(code: code), bytes: length)
            if !signalled {
                signalled = true
                firstRead()
            }
            Thread.sleep(forTimeInterval: Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18)
        }
    }
}

struct ReaderError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
