import Logging
import RedisStore
import ReservationCore
import ServiceLifecycle
import Synchronization

/// What the ingest knows without asking Redis on every request: which performances exist (to route a reserve
/// to its performance's queue) and the pass's cost model (for ETAs). Refreshed every second by a service.
final class RoutingSnapshot: Service, Sendable {
    struct Snapshot: Sendable {
        var performances: Set<Int64> = []
        var costPerRequest: Double = 0
        var overhead: Double = 0
    }

    private let state = Mutex(Snapshot())
    private let store: any IntakeStore
    private let logger: Logger

    init(store: any IntakeStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    var current: Snapshot { state.withLock { $0 } }

    func refresh() async {
        do {
            let (performances, costModel) = try await store.routingSnapshot()
            let fit = costModel.map { BatchCostModel(serialized: $0).fit } ?? nil
            state.withLock {
                $0.performances = performances
                if let fit {
                    $0.costPerRequest = fit.costPerRequest
                    $0.overhead = fit.overhead
                }
            }
        } catch {
            logger.debug("routing snapshot not refreshed", metadata: ["error": "\(error)"])
        }
    }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await refresh()
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
