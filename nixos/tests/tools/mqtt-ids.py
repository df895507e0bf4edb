#!/usr/bin/env python3
"""QoS 1 message-id publisher, persistent recorder and checker for the rolling-restart test.

  mqtt-ids record  --hosts core1,core2 --dir D   persistent QoS 1 subscriber (clean session
                                                 off); writes every id it gets to D/received
  mqtt-ids publish --hosts core2,core3 --dir D   publishes 1, 2, 3, ... with QoS 1, each until
                                                 a PUBACK; D/acked is the last acked id; stops
                                                 when D/stop exists and writes D/published
  mqtt-ids verify  --dir D                       exit 1 unless every id in 1..published was
                                                 received and the session was never lost

Both clients move to the next host when theirs goes away, as a real client behind a load
balancer would. Works with paho-mqtt 1.x and 2.x. Port: 1883, or $MQTT_IDS_PORT.
"""

import argparse
import os
import sys
import time

import paho.mqtt.client as mqtt

TOPIC = "rolling/ids"
PORT = int(os.environ.get("MQTT_IDS_PORT", "1883"))


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def new_client(client_id, clean_session):
    kwargs = {"client_id": client_id, "clean_session": clean_session, "protocol": mqtt.MQTTv311}
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt >= 2
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    return mqtt.Client(**kwargs)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def connect(client, state, host, timeout=10.0):
    """Connect and wait for CONNACK; False if the host is down or refuses."""
    state["connected"] = False
    state["refused"] = False
    try:
        client.connect(host, PORT, keepalive=10)
    except OSError as e:
        log(f"connect {host}: {e}")
        return False
    deadline = time.monotonic() + timeout
    while not state["connected"] and not state["refused"] and time.monotonic() < deadline:
        if client.loop(0.2) != mqtt.MQTT_ERR_SUCCESS:
            return False
    return state["connected"]


def callbacks(client, state):
    def on_connect(client, userdata, flags, rc, properties=None):
        code = getattr(rc, "value", rc)
        if code != 0:
            log(f"connection refused: {rc}")
            state["refused"] = True
            return
        present = getattr(flags, "session_present", None)
        if present is None:
            present = bool(flags.get("session present", 0))
        state["connected"] = True
        state["session_present"] = present

    def on_disconnect(client, *args):
        state["connected"] = False

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect


def record(args):
    received = open(os.path.join(args.dir, "received"), "a")
    client = new_client(args.client_id, clean_session=False)
    # A recorder restarted by hand still knows that its session should exist.
    state = {"subscribed_once": os.path.exists(os.path.join(args.dir, "subscribed"))}
    callbacks(client, state)

    def on_message(client, userdata, msg):
        received.write(msg.payload.decode() + "\n")
        received.flush()
        os.fsync(received.fileno())

    def on_subscribe(client, userdata, mid, *args):
        state["suback"] = True

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    hosts = args.hosts.split(",")
    i = 0
    while True:
        host = hosts[i % len(hosts)]
        i += 1
        if not connect(client, state, host):
            time.sleep(0.5)
            continue
        log(f"recorder connected to {host}, session present: {state['session_present']}")
        if not state["session_present"]:
            if state["subscribed_once"]:
                # The broker forgot the session: queued messages may be gone.
                with open(os.path.join(args.dir, "session-lost"), "a") as f:
                    f.write(f"{time.time()} {host}\n")
            state["suback"] = False
            client.subscribe(TOPIC, qos=1)
            while not state.get("suback") and client.loop(0.2) == mqtt.MQTT_ERR_SUCCESS:
                pass
            if not state.get("suback"):
                continue
            state["subscribed_once"] = True
            write_atomic(os.path.join(args.dir, "subscribed"), host + "\n")
        while state["connected"] and client.loop(0.5) == mqtt.MQTT_ERR_SUCCESS:
            pass
        log(f"recorder lost {host}")


def publish(args):
    hosts = args.hosts.split(",")
    stop = os.path.join(args.dir, "stop")
    acked_path = os.path.join(args.dir, "acked")
    next_id, i = 1, 0
    client, state = None, {}
    while not os.path.exists(stop):
        if client is None or not state.get("connected"):
            host = hosts[i % len(hosts)]
            i += 1
            client = new_client(args.client_id, clean_session=True)
            state = {}
            callbacks(client, state)
            if not connect(client, state, host):
                client = None
                time.sleep(0.5)
                continue
            log(f"publisher connected to {host}")
        info = client.publish(TOPIC, str(next_id), qos=1)
        deadline = time.monotonic() + 10
        while not info.is_published() and state.get("connected") and time.monotonic() < deadline:
            if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
        if info.is_published():
            write_atomic(acked_path, f"{next_id}\n")
            next_id += 1
            time.sleep(args.interval)
        else:
            # No PUBACK: publish the same id again, on the next host (at least once).
            log(f"no PUBACK for {next_id}, moving on")
            client.disconnect()
            state["connected"] = False
    write_atomic(os.path.join(args.dir, "published"), f"{next_id - 1}\n")
    log(f"published and acknowledged 1..{next_id - 1}")


def verify(args):
    with open(os.path.join(args.dir, "published")) as f:
        published = int(f.read())
    with open(os.path.join(args.dir, "received")) as f:
        received = {int(line) for line in f if line.strip()}
    missing = sorted(set(range(1, published + 1)) - received)
    lost_session = os.path.exists(os.path.join(args.dir, "session-lost"))
    print(f"published {published}, received {len(received)} distinct, missing {len(missing)}")
    if missing:
        print(f"missing ids: {missing[:50]}")
    if lost_session:
        print("the broker lost the persistent session at least once")
    if published < args.min_published:
        print(f"too few messages published ({published} < {args.min_published})")
    return 1 if missing or lost_session or published < args.min_published else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["record", "publish", "verify"])
    parser.add_argument("--hosts", default="localhost")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--client-id", default="")
    parser.add_argument("--interval", type=float, default=0.05, help="pause between publishes (s)")
    parser.add_argument("--min-published", type=int, default=100)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    if args.mode == "record":
        args.client_id = args.client_id or "rolling-recorder"
        record(args)
    elif args.mode == "publish":
        args.client_id = args.client_id or "rolling-publisher"
        publish(args)
    else:
        sys.exit(verify(args))


if __name__ == "__main__":
    main()
