#!/usr/bin/env bash
# XGBoost builds side by side: the same fits (bench/xgboost-builds.c: 100 rounds of hist through the C API) with
# Debian's libxgboost.so, which Neuroplex links, and with the library inside the xgboost wheel from PyPI that the
# parity peer uses, on the parity run's training CSVs; each also with glibc malloc's thresholds as `neuroplex serve`
# sets them. Alternate runs of FITS fits each; ROUNDS runs. Set XGBOOST_LIBS to compare other builds (paths,
# space-separated).
#   bench/xgboost-builds.sh            (ROUNDS=3, FITS=21, THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${ML_PARITY_VENV:-/tmp/neuroplex-ml-parity-venv}
csvs=/tmp/neuroplex-ml-parity
# The parity run makes the venv and the CSVs (KEEP=1 leaves the CSVs).
[ -f "$csvs/breast_cancer-train.csv" ] && [ -x "$venv/bin/python" ] || KEEP=1 ROUNDS=1 bench/ml-parity.sh >/dev/null
wheel=$("$venv/bin/python" -c 'import os, xgboost; print(os.path.join(os.path.dirname(xgboost.__file__), "lib", "libxgboost.so"))')
version=$("$venv/bin/python" -c 'import xgboost; print(xgboost.__version__)')
libs=${XGBOOST_LIBS:-"/usr/lib/x86_64-linux-gnu/libxgboost.so $wheel"}
bin=$(mktemp /tmp/xgboost-builds.XXXXXX)
trap 'rm -f "$bin"' EXIT
gcc -O2 -o "$bin" bench/xgboost-builds.c -ldl -lm
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Debian: $(dpkg-query -W -f '${Version}' libxgboost0 2>/dev/null || echo '?'); wheel: xgboost $version ($wheel)"
for dataset in breast_cancer wine digits; do
  for round in $(seq 1 "${ROUNDS:-3}"); do
    for lib in $libs; do
      for malloc in default neuroplex; do
        if [ "$malloc" = neuroplex ]; then
          figures=$(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=67108864 "$bin" "$lib" "$csvs/$dataset-train.csv" "${FITS:-21}" "${THREADS:-2}")
        else
          figures=$("$bin" "$lib" "$csvs/$dataset-train.csv" "${FITS:-21}" "${THREADS:-2}")
        fi
        printf '%-14s %-60s malloc %-9s %s\n' "$dataset" "$lib" "$malloc" "$figures"
      done
    done
  done
done
