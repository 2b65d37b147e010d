-- wrk script for throughput runs: POST reservations with pre-minted bearer tokens (nothing is signed here).
--   TOKENS=path (one "USER TOKEN" line each), PERFORMANCE=id, SEATS=n (seat ids 1..n)
-- Unlike reserve.lua it has no response() callback (that makes wrk parse every response in Lua and slows it
-- a lot): wrk's own "Non-2xx or 3xx responses" line gives the count of answers other than 202.
--
-- Each thread takes its own slice of the tokens (so a user's requests come from one thread and stay far below
-- the per-user rate limit) and pre-formats one request per token, with 1 or 2 adjacent random seats, in
-- init(); request() only hands them out in turn.
local thread_count = 0

function setup(thread)
  thread:set("slice", thread_count)
  thread_count = thread_count + 1
end

local requests = {}
local next_request = 1

function init(args)
  local performance = os.getenv("PERFORMANCE") or "1"
  local seats = tonumber(os.getenv("SEATS") or "1000")
  local threads = tonumber(os.getenv("THREADS") or "2")
  local path = "/v1/performances/" .. performance .. "/reservations"
  math.randomseed(os.time() + slice * 7919)
  local index = 0
  for line in io.lines(os.getenv("TOKENS")) do
    local token = line:match("^%d+ (%S+)$")
    if token then
      if index % threads == slice then
        local first = math.random(seats)
        local body
        if math.random() < 0.3 and first < seats then
          body = string.format('{"seatIds":[%d,%d]}', first, first + 1)
        else
          body = string.format('{"seatIds":[%d]}', first)
        end
        requests[#requests + 1] = wrk.format("POST", path, {
          ["Authorization"] = "Bearer " .. token,
          ["Content-Type"] = "application/json",
        }, body)
      end
      index = index + 1
    end
  end
  if #requests == 0 then error("no tokens for this thread in " .. tostring(os.getenv("TOKENS"))) end
end

function request()
  local r = requests[next_request]
  next_request = next_request + 1
  if next_request > #requests then next_request = 1 end
  return r
end
