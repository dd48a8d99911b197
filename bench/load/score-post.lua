-- wrk script for bench/load/score-bench.ts: POST /v1/jobs/JOB/score with a random user id and SIZE random
-- features (list-column job). With DELAY_MS set, each connection waits a random delay averaging DELAY_MS
-- between requests (wrk itself is closed-loop); score-bench.ts calibrates it so the load is ~2k requests/s.
local job = os.getenv("JOB") or "score"
local size = tonumber(os.getenv("SIZE") or "32")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local counts = {}

function setup(thread)
  thread:set("id", #counts + 1)
  table.insert(counts, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  non200 = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

request = function()
  local f = {}
  for i = 1, size do f[i] = string.format("%.6f", math.random() * 2 - 1) end
  local body = '{"user_id":"new-' .. math.random(0, 1000000000) .. '","features":[' .. table.concat(f, ",") .. ']}'
  return wrk.format("POST", "/v1/jobs/" .. job .. "/score", nil, body)
end

if delay_ms > 0 then
  delay = function() return math.floor(delay_ms * (0.5 + math.random()) + 0.5) end
end

response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

done = function(summary, latency, requests)
  local n = 0
  for _, t in ipairs(counts) do n = n + (t:get("non200") or 0) end
  io.write(string.format("RESULT {\"requests\":%d,\"non_200\":%d,\"errors\":%d,\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"max_us\":%d,\"duration_us\":%d}\n",
    summary.requests, n, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, summary.duration))
end
