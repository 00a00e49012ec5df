#!/usr/bin/env bash
# Sentinel's lab: installs its tools from Debian (once), then runs lab/lab.py as root with the arguments given.
#   lab/run.sh --seed 1 --out /tmp/lab-train [--scale N] [--snaplen BYTES]
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != "0" ]; then
  echo "lab: run as root (it makes network namespaces)" >&2
  exit 1
fi
tools=(iproute2 ethtool tcpdump nmap hping3 hydra openssh-server openssh-client sshpass slowhttptest dnsmasq-base
       bind9-dnsutils curl python3)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lab: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3 4 5 6; do  # another apt may hold the lock for a while
    if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then break; fi
    [ "$attempt" = 6 ] && { echo "lab: apt-get failed" >&2; exit 1; }
    sleep 20
  done
fi
# The Python orchestrator removes what it made on any exit; this trap is the second line for a killed Python.
cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep '^npl-' || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
python3 lab.py "$@"
