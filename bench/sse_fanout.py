#!/usr/bin/env python3
"""Watch fan-out over SSE: N watchers on one pattern while a writer makes changes at a fixed rate.

Every watcher checks that it gets every change exactly once and in order (by sequence number). Latency is from
the moment the writer sent a change (its value is the send time) to its receipt; to keep the client cheaper than
the server at 10 million events per second, each received chunk is parsed only at its first event, which waited
longest, so the percentiles are an upper bound.

    sse_fanout.py HTTP_PORT RESP_PORT KEY WATCHERS RATE SECONDS
"""
import asyncio
import multiprocessing
import re
import sys
import time

SEQ = re.compile(rb'"sequence":(\d+)')
VALUE = re.compile(rb'"value":"([\d.]+)"')


async def watcher(port, key, ready, results, deadline, total):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    writer.write(f"GET /memory/watch?pattern=fan:* HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise SystemExit(f"watch refused: {head[:200]!r}")
    # Read raw bytes: the server writes whole frames per chunk, so chunk-size lines fall between frames and do not
    # disturb counting `data:` lines and reading sequence numbers.
    ready.append(1)
    expected = None  # next sequence number
    count = 0
    latencies = []
    pending = b""
    error = None
    while time.time() < deadline:
        try:
            async with asyncio.timeout(max(0.01, deadline - time.time())):
                data = await reader.read(1 << 20)
        except TimeoutError:
            break
        if not data:
            break
        received = time.time()
        pending += data
        end = pending.rfind(b"\n\n")
        if end < 0:
            continue
        block, pending = pending[:end + 2], pending[end + 2:]
        if b"event: error" in block:
            error = block[block.find(b"event: error"):][:200].decode(errors="replace")
            break
        events = block.count(b"\ndata: ") + (1 if block.startswith(b"data: ") else 0)
        first = SEQ.search(block)
        last_start = block.rfind(b'"sequence":')
        last = SEQ.match(block, last_start) if last_start >= 0 else None
        if not first or not last:
            continue
        first_seq, last_seq = int(first.group(1)), int(last.group(1))
        if expected is not None and first_seq != expected or last_seq - first_seq + 1 != events:
            error = f"out of order or missing: expected {expected}, got {first_seq}..{last_seq} in {events} events"
            break
        expected = last_seq + 1
        count += events
        value = VALUE.search(block)
        if value:
            latencies.append((received - float(value.group(1))) * 1000)
        if count >= total:
            break
    writer.close()
    results.append((count, latencies, error))


async def write(port, key, rate, seconds, start):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    def command(*parts):
        out = [f"*{len(parts)}\r\n".encode()]
        for part in parts:
            part = part.encode() if isinstance(part, str) else part
            out.append(f"${len(part)}\r\n".encode() + part + b"\r\n")
        return b"".join(out)

    writer.write(command("AUTH", key))
    await reader.readline()
    total = int(rate * seconds)
    batch = max(1, rate // 1000)  # one batch per millisecond
    sent = 0
    while sent < total:
        now = time.time()
        due = start + sent / rate
        if due > now:
            await asyncio.sleep(due - now)
        n = min(batch, total - sent)
        stamp = f"{time.time():.6f}"
        writer.write(b"".join(command("SET", f"fan:{(sent + i) % 100}", stamp) for i in range(n)))
        await writer.drain()
        sent += n
        for _ in range(n):
            await reader.readline()
    writer.close()
    return sent


def client(port, key, watchers, seconds, total, queue, go):
    async def main():
        ready, results = [], []
        deadline = time.time() + seconds + 30
        tasks = [asyncio.create_task(watcher(port, key, ready, results, deadline, total)) for _ in range(watchers)]
        while len(ready) < watchers:
            await asyncio.sleep(0.01)
        queue.put(("ready", watchers))
        while not go.is_set():
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        queue.put(("done", results))
    asyncio.run(main())


def main():
    http_port, resp_port, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    watchers, rate, seconds = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    processes = min(4, max(1, watchers // 250))
    queue, go = multiprocessing.Queue(), multiprocessing.Event()
    share = [watchers // processes + (1 if i < watchers % processes else 0) for i in range(processes)]
    procs = [multiprocessing.Process(target=client, args=(http_port, key, n, seconds, int(rate * seconds), queue, go)) for n in share]
    for p in procs:
        p.start()
    for _ in procs:
        assert queue.get()[0] == "ready"
    start = time.time() + 0.2
    go.set()
    sent = asyncio.run(write(resp_port, key, rate, seconds, start))
    elapsed = time.time() - start
    results = []
    for _ in procs:
        results += queue.get()[1]
    for p in procs:
        p.join()
    counts = [r[0] for r in results]
    errors = [r[2] for r in results if r[2]]
    latencies = sorted(l for r in results for l in r[1])
    complete = sum(1 for c in counts if c == sent)
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    print(f"watchers {watchers}, writes {sent} at {sent / elapsed:.0f}/s offered {rate}/s; "
          f"{complete}/{len(results)} watchers got every change in order; deliveries {sum(counts)}/{sent * watchers}; "
          f"latency (first event of each read) p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {pct(1.0):.1f} ms"
          + (f"; errors: {len(errors)} e.g. {errors[0]}" if errors else ""))


if __name__ == "__main__":
    main()
