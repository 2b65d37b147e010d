-- wrk script: POST reservations with pre-minted bearer tokens (nothing is signed here).
--   TOKENS=path (one "user token" per line), PERFORMANCE=id, SEATS=n
-- Each request picks a token and 1-2 adjacent seats at random; the response callback counts status codes.
local tokens = {}
local performance = os.getenv("PERFORMANCE") or "1"
local seats = tonumber(os.getenv("SEATS") or "1000")
counts = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("TOKENS")) do
    local token = line:match("^%d+ (.+)$")
    if token then table.insert(tokens, token) end
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  local token = tokens[math.random(#tokens)]
  local first = math.random(seats)
  local body
  if math.random() < 0.3 and first < seats then
    body = string.format('{"seatIds":[%d,%d]}', first, first + 1)
  else
    body = string.format('{"seatIds":[%d]}', first)
  end
  return wrk.format("POST", "/v1/performances/" .. performance .. "/reservations", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, n in pairs(c) do total[status] = (total[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(total) do table.insert(parts, status .. "=" .. n) end
  table.sort(parts)
  io.write("status codes: " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("accepted/s %.0f\n", (total[202] or 0) / (summary.duration / 1e6)))
end
