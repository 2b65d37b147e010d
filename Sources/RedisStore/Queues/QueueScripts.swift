import ReservationCore

/// The Lua scripts that make queue operations atomic. Each touches the keys of one slot only: one queue's keys
/// (one hash tag), or keys given one at a time.
enum QueueScripts {
    /// KEYS and ARGV of `enqueue` for one request.
    static func enqueueKeysAndArguments(_ request: QueuedRequest) -> (keys: [String], arguments: [String]) {
        let queue = request.id.queue
        let keys = [
            RedisKeys.pending(queue), RedisKeys.accepted(queue), RedisKeys.finished(queue), RedisKeys.status(request.id),
            RedisKeys.wakeArm(queue),
        ]
        let arguments = [
            request.wireHead, request.wireSeats, String(request.userID), request.kind.rawValue,
            String(RedisRetention.statusSeconds),
        ]
        return (keys, arguments)
    }

    /// Enqueue one request, once: if its status exists, it was queued already (a retry after a lost reply) and the
    /// stored status is the answer. Otherwise number it, stamp it with Redis's clock (pays and cancels are judged
    /// at that moment), append it and record its status as queued with its position — all or nothing, so a 202
    /// never points at a half-queued request. Takes the queue's wake-up arm, if a waiting batch process set one.
    /// KEYS: pending, accepted, finished, status, wake arm
    /// ARGV: entry head (`2|id|kind|user|performance|reservation|amount|`), seats, user, kind, status TTL
    /// Returns `{1, "<position>", "<wake list or empty>"}` when queued, `{0, "<stored status>", ""}` if it was already.
    static let enqueue = """
    local stored = redis.call('GET', KEYS[4])
    if stored then return {0, stored, ''} end
    local seq = redis.call('INCR', KEYS[2])
    local now = redis.call('TIME')
    local millis = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
    redis.call('RPUSH', KEYS[1], ARGV[1] .. millis .. '|' .. seq .. '|' .. ARGV[2])
    local position = seq - tonumber(redis.call('GET', KEYS[3]) or '0') - 1
    if position < 0 then position = 0 end
    redis.call('SET', KEYS[4], 'Q|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. seq .. '|' .. position, 'EX', ARGV[5])
    local wake = redis.call('GET', KEYS[5])
    if wake then redis.call('DEL', KEYS[5]) else wake = '' end
    return {1, tostring(position), wake}
    """

    /// Take the next batch under the queue's fence: up to ARGV[2] requests from pending, after those already in
    /// flight. Entries stay in pending (nothing is copied) until their batch's finish trims them from the head;
    /// the in-flight list records `<number>:<count>` per batch, oldest first, so the in-flight entries are always
    /// the first ones of pending, batch after batch.
    /// KEYS: pending, batch counter, in-flight batches, fence. ARGV: fencing token, limit.
    /// Returns `{number, entries, accepted}` (oldest first; `accepted`: when the first entry after the batch was
    /// accepted, -1 if none), `{0, {}, -1}` if nothing waits; an error `FENCED` for a stale token.
    static let take = """
    if redis.call('GET', KEYS[4]) ~= ARGV[1] then return redis.error_reply('FENCED the queue has a newer owner') end
    local offset = 0
    for _, batch in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
      offset = offset + tonumber(string.match(batch, ':(%d+)$'))
    end
    local items = redis.call('LRANGE', KEYS[1], offset, offset + tonumber(ARGV[2]) - 1)
    if #items == 0 then return {0, items, -1} end
    local number = redis.call('INCR', KEYS[2])
    redis.call('RPUSH', KEYS[3], number .. ':' .. #items)
    local after = redis.call('LINDEX', KEYS[1], offset + #items)
    local accepted = after and tonumber(string.match(after, '^2|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|(%d+)|')) or -1
    return {number, items, accepted}
    """

