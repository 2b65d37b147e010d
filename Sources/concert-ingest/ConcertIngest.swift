import ArgumentParser
import ConcertCommandLine
import Foundation
import Hummingbird
import IngestService

@main
struct ConcertIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concert-ingest",
        abstract: "The thin HTTP API: authenticate, validate, queue in Redis, answer 202. Never touches MariaDB.",
        discussion: """
            Configuration comes from the environment: CONCERT_REDIS_URL, CONCERT_JWT_SECRET (HS256, at least 32 bytes), \
            CONCERT_RATE_LIMIT and CONCERT_RATE_BURST (per user; defaults 10/s and 20, never lower), CONCERT_LOG_LEVEL.
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
        let app = try buildApplication(configuration: configuration, logger: logger)
        try await app.runService()
    }

    static func main() async { await runAsyncCommandLine(ConcertIngest.self) }
}
