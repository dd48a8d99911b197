-- wrk script for bench/load/lookup-bench.ts: every request asks for a uniformly random user among USERS,
-- on the job's latest published date (the path apps use). Set USERS, JOB with environment variables;
-- user ids are PREFIX .. n for n in FIRST .. FIRST + USERS - 1 (default "u", 0).
local users = tonumber(os.getenv("USERS") or "1000000")
local job = os.getenv("JOB") or "bench"
local prefix = os.getenv("PREFIX") or "u"
local first = tonumber(os.getenv("FIRST") or "0")
local counts = {}
-- DELAY_MS > 0 paces each connection: a random pause (exponential, mean DELAY_MS) before each request, so
-- 32 connections offer about 32 * 1000 / DELAY_MS requests/s instead of as many as the server can answer.
-- wrk starts a request's clock when it writes it, after the pause. Pauses are whole milliseconds in wrk;
-- rounding up with probability equal to the fraction keeps the mean.
local mean_delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
if mean_delay_ms > 0 then
  delay = function()
    local x = -math.log(1 - math.random()) * mean_delay_ms
    return math.floor(x + math.random())
  end
end

function setup(thread)
  thread:set("id", #counts + 1)
  table.insert(counts, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  non200 = 0
end

-- AUTHORIZATION (e.g. "Bearer bck_..."), when set, is sent with every request (lookup-bench.ts --auth).
local authorization = os.getenv("AUTHORIZATION") or ""
local headers = nil
if authorization ~= "" then headers = { ["Authorization"] = authorization } end

request = function()
  return wrk.format("GET", "/v1/jobs/" .. job .. "/users/" .. prefix .. math.random(first, first + users - 1) .. "/recommendations", headers)
end

response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

done = function(summary, latency, requests)
  local n = 0
  for _, t in ipairs(counts) do n = n + (t:get("non200") or 0) end
  io.write(string.format("RESULT {\"requests\":%d,\"non_200\":%d,\"errors\":%d,\"p50_us\":%d,\"p99_us\":%d,\"duration_us\":%d}\n",
    summary.requests, n, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), summary.duration))
end
