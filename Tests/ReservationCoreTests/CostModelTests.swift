import TestSupport
import Testing
@testable import ReservationCore

/// `batch time = cost per request × batch size + overhead`, fitted robustly from measured batches.
@Suite("Batch cost model")
struct CostModelTests {
    static let cost = 8e-6  // 8 µs per request
    static let overhead = 0.012  // 12 ms per batch

    /// Batches of varied sizes timed from the known model, with ±`noise` relative jitter, and every
    /// `outlierEvery`-th one (if any) taking five times as long, as a GC pause or a checkpoint would.
    static func measured(seed: UInt64, count: Int = 64, noise: Double = 0.01, outlierEvery: Int? = nil) -> BatchCostModel {
        var random = SplitMix64(state: seed)
        var model = BatchCostModel()
        for index in 0..<count {
            let size = Int.random(in: 100...8_000, using: &random)
            var seconds = (cost * Double(size) + overhead) * (1 + Double.random(in: -noise...noise, using: &random))
            if let outlierEvery, index % outlierEvery == outlierEvery - 1 { seconds *= 5 }
            model.record(size: size, seconds: seconds)
        }
        return model
    }

    static func expectClose(_ actual: Double, _ expected: Double, within tolerance: Double = 0.05, _ what: String) {
        #expect(abs(actual - expected) <= tolerance * expected, "\(what): \(actual), expected \(expected) ± \(tolerance * 100)%")
    }

    @Test("recovers cost per request and overhead from slightly noisy timings", arguments: UInt64(1)...UInt64(8))
    func fitsCleanTimings(seed: UInt64) throws {
        let fit = try #require(Self.measured(seed: seed).fit)
        Self.expectClose(fit.costPerRequest, Self.cost, "cost per request")
        Self.expectClose(fit.overhead, Self.overhead, "overhead")
    }

    @Test("one batch in five taking five times as long does not move the fit", arguments: UInt64(1)...UInt64(8))
    func shrugsOffOutliers(seed: UInt64) throws {
        let model = Self.measured(seed: seed, outlierEvery: 5)
        let fit = try #require(model.fit)
        Self.expectClose(fit.costPerRequest, Self.cost, "cost per request")
        Self.expectClose(fit.overhead, Self.overhead, "overhead")
    }

    @Test("exact samples give the exact line, and predictions follow it")
    func exactLine() throws {
        var model = BatchCostModel()
        for size in [10, 20, 40, 80] { model.record(size: size, seconds: 0.002 * Double(size) + 0.5) }
        let fit = try #require(model.fit)
        #expect(abs(fit.costPerRequest - 0.002) < 1e-12)
        #expect(abs(fit.overhead - 0.5) < 1e-12)
        #expect(abs(fit.predictedSeconds(size: 1_000) - 2.5) < 1e-9)
    }

    @Test("no fit from fewer than three samples or from a single batch size")
    func noFitWithoutEnoughInformation() {
        var model = BatchCostModel()
        #expect(model.fit == nil)
        model.record(size: 100, seconds: 0.1)
        model.record(size: 200, seconds: 0.2)
        #expect(model.fit == nil, "two samples")

        let oneSize = BatchCostModel(samples: (0..<10).map { BatchCostModel.Sample(size: 500, seconds: 0.1 + Double($0) / 1000) })
        #expect(oneSize.fit == nil, "every sample has the same size")

        model.record(size: 300, seconds: 0.3)
        #expect(model.fit != nil)
    }

    @Test("nonsense measurements are not recorded")
    func refusesNonsenseSamples() {
        var model = BatchCostModel()
        model.record(size: 0, seconds: 0.1)
        model.record(size: -5, seconds: 0.1)
        model.record(size: 10, seconds: -0.1)
        model.record(size: 10, seconds: .nan)
        model.record(size: 10, seconds: .infinity)
        #expect(model.samples.isEmpty)
    }

    @Test("the window keeps only the most recent samples")
    func window() {
        var model = BatchCostModel(windowSize: 5)
        for size in 1...12 { model.record(size: size, seconds: Double(size)) }
        #expect(model.samples.map(\.size) == [8, 9, 10, 11, 12])
        let restored = BatchCostModel(samples: model.samples + [.init(size: 13, seconds: 13)], windowSize: 3)
        #expect(restored.samples.map(\.size) == [11, 12, 13])
    }

    @Test("the next batch size meets the time target, within bounds")
    func nextBatchSizeMeetsTarget() throws {
        let model = Self.measured(seed: 3)
        let fit = try #require(model.fit)
        let bounds = 100...200_000
        let size = model.nextBatchSize(targetSeconds: 0.5, bounds: bounds, probe: 0)
        Self.expectClose(fit.predictedSeconds(size: size), 0.5, within: 0.001, "predicted time of the chosen size")
        Self.expectClose(Double(size), (0.5 - Self.overhead) / Self.cost, "chosen size")

        // Probes straddle the target so the window keeps different sizes.
        let probes = (0..<3).map { model.nextBatchSize(targetSeconds: 0.5, bounds: bounds, probe: $0) }
        #expect(probes[1] < probes[0] && probes[0] < probes[2])
        #expect(Set(probes).count == 3)

        #expect(model.nextBatchSize(targetSeconds: 3_600, bounds: bounds, probe: 0) == bounds.upperBound)
        #expect(model.nextBatchSize(targetSeconds: 0.001, bounds: bounds, probe: 0) == bounds.lowerBound,
                "a target below the overhead asks for the smallest batch")
        for probe in [-7, 0, 1, 2, 1_000] {
            #expect(bounds.contains(model.nextBatchSize(targetSeconds: 0.5, bounds: bounds, probe: probe)))
        }
    }

    @Test("before there is a fit, batches grow from the lower bound and never pass the upper")
    func nextBatchSizeWithoutFit() {
        var model = BatchCostModel()
        var sizes: [Int] = []
        for _ in 0..<4 {
            let size = model.nextBatchSize(targetSeconds: 1, bounds: 50...300, probe: 0)
            sizes.append(size)
            model.record(size: 500, seconds: 0.1)  // one size only: still no fit
        }
        #expect(sizes == [50, 100, 200, 300])
        var many = BatchCostModel()
        for _ in 0..<64 { many.record(size: 7, seconds: 1) }
        #expect(many.nextBatchSize(targetSeconds: 1, bounds: 50...1_000_000, probe: 0) == 1_000_000)
    }

    @Test("the stored window round-trips exactly, and unreadable pairs are skipped")
    func serializedRoundTrip() {
        let model = Self.measured(seed: 5, count: 20)
        let restored = BatchCostModel(serialized: model.serialized)
        #expect(restored == model)
        #expect(restored.fit == model.fit)

        let messy = BatchCostModel(serialized: "10:0.5,garbage,20:x,0:1,30:-1,40:1.5:2,,50:2.5")
        #expect(messy.samples == [.init(size: 10, seconds: 0.5), .init(size: 50, seconds: 2.5)])
        #expect(BatchCostModel(serialized: "").samples.isEmpty)
        #expect(BatchCostModel(samples: []).serialized == "")
    }
}
