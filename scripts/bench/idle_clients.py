#!/usr/bin/env python3
"""Hold N idle MQTT 3.1.1 clients over TLS or WebSocket (what `starling bench conn` does over
plain TCP), for run.sh's idle-connection memory scenario on those transports.

Usage: idle_clients.py tls|ws HOST PORT N [--hold SECONDS] [--path /mqtt]

Prints one JSON line when all N have their CONNACK (or the connect phase timed out): the
number established and the connect time. Then holds them for --hold seconds (default 300) or
until SIGTERM/SIGINT, and closes them. Every step is bounded by a timeout.
"""

import argparse
import asyncio
import base64
import json
import os
import signal
import ssl
import sys
import time


def connect_packet(client_id: str) -> bytes:
    cid = client_id.encode()
    # Protocol name "MQTT", level 4, clean session, keep-alive 300 s.
    var = b"\x00\x04MQTT\x04\x02" + (300).to_bytes(2, "big")
    payload = len(cid).to_bytes(2, "big") + cid
    rest = var + payload
    return b"\x10" + bytes([len(rest)]) + rest


def ws_frame(data: bytes) -> bytes:
    # Client frames are masked (RFC 6455 5.3); binary, final, short payload.
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return bytes([0x82, 0x80 | len(data)]) + mask + masked


async def one(kind, host, port, path, i, ctx, timeout):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ctx if kind == "tls" else None), timeout
    )
    pkt = connect_packet(f"idle-{os.getpid()}-{i}")
    if kind == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"upgrade refused: {head[:40]!r}")
        writer.write(ws_frame(pkt))
        # A server frame: 2 header bytes, then the 4-byte CONNACK.
        ack = await asyncio.wait_for(reader.readexactly(6), timeout)
        ack = ack[2:]
    else:
        writer.write(pkt)
        ack = await asyncio.wait_for(reader.readexactly(4), timeout)
    if ack[0] != 0x20 or ack[3] != 0:
        raise RuntimeError(f"CONNACK {ack!r}")
    return writer


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["tls", "ws"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--hold", type=float, default=300)
    ap.add_argument("--path", default="/mqtt")
    ap.add_argument("--parallel", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    ctx = None
    if a.kind == "tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    gate = asyncio.Semaphore(a.parallel)
    writers, errors = [], []

    async def guarded(i):
        async with gate:
            try:
                writers.append(await one(a.kind, a.host, a.port, a.path, i, ctx, a.timeout))
            except Exception as e:  # counted and reported, one line
                errors.append(repr(e))

    t = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(guarded(i) for i in range(a.n))), a.timeout * 4)
    took = time.monotonic() - t
    print(json.dumps({"kind": a.kind, "established": len(writers), "errors": len(errors),
                      "first_error": errors[0] if errors else None, "seconds": round(took, 2)}),
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), a.hold)
    except asyncio.TimeoutError:
        pass
    for w in writers:
        w.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
