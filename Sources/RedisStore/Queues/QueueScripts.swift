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

    /// Take the next batch: up to ARGV[1] requests from pending, after those already in flight. Entries stay in
    /// pending (nothing is copied) until their batch's publication trims them from the head; the queue's in-flight
    /// list records `<number>:<count>` per batch, oldest first, so the in-flight entries are always the first
    /// ones of pending, batch after batch.
    /// KEYS: pending, batch counter, in-flight batches. Returns `{number, entries}` (oldest first), `{0, {}}` if empty.
    static let take = """
    local offset = 0
    for _, batch in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
      offset = offset + tonumber(string.match(batch, ':(%d+)$'))
    end
    local items = redis.call('LRANGE', KEYS[1], offset, offset + tonumber(ARGV[1]) - 1)
    if #items == 0 then return {0, items} end
    local number = redis.call('INCR', KEYS[2])
    redis.call('RPUSH', KEYS[3], number .. ':' .. #items)
    return {number, items}
    """

    /// Finish the oldest batch in flight, if it is ARGV[1] (`<number>:<count>`): drop it from the in-flight list and
    /// its ARGV[2] entries from the head of pending. Returns 1, or 0 if that batch is not the oldest in flight (another
    /// pass finished it: nothing is trimmed).
    /// KEYS: in-flight batches, pending.
    static let finish = """
    if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return 0 end
    redis.call('LPOP', KEYS[1])
    redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
    return 1
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
