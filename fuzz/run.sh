#!/usr/bin/env bash
# Fuzzes Sentinel's parsers with libFuzzer: the pcap/pcapng reader with the flow meter (capture), NetFlow v5/v9 and
# IPFIX (netflow), Zeek conn.log (zeek) and CICFlowMeter CSV (cic). Each target is this directory's
# FuzzTargets.swift compiled with the parsers' sources into one module, -sanitize=fuzzer,address.
#   fuzz/run.sh [seconds per target, default 90] [targets...]
# Corpora and crash artefacts stay in /tmp/neuroplex-fuzz/<target>/; exits non-zero when a target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-90}"
shift || true
targets=("${@:-capture netflow zeek cic}")
targets=(${targets[*]})
work=/tmp/neuroplex-fuzz
mkdir -p "$work/src"
rm -f "$work/src/"*.swift
# NeuroplexCore without its log handler (the only part that needs swift-log), and the parsers with what they use.
for f in Sources/NeuroplexCore/*.swift; do
  [ "$(basename "$f")" = JSONLogHandler.swift ] || cp "$f" "$work/src/Core-$(basename "$f")"
done
for f in Packets/CaptureReader Packets/PacketDecoder Flows/CaptureFlows Flows/FlowMeter Flows/FlowRecord \
         Flows/FlowCSV Ingest/NetFlow Ingest/FlowImports Ingest/EventLogs Detection/Observations; do
  cp "Sources/NeuroplexSentinel/$f.swift" "$work/src/Sentinel-$(basename "$f").swift"
done
# One module: the imports of NeuroplexCore go.
sed -i -E '/^(public )?import NeuroplexCore$/d' "$work/src/"*.swift
cp fuzz/FuzzTargets.swift "$work/src/"

seeds() {
  local target=$1 dir=$2
  case $target in
    capture)
      for capture in Tests/Fixtures/sentinel/*.pcap; do
        name=$(basename "$capture" .pcap)
        # Small pieces of the lab's captures, in pcap and pcapng, nanosecond stamps too.
        editcap -r "$capture" "$dir/$name-a.pcap" 1-60
        editcap -r "$capture" "$dir/$name-b.pcap" 3000-3100
        editcap -F pcapng -r "$capture" "$dir/$name-c.pcapng" 1-40
        editcap -F pcapng --set-time-precision 9 -r "$capture" "$dir/$name-d.pcapng" 100-140 2>/dev/null \
          || editcap -F pcapng -r "$capture" "$dir/$name-d.pcapng" 100-140
      done ;;
    netflow) python3 fuzz/seeds.py "$dir" ;;
    zeek) cp fuzz/seeds/conn.log "$dir/" ;;
    cic) cp fuzz/seeds/flows.csv "$dir/" ;;
  esac
}

# Swift's own crash backtracer runs in the process and trips AddressSanitizer; let libFuzzer report traps instead.
export SWIFT_BACKTRACE=enable=no
status=0
for target in "${targets[@]}"; do
  dir="$work/$target"
  mkdir -p "$dir/corpus" "$dir/seeds" "$dir/crashes" "$dir/earlier"
  mv "$dir/crashes/"* "$dir/earlier/" 2>/dev/null || true  # findings of earlier runs: this run reports its own
  upper=$(echo "$target" | tr a-z A-Z)
  nice -n 19 swiftc -parse-as-library -O -sanitize=fuzzer,address -module-name FuzzSentinel -D "FUZZ_$upper" \
    "$work/src/"*.swift -o "$dir/fuzz-$target" 2>"$dir/build.log" || { cat "$dir/build.log"; exit 1; }
  seeds "$target" "$dir/seeds"
  echo "== $target: $seconds s, seeds: $(ls "$dir/seeds" | wc -l), corpus so far: $(ls "$dir/corpus" | wc -l)"
  set +e
  nice -n 19 "$dir/fuzz-$target" "$dir/corpus" "$dir/seeds" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$dir/crashes/" -print_final_stats=1 >"$dir/fuzz.log" 2>&1
  code=$?
  set -e
  grep -E "^Done|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added" "$dir/fuzz.log" | tr '\n' ' '
  echo
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$dir/fuzz.log" | tail -1)
  echo "   last coverage: ${cov:-?}; corpus now $(ls "$dir/corpus" | wc -l) inputs; exit $code"
  if [ "$code" != 0 ] || [ -n "$(ls "$dir/crashes")" ]; then
    echo "   FOUND: $(ls "$dir/crashes")"; grep -m3 -E "ERROR|Fatal error|SUMMARY|deadly signal" "$dir/fuzz.log" || true
    status=1
  fi
done
exit $status
