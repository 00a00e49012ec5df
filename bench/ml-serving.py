"""The load generator and the helpers of bench/ml-serving.sh (standard library only).

  load    an open-loop load generator: requests are scheduled at a fixed rate (request i at t0 + i / rate) and sent
          on a pool of keep-alive connections as soon as one is free; each latency runs from the request's scheduled
          time to the end of its response, so a server that falls behind is charged for the queue it causes (no
          coordinated omission). One thread, raw non-blocking sockets and epoll; it spins (poll with no timeout)
          when the next send is less than a millisecond away, since epoll's own timeout is rounded up to whole
          milliseconds. With --swap-url it also POSTs a deploy every --swap-every seconds on a connection of its
          own, alternating versions 2, 1, 2, ... (the hot-swap measurement). Prints one RESULT line.
  check   the probabilities a server answers for the first rows beside XGBoost's own (expected.json).
  neuroplex-setup
          registers the benchmark model on a Neuroplex server, imports model.json twice (versions 1 and 2), deploys
          version 1 and makes one prediction; prints the model's id, or exits 3 with the step that failed.
  report  the table of a run from its results file.
"""
import argparse
import collections
import json
import math
import select
import socket
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[index]


class Connection:
    __slots__ = ("sock", "fd", "buf", "scheduled", "sent", "kind", "version")

    def __init__(self, host, port, kind="load"):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.fd = self.sock.fileno()
        self.buf = bytearray()
        self.scheduled = None  # ns; None when idle
        self.sent = 0
        self.kind = kind
        self.version = 0

    def send(self, data):
        try:
            n = self.sock.send(data)
        except BlockingIOError:
            n = 0
        if n < len(data):  # rare for a ~1 KB request on loopback: finish it blocking
            self.sock.setblocking(True)
            try:
                self.sock.sendall(data[n:])
            finally:
                self.sock.setblocking(False)


