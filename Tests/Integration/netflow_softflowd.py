"""softflowd (Debian) replays a capture into Neuroplex's NetFlow/IPFIX collector: v5, v9 and IPFIX (also with
IPFIX's bidirectional records), each must yield the capture's flows and the port-scan alert.

Run from the project root after a build:  python3 Tests/Integration/netflow_softflowd.py
The capture is the acceptance check's scenario (20 benign conversations and a 200-port scan, pcapgen.py); every
export goes to 127.0.0.1 only. scripts/bootstrap installs softflowd.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "acceptance"))
from harness import Checks, Server  # noqa: E402
from pcapgen import scenario  # noqa: E402

softflowd = shutil.which("softflowd") or "/usr/sbin/softflowd"
if not os.path.exists(softflowd):
    sys.exit("softflowd is missing: scripts/bootstrap installs it")

c = Checks()
srv = Server().start()
work = tempfile.mkdtemp(prefix="neuroplex-netflow-")
try:
    key = srv.admin_key()
    capture = os.path.join(work, "scan.pcap")
    with open(capture, "wb") as f:
        f.write(scenario().bytes())
    for version, extra in (("5", []), ("9", []), ("10", []), ("10", ["-b"])):
        name = f"v{version}{' bidirectional' if extra else ''}"
        r = srv.request("POST", "/sentinel/sources", {"type": "netflow", "port": 0, "host": "127.0.0.1"}, key=key)
        c.check(f"{name}: collector started", r.status == 201, r.body[:200])
        source = r.json()
        # -d: foreground; -r: read the capture and export every flow at its end, then exit. `-c none`: no control
        # socket; with one, softflowd 1.1.0 in -r mode can block for good in accept() on it (seen with strace).
        run = subprocess.run(
            [softflowd, "-d", "-r", capture, "-n", f"127.0.0.1:{source['port']}", "-v", version, "-c", "none",
             "-p", os.path.join(work, "pid")] + extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
        errors = run.stderr
        c.check(f"{name}: softflowd ran", run.returncode == 0, errors[-300:])
        # 220 flows; v5/v9/plain IPFIX export each direction of a conversation as its own record.
        expected = 220 if extra else 440
        # The exports are UDP: wait (bounded) until the collector has counted them, then read its figures.
        deadline = time.time() + 10
        figures = {}
        while time.time() < deadline:
            figures = next((s for s in srv.request("GET", "/sentinel/sources", key=key).json()["data"] if s["id"] == source["id"]), {})
            if figures.get("flows", 0) >= expected:
                break
            time.sleep(0.1)
        c.check(f"{name}: the collector read every flow record ({expected})", figures.get("flows") == expected, repr(figures))
        c.check(f"{name}: no export packet was refused", figures.get("rejected") == 0 and figures.get("skippedRecords") == 0, repr(figures))
        srv.request("DELETE", f"/sentinel/sources/{source['id']}", key=key)
    alerts = srv.request("GET", "/sentinel/alerts", key=key).json()["data"]
    scans = [a for a in alerts if a["alert"]["technique"] == "T1046" and a["alert"]["source"] == "198.18.2.66"]
    c.check("the port scan raised a T1046 alert from the collected flows", len(scans) >= 1, repr(alerts)[:300])
    c.check("the benign client raised none", not any(a["alert"]["source"] == "198.18.0.10" for a in alerts))
finally:
    srv.stop()
    shutil.rmtree(work, ignore_errors=True)
c.finish()
