#!/usr/bin/env bash
# HTTP benchmark of the foundation, side by side with a bare Hummingbird hello-world in the same run:
#   1. the hello-world ceiling, 2. unauthenticated GET /health, 3. authenticated GET /keys/{id},
#   4. GET and PUT /memory/kv/{key} (the memory pillar; PUT with sync and with async durability, beside a
#      hello-world PUT that reads the same body: the ceiling of any route with a body)
# Each at full speed (wrk, closed loop), then the authenticated route again at half its own full-speed rate
# (wrk with a per-connection delay) for its p99 under a load it can sustain, beside the hello-world paced alike. The servers are pinned to CPU 0 and wrk to CPU 1, so that the
# two never compete for a core. Everything runs on 127.0.0.1 and stops by itself.
#   bench/http.sh [seconds per run]   (default 10; ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=64
command -v wrk >/dev/null || { echo "wrk is missing: scripts/bootstrap installs it" >&2; exit 1; }

swift build -c release --product neuroplex >/dev/null
(cd bench/hello && swift build -c release >/dev/null)
neuroplex="$(swift build -c release --show-bin-path)/neuroplex"
hello="$(cd bench/hello && swift build -c release --show-bin-path)/HelloWorld"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }

work=$(mktemp -d /tmp/neuroplex-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# KEEP=1 keeps every wrk report in /tmp/bench-kept for a closer look.
[ -n "${KEEP:-}" ] && trap "rm -rf /tmp/bench-kept; cp -r $work /tmp/bench-kept; cleanup" EXIT

hello_port=$(free_port)
taskset -c 0 "$hello" "$hello_port" >"$work/hello.log" 2>&1 & pids+=($!)
np_port=$(free_port)
taskset -c 0 "$neuroplex" serve --data-dir "$work/data" --port "$np_port" --resp-port 0 --log-level warning \
  >"$work/neuroplex.log" 2>&1 & pids+=($!)
# A second server with async durability: PUT without waiting for the disk (what the CPU allows).
np_async_port=$(free_port)
taskset -c 0 "$neuroplex" serve --data-dir "$work/data-async" --port "$np_async_port" --resp-port 0 --log-level warning \
  --memory-durability async >"$work/neuroplex-async.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$hello_port/"
wait_http "http://127.0.0.1:$np_port/health"
wait_http "http://127.0.0.1:$np_async_port/health"

admin=$(cat "$work/data/admin.key")
key_id=$(curl -fs -X POST "http://127.0.0.1:$np_port/keys" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"name":"bench","scopes":["admin"]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# The memory pillar's key-value routes (issue 3): one key read and overwritten, with the default sync durability.
curl -fs -X PUT "http://127.0.0.1:$np_port/memory/kv/bench" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"value":{"name":"Alice","age":30}}' >/dev/null
cat >"$work/put.lua" <<LUA
wrk.method = "PUT"
wrk.headers["Authorization"] = "Bearer $admin"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"value":{"name":"Alice","age":31}}'
LUA
admin_async=$(cat "$work/data-async/admin.key")
sed "s/$admin/$admin_async/" "$work/put.lua" >"$work/put-async.lua"

# Prints "requests_per_second p50_ms p99_ms" from wrk --latency output.
summarise() {
  python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v); n = float(m.group(1))
    return n / 1000 if m.group(2) == "us" else n * 1000 if m.group(2) == "s" else n
if not re.search(r"^\s+99%\s+\d", text, re.M):
    sys.exit("wrk reported no latencies:\n" + text)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
# Anchored: the thread-stats table above also has percentages (a "86.50%" must not be read as the p50).
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1)); p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {errors.group(1) if errors else 0}")'
}

run() { # name url [extra wrk args...]
  local name=$1 url=$2; shift 2
  taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" --latency "$@" "$url" | tee "$work/$name.txt" | summarise
}

auth_header="Authorization: Bearer $admin"
for warm in "http://127.0.0.1:$hello_port/" "http://127.0.0.1:$np_port/health"; do
  taskset -c 1 wrk -t1 -c"$connections" -d3s "$warm" >/dev/null
done
taskset -c 1 wrk -t1 -c"$connections" -d3s -H "$auth_header" "http://127.0.0.1:$np_port/keys/$key_id" >/dev/null

# Rounds interleave the three targets, so that a noisy neighbour on this shared machine hits all of them alike;
# the table shows each target's median round (by req/s) and the per-round ratios.
rounds=${ROUNDS:-3}
for round in $(seq 1 "$rounds"); do
  run hello "http://127.0.0.1:$hello_port/" >>"$work/hello.rounds"
  run health "http://127.0.0.1:$np_port/health" >>"$work/health.rounds"
  run key "http://127.0.0.1:$np_port/keys/$key_id" -H "$auth_header" >>"$work/key.rounds"
  run kvget "http://127.0.0.1:$np_port/memory/kv/bench" -H "$auth_header" >>"$work/kvget.rounds"
  run kvput "http://127.0.0.1:$np_port/memory/kv/bench" -s "$work/put.lua" >>"$work/kvput.rounds"
  run helloput "http://127.0.0.1:$hello_port/" -s "$work/put.lua" >>"$work/helloput.rounds"
  run kvputasync "http://127.0.0.1:$np_async_port/memory/kv/bench" -s "$work/put-async.lua" >>"$work/kvputasync.rounds"
