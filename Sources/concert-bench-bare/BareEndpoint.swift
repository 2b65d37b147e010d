import Foundation
import Hummingbird

/// Benchmark baseline only: a bare Hummingbird 2 endpoint of the ingest's shape (same route, decodes the same
/// body, answers 202 with a JSON body of the same size) but with no token check, no validation and no Redis.
/// `deploy/bench/ingest` loads it and the real ingest in one run and prints the ratio.
@main
struct BareEndpoint {
    struct ReserveBody: Decodable {
        let seatIds: [Int64]
    }

    static func main() async throws {
        let arguments = CommandLine.arguments
        let port = arguments.firstIndex(of: "--port").flatMap { Int(arguments[$0 + 1]) } ?? 8090
        let router = Router()
        router.post("/v1/performances/:performanceId/reservations") { request, context -> Response in
            let body = try await request.decode(as: ReserveBody.self, context: context)
            let json = "{\"requestId\":\"p1-00000000000000000000000000000000\",\"status\":\"queued\",\"position\":\(body.seatIds.count)}"
            return Response(
                status: .accepted, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: json))
            )
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
    }
}
