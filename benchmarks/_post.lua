-- wrk script of the serving benchmark (serve_http.py): POST one fixed JSON body.
--
--   wrk -t1 -c1 -d10s --latency -s benchmarks/_post.lua http://127.0.0.1:PORT/predict -- BODY.json
--
-- The body is read once from the file named by the first script argument and sent with
-- `Content-Type: application/json` on every request. When the run ends, `done` prints one
-- line `WRK_JSON {...}` with the exact figures (latencies in microseconds, the count of
-- non-2xx/3xx responses, the socket errors), which serve_http.py reads.

function init(args)
  local file = assert(io.open(args[1], "rb"), "cannot open the body file " .. tostring(args[1]))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect":%d,'
      .. '"read":%d,"write":%d,"timeout":%d,"mean_us":%.3f,"stdev_us":%.3f,"min_us":%d,'
      .. '"max_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
