-- Rotates through the request bodies in the file named by BODIES (one JSON body per line). With RATE_DELAY_MS set,
-- each connection waits that long before its next request, so that C connections send about C * 1000 / delay
-- requests a second (a paced closed loop; latency is measured per request from its send).
local bodies = {}
local path = os.getenv("BODIES")
for line in io.lines(path) do bodies[#bodies + 1] = line end
local headers = {["Content-Type"] = "application/json"}
local key = os.getenv("AUTH")
if key and key ~= "" then headers["Authorization"] = "Bearer " .. key end
local counter = 0
local pause = tonumber(os.getenv("RATE_DELAY_MS") or "0")

request = function()
    counter = counter + 1
    return wrk.format("POST", nil, headers, bodies[(counter % #bodies) + 1])
end

if pause > 0 then
    delay = function() return pause end
end

done = function(summary, latency, requests)
    io.write(string.format("RESULT requests=%d non2xx=%d errors=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
        summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
