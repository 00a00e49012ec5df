#!/usr/bin/env bash
# The collaborative-text CRDT replaying a real editing trace, beside pycrdt (PyPI; the Rust y-crdt engine) on the
# same trace in the same run. Both must end at the trace's endContent.
#   bench/text-trace.sh [trace.json.gz]   (default ../shared/data/editing-traces/automerge-paper.json.gz)
set -euo pipefail
cd "$(dirname "$0")/.."
trace=${1:-../shared/data/editing-traces/automerge-paper.json.gz}
[ -f "$trace" ] || { echo "no trace at $trace" >&2; exit 1; }
python3 -c 'import pycrdt' 2>/dev/null || python3 -m pip install -q pycrdt
swift build -c release --product text-trace >/dev/null
work=$(mktemp -d /tmp/neuroplex-trace.XXXXXX)
trap 'rm -rf "$work"' EXIT
gzip -dc "$trace" >"$work/trace.json"
echo "trace: $(basename "$trace"); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for round in 1 2 3; do
  "$(swift build -c release --show-bin-path)/text-trace" "$work/trace.json"
  python3 bench/text-trace.py "$work/trace.json"
done
