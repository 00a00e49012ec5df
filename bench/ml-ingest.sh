#!/usr/bin/env bash
# CSV ingest speed of the ML pillar (issue 4: goal >= 100 MB/s for numeric CSV): a numeric CSV of ROWS rows
# (10 float features and a 0/1 label, ~100 bytes a row) uploaded to a release server on loopback; the figure is
# bytes / wall time of the upload (streamed to the blob store, parsed, typed and profiled in one pass).
# Beside it, pandas' read_csv of the same file (the Python peer's ingest), from the venv of bench/ml-parity.sh.
#   bench/ml-ingest.sh   (ROWS=1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-1000000}
work=$(mktemp -d /tmp/neuroplex-ingest.XXXXXX)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
python3 - "$work/data.csv" "$rows" <<'PY'
import random, sys
random.seed(42)
with open(sys.argv[1], "w") as f:
    f.write(",".join(f"f{i}" for i in range(10)) + ",label\n")
    for _ in range(int(sys.argv[2])):
        f.write(",".join(f"{random.gauss(0, 1):.6f}" for _ in range(10)) + f",{random.randint(0, 1)}\n")
PY
bytes=$(stat -c %s "$work/data.csv")
swift build -c release --product neuroplex >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$(swift build -c release --show-bin-path)/neuroplex" serve --data-dir "$work/srv" --port "$port" --resp-port 0 \
  --log-level warning >"$work/neuroplex.log" 2>&1 &
server=$!
for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.05; done
key=$(cat "$work/srv/admin.key")
start=$(date +%s.%N)
curl -fs -X POST "http://127.0.0.1:$port/ml/datasets/upload?name=ingest&label=label" -H "Authorization: Bearer $key" \
  -H 'Content-Type: text/csv' --data-binary @"$work/data.csv" >"$work/answer.json"
end=$(date +%s.%N)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 -c "
import json; a = json.load(open('$work/answer.json')); s = $end - $start
print(f'neuroplex upload: {$bytes / 1e6:.1f} MB, {a[\"rows\"]} rows in {s:.2f} s = {$bytes / 1e6 / s:.1f} MB/s')"
venv=${ML_PARITY_VENV:-/tmp/neuroplex-ml-parity-venv}
if "$venv/bin/python" -c 'import pandas' 2>/dev/null; then
  "$venv/bin/python" -c "
import time, pandas as pd
start = time.perf_counter(); frame = pd.read_csv('$work/data.csv'); s = time.perf_counter() - start
print(f'pandas read_csv: {$bytes / 1e6:.1f} MB, {len(frame)} rows in {s:.2f} s = {$bytes / 1e6 / s:.1f} MB/s')"
fi
