#!/usr/bin/env python3
"""Writes the seed inputs of fuzz/seeds/<target>/ (see README.md): valid sessions of both
protocol versions plus every hostile file of tests/corpus/, in each target's input layout."""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "tests", "corpus")
sys.path.insert(0, CORPUS)
from gen_corpus import (  # noqa: E402
    connect_v3, connect_v5, pkt, props, publish_v3, publish_v5, s, subscribe_v3, subscribe_v5, user_prop,
)

# Valid sessions: (name, stream including the CONNECT).
flows = {
    "v5_full_session": connect_v5("seed5", keep=60)
    + subscribe_v5(1, [("a/+", 2), ("$share/g/b", 1)], prop=b"\x0b\x07")
    + publish_v5("a/x", b"q0")
    + publish_v5("a/x", b"q1", qos=1, pid=2, prop=b"\x02\x00\x00\x00\x3c" + user_prop("k", "v"))
    + publish_v5("a/x", b"q2", qos=2, pid=3, prop=b"\x23\x00\x01")
    + pkt(0x62, b"\x00\x03")
    + publish_v5("", b"alias", prop=b"\x23\x00\x01")
    + pkt(0x40, b"\x00\x01")
    + b"\xc0\x00"
    + pkt(0xA2, b"\x00\x04" + props() + s("a/+"))
    + pkt(0xE0, b"\x04" + props()),
    "v5_will_and_expiry": connect_v5(
        "seed5w", flags=0x2E, keep=10, prop=b"\x11\x00\x00\x00\x05\x21\x00\x10",
        payload_extra=props(b"\x18\x00\x00\x00\x01") + s("will/t") + s(b"gone"),
    )
    + pkt(0xE0, b"\x00" + props(b"\x11\x00\x00\x00\x00")),
    "v3_full_session": connect_v3("seed3", flags=0xC2, keep=60, payload_extra=s("user") + s("pass"))
    + subscribe_v3(1, [("a/#", 1), ("b", 0)])
    + publish_v3("a/b", b"hello", qos=1, pid=5)
    + publish_v3("a/c", b"world", qos=2, pid=6)
    + pkt(0x62, b"\x00\x06")
    + publish_v3("r", b"retained", first=0x31)
    + b"\xc0\x00"
    + pkt(0xA2, b"\x00\x07" + s("b"))
    + b"\xe0\x00",
    "v3_persistent": connect_v3("seed3p", flags=0x00, keep=0) + subscribe_v3(1, [("p", 2)]) + publish_v3("p", b"x", qos=2, pid=1),
}


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    streams = dict(flows)
    for n in sorted(os.listdir(CORPUS)):
        if n.endswith(".bin"):
            with open(os.path.join(CORPUS, n), "rb") as f:
                streams[n[:-4]] = f.read()
    count = 0
    for name, data in streams.items():
        # packet_decoder: byte 0 = chunking / split point.
        write("packet_decoder", name + "-whole", b"\xff" + data)
        write("packet_decoder", name + "-split3", b"\x02" + data)
        # server_connection: byte 0 = mode (0: raw stream), byte 1 = write chunk (0: whole).
        write("server_connection", name + "-whole", b"\x00\x00" + data)
        write("server_connection", name + "-split5", b"\x00\x05" + data)
        count += 1
    # The on-disk records: a Message and a Delivery in their encoding (see src/protocol/message.rs).
    def u32(n):
        return struct.pack(">I", n)

    def b(x):
        return u32(len(x)) + x

    msg = b"\x01\x81" + b(b"a/b") + b(b"client") + b"\x01" + struct.pack(">Q", 1234) + b"\x01\x01"
    msg += b"\x01" + b(b"text/plain") + b"\x01" + b(b"r/t") + b"\x01" + b(b"\x01\x02") + u32(1) + b(b"k") + b(b"v")
    msg += b(b"payload")
    delivery = b"\x01\x00" + u32(2) + u32(7) + u32(9) + b"\x01" + b(b"g") + b(b"f/#") + msg
    write("packet_decoder", "record-message", b"\x00" + msg)
    write("packet_decoder", "record-delivery", b"\x00" + delivery)
    print(f"wrote seeds for {count} streams")


if __name__ == "__main__":
    main()
