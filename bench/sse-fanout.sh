#!/usr/bin/env bash
# Watch fan-out over SSE (issue 3): WATCHERS watchers on one pattern while a Redis-protocol writer makes RATE
# changes/s for SECONDS; every watcher must get every change in order; delivery latency percentiles.
# The watcher clients (Python, several processes) run on the same 2 cores as the server.
#   bench/sse-fanout.sh [watchers rate seconds]...   (default: 1000 10000 1, 1000 1000 5, 100 10000 2)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product neuroplex >/dev/null
neuroplex="$(swift build -c release --show-bin-path)/neuroplex"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d /tmp/neuroplex-sse.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
http=$(free_port); resp=$(free_port)
ulimit -n 65536 2>/dev/null || true
# async durability: this measures delivery, not the disk.
"$neuroplex" serve --data-dir "$work/data" --port "$http" --resp-port "$resp" --log-level warning \
  --memory-durability async >"$work/neuroplex.log" 2>&1 & pid=$!
for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$http/health" >/dev/null 2>&1 && break; sleep 0.05; done
admin=$(cat "$work/data/admin.key")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); server and clients share them"
set -- "${@:-1000 10000 1 1000 1000 5 100 10000 2}"
read -r -a shapes <<<"$*"
for ((i = 0; i < ${#shapes[@]}; i += 3)); do
  python3 bench/sse_fanout.py "$http" "$resp" "$admin" "${shapes[i]}" "${shapes[i+1]}" "${shapes[i+2]}"
done
