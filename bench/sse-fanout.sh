#!/usr/bin/env bash
# Watch fan-out over SSE (issue 3): WATCHERS clients watch `fan:*` while a Redis-protocol writer makes RATE
# changes/s for SECONDS; every watcher must get every change once and in order; delivery latency percentiles.
# The server is pinned to CPU 0; the client (Benchmarks/SSEFanout: one NIO event loop running every watcher and
# the writer) to CPU 1. Each shape prints the client's and the server's share of their core: at 100%, that side
# sets the latency. Loopback only; stops by itself.
#   bench/sse-fanout.sh [watchers rate seconds]...   (default: 100 1000 5, 100 10000 5, 1000 1000 5, 1000 10000 5)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product neuroplex >/dev/null
swift build -c release --product sse-fanout-bench >/dev/null
bin="$(swift build -c release --show-bin-path)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d /tmp/neuroplex-sse.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
http=$(free_port); resp=$(free_port)
# async durability: this measures delivery, not the disk.
taskset -c 0 "$bin/neuroplex" serve --data-dir "$work/data" --port "$http" --resp-port "$resp" --log-level warning \
  --memory-durability async >"$work/neuroplex.log" 2>&1 & pid=$!
for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$http/health" >/dev/null 2>&1 && break; sleep 0.05; done
admin=$(cat "$work/data/admin.key")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); server on CPU 0, client on CPU 1"
set -- "${@:-100 1000 5 100 10000 5 1000 1000 5 1000 10000 5}"
read -r -a shapes <<<"$*"
# The server's CPU time (user + system, in clock ticks) from /proc: its share of its core over a shape's run.
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
for ((i = 0; i < ${#shapes[@]}; i += 3)); do
  before=$(ticks); started=$(date +%s.%N)
  taskset -c 1 "$bin/sse-fanout-bench" "$http" "$resp" "$admin" "${shapes[i]}" "${shapes[i+1]}" "${shapes[i+2]}"
  python3 -c "print(f'  server CPU over the whole run: {($(ticks) - $before) / $hz / ($(date +%s.%N) - $started) * 100:.0f}%')"
done
