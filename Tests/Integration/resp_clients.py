"""Real Redis clients against Neuroplex's RESP port: redis-py (RESP2 and RESP3) and redis-cli.

Run from the project root after a build:  python3 Tests/Integration/resp_clients.py
Uses the acceptance harness in ../shared/acceptance to start a server on free loopback ports.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "acceptance"))
from harness import Checks, Server  # noqa: E402

try:
    import redis
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "redis"], check=True)
    import redis

c = Checks()
srv = Server().start()
try:
    key = srv.admin_key()
    for protocol in (2, 3):
        r = redis.Redis(host="127.0.0.1", port=srv.resp_port, password=key, protocol=protocol, decode_responses=True)
        p = f"resp{protocol}:"
        c.check(f"redis-py RESP{protocol}: PING", r.ping() is True)
        c.check(f"redis-py RESP{protocol}: SET/GET", r.set(p + "a", "1") and r.get(p + "a") == "1")
        c.check(f"redis-py RESP{protocol}: INCRBY", r.incrby(p + "a", 41) == 42)
        c.check(f"redis-py RESP{protocol}: SET NX on an existing key", r.set(p + "a", "x", nx=True) is None)
        r.expire(p + "a", 100)
        c.check(f"redis-py RESP{protocol}: TTL", 0 < r.ttl(p + "a") <= 100)
        pipe = r.pipeline(transaction=False)
        for i in range(200):
            pipe.set(f"{p}pipe:{i}", i)
        c.check(f"redis-py RESP{protocol}: a pipeline of 200 SETs", pipe.execute() == [True] * 200)
        c.check(f"redis-py RESP{protocol}: SCAN finds every key",
                sorted(r.scan_iter(match=f"{p}pipe:*", count=37)) == sorted(f"{p}pipe:{i}" for i in range(200)))
        tx = r.pipeline(transaction=True)
        tx.incr(p + "n").incr(p + "n").get(p + "n")
        c.check(f"redis-py RESP{protocol}: MULTI/EXEC", tx.execute() == [1, 2, "2"])
        with r.pipeline() as watched:
            watched.watch(p + "n")
            r.set(p + "n", "changed")  # another client's write
            watched.multi()
            watched.set(p + "n", "mine")
            try:
                watched.execute()
                aborted = False
            except redis.WatchError:
                aborted = True
        c.check(f"redis-py RESP{protocol}: WATCH aborts EXEC after a concurrent write",
                aborted and r.get(p + "n") == "changed")
        c.check(f"redis-py RESP{protocol}: SADD/SMEMBERS",
                r.sadd(p + "s", "x", "y") == 2 and set(r.smembers(p + "s")) == {"x", "y"})
        c.check(f"redis-py RESP{protocol}: HSET/HGETALL",
                r.hset(p + "h", mapping={"a": "1", "b": "2"}) == 2 and r.hgetall(p + "h") == {"a": "1", "b": "2"})
        try:
            r.incr(p + "s")
            wrong = False
        except redis.ResponseError as e:
            wrong = str(e).startswith("WRONGTYPE")
        c.check(f"redis-py RESP{protocol}: WRONGTYPE", wrong)
        sub = r.pubsub()
        sub.subscribe(p + "news")
        deadline = time.time() + 5
        while time.time() < deadline and sub.get_message(timeout=0.1) is None:
            pass  # the subscribe confirmation
        r.publish(p + "news", "hello")
        message = None
        while time.time() < deadline and message is None:
            message = sub.get_message(timeout=0.1)
        c.check(f"redis-py RESP{protocol}: PUBLISH reaches SUBSCRIBE",
                message is not None and message.get("data") == "hello", repr(message))
        sub.close()
        # Keyspace notifications, as a Redis client turns them on and listens for them.
        r.config_set("notify-keyspace-events", "KEA")
        c.check(f"redis-py RESP{protocol}: CONFIG GET notify-keyspace-events",
                r.config_get("notify-keyspace-events") == {"notify-keyspace-events": "KEA"})
        ks = r.pubsub()
        ks.psubscribe(f"__keyspace@0__:{p}ks*")
        while time.time() < deadline and ks.get_message(timeout=0.1) is None:
            pass  # the psubscribe confirmation
        r.set(p + "ks", "1")
        r.delete(p + "ks")
        events = []
        while time.time() < deadline and len(events) < 2:
            m = ks.get_message(timeout=0.1)
            if m and m.get("type") == "pmessage":
                events.append((m["channel"], m["data"]))
        c.check(f"redis-py RESP{protocol}: keyspace notifications for SET and DEL",
                events == [(f"__keyspace@0__:{p}ks", "set"), (f"__keyspace@0__:{p}ks", "del")], repr(events))
        r.config_set("notify-keyspace-events", "")
        ks.close()
        r.close()
    cli = ["redis-cli", "-p", str(srv.resp_port), "-a", key, "--no-auth-warning"]
    c.check("redis-cli SET", subprocess.run(cli + ["SET", "cli:k", "v"], capture_output=True, text=True).stdout.strip() == "OK")
    c.check("redis-cli GET", subprocess.run(cli + ["GET", "cli:k"], capture_output=True, text=True).stdout.strip() == "v")
    piped = subprocess.run(cli, input="INCR cli:n\nINCR cli:n\nGET cli:n\n", capture_output=True, text=True).stdout.split()
    c.check("redis-cli commands from stdin", piped == ["1", "2", "2"], repr(piped))
    c.check("HTTP sees redis-cli's write", srv.request("GET", "/memory/kv/cli:k", key=key).json().get("value") == "v")
finally:
    srv.stop()
c.finish()
