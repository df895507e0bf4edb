# Scenario of nixos/tests/rolling.nix; also run by the local network-namespace driver.
# Machines: core1..core3 (static seeds), replicant1, client (mqtt-ids from tools/mqtt-ids.py).

ADMIN = "http://127.0.0.1:18083"
CORES = [("core1", core1), ("core2", core2), ("core3", core3)]
BROKERS = CORES + [("replicant1", replicant1)]
STATE = "/tmp/rolling"


def metric_value(machine, name):
    """Value of an unlabelled gauge or counter on the node's /metrics."""
    text = machine.succeed(f"curl -sf {ADMIN}/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise Exception(f"{name} is not exported")


def wait_for_single_leader(nodes, timeout=180):
    any_node = nodes[0][1]
    for _ in range(timeout):
        leaders = [n for n, m in nodes if metric_value(m, "starling_raft_is_leader") == 1]
        if len(leaders) == 1:
            return leaders[0]
        any_node.sleep(1)
    raise Exception("no single leader")


def wait_ready(machine):
    machine.wait_for_unit("starling.service")
    machine.wait_for_open_port(1883)
    machine.wait_until_succeeds(f"curl -sf {ADMIN}/readyz", timeout=300)


def acked():
    return int(client.succeed(f"cat {STATE}/acked").strip())


def wait_for_progress(count, timeout=120):
    """The publisher gets `count` more PUBACKs."""
    target = acked() + count
    client.wait_until_succeeds(f"test $(cat {STATE}/acked) -ge {target}", timeout=timeout)


start_all()
for _, m in BROKERS:
    wait_ready(m)
wait_for_single_leader(CORES)

# A persistent QoS 1 subscriber, then a QoS 1 publisher, both moving between nodes when
# theirs goes away (they start on different nodes).
client.succeed(
    f"rm -rf {STATE} && mkdir -p {STATE}",
    f"systemd-run --unit=rolling-recorder $(command -v mqtt-ids) record "
    f"--hosts core1,core2,core3,replicant1 --dir {STATE}",
)
client.wait_until_succeeds(f"test -e {STATE}/subscribed", timeout=60)
client.succeed(
    f"systemd-run --unit=rolling-publisher $(command -v mqtt-ids) publish "
    f"--hosts replicant1,core3,core2,core1 --dir {STATE}"
)
client.wait_until_succeeds(f"test -e {STATE}/acked", timeout=60)
wait_for_progress(20)

# Restart every node in turn, the leader included, waiting for each to be back, the
# cluster to have a leader and the publisher to make progress before the next one.
for name, m in BROKERS:
    print(f"restarting {name}")
    status, _ = m.systemctl("restart starling.service")
    assert status == 0, f"restart of {name} failed"
    wait_ready(m)
    print(f"leader after restarting {name}: {wait_for_single_leader(CORES)}")
    wait_for_progress(20)

# Stop publishing; every acknowledged id must reach the subscriber, whose session survived.
client.succeed(f"touch {STATE}/stop")
client.wait_until_succeeds(f"test -e {STATE}/published", timeout=60)
client.wait_until_succeeds(f"mqtt-ids verify --dir {STATE} --min-published 100", timeout=120)
print(client.succeed(f"mqtt-ids verify --dir {STATE}"))
client.succeed("systemctl stop rolling-recorder.service")
