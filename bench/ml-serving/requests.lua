-- wrk: POSTs the request bodies of the file named by BODIES (one JSON body per line) in rotation, with
-- "Authorization: Bearer $AUTH" when AUTH is set; prints one RESULT line (latencies in ms).
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do
    if #line > 0 then bodies[#bodies + 1] = line end
end
local headers = {["Content-Type"] = "application/json"}
local key = os.getenv("AUTH")
if key and key ~= "" then headers["Authorization"] = "Bearer " .. key end
local counter = 0

request = function()
    counter = counter + 1
    return wrk.format("POST", nil, headers, bodies[(counter % #bodies) + 1])
end

done = function(summary, latency, requests)
    io.write(string.format("RESULT requests=%d non2xx=%d errors=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
        summary.requests, summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000))
end
