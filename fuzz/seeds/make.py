#!/usr/bin/env python3
"""Writes the seed corpora of the state-machine fuzz targets (fuzz/seeds/<target>/):
valid inputs built from the formats' own layouts (RFC 5044/6581 MPA frames, FIX 4.4
messages with BodyLength and CheckSum, journal segments with CRC32c, order-core op
sequences in the `arbitrary` 1.x encoding). Run it from anywhere; it rewrites the dirs."""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# --- mpa_setup: mode byte (bit 0 initiator, bit 1 not enhanced, bit 2 revision 2 when
# not enhanced, bits 3-4 CRC policy, bit 5 markers accepted, bit 6 peer-to-peer, bit 7
# 16-byte pieces), then the peer's frame and the first stream bytes after it.
def mpa(key, flags, rev, pd):
    return key + bytes([flags, rev]) + struct.pack(">H", len(pd)) + pd

REQ, REP = b"MPA ID Req Frame", b"MPA ID Rep Frame"
M, C, R, E = 0x80, 0x40, 0x20, 0x10
words = lambda ird, ord_: struct.pack(">HH", ird, ord_)
fpdu = b"\x00\x10" + bytes(16)
write("mpa_setup", "req_enhanced_crc", b"\x80" + mpa(REQ, C | E, 2, words(16, 16) + b"hello") + fpdu)
write("mpa_setup", "req_rev1", b"\x82" + mpa(REQ, C, 1, b""))
write("mpa_setup", "req_p2p_write_rtr", b"\x80" + mpa(REQ, C | E, 2, words(16 | 0x8000, 16 | 0x8000)))
write("mpa_setup", "req_markers", b"\xa0" + mpa(REQ, M | C | E, 2, words(4, 4)))
write("mpa_setup", "req_bytewise", b"\x00" + mpa(REQ, E, 2, words(1, 1) + b"x" * 8))
write("mpa_setup", "rep_enhanced", b"\x81" + mpa(REP, C | E, 2, words(16, 16)) + fpdu)
write("mpa_setup", "rep_reject", b"\x81" + mpa(REP, R | E, 2, words(0, 0) + b"no"))

# --- fix_session: mode byte (bit 0 password required, pieces of 1 + 4 * (mode >> 1)
# bytes), then the client's messages.
def fix(msg_type, seq, *fields, password=None):
    t = "20260101-00:00:00.000"
    body = [("35", msg_type), ("49", "CLIENT"), ("56", "GW"), ("34", str(seq)), ("52", t)]
    body += [(k, v.replace("$T", t)) for k, v in (f.split("=", 1) for f in fields)]
    b = "".join(f"{k}={v}\x01" for k, v in body).encode()
    head = f"8=FIX.4.4\x019={len(b)}\x01".encode()
    return head + b + f"10={sum(head + b) % 256:03d}\x01".encode()

logon = fix("A", 1, "98=0", "108=30")
order = fix("D", 2, "11=ORD1", "21=1", "55=ACME", "54=1", "60=$T", "38=100", "40=2", "44=101.5", "59=0")
write("fix_session", "logon", b"\x10" + logon)
write("fix_session", "logon_password", b"\x11" + fix("A", 1, "98=0", "108=30", "554=secret"))
write("fix_session", "order_cancel", b"\x10" + logon + order
      + fix("F", 3, "41=ORD1", "11=CXL1", "55=ACME", "54=1", "60=$T", "38=100"))
write("fix_session", "order_replace_status", b"\xfe" + logon + order
      + fix("G", 3, "41=ORD1", "11=R1", "21=1", "55=ACME", "54=1", "60=$T", "38=50", "40=2", "44=100")
      + fix("H", 4, "11=R1", "55=ACME", "54=1"))
write("fix_session", "mass_cancel", b"\x10" + logon + order + fix("q", 3, "11=MC1", "530=7", "60=$T"))
write("fix_session", "session_admin", b"\x00" + logon + fix("0", 2) + fix("1", 3, "112=T1")
      + fix("2", 4, "7=1", "16=0") + fix("4", 5, "123=Y", "36=7") + fix("5", 7))
write("fix_session", "gap", b"\x10" + logon + fix("D", 5, "11=ORD5", "21=1", "55=ACME", "54=2",
      "60=$T", "38=1", "40=1", "59=3"))

# --- journal_recovery: a segment file (first sequence number 1).
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def header(durable_seq, durable_end, flags=0):
    h = b"TWJOURNL" + struct.pack("<HHIQQQ", 2, 64, flags, 1, durable_seq, durable_end) + bytes(20)
    return h + struct.pack("<I", crc32c(h))

def frame(kind, seq, payload=b"", record_type=7, ts=1_767_225_600_000_000_000):
    if kind == 1:
        record_type, ts = 0, 0
    h = struct.pack("<IHHQQ", len(payload), record_type, kind, seq, ts) + payload
    return h + struct.pack("<I", crc32c(h))

recs = b"".join(frame(0, s, bytes([s]) * (8 * s)) for s in (1, 2, 3))
write("journal_recovery", "empty", header(0, 64))
write("journal_recovery", "three_synced", header(3, 64 + len(recs) + 28) + recs + frame(1, 3))
write("journal_recovery", "closed", header(3, 64 + len(recs) + 28, flags=2) + recs + frame(1, 3))
write("journal_recovery", "torn_tail", header(3, 64 + len(recs) + 28) + recs + frame(1, 3)
      + frame(0, 4, b"torn" * 8)[:30])
write("journal_recovery", "intact_after_boundary", header(1, 64 + len(frame(0, 1, bytes([1]) * 8)))
      + recs)

# --- order_core: Vec<Op> in the arbitrary 1.x encoding: per op a continue byte (1), the
# variant as a u32 LE (index * 2^32 / 5, rounded up), then its fields.
def op(index, *fields):
    return b"\x01" + struct.pack("<I", -(-index * 2**32 // 5)) + bytes(fields)

NEW, CANCEL, REPLACE, MASS, CYCLE = range(5)
# New { id, bob, buy, px, qty, market, tif }; Cancel { id, orig, bob, buy };
# Replace { id, orig, bob, buy, px, qty }; MassCancel { bob, buy: Option<bool> }.
write("order_core", "trade", op(NEW, 1, 0, 1, 5, 9, 0, 0) + op(NEW, 2, 1, 0, 5, 4, 0, 0) + op(CYCLE))
write("order_core", "replace_cancel", op(NEW, 1, 0, 1, 5, 9, 0, 0) + op(CYCLE)
      + op(REPLACE, 3, 1, 0, 1, 4, 7) + op(CYCLE) + op(CANCEL, 4, 3, 0, 1) + op(CYCLE))
write("order_core", "burst_mass_cancel", op(NEW, 1, 0, 1, 3, 9, 0, 1) + op(NEW, 2, 0, 0, 8, 9, 0, 1)
      + op(NEW, 5, 1, 0, 3, 2, 1, 2) + op(MASS, 0, 0) + op(CYCLE) + op(MASS, 1, 1, 1) + op(CYCLE))
write("order_core", "duplicates_and_unknowns", op(NEW, 1, 0, 1, 5, 9, 0, 0) + op(NEW, 1, 0, 1, 5, 9, 0, 0)
      + op(CANCEL, 9, 77, 0, 1) + op(REPLACE, 1, 1, 1, 0, 5, 5) + op(CYCLE))
