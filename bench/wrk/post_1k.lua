-- POST a 1 KiB chat-completions JSON body on keep-alive connections (wrk reuses each connection).
-- BENCH_STREAM=1 asks for a streamed answer ("stream": true + include_usage); the body stays 1 KiB.
-- BENCH_PACE_MS=M turns the closed loop into a paced one: each connection waits an exponentially
-- distributed delay of mean M ms before each request, so C connections offer about C*1000/M req/s as
-- a Poisson stream (no synchronized bursts). bench/run.py uses it for the fixed-rate latency runs.
-- done() prints one machine-readable line, "BENCH_JSON {...}", that bench/run.py parses.

local stream = os.getenv("BENCH_STREAM") == "1"
local head
if stream then
  head = '{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},'
    .. '"messages":[{"role":"user","content":"'
else
  head = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"'
end
local tail = '"}]}'
local filler = string.rep("lorem ipsum dolor sit amet ", 64)
local body = head .. string.sub(filler, 1, 1024 - #head - #tail) .. tail
assert(#body == 1024, "body must be 1024 bytes, got " .. #body)

local pace = tonumber(os.getenv("BENCH_PACE_MS") or "0")
if pace > 0 then
  local carry = 0
  function delay()
    -- wrk takes whole milliseconds; carrying the remainder keeps the mean exact.
    local wanted = -math.log(1 - math.random()) * pace + carry
    local whole = math.floor(wanted)
    carry = wanted - whole
    return whole
  end
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,'
      .. '"err_write":%d,"err_status":%d,"err_timeout":%d,"mean_us":%.1f,"p50_us":%d,"p90_us":%d,'
      .. '"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