done
median() { sort -n -k1 "$1" | sed -n "$(( (rounds + 1) / 2 ))p"; }
read -r hello_rps hello_p50 hello_p99 hello_err < <(median "$work/hello.rounds")
read -r health_rps health_p50 health_p99 health_err < <(median "$work/health.rounds")
read -r key_rps key_p50 key_p99 key_err < <(median "$work/key.rounds")
read -r kvget_rps kvget_p50 kvget_p99 kvget_err < <(median "$work/kvget.rounds")
read -r kvput_rps kvput_p50 kvput_p99 kvput_err < <(median "$work/kvput.rounds")
read -r helloput_rps helloput_p50 helloput_p99 helloput_err < <(median "$work/helloput.rounds")
read -r kvputasync_rps kvputasync_p50 kvputasync_p99 kvputasync_err < <(median "$work/kvputasync.rounds")
per_round=$(paste -d' ' "$work/hello.rounds" "$work/health.rounds" "$work/key.rounds" |
  awk '{printf "%s/%s/%s (%.0f%%, %.0f%%)  ", $1, $5, $9, 100*$5/$1, 100*$9/$1}')

# Half the authenticated route's rate: each connection waits so that together they offer that rate.
target=$(python3 -c "print(int($key_rps / 2))")
delay_ms=$(python3 -c "print(max(0.0, $connections * 1000.0 / $target))")
# Each connection waits an exponentially distributed time between requests (mean delay_ms): Poisson arrivals, as
# from many independent clients. A fixed delay would line the 64 connections up on wrk's 1 ms timer ticks and send
# them in bursts of 64, which measures the burst's queue, not the server.
cat >"$work/paced.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $admin"
math.randomseed(os.time())
function delay() return -$delay_ms * math.log(1 - math.random()) end
LUA
# Paced runs are interleaved over the same rounds, with the hello-world at the same offered load beside: the floor
# of what a p99 can be on this machine with this client.
for round in $(seq 1 "$rounds"); do
  run paced "http://127.0.0.1:$np_port/keys/$key_id" -s "$work/paced.lua" >>"$work/paced.rounds"
  run floor "http://127.0.0.1:$hello_port/" -s "$work/paced.lua" >>"$work/floor.rounds"
done
median_p99() { sort -n -k3 "$1" | sed -n "$(( (rounds + 1) / 2 ))p"; }
read -r paced_rps paced_p50 paced_p99 paced_err < <(median_p99 "$work/paced.rounds")
read -r floor_rps floor_p50 floor_p99 floor_err < <(median_p99 "$work/floor.rounds")
paced_rounds=$(paste -d' ' "$work/paced.rounds" "$work/floor.rounds" | awk '{printf "%s/%s  ", $3, $7}')

ratio() { python3 -c "print(f'{100.0 * $1 / $2:.0f}%')"; }
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); servers on CPU 0, wrk on CPU 1"
echo "wrk -t1 -c$connections -d${duration}s, $rounds interleaved rounds, median shown"
echo "rounds hello/health/key req/s (health, key vs hello): $per_round"
echo "paced rounds, p99 ms of key route/hello-world: $paced_rounds (median round by p99 shown)"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "target" "req/s" "p50 ms" "p99 ms" "vs hello" "non-2xx"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "Hummingbird hello-world (ceiling)" "$hello_rps" "$hello_p50" "$hello_p99" "100%" "$hello_err"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "neuroplex GET /health (open)" "$health_rps" "$health_p50" "$health_p99" "$(ratio "$health_rps" "$hello_rps")" "$health_err"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "neuroplex GET /keys/{id} (API key, admin)" "$key_rps" "$key_p50" "$key_p99" "$(ratio "$key_rps" "$hello_rps")" "$key_err"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "same, paced to half its rate ($target/s offered)" "$paced_rps" "$paced_p50" "$paced_p99" "-" "$paced_err"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "hello-world paced the same way (floor)" "$floor_rps" "$floor_p50" "$floor_p99" "-" "$floor_err"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "neuroplex GET /memory/kv/{key}" "$kvget_rps" "$kvget_p50" "$kvget_p99" "$(ratio "$kvget_rps" "$hello_rps")" "$kvget_err"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "neuroplex PUT /memory/kv/{key} (sync durability)" "$kvput_rps" "$kvput_p50" "$kvput_p99" "$(ratio "$kvput_rps" "$hello_rps")" "$kvput_err"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "neuroplex PUT /memory/kv/{key} (async durability)" "$kvputasync_rps" "$kvputasync_p50" "$kvputasync_p99" "$(ratio "$kvputasync_rps" "$hello_rps")" "$kvputasync_err"
printf '| %-44s | %10s | %8s | %8s | %8s | %6s |\n' "hello-world PUT / (reads the same body)" "$helloput_rps" "$helloput_p50" "$helloput_p99" "$(ratio "$helloput_rps" "$hello_rps")" "$helloput_err"
