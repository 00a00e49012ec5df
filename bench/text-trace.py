"""Replays a text-editing trace through pycrdt (the Rust y-crdt engine), for bench/text-trace.sh."""
import json, resource, sys, time
import pycrdt

trace = json.load(open(sys.argv[1]))
patches = [p for t in trace["txns"] for p in t["patches"]]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
doc = pycrdt.Doc()
text = doc.get("text", type=pycrdt.Text)
start = time.perf_counter()
if trace["startContent"]:
    text.insert(0, trace["startContent"])
for position, deleted, inserted in patches:
    if deleted:
        del text[position:position + deleted]
    if inserted:
        text.insert(position, inserted)
elapsed = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ok = str(text) == trace["endContent"]
print(f"pycrdt {pycrdt.__version__ if hasattr(pycrdt, '__version__') else ''}: {len(patches)} patches in {elapsed:.3f} s, "
      f"peak resident +{(after - before) / 1024:.1f} MB, result {'equals endContent' if ok else 'DIFFERS'}")
sys.exit(0 if ok else 1)
