#!/usr/bin/env bash
# Model serving against its peers, each serving the same XGBoost model (100 trees of depth 6, 40 numeric features,
# binary) to single-instance requests on loopback:
#   - Neuroplex: POST /ml/predict (the model imported as XGBoost JSON and deployed);
#   - FastAPI + uvicorn + xgboost (seed 004's stack, one worker): POST /predict (bench/ml-serving/fastapi_app.py);
#   - MLServer with mlserver-xgboost: POST /v2/models/bench/infer (the Open Inference Protocol).
# Each server runs alone, pinned to CPU 0, with wrk on CPU 1 (64 different rows in rotation, no result cache):
#   - throughput: wrk -t1 -c32 for DURATION seconds;
#   - latency at about 2,000 requests/s: wrk -t1 -c21, each connection pausing 10 ms between requests (a paced
#     closed loop; the achieved rate is reported);
#   - Neuroplex only: the same paced load while the model is deployed again every second, alternating versions 1
#     and 2 (failed requests counted).
# The peers come from PyPI into a venv under /tmp (made once).
#   bench/ml-serving.sh            (DURATION=10; BUILD=1 rebuilds Neuroplex; KEEP=1 keeps /tmp/neuroplex-ml-serving)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=${DURATION:-10}
venv=${ML_SERVING_VENV:-/tmp/neuroplex-ml-serving-venv}
if ! "$venv/bin/python" -c 'import xgboost, fastapi, uvicorn, mlserver, mlserver_xgboost' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q xgboost numpy fastapi uvicorn mlserver mlserver-xgboost
fi
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/bootstrap" >&2; exit 1; }
work=/tmp/neuroplex-ml-serving
rm -rf "$work" && mkdir -p "$work/mlserver/bench"
server=""
stop_server() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; fi; }
trap 'stop_server; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peers: $("$venv/bin/python" -c 'import xgboost, fastapi, uvicorn, mlserver; print(f"xgboost {xgboost.__version__}, fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, mlserver {mlserver.__version__}")')"
"$venv/bin/python" bench/ml-serving/make_model.py "$work"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
rows = json.load(open(f"{work}/rows.json"))
lists = json.load(open(f"{work}/rows_v2.json"))
with open(f"{work}/bodies-neuroplex.txt", "w") as out:
    for row in rows: out.write(json.dumps({"model": "bench", "instances": [row]}, separators=(",", ":")) + "\n")
with open(f"{work}/bodies-fastapi.txt", "w") as out:
    for row in rows: out.write(json.dumps({"instances": [row]}, separators=(",", ":")) + "\n")
with open(f"{work}/bodies-mlserver.txt", "w") as out:
    for row in lists:
        out.write(json.dumps({"inputs": [{"name": "input-0", "shape": [1, 40], "datatype": "FP64", "data": [row]}]},
                             separators=(",", ":")) + "\n")
PY

# One measurement: wrk on CPU 1 against URL with the bodies of NAME; prints wrk's RESULT line.
measure() {  # name url connections threads delay_ms
  BODIES="$work/bodies-$1.txt" AUTH="${AUTH:-}" RATE_DELAY_MS="$5" taskset -c 1 \
    wrk -t"$4" -c"$3" -d"${duration}s" --timeout 5s -s bench/ml-serving/requests.lua "$2" | grep '^RESULT'
}
results="$work/results.txt"
: >"$results"
run_peer() {  # name url
  AUTH="${AUTH:-}" BODIES="$work/bodies-$1.txt" RATE_DELAY_MS=0 taskset -c 1 wrk -t1 -c4 -d2s -s bench/ml-serving/requests.lua "$2" >/dev/null
  echo "$1 max $(measure "$1" "$2" 32 1 0)" | tee -a "$results"
  echo "$1 paced $(measure "$1" "$2" 21 1 10)" | tee -a "$results"
}

# Neuroplex
if [ -n "${BUILD:-}" ] || [ ! -x .build/release/neuroplex ]; then swift build -c release --product neuroplex >/dev/null; fi
port=$(free_port)
taskset -c 0 .build/release/neuroplex serve --data-dir "$work/data" --port "$port" --resp-port 0 --log-level warning \
  >"$work/neuroplex.log" 2>&1 &
