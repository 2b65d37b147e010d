import ArgumentParser
import ConcertCommandLine
import Foundation
import Hummingbird
import IngestService
import Metrics
import Prometheus
import ReservationCore

@main
struct ConcertIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert-ingest",
        abstract: "The thin HTTP API: authenticate, validate, queue in Redis, answer 202. Never touches MariaDB.",
        discussion: """
            Configuration comes from the environment: CONCERT_REDIS_URL, CONCERT_JWT_SECRET (HS256, at least 32 bytes), \
            CONCERT_RATE_LIMIT and CONCERT_RATE_BURST (per user; defaults 10/s and 20, never lower), CONCERT_PUBLIC_RATE_LIMIT \
            and CONCERT_PUBLIC_RATE_BURST (per client address on the public routes; defaults 1000/s and 2000, 0 turns it off), \
            CONCERT_REDIS_CONNECTIONS (default 2), CONCERT_LOG_LEVEL.
            """
    )

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port: Int = 8080

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1…65535") }
    }

    func run() async throws {
        let logger = bootstrapLogging(label: "concert-ingest")
        var configuration: IngestConfiguration
        do { configuration = try IngestConfiguration.fromEnvironment() } catch { throw OperatorError("\(error)") }
        configuration.host = host
        configuration.port = port
        // Request counts by route and code, latency histograms, Redis pipeline sizes: all into one registry.
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            // 20 ms: the enqueue latency the ingest promises at p99 under load (README, "Public reads").
            .milliseconds(10), .milliseconds(20), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
        MetricsSystem.bootstrap(factory)
        let app = try buildApplication(configuration: configuration, logger: logger, metrics: registry)
        try await app.runService()
    }

    static func main() async { await runAsyncCommandLine(ConcertIngest.self) }
}
