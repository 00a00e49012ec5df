#!/usr/bin/env bash
# Redis-protocol benchmark of the memory pillar beside Debian's redis-server, in the same run:
#   redis-benchmark -t get,set -c 50 -n 200000, without and with -P 16, against both servers.
# Servers pinned to CPU 0, redis-benchmark to CPU 1; loopback only; rounds interleaved; stops by itself.
#   bench/resp.sh [durability: async|sync]   (default async; Redis runs without persistence, as by default
#   for this comparison; with sync Neuroplex fsyncs every write group, so compare its SET with that in mind)
set -euo pipefail
cd "$(dirname "$0")/.."
durability=${1:-async}
rounds=${ROUNDS:-3}
command -v redis-benchmark >/dev/null || { echo "redis-benchmark is missing: scripts/bootstrap installs it" >&2; exit 1; }
swift build -c release --product neuroplex >/dev/null
neuroplex="$(swift build -c release --show-bin-path)/neuroplex"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d /tmp/neuroplex-resp.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
np_resp=$(free_port)
redis_port=$(free_port)
taskset -c 0 "$neuroplex" serve --data-dir "$work/data" --port "$(free_port)" --resp-port "$np_resp" \
  --log-level warning --memory-durability "$durability" >"$work/neuroplex.log" 2>&1 & pids+=($!)
taskset -c 0 redis-server --port "$redis_port" --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 & pids+=($!)
for _ in $(seq 1 200); do [ -s "$work/data/admin.key" ] && redis-cli -p "$np_resp" -a "$(cat "$work/data/admin.key")" --no-auth-warning ping >/dev/null 2>&1 && break; sleep 0.05; done
admin=$(cat "$work/data/admin.key")

run() { # target pipeline -> "set_rps get_rps"
  local args=(-p "$redis_port")
  [ "$1" = neuroplex ] && args=(-p "$np_resp" -a "$admin")
  taskset -c 1 redis-benchmark "${args[@]}" -t set,get -c 50 -n 200000 -P "$2" -q 2>/dev/null | tr '\r' '\n' |
    awk '/^SET: .*per second/ {set=$2} /^GET: .*per second/ {get=$2} END {printf "%.0f %.0f\n", set, get}'
}
for round in $(seq 1 "$rounds"); do
  for pipeline in 1 16; do
    for target in redis neuroplex; do
      echo "$(run "$target" "$pipeline")" >>"$work/$target-$pipeline"
    done
  done
done
median() { sort -n -k"$2" "$1" | sed -n "$(( (rounds + 1) / 2 ))p" | cut -d' ' -f"$2"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); servers on CPU 0, redis-benchmark on CPU 1"
echo "neuroplex durability: $durability; redis-server without persistence; $rounds interleaved rounds, medians"
printf '| %-10s | %-8s | %12s | %12s | %6s |\n' "command" "pipeline" "redis req/s" "neuroplex" "ratio"
for pipeline in 1 16; do
  for column in 1 2; do
    name=$([ "$column" = 1 ] && echo SET || echo GET)
    r=$(median "$work/redis-$pipeline" "$column"); n=$(median "$work/neuroplex-$pipeline" "$column")
    printf '| %-10s | %-8s | %12s | %12s | %5.2fx |\n' "$name" "-P $pipeline" "$r" "$n" "$(python3 -c "print($n / $r)")"
  done
done
