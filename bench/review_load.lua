-- wrk script of bench/review_load.sh: GET requests rotating over a file of URL paths, each with
-- `Authorization: Bearer $PW_TOKEN`; counts answers by status; writes a JSON summary to
-- $PW_RESULT when done.
--
-- Environment: PW_URLS (a file, one path per line, e.g. /api/events?camera=cam-07),
-- PW_TOKEN, PW_RESULT, PW_ONLY (optional: use only line N, 1-based, of PW_URLS).

local urls = {}
for line in io.lines(os.getenv("PW_URLS")) do
  if #line > 0 then
    urls[#urls + 1] = line
  end
end
local only = tonumber(os.getenv("PW_ONLY") or "")
if only then
  urls = { urls[only] }
end
local token = os.getenv("PW_TOKEN")
local headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" }

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- Per thread: where in the rotation it is, and its answers by status.
local n = 0
statuses = {}

function init(args)
  -- Threads start at different places of the rotation.
  n = (id or 0) * 7
end

function request()
  n = n + 1
  return wrk.format("GET", urls[(n % #urls) + 1], headers)
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local by_status = {}
  local non2xx = 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, count in pairs(s) do
      by_status[code] = (by_status[code] or 0) + count
      if code < 200 or code > 299 then
        non2xx = non2xx + count
      end
    end
  end
  local parts = {}
  for code, count in pairs(by_status) do
    parts[#parts + 1] = string.format('"%d": %d', code, count)
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local out = string.format(
    '{"urls": %d, "requests": %d, "seconds": %.3f, "requests_per_s": %.1f, "bytes": %d, '
      .. '"latency_ms": {"p50": %.2f, "p90": %.2f, "p99": %.2f, "p999": %.2f, "max": %.2f, '
      .. '"mean": %.2f, "stdev": %.2f}, '
      .. '"by_status": {%s}, "non_2xx": %d, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    #urls, summary.requests, seconds, summary.requests / seconds, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, latency.mean / 1000,
    latency.stdev / 1000,
    table.concat(parts, ", "), non2xx,
    e.connect, e.read, e.write, e.timeout)
  local f = assert(io.open(os.getenv("PW_RESULT"), "w"))
  f:write(out)
  f:close()
end
