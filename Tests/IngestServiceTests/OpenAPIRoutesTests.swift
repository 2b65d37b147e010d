import Foundation
import Hummingbird
@testable import IngestService
import Logging
import Prometheus
import RedisStore
import Testing

/// deploy/openapi/concert.yaml documents exactly the routes the ingest serves — the router's own routes, as
/// `buildRouter` makes it: a route in one and not the other fails here. (deploy/check-api-schema checks the rest of
/// the document against a live ingest.)
@Suite("OpenAPI document")
struct OpenAPIRoutesTests {
    static let documentURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/openapi/concert.yaml")

    /// `METHOD /path/{param}` for each operation under `paths:`. The document keeps a fixed layout for this:
    /// a path is a line indented by exactly 2 spaces and ending in `:`, its operations lines indented by 4.
    static func documentedRoutes(_ text: String) throws -> Set<String> {
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var routes: Set<String> = []
        var inPaths = false
        var path: String?
        var pathHasOperation = false
        var pathsWithoutOperations: [String] = []
        func closePath() {
            if let open = path, !pathHasOperation { pathsWithoutOperations.append(open) }
            path = nil
            pathHasOperation = false
        }
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if !line.hasPrefix(" ") {  // a top-level key ends `paths:` or starts it
                closePath()
                inPaths = line.hasPrefix("paths:")
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                closePath()
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let colon = line.firstIndex(of: ":") {
                let key = line[line.index(line.startIndex, offsetBy: 4)..<colon].lowercased()
                guard methods.contains(key) else { continue }  // parameters, summary, …
                let current = try #require(path, "operation '\(key)' outside any path in the document")
                routes.insert("\(key.uppercased()) \(current)")
                pathHasOperation = true
            }
        }
        closePath()
        #expect(pathsWithoutOperations.isEmpty, "paths with no operation (layout broken?): \(pathsWithoutOperations)")
        return routes
    }

    /// `METHOD /path/{param}` for each route of the router the ingest runs.
    static func servedRoutes() throws -> Set<String> {
        let harness = try RouterHarness()
        let router = try buildRouter(
            configuration: harness.configuration, store: harness.store, publicStore: harness.store,
            routing: RoutingSnapshot(store: harness.store, logger: Logger(label: "test")), logger: Logger(label: "test"),
            metrics: PrometheusCollectorRegistry(), clock: harness.clock.ingestClock
        )
        return Set(router.routes.map { "\($0.method) \($0.path)" })
    }

    @Test func documentListsExactlyTheServedRoutes() throws {
        let text = try String(contentsOf: Self.documentURL, encoding: .utf8)
        let documented = try Self.documentedRoutes(text)
        let served = try Self.servedRoutes()
        #expect(served.count == 13 && served.contains("POST /v1/performances/{performanceId}/reservations"), "\(served.sorted())")
        #expect(served.subtracting(documented).isEmpty,
                "served but not in deploy/openapi/concert.yaml: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty,
                "in deploy/openapi/concert.yaml but not served: \(documented.subtracting(served).sorted())")
    }

    /// The parser itself: a route missing from either side is reported, and other keys are not routes.
    @Test func parserReadsPathsAndMethodsOnly() throws {
        let text = """
            openapi: 3.1.0
            paths:
              /v1/things/{thingId}:
                get:
                  parameters:
                    - name: thingId
                  responses:
                    '200':
                      description: ok
                delete:
                  responses: {}
              /healthz:
                # a comment
                get:
                  summary: post
            components:
              schemas:
                get:
                  type: object
            """
        #expect(try Self.documentedRoutes(text) == ["GET /v1/things/{thingId}", "DELETE /v1/things/{thingId}", "GET /healthz"])
    }
}