server=$!
wait_http "http://127.0.0.1:$port/health"
key=$(cat "$work/data/admin.key")
api() { curl -fsS -H "Authorization: Bearer $key" "$@"; }
id=$(api -X POST "http://127.0.0.1:$port/ml/models" -H 'Content-Type: application/json' \
  -d '{"name":"bench","task":"classification","algorithm":"xgboost","label":"label"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
features=$(python3 -c 'print(",".join(f"f{i}" for i in range(40)))')
for _ in 1 2; do
  api -X POST "http://127.0.0.1:$port/ml/models/$id/import?features=$features&classes=0,1" \
    -H 'Content-Type: application/octet-stream' --data-binary "@$work/model.json" >/dev/null
done
api -X POST "http://127.0.0.1:$port/ml/models/$id/deploy" -H 'Content-Type: application/json' -d '{"version":1}' >/dev/null
AUTH=$key run_peer neuroplex "http://127.0.0.1:$port/ml/predict"
# Hot swaps under the paced load: a deploy every second, alternating versions.
(
  for i in $(seq 1 $((duration - 1))); do
    sleep 1
    api -X POST "http://127.0.0.1:$port/ml/models/$id/deploy" -H 'Content-Type: application/json' \
      -d "{\"version\":$(( (i % 2) + 1 ))}" >/dev/null && echo swap >>"$work/swaps"
  done
) &
swapper=$!
line=$(AUTH=$key measure neuroplex "http://127.0.0.1:$port/ml/predict" 21 1 10)
wait "$swapper"
echo "neuroplex swaps $line swaps=$(cat "$work/swaps" 2>/dev/null | wc -l)" | tee -a "$results"
stop_server

# FastAPI + uvicorn + xgboost
port=$(free_port)
MODEL_PATH="$work/model.json" taskset -c 0 "$venv/bin/python" -m uvicorn --app-dir bench/ml-serving fastapi_app:app \
  --host 127.0.0.1 --port "$port" --log-level warning --no-access-log >"$work/fastapi.log" 2>&1 &
server=$!
wait_http "http://127.0.0.1:$port/docs"
run_peer fastapi "http://127.0.0.1:$port/predict"
stop_server

# MLServer + mlserver-xgboost
port=$(free_port)
cp "$work/model.json" "$work/mlserver/bench/model.json"
cat >"$work/mlserver/settings.json" <<JSON
{"http_port": $port, "grpc_port": $(free_port), "metrics_port": $(free_port), "parallel_workers": 0, "debug": false}
JSON
cat >"$work/mlserver/bench/model-settings.json" <<'JSON'
{"name": "bench", "implementation": "mlserver_xgboost.XGBoostModel", "parameters": {"uri": "./model.json"}}
JSON
(cd "$work/mlserver" && exec taskset -c 0 "$venv/bin/mlserver" start . >"$work/mlserver.log" 2>&1) &
server=$!
wait_http "http://127.0.0.1:$port/v2/models/bench/ready"
run_peer mlserver "http://127.0.0.1:$port/v2/models/bench/infer"
stop_server

python3 - "$results" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    name, mode, rest = line.split(" ", 2)
    rows[(name, mode)] = dict(re.findall(r"(\w+)=([\d.]+)", rest))
print()
print("| server | max req/s | p50 ms | p99 ms | paced req/s | paced p50 ms | paced p99 ms | failed |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name in ("neuroplex", "fastapi", "mlserver"):
    m, p = rows.get((name, "max")), rows.get((name, "paced"))
    if not m or not p: continue
    failed = int(m["non2xx"]) + int(m["errors"]) + int(p["non2xx"]) + int(p["errors"])
    print(f"| {name} | {float(m['rps']):,.0f} | {m['p50_ms']} | {m['p99_ms']} | {float(p['rps']):,.0f} | {p['p50_ms']} | {p['p99_ms']} | {failed} |")
n = rows.get(("neuroplex", "max"))
for peer in ("fastapi", "mlserver"):
    if n and rows.get((peer, "max")):
        print(f"throughput ratio neuroplex / {peer}: {float(n['rps']) / float(rows[(peer, 'max')]['rps']):.1f}x")
s = rows.get(("neuroplex", "swaps"))
if s:
    print(f"hot swap: {s['swaps']} deploys during {s['requests']} paced requests ({float(s['rps']):,.0f}/s): "
          f"{int(s['non2xx']) + int(s['errors'])} failed, p99 {s['p99_ms']} ms")
PY
