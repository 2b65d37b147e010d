/// The measured cost model of a batch: `batch time = cost per request × batch size + overhead`.
///
/// Both numbers are fitted from the batches actually run with the Theil–Sen estimator (the median of the
/// slopes between every pair of samples, and the median intercept under that slope): it shrugs off up to
/// about a quarter of wild samples (a GC pause, a checkpoint, a noisy neighbour) that would drag a
/// least-squares line. The window keeps the most recent samples and is stored between runs.
public struct BatchCostModel: Sendable, Equatable {
    public struct Sample: Sendable, Equatable {
        public var size: Int
        public var seconds: Double
        public init(size: Int, seconds: Double) {
            self.size = size
            self.seconds = seconds
        }
    }

    public struct Fit: Sendable, Equatable {
        public var costPerRequest: Double
        public var overhead: Double

        public func predictedSeconds(size: Int) -> Double { costPerRequest * Double(size) + overhead }
    }

    public private(set) var samples: [Sample]
    public let windowSize: Int

    public init(samples: [Sample] = [], windowSize: Int = 64) {
        self.windowSize = windowSize
        self.samples = Array(samples.suffix(windowSize))
    }

    public mutating func record(size: Int, seconds: Double) {
        guard size > 0, seconds.isFinite, seconds >= 0 else { return }
        samples.append(Sample(size: size, seconds: seconds))
        if samples.count > windowSize { samples.removeFirst(samples.count - windowSize) }
    }

    /// The fit, once the window has at least three samples of at least two different sizes.
    public var fit: Fit? {
        guard samples.count >= 3 else { return nil }
        var slopes: [Double] = []
        slopes.reserveCapacity(samples.count * (samples.count - 1) / 2)
        for i in samples.indices {
            for j in samples.indices where j > i && samples[j].size != samples[i].size {
                slopes.append((samples[j].seconds - samples[i].seconds) / Double(samples[j].size - samples[i].size))
            }
        }
        guard !slopes.isEmpty else { return nil }
        let cost = max(0, Self.median(slopes))
        let overhead = max(0, Self.median(samples.map { $0.seconds - cost * Double($0.size) }))
        return Fit(costPerRequest: cost, overhead: overhead)
    }

    /// The size whose predicted time meets `targetSeconds`, within `bounds`. Before there is a fit it grows
    /// from the lower bound. Successive calls alternate a little around the target (`probe`) so the window
    /// always holds different sizes and both numbers stay identifiable.
    public func nextBatchSize(targetSeconds: Double, bounds: ClosedRange<Int>, probe: Int) -> Int {
        let spread = [1.0, 0.75, 1.25][abs(probe) % 3]
        guard let fit, fit.costPerRequest > 0 else {
            // No fit yet: 1×, 2×, 4×… the lower bound, so the first batches are cheap and of different sizes.
            let grown = bounds.lowerBound << min(samples.count, 20)
            return min(max(grown, bounds.lowerBound), bounds.upperBound)
        }
        let ideal = (targetSeconds - fit.overhead) / fit.costPerRequest * spread
        guard ideal.isFinite else { return bounds.upperBound }
        return min(max(Int(ideal.rounded()), bounds.lowerBound), bounds.upperBound)
    }

    /// The window as text (`size:seconds` pairs), for keeping it between runs.
    public var serialized: String {
        samples.map { "\($0.size):\($0.seconds)" }.joined(separator: ",")
    }

    public init(serialized text: String, windowSize: Int = 64) {
        var samples: [Sample] = []
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: ":")
            if parts.count == 2, let size = Int(parts[0]), let seconds = Double(parts[1]), size > 0, seconds >= 0 {
                samples.append(Sample(size: size, seconds: seconds))
            }
        }
        self.init(samples: samples, windowSize: windowSize)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
