/// The Lua scripts that make queue operations atomic. Each touches the keys of one queue only (one hash tag).
import ReservationCore

enum QueueScripts {
    /// KEYS and ARGV of `enqueue` for one request.
    static func enqueueKeysAndArguments(_ request: QueuedRequest, idempotencyKey: String?) -> (keys: [String], arguments: [String]) {
        let queue = request.id.queue
        let keys = [
            RedisKeys.pending(queue), RedisKeys.accepted(queue), RedisKeys.finished(queue), RedisKeys.status(request.id),
            idempotencyKey.map { RedisKeys.idempotency(queue, user: request.userID, key: $0) } ?? "",
        ]
        let arguments = [
            request.wireFormat, String(request.userID), request.kind.rawValue, String(RedisRetention.statusSeconds),
            String(RedisRetention.idempotencySeconds), request.id.rawValue,
        ]
        return (keys, arguments)
    }

    /// Enqueue one request: answer a replay of an Idempotency-Key, or number the request, append it, and record
    /// its status as queued — all or nothing, so a 202 never points at a half-queued request.
    /// KEYS: pending, accepted, finished, status, idempotency (or "" for none)
    /// ARGV: entry, user, kind, status TTL, idempotency TTL, request id
    /// Returns `{1, "<id>|<position>"}` when queued, `{0, "<id>|<position>"}` for a replay.
    static let enqueue = """
    if KEYS[5] ~= '' then
      local prior = redis.call('GET', KEYS[5])
      if prior then return {0, prior} end
    end
    local seq = redis.call('INCR', KEYS[2])
    redis.call('RPUSH', KEYS[1], ARGV[1])
    redis.call('SET', KEYS[4], 'Q|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. seq, 'EX', ARGV[4])
    local position = seq - tonumber(redis.call('GET', KEYS[3]) or '0') - 1
    if position < 0 then position = 0 end
    local answer = ARGV[6] .. '|' .. position
    if KEYS[5] ~= '' then redis.call('SET', KEYS[5], answer, 'EX', ARGV[5]) end
    return {1, answer}
    """

    /// Take up to ARGV[1] requests from the head of pending as the queue's next numbered batch, atomically: the
    /// entries move to their own in-flight key (ARGV[2] followed by the number, same hash tag) and the number is
    /// appended to the list of batches in flight.
    /// KEYS: pending, batch counter, in-flight batches. Returns `{number, entries}` (oldest first), `{0, {}}` if empty.
    static let take = """
    local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
    if #items == 0 then return {0, items} end
    redis.call('LTRIM', KEYS[1], #items, -1)
    local number = redis.call('INCR', KEYS[2])
    local key = ARGV[2] .. number
    for i = 1, #items, 1000 do
      redis.call('RPUSH', key, unpack(items, i, math.min(i + 999, #items)))
    end
    redis.call('RPUSH', KEYS[3], number)
    return {number, items}
    """

    /// Extend the lease if we still hold the lock. KEYS: lock. ARGV: token, lease ms. Returns 1 or 0.
    static let renewLock = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then
      return redis.call('PEXPIRE', KEYS[1], ARGV[2])
    end
    return 0
    """

    /// Release the lock if we still hold it. KEYS: lock. ARGV: token.
    static let releaseLock = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then
      return redis.call('DEL', KEYS[1])
    end
    return 0
    """
}
