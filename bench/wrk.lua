-- The one wrk script of `make bench` (bench/run.py): the request comes from the
-- environment, and `done` prints one JSON line that run.py reads.
--
--   BENCH_WRK_METHOD    GET (default) or POST
--   BENCH_WRK_BODY      a JSON body (sent with Content-Type: application/json)
--   BENCH_WRK_TOKEN     a gateway session token (sent as Authorization: Bearer)
--   BENCH_WRK_HOST      the Host header (default: the URL's), which business is asked
--   BENCH_WRK_DELAY_MS  pause before each request on a connection, in milliseconds
--                       (fractions are kept on average: wrk's timer counts whole ms)

local method = os.getenv("BENCH_WRK_METHOD") or "GET"
local body = os.getenv("BENCH_WRK_BODY") or ""
local token = os.getenv("BENCH_WRK_TOKEN") or ""
local host = os.getenv("BENCH_WRK_HOST") or ""
local delay_ms = tonumber(os.getenv("BENCH_WRK_DELAY_MS") or "0") or 0

wrk.method = method
wrk.headers["Accept"] = "application/json"
if body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if host ~= "" then
  wrk.headers["Host"] = host -- wrk.init sets the URL's only when none is set
end

if delay_ms > 0 then
  local whole = math.floor(delay_ms)
  local fraction = delay_ms - whole
  function delay()
    if math.random() < fraction then
      return whole + 1
    end
    return whole
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, '
      .. '"mean_us": %.1f, "max_us": %d, "errors": {"connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
