extension Duration {
    /// The duration in seconds, as the batch timings, cost model and cache ages count it.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
