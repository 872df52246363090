-- wrk script for benchmarks/api.py: walk a fixed list of request paths and report the figures on one line.
--
--   wrk -t1 -c8 -d5s -s benchmarks/api_wrk.lua http://127.0.0.1:8000 -- paths.txt
--
-- Each connection takes the next path from the list (one path a line, cycling), so a run touches many
-- organisations and league-table pages rather than one cached URL. The run is bounded by wrk's -d.
-- done() prints "RESULT key=value ..." (latencies in microseconds) for benchmarks/api.py to parse.

local paths = {}
local sent = 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("no paths in " .. args[1]) end
end

function request()
  sent = sent + 1
  return wrk.format(nil, paths[(sent - 1) % #paths + 1])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d non_2xx_3xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
