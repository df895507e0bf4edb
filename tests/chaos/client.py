#!/usr/bin/env python3
"""One MQTT 5 client of the chaos suite (paho-mqtt), run by run.py inside its own network namespace.

Every event is one JSON line in --out, flushed at once, so the runner can read what happened even
if this process is killed. Roles:

  sub     persistent subscriber (clean start 0, session expiry 300 s): `chaos/q1/#` at QoS 1 and
          `chaos/q2/#` at QoS 2 (or --filters). On losing its connection it tries its node again, then the next one.
  bounce  the same subscriber, but it disconnects cleanly every --interval seconds and reconnects to
          the next node (its session must follow it).
  pub     publishes messages with unique ids (`<name>-<seq>`), alternately QoS 1 on chaos/q1/<name>
          and QoS 2 on chaos/q2/<name> (or --qos, --topic), at --rate per second, until SIGTERM or --count; logs which
          ids were acknowledged (PUBACK / PUBCOMP with a reason code below 0x80).

One thread drives paho's network loop (`Client.loop`), so no callback races with the main code.
"""

import argparse
import json
import signal
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

SESSION_EXPIRY = 300
KEEPALIVE = 5
CONNECT_TIMEOUT = 3.0
# A client that cannot connect anywhere for this long gives up (the suite is bounded in time).
GIVE_UP_AFTER = 90.0

stopping = False
# Set by SIGUSR1: the subscriber leaves its node for --move-to (the runner moves it on purpose).
move_now = False


def on_term(_sig, _frm):
    global stopping
    stopping = True


def on_move(_sig, _frm):
    global move_now
    move_now = True


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)

    def __call__(self, ev, **kw):
        kw["ev"] = ev
        kw["t"] = round(time.time(), 3)
        self.f.write(json.dumps(kw) + "\n")
        self.f.flush()


def rc_value(rc):
    return getattr(rc, "value", rc)


class Conn:
    """State one connection attempt's callbacks write into."""

    def __init__(self):
        self.connack = None  # (reason code, session present)
        self.closed = False


def connect_props():
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = SESSION_EXPIRY
    return p


def open_connection(client, host, port, clean_start, log, conn):
    """Connect and wait for CONNACK; True when accepted."""
    try:
        client.connect(host, port, keepalive=KEEPALIVE, clean_start=clean_start,
                       properties=connect_props() if not clean_start else None)
    except OSError as e:
        log("connect_failed", node=host, error=str(e))
        return False
    deadline = time.time() + CONNECT_TIMEOUT + 2
    while conn.connack is None and not conn.closed and time.time() < deadline:
        client.loop(0.05)
    if conn.connack is None:
        log("connect_failed", node=host, error="no CONNACK")
        client.disconnect()
        client.loop(0.05)
        return False
    rc, _sp = conn.connack
    if rc >= 0x80:
        log("connect_failed", node=host, error=f"CONNACK 0x{rc:02x}")
        return False
    return True


def run_subscriber(a, log):
    global move_now
    bounce = a.role == "bounce"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=a.id, protocol=mqtt.MQTTv5)
    client.connect_timeout = CONNECT_TIMEOUT
    state = {"conn": Conn()}

    def on_connect(c, _u, flags, reason_code, _props):
        rc = rc_value(reason_code)
        sp = bool(flags.session_present)
        state["conn"].connack = (rc, sp)
        if rc >= 0x80:
            return
        log("connected", node=state["node"], session_present=sp)
        if not sp:
            # The broker says it has no session: what paho holds for it (QoS 2 messages waiting
            # for PUBREL) belongs to a session that no longer exists. Drop it, as a client must,
            # and subscribe again (a real client would; the lost messages are counted as lost).
            with c._in_message_mutex:
                c._in_messages.clear()
            c.subscribe(a.filters)

    def on_subscribe(_c, _u, _mid, reason_codes, _props):
        log("subscribed", node=state["node"], codes=[rc_value(r) for r in reason_codes])

    def on_message(_c, _u, msg):
        try:
            body = json.loads(msg.payload)
        except ValueError:
            log("garbage", topic=msg.topic)
            return
        log("recv", id=body.get("id"), qos=msg.qos, dup=bool(msg.dup), node=state["node"])

    def on_disconnect(_c, _u, _flags, reason_code, _props):
        state["conn"].closed = True
        log("disconnected", node=state["node"], reason=rc_value(reason_code))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect

    idx = a.home
    failing_since = None
    tried_same = False
    while not stopping:
        node = a.nodes[idx]
        state["node"] = node
        state["conn"] = Conn()
        if not open_connection(client, node, 1883, False, log, state["conn"]):
            failing_since = failing_since or time.time()
            if time.time() - failing_since > GIVE_UP_AFTER:
                log("gave_up")
                return 3
            idx = (idx + 1) % len(a.nodes)
            time.sleep(0.3)
            continue
        failing_since = None
        tried_same = False
        since = time.time()
        while not stopping and not state["conn"].closed:
            client.loop(0.05)
            if move_now:
                # Its node is cut off: drop the socket (a DISCONNECT would not arrive anyway)
                # and resume the session on the node the runner chose.
                move_now = False
                log("moving", node=a.nodes[a.move_to])
                try:
                    client.socket().close()
                except (OSError, AttributeError):
                    pass
                for _ in range(5):
                    client.loop(0.01)
                state["conn"].closed = True
                idx = a.move_to
                tried_same = True
                break
            if bounce and time.time() - since >= a.interval:
                client.disconnect()
                while not state["conn"].closed:
                    client.loop(0.05)
                idx = (idx + 1) % len(a.nodes)
                break
        else:
            if stopping:
                break
            # The connection broke: try the same node once (a blip), then move on.
            if tried_same:
                idx = (idx + 1) % len(a.nodes)
            tried_same = not tried_same
    if not state["conn"].closed:
        client.disconnect()
        for _ in range(10):
            client.loop(0.02)
    log("stopped")
    return 0