    /// Finish a batch under the queue's fence, as one step: drop it from flight and its entries from the head of
    /// pending (if ARGV[2] names the oldest batch in flight), count what it finished, keep its unreadable entries,
    /// mark the requests it forwarded as queued in their new queue (`<number>|<queue>`, keeping the first answer's
    /// position; unless that queue decided them already), and note its commit as published.
    /// KEYS: fence, in-flight batches, pending, finished, unreadable, published commit, then the forwarded requests'
    ///       statuses.
    /// ARGV: fencing token, in-flight record (`<number>:<count>`, or empty for none), entry count, finished
    ///       count, status TTL, number of unreadable entries, commit number, the unreadable entries, then one
    ///       value per forwarded status.
    /// Returns 1; an error `FENCED` for a stale token, `NOTOLDEST` if the batch is not the oldest in flight.
    static let finish = """
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED the queue has a newer owner') end
    if ARGV[2] ~= '' then
      if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] then
        return redis.error_reply('NOTOLDEST batch ' .. ARGV[2] .. ' is not the oldest in flight')
      end
      redis.call('LPOP', KEYS[2])
      redis.call('LTRIM', KEYS[3], tonumber(ARGV[3]), -1)
    end
    if tonumber(ARGV[4]) > 0 then redis.call('INCRBY', KEYS[4], ARGV[4]) end
    if tonumber(redis.call('GET', KEYS[6]) or '0') < tonumber(ARGV[7]) then redis.call('SET', KEYS[6], ARGV[7]) end
    local value = 8
    for _ = 1, tonumber(ARGV[6]) do
      redis.call('RPUSH', KEYS[5], ARGV[value])
      value = value + 1
    end
    for key = 7, #KEYS do
      local current = redis.call('GET', KEYS[key])
      local user, kind, position = string.match(current or '', '^Q|(%d+)|(%a+)|%d+|(%d+)')
      if user then
        local seq, tag = string.match(ARGV[value], '^(%d+)|(.+)$')
        redis.call('SET', KEYS[key], 'Q|' .. user .. '|' .. kind .. '|' .. seq .. '|' .. position .. '|' .. tag, 'EX', ARGV[5])
      end
      value = value + 1
    end
    return 1
    """

    /// Push requests forwarded from the general queue into this queue, once each: a marker per request id keeps a
    /// forward pushed again (a replayed publication) from queueing it twice. Each gets this queue's next number
    /// and keeps the moment Redis first accepted it. Takes the queue's wake-up arm.
    /// KEYS: accepted, pending, wake arm, then one marker per request.
    /// ARGV: marker TTL, then per request: entry head, accepted-at millis, seats.
    /// Returns `{"<wake list or empty>", number, number, …}` (the number each request has here).
    static let forward = """
    local numbers = {}
    local wake = redis.call('GET', KEYS[3])
    if wake then redis.call('DEL', KEYS[3]) else wake = '' end
    numbers[1] = wake
    for key = 4, #KEYS do
      local prior = redis.call('GET', KEYS[key])
      if prior then
        numbers[#numbers + 1] = tonumber(prior)
      else
        local seq = redis.call('INCR', KEYS[1])
        local at = (key - 4) * 3 + 2
        redis.call('RPUSH', KEYS[2], ARGV[at] .. ARGV[at + 1] .. '|' .. seq .. '|' .. ARGV[at + 2])
        redis.call('SET', KEYS[key], seq, 'EX', ARGV[1])
        numbers[#numbers + 1] = seq
      end
    end
    return numbers
    """

    /// Write read caches, each only if it is not older than what is there: a value starts with its rank or version
    /// (`<n>|…`), and a smaller one never replaces a larger one — so a late publication cannot undo a newer one.
    /// KEYS: the cache keys (one slot). ARGV: TTL seconds (0: none), then one value per key.
    static let setCaches = """
    for index, key in ipairs(KEYS) do
      local value = ARGV[index + 1]
      local current = redis.call('GET', key)
      if not current or tonumber(string.match(value, '^(%d+)|')) >= tonumber(string.match(current, '^(%d+)|') or '-1') then
        if ARGV[1] == '0' then redis.call('SET', key, value) else redis.call('SET', key, value, 'EX', ARGV[1]) end
      end
    end
    return #KEYS
    """

    /// Replace a queue's cache (its seat map) only under the queue's fence. KEYS: fence, cache. ARGV: token, value.
    static let setUnderFence = """
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED the queue has a newer owner') end
    redis.call('SET', KEYS[2], ARGV[2])
    return 1
    """

    /// Acquire the queue's lease for ARGV[1] (`<holder>`) for ARGV[2] ms, with a new fencing token; a holder that
    /// has it already extends it and keeps its token. KEYS: lease, fence.
    /// Returns the token, or 0 when another holder has it.
    static let acquireLease = """
    local current = redis.call('GET', KEYS[1])
    if current then
      local token, holder = string.match(current, '^(%d+)|(.*)$')
      if holder == ARGV[1] then
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return tonumber(token)
      end
      return 0
    end
    local token = redis.call('INCR', KEYS[2])
    redis.call('SET', KEYS[1], token .. '|' .. ARGV[1], 'PX', ARGV[2])
    return token
    """

    /// Extend the lease if it is still ours (`<token>|<holder>` in ARGV[1]). KEYS: lease. ARGV: value, lease ms.
    static let renewLease = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
    return 0
    """

    /// Release the lease if it is still ours. KEYS: lease. ARGV: value.
    static let releaseLease = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
    return 0
    """

    /// Arm the queue's wake-up for a waiting batch process, unless requests wait already (then it should not
    /// wait; in-flight entries are still in pending). KEYS: wake arm, pending. ARGV: wake list name, TTL seconds.
    /// Returns 1 when armed, 0 when work waits.
    static let armWake = """
    if redis.call('LLEN', KEYS[2]) > 0 then return 0 end
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
    return 1
    """
}
