import ReservationCore

/// How a pass that found no work sleeps until a queue gets some, without polling: it arms a wake-up per queue and
/// blocks on its own list, which the ingest (or a forwarding pass) pushes to.
extension PassQueues {
    /// Arms the queues' wake-ups for `runner`, except those with work waiting; returns the queues armed.
    public func armWake(_ queues: [QueueName], runner: String, seconds: Int) throws(RedisError) -> [QueueName] {
        let replies = try redis.pipeline(queues.map { queue in
            ["EVAL", QueueScripts.armWake, "2", RedisKeys.wakeArm(queue), RedisKeys.pending(queue),
             RedisKeys.wake(runner: runner), String(seconds)]
        })
        var armed: [QueueName] = []
        for (queue, reply) in zip(queues, replies) {
            if case .error(let message) = reply { throw RedisError(.server, message) }
            if reply.int == 1 { armed.append(queue) }
        }
        return armed
    }

    /// Waits up to `seconds` (whole seconds ≥ 1, or fractions for BLPOP's decimal timeout) for a wake-up; returns
    /// the queues named (empty on timeout).
    public func waitForWake(runner: String, seconds: Double) throws(RedisError) -> [QueueName] {
        let key = RedisKeys.wake(runner: runner)
        let reply = try redis.command(["BLPOP", key, String(max(0.01, seconds))])
        guard let parts = reply.array, parts.count == 2, let first = parts[1].string else { return [] }
        var tags = [first]
        let rest = try redis.pipeline([["LRANGE", key, "0", "-1"], ["DEL", key]])
        tags += (rest.first?.array ?? []).compactMap(\.string)
        return Array(Set(tags.compactMap { QueueName(tag: Substring($0)) })).sorted { $0.tag < $1.tag }
    }

    /// Pushes `queue`'s tag to a waiting process's wake-up list (it expires if nobody reads it).
    func wakeUp(_ list: String, for queue: QueueName) throws(RedisError) {
        for reply in try redis.pipeline([["RPUSH", list, queue.tag], ["EXPIRE", list, "60"]]) {
            if case .error(let message) = reply { throw RedisError(.server, message) }
        }
    }
}
