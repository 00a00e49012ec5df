#!/usr/bin/env bash
# Sentinel's packet path beside tshark, on the same synthetic captures, each pinned to CPU 0 (one core):
#   1. a capture of PACKETS packets with 10,000 flows open at a time: Neuroplex's flow meter (read → decode → flows)
#      and its pipeline (…→ features → rules and host baselines → alerts) against `tshark -q -z conv,tcp`;
#   2. a capture with 1,000,000 flows open at once: the meter's peak memory.
#   bench/sentinel.sh [packets]      (default 5,000,000; the files go to ${BENCH_DIR:-/tmp/neuroplex-sentinel-bench})
set -euo pipefail
cd "$(dirname "$0")/.."
packets="${1:-5000000}"
dir="${BENCH_DIR:-/tmp/neuroplex-sentinel-bench}"
mkdir -p "$dir"
swift build -c release --product sentinel-bench >/dev/null
bin="$(swift build -c release --show-bin-path)/sentinel-bench"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg); $(tshark -v | head -1)"
"$bin" generate "$dir/flows10k.pcap" --packets "$packets" --flows 10000
"$bin" generate "$dir/flows1m.pcap" --packets 10000000 --flows 1000000
echo "capture: $(du -h "$dir/flows10k.pcap" | cut -f1), $packets packets (read once to warm the page cache)"
cat "$dir/flows10k.pcap" > /dev/null
meter=$(taskset -c 0 "$bin" meter "$dir/flows10k.pcap")
echo "neuroplex $meter"
pipeline=$(taskset -c 0 "$bin" pipeline "$dir/flows10k.pcap")
echo "neuroplex $pipeline"
start=$(date +%s.%N)
taskset -c 0 tshark -n -r "$dir/flows10k.pcap" -q -z conv,tcp > "$dir/tshark.txt" 2>/dev/null
end=$(date +%s.%N)
tshark_rate=$(python3 -c "print(round($packets / ($end - $start)))")
echo "tshark -q -z conv,tcp: $(python3 -c "print(round($end - $start, 3))") s = $tshark_rate packets/s"
python3 - "$meter" "$pipeline" "$tshark_rate" <<'PY'
import re, sys
rate = lambda line: float(re.search(r"= (\d+) packets/s", line).group(1))
meter, pipeline, tshark = rate(sys.argv[1]), rate(sys.argv[2]), float(sys.argv[3])
print(f"ratios vs tshark: meter {meter / tshark:.1f}x, pipeline {pipeline / tshark:.1f}x")
PY
echo "1,000,000 concurrent flows: neuroplex $(taskset -c 0 "$bin" meter "$dir/flows1m.pcap")"
rm -f "$dir/flows10k.pcap" "$dir/flows1m.pcap" "$dir/tshark.txt"
