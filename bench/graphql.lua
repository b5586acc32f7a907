-- wrk script: POST GraphQL bodies (one JSON document per line of BENCH_BODIES, sent
-- round-robin) with a bearer token; with BENCH_FOLLOW=1 it follows `endCursor` until
-- `hasNextPage` is false, counting whole rosters. A line "TOKEN<tab>JSON" carries its own
-- bearer token (one per student). Prints one BENCH_RESULT JSON line.
local token = os.getenv("BENCH_TOKEN")
local follow = os.getenv("BENCH_FOLLOW") == "1"
local bodies = {}
local tokens = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  if #line > 0 then
    local own, body = line:match("^([^\t]+)\t(.*)$")
    if own then
      tokens[#bodies + 1] = own
      line = body
    end
    bodies[#bodies + 1] = line
  end
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local index = 0
local cursor = nil
rosters = 0
failures = 0

function init(args)
  -- The (two) threads start half the list apart, so that they send different bodies.
  index = math.floor(id * #bodies / 2) % #bodies
end

function request()
  local body
  if follow and cursor then
    body = bodies[2]:gsub("__CURSOR__", cursor)
  elseif follow then
    body = bodies[1]
  else
    index = index % #bodies + 1
    body = bodies[index]
    if tokens[index] then
      return wrk.format(nil, nil, {["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. tokens[index]}, body)
    end
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or body:find('"errors"', 1, true) then
    failures = failures + 1
  end
  if follow then
    if body:find('"hasNextPage":true', 1, true) then
      cursor = body:match('"endCursor":"([^"]+)"')
    else
      cursor = nil
      rosters = rosters + 1
    end
  end
end

function done(summary, latency, requests)
  local total_rosters, total_failures = 0, 0
  for _, thread in ipairs(threads) do
    total_rosters = total_rosters + thread:get("rosters")
    total_failures = total_failures + thread:get("failures")
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "seconds": %.3f, "socket_or_status_errors": %d, '
    .. '"graphql_errors": %d, "rosters": %d, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6, errors, total_failures, total_rosters,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000))
end
