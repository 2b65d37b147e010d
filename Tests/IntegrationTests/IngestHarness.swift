import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// A real `concert-ingest` process on a free loopback port, and a small HTTP client for it.
final class IngestHarness: @unchecked Sendable {  // the process handle is only touched by start and stop
    let process: Stack.RunningProcess
    let base: URL
    let session: URLSession

    init(environment: [String: String] = [:]) async throws {
        let port = Int.random(in: 20_000...40_000)
        process = try Stack.start("concert-ingest", ["--port", String(port)], environment: environment)
        base = URL(string: "http://127.0.0.1:\(port)")!
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: configuration)
        for _ in 0..<100 {
            if let (status, _) = try? await send("GET", "/healthz"), status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        let output = process.wait()
        Issue.record("concert-ingest did not become healthy: \(output.stderr) \(output.stdout.suffix(2000))")
        throw Stack.ProcessFailure()
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