def run_publisher(a, log):
    seq = 0
    idx = a.home
    failing_since = None
    interval = 1.0 / a.rate
    while not stopping and seq < a.count:
        node = a.nodes[idx]
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=a.id, protocol=mqtt.MQTTv5)
        client.connect_timeout = CONNECT_TIMEOUT
        client.max_inflight_messages_set(a.inflight)
        conn = Conn()
        pending = {}

        def on_connect(_c, _u, _flags, reason_code, _props, conn=conn):
            conn.connack = (rc_value(reason_code), False)

        def on_disconnect(_c, _u, _flags, reason_code, _props, conn=conn, node=node):
            conn.closed = True
            log("disconnected", node=node, reason=rc_value(reason_code))

        def on_publish(_c, _u, mid, reason_code, _props, pending=pending):
            mid_id = pending.pop(mid, None)
            if mid_id is None:
                return
            rc = rc_value(reason_code)
            log("acked" if rc < 0x80 else "refused", id=mid_id[0], qos=mid_id[1], rc=rc)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        if not open_connection(client, node, 1883, True, log, conn):
            failing_since = failing_since or time.time()
            if time.time() - failing_since > GIVE_UP_AFTER:
                log("gave_up")
                return 3
            idx = (idx + 1) % len(a.nodes)
            time.sleep(0.3)
            continue
        failing_since = None
        log("connected", node=node)
        next_at = time.time()
        while not stopping and not conn.closed and seq < a.count:
            now = time.time()
            # Every message that is due goes out now (up to --inflight unacknowledged), so high
            # rates are not capped by one network-loop turn per message.
            while now >= next_at and len(pending) < a.inflight and seq < a.count:
                qos = a.qos if a.qos else (1 if seq % 2 == 0 else 2)
                mid_id = f"{a.id}-{seq}"
                seq += 1
                body = json.dumps({"id": mid_id, "qos": qos, "pad": "x" * 64})
                info = client.publish(a.topic.format(qos=qos, id=a.id), body, qos=qos)
                pending[info.mid] = (mid_id, qos)
                log("sent", id=mid_id, qos=qos, node=node)
                next_at = max(next_at + interval, now - 1.0)
            client.loop(0.002 if a.rate > 100 else 0.01)
        broken = conn.closed
        if not broken:
            # Stopping: wait a while for the acknowledgements still outstanding.
            deadline = time.time() + 10
            while pending and not conn.closed and time.time() < deadline:
                client.loop(0.05)
            client.disconnect()
            for _ in range(10):
                client.loop(0.02)
        for mid_id, qos in pending.values():
            log("unacked", id=mid_id, qos=qos)
        pending.clear()
        if not broken:
            break
        idx = (idx + 1) % len(a.nodes)
    log("stopped", sent=seq)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["sub", "bounce", "pub"], required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--nodes", required=True, help="comma-separated node addresses")
    ap.add_argument("--home", type=int, default=0, help="index of the first node to connect to")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--inflight", type=int, default=20)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--qos", type=int, default=0, help="publish at this QoS only (default: 1 and 2 alternately)")
    ap.add_argument("--move-to", type=int, default=0, help="subscriber: node index to move to on SIGUSR1")
    ap.add_argument("--topic", default="chaos/q{qos}/{id}",
                    help="publisher: topic, {qos} and {id} filled in (default chaos/q{qos}/{id})")
    ap.add_argument("--filters", default="chaos/q1/#:1,chaos/q2/#:2",
                    help="subscriber: comma-separated FILTER:QOS (default chaos/q1/#:1,chaos/q2/#:2)")
    a = ap.parse_args()
    a.nodes = a.nodes.split(",")
    a.filters = [(f.rsplit(":", 1)[0], int(f.rsplit(":", 1)[1])) for f in a.filters.split(",")]
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGUSR1, on_move)
    log = Log(a.out)
    log("start", role=a.role)
    if a.role == "pub":
        return run_publisher(a, log)
    return run_subscriber(a, log)


if __name__ == "__main__":
    sys.exit(main())
