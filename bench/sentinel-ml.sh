#!/usr/bin/env bash
# Sentinel's model on the lab's captures and the full pipeline's speed, through a release server on loopback:
# trains XGBoost on Tests/Fixtures/sentinel/lab-train.pcap's labelled flows, evaluates on lab-test.pcap (a later
# capture with other seeds), then times a synthetic capture of PACKETS packets and the test capture repeated to as
# many, each analysed with and without the model (parse → flows → features → score → rules → alerts → stored).
#   bench/sentinel-ml.sh [packets]      (default 1,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
work=/tmp/neuroplex-sentinel-ml
rm -rf "$work" && mkdir -p "$work"
swift build -c release --product neuroplex >/dev/null
swift build -c release --product sentinel-bench >/dev/null
bin="$(swift build -c release --show-bin-path)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin/sentinel-bench" generate "$work/speed.pcap" --packets "${1:-1000000}" --flows 10000
# The lab's test capture repeated (later copies shifted in time): its real mix of benign traffic and attacks.
python3 bench/pcap-repeat.py Tests/Fixtures/sentinel/lab-test.pcap "$work/lab-repeated.pcap" --packets "${1:-1000000}"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/neuroplex" serve --data-dir "$work/data" --port "$port" --resp-port 0 --log-level warning >"$work/neuroplex.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.05; done
NEUROPLEX_URL="http://127.0.0.1:$port" NEUROPLEX_KEY=$(cat "$work/data/admin.key") \
  python3 bench/sentinel-ml.py --fixtures Tests/Fixtures/sentinel --speed-capture "$work/speed.pcap" --speed-capture "$work/lab-repeated.pcap"
# The peer on the same captures, in the same run: tshark's conversation tables (read → dissect → per-conversation
# totals), one core.
echo "$(tshark -v | head -1):"
for capture in "$work/speed.pcap" "$work/lab-repeated.pcap"; do
  packets=$(python3 -c "import sys; d=open(sys.argv[1],'rb').read(); n=0; i=24
while i + 16 <= len(d): n += 1; i += 16 + int.from_bytes(d[i+8:i+12], 'little')
print(n)" "$capture")
  start=$(date +%s.%N)
  tshark -n -r "$capture" -q -z conv,tcp -z conv,udp > /dev/null 2>&1
  end=$(date +%s.%N)
  echo "$(basename "$capture"): tshark -q -z conv,tcp -z conv,udp: $packets packets, $(python3 -c "print(f'{$end - $start:.3f} s = {$packets / ($end - $start):,.0f} packets/s')")"
done
