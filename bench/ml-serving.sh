#!/usr/bin/env bash
# Model serving against its peers (issue 5), in one run, each server serving the same XGBoost model (100 trees of
# depth 6, 40 numeric features f0..f39, binary; trained here from a fixed seed, saved as XGBoost JSON) to
# single-instance requests on loopback:
#   - Neuroplex: POST /ml/predict, the model imported as XGBoost JSON (twice: versions 1 and 2), version 1 deployed;
#   - FastAPI + uvicorn + xgboost (seed 004's stack, one worker process): POST /predict (bench/ml-serving/fastapi_app.py);
#   - MLServer + mlserver-xgboost: POST /v2/models/bench/infer, one FP64 tensor [1, 40], output predict_proba;
#     settings: host 127.0.0.1, parallel_workers 0 (inference in the server's own process: on one core a worker
#     process only adds a hop), metrics server off (metrics_endpoint null), gRPC on a free loopback port (it
#     cannot be turned off).
# Each server runs alone, pinned to CPU 0 (taskset), with its load generator pinned to CPU 1; 64 different rows in
# rotation (Neuroplex's result cache is not asked for). Before measuring, each server's probabilities for 8 rows
# are checked against XGBoost's own (the same model everywhere). Per server:
#   - max throughput: wrk -t1 -c32 for DURATION seconds (closed loop), req/s, p50, p99;
#   - fixed rate: RATE requests/s (2,000) for DURATION seconds from bench/ml-serving.py, an open-loop generator
#     (latency from each request's scheduled send, so a server that falls behind is charged for its queue), 16
#     keep-alive connections: achieved req/s, p50, p99, max, failed (non-200, connection errors, never answered);
#   - Neuroplex only, hot swap: the same fixed-rate run while the generator deploys version 2, 1, 2, ... every
#     second (POST /ml/models/{id}/deploy, strategy immediate): deploys, failed requests, p99.
# Goal (issue 5): Neuroplex >= 10x each peer's max throughput, p99 < 2 ms at 2,000/s, 0 failed during hot swaps.
# The peers come from PyPI into a venv under /tmp (made once); wrk from Debian (installed if missing, as root).
#   bench/ml-serving.sh      DURATION=10 RATE=2000; PEERS_ONLY=1 skips Neuroplex; BUILD=1 rebuilds it (else built
#                            only when .build/release/neuroplex is missing; NEUROPLEX_BIN=path uses another binary);
#                            KEEP=1 keeps the work directory (logs, model, results)
# Neuroplex is skipped with a message, and the peers still measured, when its ML routes refuse the setup.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-10}
rate=${RATE:-2000}
venv=${ML_SERVING_VENV:-/tmp/neuroplex-ml-serving-venv}
if ! "$venv/bin/python" -c 'import xgboost, fastapi, uvicorn, mlserver, mlserver_xgboost' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q xgboost numpy fastapi uvicorn mlserver mlserver-xgboost
fi
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
  else echo "wrk is missing: apt-get install wrk (or scripts/bootstrap)" >&2; exit 1; fi
fi
work=$(mktemp -d /tmp/neuroplex-ml-serving.XXXXXX)
server=""
stop_server() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; fi; }
trap 'stop_server; if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {  # url: until it answers 2xx, while the server is alive (60 s at most)
  for _ in $(seq 1 600); do
    curl -fs -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$server" 2>/dev/null || { echo "the server exited; its log:" >&2; cat "$2" >&2; return 1; }
    sleep 0.1
  done
  echo "no answer from $1" >&2; return 1
}
py="$venv/bin/python"
echo "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peers: $("$py" -c 'import xgboost, fastapi, uvicorn, mlserver; print(f"xgboost {xgboost.__version__}, fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, mlserver {mlserver.__version__}")'), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "each server on CPU 0, its load on CPU 1; max: wrk -t1 -c32 -d${duration}s; fixed rate: $rate/s for ${duration}s, open loop, 16 connections"
"$py" bench/ml-serving/make_model.py "$work"
# The servers' numeric libraries on one thread each (they are pinned to one core anyway).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
results="$work/results.txt"
: >"$results"

