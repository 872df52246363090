-- wrk script for benchmarks/api.py --flood-sign-in: a password-guessing flood against the sign-in API.
--
--   wrk -t1 -c4 -d30s -s benchmarks/api_flood.lua http://127.0.0.1:8000 -- analyst
--
-- Every request is POST /api/v1/auth/token with a new wrong password for the account named on the
-- command line (default "analyst"), as a guesser that ignores Retry-After would send them. done()
-- prints "RESULT key=value ..." with the count of each answer's status (s401=..., s429=..., s503=...).

local user = "analyst"
local threads = {}
sent = 0
statuses = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  if args[1] then user = args[1] end
end

function request()
  sent = sent + 1
  local body = string.format('{"user_name": "%s", "password": "guess-%d"}', user, sent)
  return wrk.format("POST", "/api/v1/auth/token", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format("s%d=%d", status, count)
  end
  table.sort(parts)
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p95_us=%d socket_errors=%d %s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, " ")))
end
