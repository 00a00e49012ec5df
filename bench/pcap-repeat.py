"""Repeats a classic pcap capture until it holds at least --packets packets, each copy later than the last by the
capture's span plus 300 s (past the flow meter's 120 s hard timeout, so copies never merge into one another's flows):
the lab's realistic mix of benign traffic and attacks, at a size that can be timed.
    python3 bench/pcap-repeat.py IN.pcap OUT.pcap --packets 1000000"""
import argparse
import struct

parser = argparse.ArgumentParser()
parser.add_argument("source")
parser.add_argument("output")
parser.add_argument("--packets", type=int, default=1_000_000)
args = parser.parse_args()
with open(args.source, "rb") as f:
    data = f.read()
magic = data[:4]
endian = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
if endian is None:
    raise SystemExit(f"{args.source}: not a classic pcap file")
records = []
offset = 24
while offset + 16 <= len(data):
    seconds, fraction, length, original = struct.unpack_from(endian + "IIII", data, offset)
    records.append((seconds, fraction, data[offset + 8:offset + 16 + length]))
    offset += 16 + length
span = records[-1][0] - records[0][0] + 300
copies = -(-args.packets // len(records))
with open(args.output, "wb") as out:
    out.write(data[:24])
    for copy in range(copies):
        shift = copy * span
        for seconds, fraction, rest in records:
            out.write(struct.pack(endian + "II", seconds + shift, fraction) + rest)
print(f"{args.output}: {copies} copies of {len(records)} packets = {copies * len(records)} packets")
