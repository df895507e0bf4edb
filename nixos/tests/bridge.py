# Scenario of nixos/tests/bridge.nix; also run by the local network-namespace driver.
# Machines: core1..core3 (static seeds; the bridge comes in on TLS 8883 with a client
# certificate and a password), gateway (a standalone broker with [bridges.cloud]; its devices
# are clients on the gateway itself).

ADMIN = "http://127.0.0.1:18083"
CORES = [("core1", core1), ("core2", core2), ("core3", core3)]
OUTAGE = 100  # messages published while the gateway is cut off


def metric_sum(machine, name):
    """Sum of every series of `name` on the node's /metrics (0 when it has none)."""
    text = machine.succeed(f"curl -sf {ADMIN}/metrics")
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def queued():
    """Messages for the upstream the gateway holds: not yet sent, or sent and not acknowledged."""
    return metric_sum(gateway, "starling_bridge_backlog_messages") + metric_sum(
        gateway, "starling_bridge_inflight_messages"
    )


def wait_bridge(connected, timeout=120):
    want = 1 if connected else 0
    for _ in range(timeout):
        if metric_sum(gateway, "starling_bridge_connected") == want:
            return
        gateway.sleep(1)
    raise Exception(f"the bridge did not become {'connected' if connected else 'disconnected'}")


def upstream_lines():
    return core1.succeed("cat /tmp/upstream.out").splitlines()


start_all()

# The cores' password file holds the bridge's user, then the cluster forms.
for name, m in CORES:
    m.succeed(
        "mkdir -p /etc/starling",
        "printf '%s\\n' 'gateway-bridge-password' | starling passwd /etc/starling/passwd gateway",
        "chgrp starling /etc/starling/passwd",
        "chmod 0640 /etc/starling/passwd",
    )
    m.systemctl("start starling.service")
for name, m in CORES:
    m.wait_for_unit("starling.service")
    m.wait_until_succeeds(f"curl -sf {ADMIN}/readyz", timeout=300)

# The gateway's secrets came in as credentials: readable by the service only, not in the config.
gateway.wait_for_unit("starling.service")
gateway.wait_until_succeeds(f"curl -sf {ADMIN}/readyz", timeout=120)
gateway.succeed("! grep -q gateway-bridge-password /etc/starling/starling.toml")
gateway.succeed("grep -q '/run/credentials/starling.service/bridge-password' /etc/starling/starling.toml")

# A persistent subscriber in the cloud, then the bridge connects over TLS with its credentials.
core1.succeed(
    "(mosquitto_sub -h localhost -V mqttv5 -i cloud-sub -c -x 3600 -q 1 -t 'gateway/dev/#' -v"
    " > /tmp/upstream.out 2>&1 &)"
)
core1.sleep(2)  # its SUBACK
wait_bridge(True)
gateway.succeed("starling ctl bridges | grep -q cloud")

# out: dev/# on the gateway → gateway/dev/# in the cluster.
gateway.succeed("mosquitto_pub -h localhost -q 1 -t dev/probe -m first")
core1.wait_until_succeeds("grep -qx 'gateway/dev/probe first' /tmp/upstream.out", timeout=60)

# in: gateway/cmd/# in the cluster → cmd/# on the gateway (published until the bridge's
# subscription has reached the node the command is published on).
gateway.succeed("(mosquitto_sub -h localhost -V mqttv5 -i device-cmd -c -x 3600 -q 1 -t 'cmd/#' -v > /tmp/cmd.out 2>&1 &)")
for _ in range(60):
    core2.succeed("mosquitto_pub -h localhost -q 1 -t gateway/cmd/valve -m open")
    if "cmd/valve open" in gateway.succeed("cat /tmp/cmd.out"):
        break
    gateway.sleep(1)
else:
    raise Exception("a command published in the cluster did not reach the gateway's device")

# The WAN goes away. What devices publish now is acknowledged from the backlog on disk.
gateway.block()
for i in range(OUTAGE):
    gateway.succeed(f"mosquitto_pub -h localhost -q 1 -t dev/outage -m {i}")
assert queued() >= OUTAGE, f"only {queued()} of {OUTAGE} messages held for the upstream"
# A command published in the cluster meanwhile waits in the bridge's persistent session.
core2.succeed("mosquitto_pub -h localhost -q 1 -t gateway/cmd/valve -m close")

# Power loss on the gateway while it is still cut off; it boots with its disk.
gateway.crash()
gateway.start()
gateway.wait_for_unit("starling.service")
gateway.wait_until_succeeds(f"curl -sf {ADMIN}/readyz", timeout=120)
assert queued() >= OUTAGE, f"the backlog did not survive the crash: {queued()} of {OUTAGE}"
gateway.succeed("(mosquitto_sub -h localhost -V mqttv5 -i device-cmd -c -x 3600 -q 1 -t 'cmd/#' -v >> /tmp/cmd.out 2>&1 &)")

# The link returns: the backlog drains, in order, and the command comes down.
gateway.unblock()
wait_bridge(True)
core1.wait_until_succeeds(f"test $(grep -c '^gateway/dev/outage ' /tmp/upstream.out) -ge {OUTAGE}", timeout=120)
got = [int(line.split()[1]) for line in upstream_lines() if line.startswith("gateway/dev/outage ")]
first = []
for n in got:
    if n not in first:
        first.append(n)
assert first == list(range(OUTAGE)), f"upstream order/loss: {first[:20]}…"
gateway.wait_until_succeeds("grep -q 'cmd/valve close' /tmp/cmd.out", timeout=60)
for _ in range(60):
    if queued() == 0:
        break
    gateway.sleep(1)
else:
    raise Exception(f"the backlog did not drain: {queued()} messages left")
