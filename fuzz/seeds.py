"""Writes fuzz seeds that need building: NetFlow v5, v9 (template then data) and IPFIX (template with an enterprise
and a variable-length field, then data) export packets, framed as the netflow target reads them (2-byte length,
packet)."""
import struct
import sys

out = sys.argv[1]
ip = lambda text: bytes(int(x) for x in text.split("."))
exported = 1_796_418_190


def frame(*packets):
    return b"".join(struct.pack(">H", len(p)) + p for p in packets)


v5 = struct.pack(">HHIIIIBBH", 5, 2, 600_000, exported, 0, 1, 0, 0, 0)
for index, port in enumerate([80, 22]):
    v5 += ip("198.18.0.10") + ip("198.18.1.1") + ip("0.0.0.0") + struct.pack(">HHIIII", 1, 2, 5 + index, 300, 590_000, 595_500)
    v5 += struct.pack(">HHBBBBHHBBH", 40000 + index, port, 0, 0x1B, 6, 0, 0, 0, 24, 24, 0)

v9_header = struct.pack(">HHIIII", 9, 1, 600_000, exported, 7, 42)
fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4), (22, 4), (21, 4), (6, 1)]
template = struct.pack(">HHHH", 0, 8 + 4 * len(fields), 300, len(fields)) + b"".join(struct.pack(">HH", *f) for f in fields)
records = b""
for index, port in enumerate([443, 53]):
    records += ip("198.18.0.20") + ip("198.18.1.2") + struct.pack(">HHBIIIIB", 50000 + index, port, 17 if port == 53 else 6,
                                                                  10, 1200, 598_000, 599_000, 2)
data = struct.pack(">HH", 300, 4 + len(records)) + records

ipfix_fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 8), (1, 8), (152, 8), (153, 8)]
body = struct.pack(">HH", 256, len(ipfix_fields) + 2) + b"".join(struct.pack(">HH", *f) for f in ipfix_fields)
body += struct.pack(">HHI", 0x8000 | 100, 4, 29305) + struct.pack(">HH", 82, 65535)
sets = struct.pack(">HH", 2, 4 + len(body)) + body
start = 1_796_418_190_250
record = ip("198.18.2.66") + ip("198.18.1.1") + struct.pack(">HHBQQQQI", 55555, 22, 6, 3, 180, start, start + 1500, 0xDEADBEEF)
record += bytes([4]) + b"eth0"
sets += struct.pack(">HH", 256, 4 + len(record)) + record
ipfix = struct.pack(">HHIII", 10, 16 + len(sets), exported, 1, 7) + sets

for name, content in [("v5", frame(v5)), ("v9", frame(v9_header + template, v9_header + data)),
                      ("v9-one", frame(v9_header + template + data)), ("ipfix", frame(ipfix)),
                      ("mixed", frame(ipfix, v5, v9_header + template + data))]:
    with open(f"{out}/{name}", "wb") as f:
        f.write(content)