measure() {  # name url [key]: the check, a warm-up, the max-throughput and the fixed-rate runs
  local name=$1 url=$2 key=${3:-}
  "$py" bench/ml-serving.py check --kind "$name" --url "$url" --bodies "$work/bodies-$name.txt" \
    --expected "$work/expected.json" ${key:+--auth "$key"} || echo "$name: the answers differ from XGBoost's (measured anyway)"
  BODIES="$work/bodies-$name.txt" AUTH="$key" taskset -c 1 wrk -t1 -c4 -d2s -s bench/ml-serving/requests.lua "$url" >/dev/null
  echo "$name max $(BODIES="$work/bodies-$name.txt" AUTH="$key" taskset -c 1 \
    wrk -t1 -c32 -d"${duration}s" --timeout 5s -s bench/ml-serving/requests.lua "$url" | grep '^RESULT')" | tee -a "$results"
  echo "$name rate $(taskset -c 1 "$py" bench/ml-serving.py load --url "$url" --bodies "$work/bodies-$name.txt" \
    --rate "$rate" --duration "$duration" ${key:+--auth "$key"})" | tee -a "$results"
}

# Neuroplex
if [ -n "${PEERS_ONLY:-}" ]; then
  echo "neuroplex: skipped (PEERS_ONLY)"
else
  bin=${NEUROPLEX_BIN:-.build/release/neuroplex}
  if [ -z "${NEUROPLEX_BIN:-}" ] && { [ -n "${BUILD:-}" ] || [ ! -x "$bin" ]; }; then
    swift build -c release --product neuroplex >/dev/null
    bin="$(swift build -c release --show-bin-path)/neuroplex"
  fi
  port=$(free_port)
  taskset -c 0 "$bin" serve --data-dir "$work/data" --host 127.0.0.1 --port "$port" --resp-port 0 --log-level warning \
    >"$work/neuroplex.log" 2>&1 &
  server=$!
  wait_http "http://127.0.0.1:$port/health" "$work/neuroplex.log"
  key=$(cat "$work/data/admin.key")
  if id=$("$py" bench/ml-serving.py neuroplex-setup --url "http://127.0.0.1:$port" --key "$key" \
      --model "$work/model.json" --bodies "$work/bodies-neuroplex.txt"); then
    measure neuroplex "http://127.0.0.1:$port/ml/predict" "$key"
    # Hot swaps: the fixed-rate run again, with a deploy every second alternating versions 2 and 1.
    echo "neuroplex swap $(taskset -c 1 "$py" bench/ml-serving.py load --url "http://127.0.0.1:$port/ml/predict" \
      --bodies "$work/bodies-neuroplex.txt" --rate "$rate" --duration "$duration" --auth "$key" \
      --swap-url "http://127.0.0.1:$port/ml/models/$id/deploy" --swap-every 1)" | tee -a "$results"
  else
    echo "$id"
  fi
  stop_server
fi

# FastAPI + uvicorn + xgboost: one worker process.
port=$(free_port)
MODEL_PATH="$work/model.json" taskset -c 0 "$py" -m uvicorn --app-dir bench/ml-serving fastapi_app:app \
  --host 127.0.0.1 --port "$port" --workers 1 --log-level warning --no-access-log >"$work/fastapi.log" 2>&1 &
server=$!
wait_http "http://127.0.0.1:$port/docs" "$work/fastapi.log"
measure fastapi "http://127.0.0.1:$port/predict"
stop_server

# MLServer + mlserver-xgboost.
port=$(free_port)
mkdir -p "$work/mlserver/bench"
cp "$work/model.json" "$work/mlserver/bench/model.json"
cat >"$work/mlserver/settings.json" <<JSON
{"host": "127.0.0.1", "http_port": $port, "grpc_port": $(free_port), "metrics_endpoint": null,
 "parallel_workers": 0, "debug": false}
JSON
cat >"$work/mlserver/bench/model-settings.json" <<'JSON'
{"name": "bench", "implementation": "mlserver_xgboost.XGBoostModel", "parameters": {"uri": "./model.json"}}
JSON
(cd "$work/mlserver" && exec taskset -c 0 "$venv/bin/mlserver" start . >"$work/mlserver.log" 2>&1) &
server=$!
wait_http "http://127.0.0.1:$port/v2/models/bench/ready" "$work/mlserver.log"
measure mlserver "http://127.0.0.1:$port/v2/models/bench/infer"
stop_server

"$py" bench/ml-serving.py report "$results"
