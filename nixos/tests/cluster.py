# Scenario of nixos/tests/cluster.nix; also run by the local network-namespace driver.
# Machines: dns (SRV _cluster._tcp.starling.test), core1..core3, replicant1, client.

ADMIN = "http://127.0.0.1:18083"
DOMAIN = "starling.test"
CORES = [("core1", core1), ("core2", core2), ("core3", core3)]
BROKERS = CORES + [("replicant1", replicant1)]
_roundtrips = 0


def metric_value(machine, name):
    """Value of an unlabelled gauge or counter on the node's /metrics."""
    text = machine.succeed(f"curl -sf {ADMIN}/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise Exception(f"{name} is not exported")


def wait_for_single_leader(nodes, timeout=180):
    """Wait until exactly one of `nodes` is Raft leader and all agree on the term."""
    any_node = nodes[0][1]
    for _ in range(timeout):
        leaders = [(n, m) for n, m in nodes if metric_value(m, "starling_raft_is_leader") == 1]
        terms = {metric_value(m, "starling_raft_term") for _, m in nodes}
        if len(leaders) == 1 and len(terms) == 1:
            print(f"leader: {leaders[0][0]}, term {terms.pop()}")
            return leaders[0]
        any_node.sleep(1)
    raise Exception(f"no single leader among {[n for n, _ in nodes]}")


def wait_for_members(machine, names):
    """`starling ctl cluster status` on `machine` lists every node in `names`."""
    checks = " && ".join(f"grep -q '{n}.{DOMAIN}' /tmp/cluster-status" for n in names)
    machine.wait_until_succeeds(f"starling ctl cluster status > /tmp/cluster-status && {checks}", timeout=180)


def roundtrip(sub_host, pub_host, qos=1):
    """A client subscribed on one node receives what is published on another."""
    global _roundtrips
    _roundtrips += 1
    topic = f"cluster/{sub_host}/{pub_host}/{_roundtrips}"
    payload = f"from-{pub_host}-to-{sub_host}-{_roundtrips}"
    out = f"/tmp/roundtrip-{_roundtrips}.out"
    client.succeed(f"(mosquitto_sub -h {sub_host} -t '{topic}' -q {qos} -C 1 -W 90 > {out} 2>&1 &)")
    # Route propagation to the publishing node takes a moment: publish until it arrives.
    client.wait_until_succeeds(
        f"mosquitto_pub -h {pub_host} -t '{topic}' -q {qos} -m '{payload}' && grep -qxF '{payload}' {out}",
        timeout=90,
    )


def roundtrips_between(nodes):
    for sub_name, _ in nodes:
        for pub_name, _ in nodes:
            if sub_name != pub_name:
                roundtrip(sub_name, pub_name)


start_all()

# DNS first: the SRV records the brokers discover each other with.
dns.wait_for_unit("coredns.service")
dns.wait_for_open_port(53)
client.wait_until_succeeds(f"test $(dig +short SRV _cluster._tcp.{DOMAIN} | wc -l) -eq 3")
client.succeed(f"dig +short A replicant1.{DOMAIN} | grep -q .")

# Formation: every node is up, ready (joined and caught up) and sees all four members.
for name, m in BROKERS:
    m.wait_for_unit("starling.service")
    m.wait_for_open_port(1883)
    m.wait_until_succeeds(f"curl -sf {ADMIN}/readyz", timeout=300)
for name, m in BROKERS:
    wait_for_members(m, [n for n, _ in BROKERS])
leader_name, leader = wait_for_single_leader(CORES)
assert metric_value(replicant1, "starling_raft_is_leader") == 0, "a replicant must never lead"

# Cross-node pub/sub between every pair, replicant included.
roundtrips_between(BROKERS)

# Retained messages are in the replicated catalog: set on one node, read on another.
client.succeed("mosquitto_pub -h core1 -q 1 -r -t cluster/retained -m kept")
client.wait_until_succeeds("mosquitto_sub -h replicant1 -t cluster/retained -C 1 -W 5 | grep -qx kept", timeout=60)

# Power loss on the leader: the two other cores elect a new one in a later term.
term_before = metric_value(leader, "starling_raft_term")
leader.crash()
survivors = [(n, m) for n, m in CORES if n != leader_name]
new_leader_name, new_leader = wait_for_single_leader(survivors)
assert new_leader_name != leader_name
assert metric_value(new_leader, "starling_raft_term") > term_before, "no new term after the crash"

# The cluster keeps serving with one core down.
alive = survivors + [("replicant1", replicant1)]
for name, m in alive:
    m.wait_until_succeeds(f"curl -sf {ADMIN}/readyz", timeout=120)
roundtrips_between(alive)
client.succeed("mosquitto_pub -h replicant1 -q 1 -r -t cluster/retained -m changed")
client.wait_until_succeeds(
    f"mosquitto_sub -h {new_leader_name} -t cluster/retained -C 1 -W 5 | grep -qx changed", timeout=60
)

# The crashed node comes back under its name and catches up; restart is not leave.
leader.start()
leader.wait_for_unit("starling.service")
leader.wait_until_succeeds(f"curl -sf {ADMIN}/readyz", timeout=300)
wait_for_members(leader, [n for n, _ in BROKERS])
wait_for_single_leader(CORES)
client.wait_until_succeeds(f"mosquitto_sub -h {leader_name} -t cluster/retained -C 1 -W 5 | grep -qx changed", timeout=60)
roundtrip(leader_name, "replicant1")
roundtrip("replicant1", leader_name)
