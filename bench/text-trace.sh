#!/usr/bin/env bash
# The collaborative-text CRDT replaying real editing traces, beside pycrdt (PyPI; the Rust y-crdt engine) on the
# same traces in the same run. Both must end at each trace's endContent. A concurrent trace (two agents typing at
# once) is replayed as one replica per agent exchanging deltas, and merged both ways at the end.
#   bench/text-trace.sh [trace.json.gz ...]
#   (default: ../shared/data/editing-traces/automerge-paper.json.gz and friendsforever-concurrent.json.gz)
set -euo pipefail
cd "$(dirname "$0")/.."
data=../shared/data/editing-traces
[ $# -gt 0 ] || set -- "$data/automerge-paper.json.gz" "$data/friendsforever-concurrent.json.gz"
for trace in "$@"; do [ -f "$trace" ] || { echo "no trace at $trace" >&2; exit 1; }; done
python3 -c 'import pycrdt' 2>/dev/null || python3 -m pip install -q pycrdt
swift build -c release --product text-trace >/dev/null
bin="$(swift build -c release --show-bin-path)/text-trace"
work=$(mktemp -d /tmp/neuroplex-trace.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for trace in "$@"; do
  gzip -dc "$trace" >"$work/trace.json"
  echo "trace: $(basename "$trace")"
  for round in 1 2 3; do
    "$bin" "$work/trace.json"
    python3 bench/text-trace.py "$work/trace.json"
  done
done
