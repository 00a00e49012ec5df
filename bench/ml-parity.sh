#!/usr/bin/env bash
# ML parity: the classification datasets shipped inside scikit-learn's wheel (breast_cancer, digits, wine),
# exported to CSV with one fixed stratified split, and the Python peers trained on them in the same run:
# scikit-learn's LogisticRegression (default hyperparameters, raw and standardised features) and xgboost's
# XGBClassifier. Each figure is the accuracy on the held-out split and the median wall time of ROUNDS runs of
# "pandas read of the training CSV + fit". The peers come from PyPI into a venv under /tmp (made once).
#   bench/ml-parity.sh            (ROUNDS=5; KEEP=1 leaves the CSVs in /tmp/neuroplex-ml-parity)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${ML_PARITY_VENV:-/tmp/neuroplex-ml-parity-venv}
if ! "$venv/bin/python" -c 'import sklearn, xgboost, pandas' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q scikit-learn xgboost pandas
fi
work=/tmp/neuroplex-ml-parity
rm -rf "$work" && mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
# One BLAS thread: on a busy 2-core machine OpenBLAS's spinning threads make a 50 ms logistic regression take
# seconds, and the native learners are single-threaded too. xgboost keeps its OpenMP threads (n_jobs=0).
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS"
# Neuroplex beside them: a release server on loopback, pinned to nothing (XGBoost uses both cores, as the peer).
swift build -c release --product neuroplex >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$(swift build -c release --show-bin-path)/neuroplex" serve --data-dir "$work/data" --port "$port" --resp-port 0 \
  --log-level warning >"$work/neuroplex.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.05; done
NEUROPLEX_URL="http://127.0.0.1:$port" NEUROPLEX_KEY=$(cat "$work/data/admin.key") \
  "$venv/bin/python" bench/ml-parity.py --out "$work" --rounds "${ROUNDS:-5}"
