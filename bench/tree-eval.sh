#!/usr/bin/env bash
# The native tree-ensemble evaluator (CompiledTreeEnsemble) beside XGBoost's own predictor (libxgboost, C API) in
# the same process, on the same 100-tree, 40-feature binary model and the same rows: single-row latency
# (p50/p99) and batch throughput.
#   bench/tree-eval.sh [batch-rows]      (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product tree-eval-bench >/dev/null
bin="$(swift build -c release --show-bin-path)/tree-eval-bench"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" "${1:-100000}"
