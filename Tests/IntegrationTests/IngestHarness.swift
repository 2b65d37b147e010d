import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

/// A real `concert-ingest` process on a free loopback port, and a small HTTP client for it.
///
/// The ingest serves the public reads (`GET /v1/performances`, `GET /v1/performances/{id}/seats`) from a copy at
/// most a second old; the tests read them to see what a pass just published, so this client never reads one of
/// them within 1.1 s of its previous read of the same path (it waits the rest): each read is fresh.
final class IngestHarness: @unchecked Sendable {  // the process handle is only touched by start and stop
    let process: Stack.RunningProcess
    let base: URL
    let session: URLSession
    /// When this client last read each public path.
    private let publicReads = Mutex<[String: ContinuousClock.Instant]>([:])

    init(environment: [String: String] = [:]) async throws {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: configuration)
        // Below Linux's ephemeral range (32768+), so no outgoing connection holds it; retried if taken anyway.
        var attempt = 0
        while true {
            attempt += 1
            let port = Int.random(in: 20_000...32_000)
            let started = try Stack.start("concert-ingest", ["--port", String(port)], environment: environment)
            let base = URL(string: "http://127.0.0.1:\(port)")!
            for _ in 0..<100 {
                if let (status, _, _) = try? await Self.raw(session, base, "GET", "/healthz", token: nil, body: nil,
                                                           contentType: nil, headers: [:]),
                   status == 200 || status == 503 {
                    process = started
                    self.base = base
                    return
                }
                if !started.process.isRunning { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            started.kill(SIGKILL)
            let output = started.wait()
            if attempt < 3, output.stdout.contains("in use") || output.stderr.contains("in use") { continue }
            Issue.record("concert-ingest did not start: \(output.stderr) \(output.stdout.suffix(2000))")
            throw Stack.ProcessFailure()
        }
    }

    func stop() {
        process.kill(SIGKILL)  // the test runner blocks signals its children inherit; SIGKILL cannot be blocked
    }

    /// Sends a request; answers the status code and the parsed JSON body (nil when the body is not JSON).
    @discardableResult
    func send(
        _ method: String, _ path: String, token: String? = nil, json: String? = nil, headers: [String: String] = [:]
    ) async throws -> (Int, [String: Any]?) {
        let (status, _, data) = try await raw(method, path, token: token, body: json.map { Data($0.utf8) }, headers: headers)
        return (status, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any])
    }

    func raw(
        _ method: String, _ path: String, token: String? = nil, body: Data? = nil, contentType: String? = "application/json",
        headers: [String: String] = [:]
    ) async throws -> (Int, [String: String], Data) {
        if method == "GET", path == "/v1/performances" || (path.hasPrefix("/v1/performances/") && path.hasSuffix("/seats")) {
            let now = ContinuousClock.now
            let wait = publicReads.withLock { reads -> Duration in
                let earliest = reads[path].map { $0 + .milliseconds(1_100) } ?? now
                reads[path] = max(earliest, now)
                return earliest > now ? earliest - now : .zero
            }
            if wait > .zero { try await Task.sleep(for: wait) }
        }
        return try await Self.raw(session, base, method, path, token: token, body: body, contentType: contentType, headers: headers)
    }

    static func raw(
        _ session: URLSession, _ base: URL, _ method: String, _ path: String, token: String?, body: Data?,
        contentType: String?, headers: [String: String]
    ) async throws -> (Int, [String: String], Data) {
        var request = URLRequest(url: base.appendingPathComponent(path))
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = body
            if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return (http.statusCode, fields, data)
    }
}