def parse_response(buf):
    """(status, length consumed, close) for a complete response at the start of buf, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).decode("latin-1")
    status = int(head[9:12])
    lower = head.lower()
    close = "\r\nconnection: close" in lower
    at = lower.find("\r\ncontent-length:")
    if at >= 0:
        stop = lower.find("\r\n", at + 2)
        length = int(lower[at + 17: stop if stop >= 0 else len(lower)].strip())
        total = end + 4 + length
        return (status, total, close) if len(buf) >= total else None
    if "\r\ntransfer-encoding: chunked" in lower:
        position = end + 4
        while True:
            line_end = buf.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(bytes(buf[position:line_end]).split(b";")[0], 16)
            position = line_end + 2
            if size == 0:
                if buf.find(b"\r\n", position) != position:  # trailers: wait for the blank line
                    trailer_end = buf.find(b"\r\n\r\n", position)
                    return (status, trailer_end + 4, close) if trailer_end >= 0 else None
                return status, position + 2, close
            if len(buf) < position + size + 2:
                return None
            position += size + 2
    if status in (204, 304) or 100 <= status < 200:
        return status, end + 4, close
    raise RuntimeError(f"response without a length: {head!r}")


def request_bytes(method, url, body, key=None):
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"{method} {path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nContent-Type: application/json\r\n"
    if key:
        head += f"Authorization: Bearer {key}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def load(args):
    parts = urlsplit(args.url)
    host, port = parts.hostname, parts.port
    bodies = [line.strip().encode() for line in open(args.bodies) if line.strip()]
    requests = [request_bytes("POST", args.url, body, args.auth) for body in bodies]
    epoll = select.epoll()
    by_fd = {}

    def connect(kind="load"):
        connection = Connection(host, port, kind)
        by_fd[connection.fd] = connection
        epoll.register(connection.fd, select.EPOLLIN)
        return connection

    # First in, first out, so that every connection carries traffic and none sits idle long enough for the server's
    # keep-alive timeout to close it (uvicorn's is 5 s).
    free = collections.deque(connect() for _ in range(args.connections))
    swap = connect("swap") if args.swap_url else None
    swap_times = []
    if swap:
        swap_times = [s * args.swap_every for s in range(1, int(args.duration / args.swap_every) + 1)
                      if s * args.swap_every < args.duration]
    period = 1e9 / args.rate
    total = int(args.rate * args.duration)
    t0 = time.perf_counter_ns() + 50_000_000
    end_by = t0 + int((args.duration + args.grace) * 1e9)
    pending = collections.deque()
    latencies, service, lags, lateness = [], [], [], []
    statuses = collections.Counter()
    errors = 0
    next_index = sent_count = 0
    inflight = 0
    swaps_done, swap_failures, swap_ms = 0, [], []
    next_swap = 0
    last_done = t0

    def fail(connection, reason):
        nonlocal errors, inflight
        if connection.scheduled is not None:
            if connection.kind == "load":
                errors += 1
                inflight -= 1
            else:
                swap_failures.append(reason)
        epoll.unregister(connection.fd)
        del by_fd[connection.fd]
        connection.sock.close()

    while True:
        now = time.perf_counter_ns()
        while next_index < total and t0 + int(next_index * period) <= now:
            scheduled = t0 + int(next_index * period)
            lateness.append(now - scheduled)  # the generator's own delay in noticing it (descheduled, busy)
            pending.append(scheduled)
            next_index += 1
        while pending and free:
            connection = free.popleft()
            scheduled = pending.popleft()
            sent = time.perf_counter_ns()
            connection.scheduled, connection.sent = scheduled, sent
            connection.send(requests[sent_count % len(requests)])
            sent_count += 1
            inflight += 1
            lags.append(sent - scheduled)
        if swap and next_swap < len(swap_times) and now >= t0 + int(swap_times[next_swap] * 1e9) \
                and swap.scheduled is None:
            version = 2 if next_swap % 2 == 0 else 1
            body = json.dumps({"version": version, "strategy": {"type": "immediate"}}).encode()
            swap.scheduled, swap.sent, swap.version = now, now, version
            swap.send(request_bytes("POST", args.swap_url, body, args.auth))
            next_swap += 1
        if next_index >= total and not pending and inflight == 0 and (not swap or swap.scheduled is None):
            break
        if now > end_by:
            break
        if next_index < total:
            wait = (t0 + int(next_index * period) - now) / 1e9
            timeout = 0 if wait < 0.0011 else wait - 0.001
        else:
            timeout = 0.01
        for fd, _ in epoll.poll(timeout):
            connection = by_fd.get(fd)
            if connection is None:
                continue
            try:
                data = connection.sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as error:
                data = None
                reason = str(error)
            else:
                reason = "connection closed"
            if not data:
                if connection in free:  # closed while idle: not a failed request
                    free.remove(connection)
                fail(connection, reason)
                replacement = connect(connection.kind)
                if connection.kind == "load":
                    free.append(replacement)
                else:
                    swap = replacement
                continue
            connection.buf += data
            while connection.scheduled is not None:
                parsed = parse_response(connection.buf)
                if parsed is None:
                    break
                status, consumed, close = parsed
                done = time.perf_counter_ns()
                body = bytes(connection.buf[:consumed])
                del connection.buf[:consumed]
                if connection.kind == "load":
                    statuses[status] += 1
                    latencies.append((done - connection.scheduled) / 1e6)
                    service.append((done - connection.sent) / 1e6)
                    inflight -= 1
                    last_done = done
                else:
                    swap_ms.append((done - connection.sent) / 1e6)
                    if status == 200:
                        swaps_done += 1
                    else:
                        swap_failures.append(f"{status}: {body[body.find(b'{'):][:200].decode('utf-8', 'replace')}")
                connection.scheduled = None
                if close:
                    epoll.unregister(connection.fd)
                    del by_fd[connection.fd]
                    connection.sock.close()
                    connection = connect(connection.kind)
                    if connection.kind == "swap":
                        swap = connection
                if connection.kind == "load":
                    free.append(connection)

    timed_out = inflight
    unsent = total - sent_count
    ok = statuses.get(200, 0)
    non200 = sum(count for status, count in statuses.items() if status != 200)
    latencies.sort()
    service.sort()
    lags.sort()
    lateness.sort()
    elapsed = max(last_done - t0, 1) / 1e9
    fields = {
        "offered": int(args.rate) if args.rate == int(args.rate) else args.rate, "requests": total, "ok": ok, "non200": non200, "errors": errors + timed_out,
        "unsent": unsent, "rps": ok / elapsed if ok else 0.0,
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99), "max_ms": latencies[-1] if latencies else float("nan"),
        "service_p99_ms": percentile(service, 99), "service_max_ms": service[-1] if service else float("nan"), "lag_p99_ms": percentile(lags, 99) / 1e6,
        "late_p99_ms": percentile(lateness, 99) / 1e6, "late_max_ms": (lateness[-1] if lateness else 0) / 1e6,
    }
    if swap is not None or args.swap_url:
        fields.update({"swaps": swaps_done, "swap_failed": len(swap_failures),
                       "swap_max_ms": max(swap_ms) if swap_ms else 0.0})
    print("RESULT " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()))
    if non200:
        print(f"  statuses: {dict(statuses)}", file=sys.stderr)
    for reason in swap_failures[:5]:
        print(f"  deploy failed: {reason}", file=sys.stderr)


def post(url, body, key=None, content_type="application/json"):
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def probabilities(kind, answer):
    """The positive class's probability in a server's answer to one instance."""
    if kind == "mlserver":
        output = next(o for o in answer["outputs"] if o["name"] == "predict_proba")
        return float(output["data"][1])
    p = answer["predictions"][0]["probabilities"]
    return float(p["1"] if isinstance(p, dict) else p[1])


def check(args):
    expected = json.load(open(args.expected))
    bodies = [line.strip().encode() for line in open(args.bodies) if line.strip()][: len(expected)]
    worst = 0.0
    for body, want in zip(bodies, expected):
        status, answer = post(args.url, body, args.auth)
        if status != 200:
            print(f"{args.kind}: check failed: HTTP {status}: {answer[:300].decode('utf-8', 'replace')}")
            sys.exit(1)
        worst = max(worst, abs(probabilities(args.kind, json.loads(answer)) - want))
    verdict = "same model" if worst < 1e-4 else "DIFFERENT ANSWERS"
    print(f"{args.kind}: {len(bodies)} rows checked against xgboost's predict_proba: max |dp| = {worst:.2e} ({verdict})")
    sys.exit(0 if worst < 1e-4 else 2)


def neuroplex_setup(args):
    base, key = args.url.rstrip("/"), args.key

    def step(what, url, body, content_type="application/json", want=(200, 201)):
        status, answer = post(url, body, key, content_type)
        if status not in want:
            print(f"neuroplex: skipped: {what} answered {status}: {answer[:300].decode('utf-8', 'replace')}")
            sys.exit(3)
        return json.loads(answer) if answer else {}

    model = step("POST /ml/models", f"{base}/ml/models", json.dumps(
        {"name": "bench", "task": "classification", "algorithm": "xgboost", "label": "label"}).encode())
    model_id = model["id"]
    features = ",".join(f"f{i}" for i in range(40))
    data = open(args.model, "rb").read()
    for _ in (1, 2):
        step(f"POST /ml/models/{model_id}/import", f"{base}/ml/models/{model_id}/import?features={features}&classes=0,1",
             data, "application/octet-stream")
    step(f"POST /ml/models/{model_id}/deploy", f"{base}/ml/models/{model_id}/deploy",
         json.dumps({"version": 1, "strategy": {"type": "immediate"}}).encode())
    body = open(args.bodies).readline().strip().encode()
    step("POST /ml/predict", f"{base}/ml/predict", body, want=(200,))
    print(model_id)


def report(args):
    rows = {}
    for line in open(args.results):
        name, mode, rest = line.split(" ", 2)
        rows[(name, mode)] = {k: v for k, v in (item.split("=", 1) for item in rest.split()[1:] if "=" in item)}

    def f(row, key, fmt="{:.2f}"):
        return fmt.format(float(row[key])) if row and key in row else "-"

    print()
    print("| server | max req/s | p50 ms | p99 ms | at 2,000/s: achieved req/s | p50 ms | p99 ms | max ms | failed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("neuroplex", "fastapi", "mlserver"):
        m, r = rows.get((name, "max")), rows.get((name, "rate"))
        if not m and not r:
            continue
        failed = "-"
        if r:
            failed = str(int(r["non200"]) + int(r["errors"]) + int(r["unsent"]))
        if m and (int(m["non2xx"]) + int(m["errors"])):
            failed += f" (+{int(m['non2xx']) + int(m['errors'])} at max)"
        print(f"| {name} | {f(m, 'rps', '{:,.0f}')} | {f(m, 'p50_ms')} | {f(m, 'p99_ms')} | {f(r, 'rps', '{:,.0f}')} "
              f"| {f(r, 'p50_ms')} | {f(r, 'p99_ms')} | {f(r, 'max_ms')} | {failed} |")
    n = rows.get(("neuroplex", "max"))
    for peer in ("fastapi", "mlserver"):
        if n and rows.get((peer, "max")):
            print(f"max throughput neuroplex / {peer}: {float(n['rps']) / float(rows[(peer, 'max')]['rps']):.1f}x (goal >= 10x)")
    s = rows.get(("neuroplex", "swap"))
    if s:
        failed = int(s["non200"]) + int(s["errors"]) + int(s["unsent"])
        print(f"hot swap: {s['swaps']} deploys ({s['swap_failed']} refused, slowest {float(s['swap_max_ms']):.0f} ms) during "
              f"{s['requests']} requests offered at {s['offered']}/s ({float(s['rps']):,.0f}/s achieved): {failed} failed, "
              f"p99 {float(s['p99_ms']):.2f} ms (goal: 0 failed)")
    print("fixed-rate runs in detail (latency counts from each request's scheduled time; the generator's own lateness "
          "in noticing a due request should stay far below the p99, or the machine was too busy to measure it):")
    for (name, mode), row in rows.items():
        if mode in ("rate", "swap"):
            behind = " (behind the offered rate: its latencies include the queue that grew)" \
                if float(row["rps"]) < 0.97 * float(row["offered"]) else ""
            print(f"  {name} {mode}: p99 {float(row['p99_ms']):.2f} ms; from the actual send {float(row['service_p99_ms']):.2f} ms; "
                  f"send delay p99 {float(row['lag_p99_ms']):.2f} ms (generator lateness p99 {float(row['late_p99_ms']):.3f}, "
                  f"max {float(row['late_max_ms']):.1f} ms; the rest is waiting for a free connection){behind}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("load")
    p.add_argument("--url", required=True)
    p.add_argument("--bodies", required=True, help="one JSON request body per line, sent in rotation")
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--grace", type=float, default=10, help="seconds after the last scheduled send to wait for answers")
    p.add_argument("--auth")
    p.add_argument("--swap-url")
    p.add_argument("--swap-every", type=float, default=1.0)
    p = commands.add_parser("check")
    p.add_argument("--kind", required=True, choices=("neuroplex", "fastapi", "mlserver"))
    p.add_argument("--url", required=True)
    p.add_argument("--bodies", required=True)
    p.add_argument("--expected", required=True)
    p.add_argument("--auth")
    p = commands.add_parser("neuroplex-setup")
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--bodies", required=True)
    p = commands.add_parser("report")
    p.add_argument("results")
    args = parser.parse_args()
    {"load": load, "check": check, "neuroplex-setup": neuroplex_setup, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
