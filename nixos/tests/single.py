# Scenario of nixos/tests/single.nix; also run by the local network-namespace driver.
# Machines: broker (starling with tcp:1883, tls:8883, password auth), client (mosquitto clients).

CA = "/etc/starling-test/ca.crt"
USER = "alice"
PASSWORD = "vm-test-password"
AUTH = f"-u {USER} -P {PASSWORD}"
TCP = "-h broker -p 1883"
TLS = f"-h broker -p 8883 --cafile {CA}"
ADMIN = "http://127.0.0.1:18083"


def metric_value(machine, name):
    """Sum of all samples of a metric on the node's /metrics."""
    text = machine.succeed(f"curl -sf {ADMIN}/metrics")
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    ]
    assert values, f"{name} is not exported"
    return sum(values)


def roundtrip(sub, pub, topic, payload, qos=1):
    """Subscribe with `sub` args, publish with `pub` args until the message arrives."""
    out = "/tmp/roundtrip.out"
    client.succeed(f"rm -f {out}")
    client.succeed(f"(mosquitto_sub {sub} -t '{topic}' -q {qos} -C 1 -W 60 > {out} 2>&1 &)")
    client.wait_until_succeeds(
        f"mosquitto_pub {pub} -t '{topic}' -q {qos} -m '{payload}' && grep -qxF '{payload}' {out}",
        timeout=60,
    )


start_all()
broker.wait_for_unit("multi-user.target")
client.wait_for_unit("multi-user.target")

# The operator's way: make the password file with the broker's tool, check the config, start.
broker.succeed(
    f"printf '%s\\n' '{PASSWORD}' | starling passwd /etc/starling/passwd {USER}",
    "chgrp starling /etc/starling/passwd",
    "chmod 0640 /etc/starling/passwd",
    "starling config check /etc/starling/starling.toml",
)
status, _ = broker.systemctl("start starling.service")
assert status == 0, "starling.service did not start"
broker.wait_for_unit("starling.service")
broker.wait_for_open_port(1883)
broker.wait_for_open_port(8883)
broker.succeed(f"curl -sf {ADMIN}/healthz", f"curl -sf {ADMIN}/readyz")

# The unit runs confined: no capabilities (no port below 1024), hardened sandbox.
broker.succeed("test -z \"$(systemctl show -P AmbientCapabilities starling.service)\"")
# --threshold counts in tenths of the printed exposure: 40 = "4.0 OK" or better (the unit scores
# about 1.2; PrivateNetwork=no alone costs 0.5, so 4 meant 0.4 and could never pass).
broker.succeed("systemd-analyze security --threshold=40 --no-pager starling.service")
# The file-system sandbox as the broker sees it: read-only but for its state directory
# (ProtectSystem=strict + StateDirectory), where it keeps what it generates (the API key file,
# the control socket). Local `starling ctl` needs no key: root reaches the control socket there.
MAIN = "$(systemctl show -P MainPID starling.service)"
broker.fail(f"nsenter -t {MAIN} -m -r touch /etc/starling/sandbox-probe")
broker.succeed(f"nsenter -t {MAIN} -m -r touch /var/lib/starling/sandbox-probe")
broker.succeed("rm /var/lib/starling/sandbox-probe", "test -s /var/lib/starling/admin-api-keys")
broker.succeed("starling ctl status | grep -q connections")

# Authentication: anonymous and wrong passwords are refused on both listeners
# (`timeout` so that a client that keeps retrying counts as refused too).
client.wait_until_succeeds(f"mosquitto_pub {TCP} {AUTH} -t probe -m up", timeout=60)
client.fail(f"timeout 20 mosquitto_pub {TCP} -t probe -m anonymous")
client.fail(f"timeout 20 mosquitto_pub {TCP} -u {USER} -P wrong -t probe -m bad-password")
client.fail(f"timeout 20 mosquitto_pub {TLS} -t probe -m anonymous")
client.fail(f"timeout 20 mosquitto_pub {TLS} -u nobody -P {PASSWORD} -t probe -m unknown-user")
assert metric_value(broker, "starling_auth_failures_total") >= 4

# TLS: the certificate must chain to the test CA; plain TCP on the TLS port fails.
client.fail(f"timeout 20 mosquitto_pub -h broker -p 8883 --cafile /etc/ssl/certs/ca-certificates.crt {AUTH} -t probe -m x")
client.fail(f"timeout 20 mosquitto_pub -h broker -p 8883 {AUTH} -t probe -m x")

# Messages flow across listeners, MQTT 3.1.1 and 5.
roundtrip(f"{TLS} {AUTH}", f"{TCP} {AUTH}", "single/tls-in", "tcp-to-tls")
roundtrip(f"{TCP} {AUTH}", f"{TLS} {AUTH}", "single/tcp-in", "tls-to-tcp")
roundtrip(f"{TLS} {AUTH} -V mqttv5", f"{TLS} {AUTH} -V mqttv5", "single/v5", "five")

# A retained message is kept.
client.succeed(f"mosquitto_pub {TLS} {AUTH} -q 1 -r -t single/retained -m kept")
client.succeed(f"mosquitto_sub {TLS} {AUTH} -t single/retained -C 1 -W 10 | grep -qx kept")

# A persistent session (clean session off, QoS 1) survives a broker restart, with the
# messages queued for it before and after the restart.
SESSION = f"{TLS} {AUTH} -i durable-sub -c -q 1 -t 'sensors/#'"
client.succeed(f"mosquitto_sub {SESSION} -E")
client.succeed(f"mosquitto_pub {TLS} {AUTH} -q 1 -t sensors/a -m before-restart")
assert metric_value(broker, "starling_sessions_persistent") >= 1

status, _ = broker.systemctl("restart starling.service")
assert status == 0, "restart failed"
broker.wait_for_unit("starling.service")
broker.wait_for_open_port(8883)
client.wait_until_succeeds(f"mosquitto_pub {TLS} {AUTH} -q 1 -t sensors/b -m after-restart", timeout=60)

received = client.succeed(f"mosquitto_sub {SESSION} -C 2 -W 30").split()
assert received == ["before-restart", "after-restart"], f"persistent session lost messages: {received}"
client.succeed(f"mosquitto_sub {TLS} {AUTH} -t single/retained -C 1 -W 10 | grep -qx kept")

# SIGHUP reloads certificates and users without dropping the service.
broker.succeed(
    "printf '%s\\n' 'second-password' | starling passwd /etc/starling/passwd bob",
    "chgrp starling /etc/starling/passwd",
    "chmod 0640 /etc/starling/passwd",
)
status, _ = broker.systemctl("reload starling.service")
assert status == 0, "reload failed"
broker.succeed("systemctl is-active starling.service")
client.wait_until_succeeds(f"mosquitto_pub {TLS} -u bob -P second-password -t probe -m reloaded", timeout=30)

# Clean stop: the service drains and exits without being killed.
status, _ = broker.systemctl("stop starling.service")
assert status == 0, "stop failed"
broker.succeed("test \"$(systemctl show -P Result starling.service)\" = success")
