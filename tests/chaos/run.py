#!/usr/bin/env python3
"""Starling's chaos suite: a real cluster in network namespaces, faults injected under load, and
assertions by message id. Needs root (network namespaces), iproute2, paho-mqtt and dnslib.

    sudo python3 tests/chaos/run.py                 # every scenario, figures into docs/reliability.md
    python3 tests/chaos/run.py --only a,e --keep-logs /tmp/chaos-logs

Per run, everything is test-owned and named with a random prefix: a bridge in its own namespace,
one namespace per node, per client, for the DNS server and for this runner's probes (/metrics,
/readyz), each joined to the bridge by a veth, addresses from 198.18.0.0/15 (the benchmarking
range) used only inside those namespaces. The DNS server serves SRV `_cluster._tcp.starling.chaos`
and an A record per node, so the nodes bootstrap through dns-srv discovery. Nodes are
target/debug/starling with their own data dirs and logs. Everything is removed at the end, also on
failure or Ctrl-C.

Each scenario starts a fresh cluster (3 cores, 1 replicant), four persistent subscribers (one per
node, `chaos/q1/#` at QoS 1 and `chaos/q2/#` at QoS 2, session expiry 300 s) and two publishers
(unique ids, alternately QoS 1 and QoS 2), injects its fault, and then asserts:
  * every acknowledged QoS 1 message reached every persistent subscriber at least once,
  * every acknowledged QoS 2 message exactly once (and no QoS 2 message twice),
  * every running node reports the same starling_raft_applied_index (and no pending writes)
    within a bounded wait,
  * no node log contains "panicked at",
  * every reconnect of a persistent subscriber finds its session (CONNACK session present 1).
Exit status 0 only when every assertion of every scenario held.
"""

import argparse
import concurrent.futures
import ctypes
import datetime
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PY = sys.executable

SUBNET = "198.18.0."  # 198.18.0.0/15 is reserved for benchmarking; only inside our namespaces.
DNS_IP = SUBNET + "2"
PROBE_IP = SUBNET + "3"
ZONE = "starling.chaos."
SRV_NAME = "_cluster._tcp." + ZONE
SECRET = "chaos-suite-cluster-secret-0123456789"
API_KEY = "chaos-key"
CLONE_NEWNET = 0x40000000

# Bounds: every wait below has one, so the suite always ends.
FORM_TIMEOUT = 60
READY_TIMEOUT = 60
CONVERGE_TIMEOUT = 30
DELIVERY_TIMEOUT = 20
EXIT_TIMEOUT = 30
RATE = 20.0  # per publisher, messages per second
MAX_MESSAGES = 1500  # per publisher


def log(msg):
    print(f"[{datetime.datetime.now(datetime.timezone.utc).strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{shlex.join(args)} failed: {r.stderr.strip()}")
    return r


# ---------------------------------------------------------------------------------------------
# Network: a bridge namespace and hosts hanging off it.


class Net:
    """The test-owned network of one scenario."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.bridge_ns = f"{prefix}-br"
        self.hosts = {}  # name -> (namespace, bridge-side veth, ip)
        self.added = 0  # veth names stay unique when hosts are removed
        sh("ip", "netns", "add", self.bridge_ns)
        self.namespaces = [self.bridge_ns]
        sh("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        sh("ip", "-n", self.bridge_ns, "link", "set", "lo", "up")

    def add_host(self, name, ip):
        ns = f"{self.prefix}-{name}"[:40]
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return self.attach(name, ns, ip)

    def attach(self, name, ns, ip, ifname="eth0"):
        """Join the existing namespace `ns` to this network as `ifname` with address `ip` (a host
        on two networks, such as a gateway, is attached to the second one this way)."""
        # A counter, not len(hosts): a removed host's veth name must not be reused.
        veth = f"v{self.added}"
        self.added += 1
        # Created inside the bridge namespace with its peer straight in the host's: no name ever
        # exists in the machine's own namespace.
        sh("ip", "-n", self.bridge_ns, "link", "add", veth, "type", "veth", "peer", "name", ifname, "netns", ns)
        sh("ip", "-n", self.bridge_ns, "link", "set", veth, "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", ifname)
        sh("ip", "-n", ns, "link", "set", ifname, "up")
        self.hosts[name] = (ns, veth, ip)
        return ns

    def remove_host(self, name):
        """Delete a host's namespace (its veth goes with it); its processes must be gone."""
        ns = self.hosts.pop(name)[0]
        sh("ip", "netns", "del", ns, check=False)
        self.namespaces.remove(ns)

    def cut(self, name):
        sh("ip", "-n", self.bridge_ns, "link", "set", self.hosts[name][1], "down")

    def heal(self, name):
        sh("ip", "-n", self.bridge_ns, "link", "set", self.hosts[name][1], "up")

    def destroy(self):
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces = []


# ---------------------------------------------------------------------------------------------
# Probes: HTTP from a thread that lives in the probe namespace (setns is per thread).


def enter_netns(ns):
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {ns}: {os.strerror(e)}")
    finally:
        os.close(fd)


class Prober:
    def __init__(self, ns):
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, initializer=enter_netns, initargs=(ns,))

    def _get(self, url, timeout, headers=None):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (OSError, ValueError):
            return None, ""

    def get(self, url, timeout=1.0, headers=None):
        return self.pool.submit(self._get, url, timeout, headers).result()

    def get_many(self, urls, timeout=1.0):
        return list(self.pool.map(lambda u: self._get(u, timeout), urls))

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            v = float(value)
        except ValueError:
            continue
        base = name.split("{", 1)[0]
        out[name] = v
        if "{" in name:
            out[base] = out.get(base, 0.0) + v
    return out


# ---------------------------------------------------------------------------------------------
# Nodes and clients.


class Node:
    def __init__(self, name, role, ip, ns, workdir, binary):
        self.name, self.role, self.ip, self.ns = name, role, ip, ns
        self.binary = binary
        self.dir = workdir / name
        self.dir.mkdir(parents=True)
        self.generation = 0
        self.data = self.dir / "data-0"
        self.logs = []
        self.proc = None
        self.cut = False
        self.extra_config = ""

    def config(self):
        return f"""node_name = "{self.name}"
data_dir = "{self.data}"

[listeners.tcp]
bind = "{self.ip}:1883"
allow_anonymous = true

[admin]
bind = "{self.ip}:18083"
api_keys = ["{API_KEY}"]

[log]
level = "info"

[cluster]
role = "{self.role}"
secret = "{SECRET}"
bind = "{self.ip}:4370"
advertise = "{self.ip}:4370"
bootstrap_expect = 3

[cluster.discovery]
kind = "dns-srv"
name = "{SRV_NAME}"
nameserver = "{DNS_IP}:53"
interval = "1s"
""" + self.extra_config

    def start(self):
        cfg = self.dir / f"starling-{self.generation}.toml"
        cfg.write_text(self.config())
        logf = self.dir / f"log-{len(self.logs)}.txt"
        self.logs.append(logf)
        with open(logf, "w") as f:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, str(self.binary), "serve", "--config", str(cfg)],
                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "RUST_BACKTRACE": "1"},
            )

    def fresh_data_dir(self):
        """Replace the data dir by an empty one (a new machine under the same name)."""
        self.generation += 1
        self.data = self.dir / f"data-{self.generation}"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self, timeout=EXIT_TIMEOUT):
        """SIGTERM and wait; True when it exited by itself within the timeout."""
        if not self.running():
            return True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            self.kill9()
            return False

    def url(self, path):
        return f"http://{self.ip}:18083{path}"

    def panics(self):
        out = []
        for lf in self.logs:
            if lf.exists():
                for line in lf.read_text(errors="replace").splitlines():
                    if "panicked at" in line:
                        out.append(f"{self.name} ({lf.name}): {line.strip()}")
        return out


class Client:
    def __init__(self, name, role, ns, nodes, home, workdir, **extra):
        self.name, self.role, self.ns = name, role, ns
        self.out = workdir / f"client-{name}.jsonl"
        self.stderr = workdir / f"client-{name}.stderr"
        args = [PY, str(HERE / "client.py"), "--role", role, "--id", name, "--nodes", ",".join(nodes),
                "--home", str(home), "--out", str(self.out)]
        for k, v in extra.items():
            args += [f"--{k}", str(v)]
        with open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=subprocess.DEVNULL,
                                         stderr=err, stdin=subprocess.DEVNULL)

    def events(self):
        if not self.out.exists():
            return []
        out = []
        for line in self.out.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # a line cut by a kill
        return out

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------------
# One scenario's world.


class World:
    def __init__(self, prefix, workdir, binary):
        self.workdir = workdir
        self.binary = binary
        self.net = Net(prefix)
        self.procs = []
        self.clients = []
        self.nodes = []
        self.prober = None
        self.dns = None
        self.client_no = 0

    def start(self, extra_config="", specs=None):
        dns_ns = self.net.add_host("dns", DNS_IP)
        probe_ns = self.net.add_host("probe", PROBE_IP)
        specs = specs or [("core-1", "core"), ("core-2", "core"), ("core-3", "core"), ("replicant-4", "replicant")]
        zone = {"srv": {SRV_NAME: []}, "a": {}}
        for i, (name, role) in enumerate(specs):
            ip = SUBNET + str(11 + i)
            ns = self.net.add_host(name, ip)
            self.nodes.append(Node(name, role, ip, ns, self.workdir, self.binary))
            self.nodes[-1].extra_config = extra_config
            zone["a"][f"{name}.{ZONE}"] = ip
            if role == "core":
                zone["srv"][SRV_NAME].append([f"{name}.{ZONE}", 4370])
        zf = self.workdir / "zone.json"
        zf.write_text(json.dumps(zone))
        with open(self.workdir / "dns.log", "w") as dl:
            self.dns = subprocess.Popen(
                ["ip", "netns", "exec", dns_ns, PY, str(HERE / "dns_server.py"), "--zone", str(zf), "--bind", DNS_IP],
                stdout=dl, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.prober = Prober(probe_ns)
        for n in self.nodes:
            n.start()

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def node_ips(self):
        return [n.ip for n in self.nodes]

    def add_client(self, role, home, net=None, subnet=SUBNET, nodes=None, **extra):
        """A client in its own namespace on `net` (default: the cluster's), connecting to `nodes`
        (default: every node), first to nodes[home]."""
        self.client_no += 1
        name = f"{role}-{self.client_no}"
        ns = (net or self.net).add_host(name, subnet + str(100 + self.client_no))
        c = Client(name, role, ns, nodes or self.node_ips(), home, self.workdir, **extra)
        self.clients.append(c)
        return c

    # -- observation ---------------------------------------------------------------------------

    def metrics(self, nodes=None):
        """name -> metrics dict (None when unreachable) of the given (default: live) nodes."""
        nodes = nodes if nodes is not None else self.live()
        res = self.prober.get_many([n.url("/metrics") for n in nodes], timeout=1.0)
        return {n.name: (parse_metrics(body) if code == 200 else None) for n, (code, body) in zip(nodes, res)}

    def live(self):
        """Nodes that run and are not cut off."""
        return [n for n in self.nodes if n.running() and not n.cut]

    def ready(self, node):
        code, _ = self.prober.get(node.url("/readyz"))
        return code == 200

    def wait(self, what, timeout, pred, step=0.1):
        """Poll `pred` until true; returns seconds waited, or None on timeout."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if pred():
                return time.time() - t0
            time.sleep(step)
        log(f"  timed out after {timeout}s waiting for {what}")
        return None

    def converged(self):
        """Every live node answers, reports the same applied index, and has no pending writes."""
        ms = self.metrics()
        if not ms or any(m is None for m in ms.values()):
            return False
        applied = {m.get("starling_raft_applied_index") for m in ms.values()}
        pending = sum(m.get("starling_raft_pending_writes", 0) for m in ms.values())
        return len(applied) == 1 and None not in applied and pending == 0

    def leaders(self, nodes=None):
        ms = self.metrics(nodes)
        return [name for name, m in ms.items() if m and m.get("starling_raft_is_leader") == 1]

    def term(self, nodes=None):
        ms = self.metrics(nodes)
        return max((m.get("starling_raft_term", 0) for m in ms.values() if m), default=0)

    def formed(self):
        if not all(self.ready(n) for n in self.nodes):
            return False
        ms = self.metrics(self.nodes)
        return all(m and m.get("starling_cluster_nodes", 0) >= len(self.nodes) for m in ms.values()) and \
            len(self.leaders(self.nodes)) == 1

    def members(self):
        """The membership as the leader reports it (`ctl cluster status`): "name (state)" each."""
        leaders = self.leaders()
        if not leaders:
            return "no leader"
        code, body = self.prober.get(self.node(leaders[0]).url("/api/v1/cluster"),
                                     headers={"Authorization": f"Bearer {API_KEY}"})
        if code != 200:
            return f"status answered {code}"
        try:
            ms = json.loads(body)["members"]
        except (ValueError, KeyError):
            return "unreadable status"
        return ", ".join(f"{m['name']} ({m['state']})" for m in sorted(ms, key=lambda m: m["name"]))

    def applied_report(self):
        ms = self.metrics()
        return ", ".join(
            f"{k}={'unreachable' if m is None else int(m.get('starling_raft_applied_index', -1))}"
            f"{'' if m is None else '/pending ' + str(int(m.get('starling_raft_pending_writes', 0)))}"
            for k, m in ms.items())

    # -- teardown ------------------------------------------------------------------------------

    def close(self):
        for c in self.clients:
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
        for n in self.nodes:
            n.kill9()
        if self.dns and self.dns.poll() is None:
            self.dns.kill()
            self.dns.wait()
        if self.prober:
            self.prober.close()
        self.net.destroy()


# ---------------------------------------------------------------------------------------------
# Scenarios. Each gets a started, formed world with subscribers and publishers running, does its
# fault, and returns timing figures.


def fault_kill_leader(w, fig):
    """(a) kill -9 the Raft leader under load; it comes back on its data dir 8 s later."""
    time.sleep(4)
    leader = w.node(w.leaders()[0])
    old_term = w.term()
    log(f"  kill -9 {leader.name} (leader, term {int(old_term)})")
    t0 = time.time()
    leader.kill9()
    others = [n for n in w.nodes if n is not leader]

    def new_leader():
        ms = w.metrics(others)
        return any(m and m.get("starling_raft_is_leader") == 1 and m.get("starling_raft_term", 0) > old_term
                   for m in ms.values())

    fo = w.wait("a new leader", 30, new_leader)
    fig["failover_s"] = fo
    log(f"  new leader {w.leaders(others)} after {fo if fo is None else round(fo, 2)} s")
    time.sleep(max(0.0, 8 - (time.time() - t0)))
    log(f"  restart {leader.name} on its data dir")
    leader.start()
    t1 = time.time()
    r = w.wait(f"{leader.name} ready", READY_TIMEOUT, lambda: w.ready(leader))
    fig["notes"].append(f"{leader.name} back ready {fmt_s(r)} after restart")
    fig["converge_from"] = t1
    time.sleep(4)


def fault_partition(w, fig):
    """(b) cut the leader (a core) off for 20 s, then heal."""
    time.sleep(4)
    victim = w.node(w.leaders()[0])
    old_term = w.term()
    log(f"  cut {victim.name} (leader) off for 20 s")
    w.net.cut(victim.name)
    victim.cut = True
    t0 = time.time()
    others = [n for n in w.nodes if n is not victim]

    def new_leader():
        ms = w.metrics(others)
        return any(m and m.get("starling_raft_is_leader") == 1 and m.get("starling_raft_term", 0) > old_term
                   for m in ms.values())

    fig["failover_s"] = w.wait("a new leader on the majority side", 20, new_leader)
    log(f"  majority leader after {fmt_s(fig['failover_s'])}")
    time.sleep(max(0.0, 20 - (time.time() - t0)))
    w.net.heal(victim.name)
    victim.cut = False
    log(f"  healed {victim.name}")
    fig["converge_from"] = time.time()
    time.sleep(6)


def fault_rolling_restart(w, fig):
    """(c) SIGTERM every node in turn, wait until it is ready again, next."""
    time.sleep(3)
    worst = 0.0
    for n in w.nodes:
        t0 = time.time()
        clean = n.terminate()
        exit_s = time.time() - t0
        if not clean:
            fig["failures"].append(f"{n.name} did not exit within {EXIT_TIMEOUT}s of SIGTERM (killed)")
        n.start()
        r = w.wait(f"{n.name} ready after restart", READY_TIMEOUT, lambda n=n: w.ready(n))
        if r is None:
            fig["failures"].append(f"{n.name} not ready within {READY_TIMEOUT}s of its restart")
        else:
            worst = max(worst, exit_s + r)
        log(f"  {n.name}: exit {exit_s:.1f} s, ready again {fmt_s(r)}")
        # Let it catch up before the next one goes (a rolling restart waits for readiness).
        w.wait("catalog converged", CONVERGE_TIMEOUT, w.converged, step=0.2)
        time.sleep(1)
    fig["failover_s"] = worst
    fig["notes"].append("failover = longest SIGTERM → ready again")
    fig["converge_from"] = time.time()
    time.sleep(3)


def fault_replace_replicant(w, fig):
    """(d) kill -9 the replicant, start a fresh one (empty data dir, same name and address)."""
    time.sleep(4)
    r = w.node("replicant-4")
    log("  kill -9 replicant-4")
    r.kill9()
    time.sleep(3)
    r.fresh_data_dir()
    log("  start a fresh replicant-4 (empty data dir)")
    t0 = time.time()
    r.start()
    ready = w.wait("fresh replicant-4 ready", READY_TIMEOUT, lambda: w.ready(r))
    fig["failover_s"] = ready
    fig["notes"].append("failover = fresh replicant start → ready")
    if ready is None:
        fig["failures"].append(f"fresh replicant-4 not ready within {READY_TIMEOUT}s")
    fig["converge_from"] = t0
    time.sleep(5)


def fault_bounce(w, fig):
    """(e) a persistent subscriber reconnecting to the next node every second."""
    time.sleep(15)
    fig["converge_from"] = time.time()


# ---------------------------------------------------------------------------------------------
# Partition scenarios at load: one persistent subscriber whose node is cut off, one fast QoS 1
# publisher on another node; the subscriber resumes its session on a third node while its old
# node is still cut off, and the old node heals later. What they measure (issue 16): duplicates
# (the old owner's outbox replay and hand-back), acknowledged-but-lost messages, leader changes
# caused by the heal, and the publisher's longest acknowledgement gap (a silent peer).


class StormSpec:
    def __init__(self, rate, cut_s, move_after_s, max_queued=None, settle_s=10, dup_limit=0.01):
        self.rate, self.cut_s, self.move_after_s = rate, cut_s, move_after_s
        self.max_queued, self.settle_s, self.dup_limit = max_queued, settle_s, dup_limit


def poll_leaders(w, seconds, step=0.2):
    """(leader name, term) as reported by every reachable node, polled for `seconds`: the distinct
    leaderships seen in order, and the longest stretch with no leader at all."""
    seen = []
    t_end = time.time() + seconds
    gap_start = None
    longest_gap = 0.0
    while time.time() < t_end:
        ms = w.metrics(w.live())
        cur = sorted((name, int(m.get("starling_raft_term", 0))) for name, m in ms.items()
                     if m and m.get("starling_raft_is_leader") == 1)
        now = time.time()
        if cur:
            if gap_start is not None:
                longest_gap = max(longest_gap, now - gap_start)
                gap_start = None
            # The highest term is the leadership that counts (a cut-off old leader may still
            # believe in its own, lower one until it hears the new leader).
            top = max(cur, key=lambda x: x[1])
            if not seen or seen[-1] != top:
                seen.append(top)
        elif gap_start is None:
            gap_start = now
        time.sleep(step)
    if gap_start is not None:
        longest_gap = max(longest_gap, time.time() - gap_start)
    return seen, longest_gap


def run_storm_scenario(key, prefix, binary, keep_logs):
    title, _, spec = SCENARIOS[key]
    fig = {"key": key, "title": title, "failures": [], "notes": [], "failover_s": None, "converge_s": None,
           "stall_s": None, "storm": True}
    workdir = Path(tempfile.mkdtemp(prefix=f"starling-chaos-{key}-"))
    w = World(f"{prefix}{key}", workdir, binary)
    try:
        log(f"scenario ({key}): {title}")
        w.start(extra_config=f"\n[session]\nmax_queued = {spec.max_queued}\n" if spec.max_queued else "")
        if w.wait("cluster formed", FORM_TIMEOUT, w.formed, step=0.3) is None:
            fig["failures"].append(f"cluster did not form within {FORM_TIMEOUT}s")
            return fig
        leader = w.leaders()[0]
        names = [n.name for n in w.nodes]
        cores = [n for n in w.nodes if n.role == "core"]
        victim = next(n for n in cores if n.name != leader)
        pub_home = names.index(leader)
        third = next(i for i, n in enumerate(w.nodes) if n.name not in (leader, victim.name))
        sub = w.add_client("sub", names.index(victim.name), **{"move-to": third})
        if w.wait("subscriber subscribed", 20, lambda: any(e["ev"] == "subscribed" for e in sub.events()),
                  step=0.2) is None:
            fig["failures"].append("the subscriber got no SUBACK")
            return fig
        if w.wait("routes replicated", CONVERGE_TIMEOUT, w.converged, step=0.2) is None:
            fig["failures"].append("catalog did not converge before the fault")
            return fig
        pub = w.add_client("pub", pub_home, rate=spec.rate, count=int(spec.rate * 600), qos=1, inflight=100)
        time.sleep(3)
        majority = [n for n in w.nodes if n is not victim]
        before = w.leaders(majority)
        log(f"  cut {victim.name} (the subscriber's node; leader {before}) off for {spec.cut_s} s; "
            f"publisher on {leader} at {spec.rate:g}/s; the subscriber moves to {w.nodes[third].name} "
            f"after {spec.move_after_s} s")
        w.net.cut(victim.name)
        victim.cut = True
        t_cut = time.time()
        time.sleep(spec.move_after_s)
        os.kill(sub.proc.pid, signal.SIGUSR1)
        time.sleep(max(0.0, spec.cut_s - (time.time() - t_cut)))
        ms = w.metrics(majority)
        pre = sorted((name, int(m.get("starling_raft_term", 0))) for name, m in ms.items()
                     if m and m.get("starling_raft_is_leader") == 1)
        w.net.heal(victim.name)
        victim.cut = False
        log(f"  healed {victim.name}; leader before the heal {pre}")
        fig["converge_from"] = time.time()
        seen, no_leader = poll_leaders(w, spec.settle_s)
        after = [x for x in seen if not pre or x != max(pre, key=lambda y: y[1])]
        fig["leader_changes"] = len(after)
        fig["leaderless_s"] = no_leader
        vt = w.metrics([victim]).get(victim.name)
        fig["notes"].append(f"leader before heal {pre[0][0] + ' term ' + str(pre[0][1]) if pre else 'none'}; "
                            f"after: {', '.join(f'{a} term {b}' for a, b in seen) or 'none'}; "
                            f"{victim.name} term after heal {int(vt.get('starling_raft_term', 0)) if vt else '?'}")
        pub.stop()
        log("  publisher stopped")
        t = w.wait("catalog converged", CONVERGE_TIMEOUT, w.converged, step=0.2)
        fig["converge_s"] = None if t is None else time.time() - fig["converge_from"]
        acked, sent, refused, stall = tally([pub])
        if stall:
            fig["stall_s"], at = stall
            fig["notes"].append(f"longest ack gap starts {at - t_cut:+.1f} s from the cut")
        w.wait("acknowledged messages delivered", 60, lambda: all_delivered([sub], acked), step=1.0)
        time.sleep(2)  # late duplicates still on their way
        sub.stop()
        evaluate(fig, [sub], [pub], acked, sent, refused)
        ms = w.metrics(w.nodes)
        drops = {}
        for name, m in ms.items():
            for k, v in (m or {}).items():
                if k.startswith("starling_messages_dropped_total{") and v and "no_subscribers" not in k:
                    drops[f"{name} {k.split('{', 1)[1].rstrip('}')}"] = int(v)
        fig["drops"] = drops
        if drops:
            fig["notes"].append("drops counted: " + ", ".join(f"{k}={v}" for k, v in sorted(drops.items())))
        acked_n = len(acked)
        if acked_n and fig["dup_q1"] > spec.dup_limit * acked_n:
            fig["failures"].append(f"duplicates {fig['dup_q1']} > {spec.dup_limit:.0%} of {acked_n} acknowledged")
        if fig["leader_changes"]:
            fig["failures"].append(f"the heal changed the leader {fig['leader_changes']} time(s) "
                                   f"({no_leader:.1f} s without a leader)")
        if fig["stall_s"] is not None and fig["stall_s"] >= 1.5:
            fig["failures"].append(f"longest acknowledgement gap {fig['stall_s']:.1f} s (target < 1.5 s)")
        fig["notes"].append(f"members at the end: {w.members()}")
        return fig
    except Exception as e:  # noqa: BLE001 - a broken scenario is a failed one, the others still run
        fig["failures"].append(f"runner error: {type(e).__name__}: {e}")
        return fig
    finally:
        w.close()
        for n in w.nodes:
            fig["failures"].extend(f"panic: {p}" for p in n.panics())
        if keep_logs:
            dest = Path(keep_logs) / key
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(workdir, dest, ignore=shutil.ignore_patterns("data-*"))
        shutil.rmtree(workdir, ignore_errors=True)


SCENARIOS = {
    "a": ("kill -9 the Raft leader under load", fault_kill_leader, False),
    "b": ("cut one core (the leader) off for 20 s, then heal", fault_partition, False),
    "c": ("rolling restart of all nodes under load", fault_rolling_restart, False),
    "d": ("replicant killed, replaced by a fresh one", fault_replace_replicant, False),
    "e": ("a client bouncing between nodes every second", fault_bounce, True),
    "f": ("the subscriber's core cut off 20 s at 1,000 msgs/s; it resumes elsewhere after 10 s", None,
          StormSpec(rate=1000, cut_s=20, move_after_s=10)),
    "g": ("as (f), with session.max_queued = 2,000 (below what the old owner holds)", None,
          StormSpec(rate=1000, cut_s=20, move_after_s=10, max_queued=2000)),
    # Opt-in (--only h): the long variant, about 2.5 minutes.
    "h": ("the subscriber's core cut off 60 s at 2,000 msgs/s; it resumes elsewhere after 10 s", None,
          StormSpec(rate=2000, cut_s=60, move_after_s=10)),
}


def fmt_s(v):
    return "—" if v is None else f"{v:.1f} s"


def run_scenario(key, prefix, binary, keep_logs):
    title, fault, bouncer = SCENARIOS[key]
    if fault is None:
        return run_storm_scenario(key, prefix, binary, keep_logs)
    fig = {"key": key, "title": title, "failures": [], "notes": [], "failover_s": None, "converge_s": None,
           "stall_s": None}
    workdir = Path(tempfile.mkdtemp(prefix=f"starling-chaos-{key}-"))
    w = World(f"{prefix}{key}", workdir, binary)
    try:
        log(f"scenario ({key}): {title}")
        w.start()
        if w.wait("cluster formed", FORM_TIMEOUT, w.formed, step=0.3) is None:
            fig["failures"].append(f"cluster did not form within {FORM_TIMEOUT}s")
            return fig
        subs = [w.add_client("sub", i) for i in range(len(w.nodes))]
        if bouncer:
            subs.append(w.add_client("bounce", 0, interval=1.0))

        def subscribed():
            return all(any(e["ev"] == "subscribed" for e in s.events()) for s in subs)

        if w.wait("subscribers subscribed", 20, subscribed, step=0.2) is None:
            fig["failures"].append("not every subscriber got its SUBACK")
            return fig
        if w.wait("routes replicated", CONVERGE_TIMEOUT, w.converged, step=0.2) is None:
            fig["failures"].append("catalog did not converge before the fault")
            return fig
        pubs = [w.add_client("pub", home, rate=RATE, count=MAX_MESSAGES) for home in (0, 2)]
        fault(w, fig)
        for p in pubs:
            p.stop()
        log("  publishers stopped")
        # Convergence after the fault.
        t = w.wait("catalog converged", CONVERGE_TIMEOUT, w.converged, step=0.2)
        fig["converge_s"] = None if t is None else time.time() - fig.get("converge_from", time.time())
        if t is None:
            fig["failures"].append(f"applied index not equal on all running nodes within {CONVERGE_TIMEOUT}s: "
                                   f"{w.applied_report()}")
        acked, sent, refused, stall = tally(pubs)
        if stall:
            fig["stall_s"] = stall[0]
        w.wait("acknowledged messages delivered", DELIVERY_TIMEOUT, lambda: all_delivered(subs, acked), step=0.5)
        for s in subs:
            s.stop()
        fig["notes"].append(f"members at the end: {w.members()}")
        evaluate(fig, subs, pubs, acked, sent, refused)
        return fig
    except Exception as e:  # noqa: BLE001 - a broken scenario is a failed one, the others still run
        fig["failures"].append(f"runner error: {type(e).__name__}: {e}")
        return fig
    finally:
        w.close()
        for n in w.nodes:
            fig["failures"].extend(f"panic: {p}" for p in n.panics())
        if keep_logs:
            dest = Path(keep_logs) / key
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(workdir, dest, ignore=shutil.ignore_patterns("data-*"))
        shutil.rmtree(workdir, ignore_errors=True)


def tally(pubs):
    """What the publishers logged: the acknowledged ids (id -> QoS), how many were sent and
    refused, and the longest stretch of the load phase in which no publish was acknowledged
    (seconds, and when it began; None without acknowledgements): the data path stalling, e.g.
    publishes waiting on a dead node, shows there."""
    acked, sent, refused, ack_times, sent_times = {}, 0, 0, [], []
    for p in pubs:
        for e in p.events():
            if e["ev"] == "sent":
                sent += 1
                sent_times.append(e["t"])
            elif e["ev"] == "acked":
                acked[e["id"]] = e["qos"]
                ack_times.append(e["t"])
            elif e["ev"] == "refused":
                refused += 1
    stall = None
    if sent_times and ack_times:
        marks = sorted([min(sent_times)] + ack_times + [max(sent_times)])
        stall = max((b - a, a) for a, b in zip(marks, marks[1:]))
    return acked, sent, refused, stall


def all_delivered(subs, acked):
    """Every subscriber received every acknowledged id."""
    return all(set(acked) <= {e["id"] for e in s.events() if e["ev"] == "recv"} for s in subs)


def evaluate(fig, subs, pubs, acked, sent, refused):
    fig["sent"] = sent
    fig["acked_q1"] = sum(1 for q in acked.values() if q == 1)
    fig["acked_q2"] = sum(1 for q in acked.values() if q == 2)
    fig["refused"] = refused
    delivered = dup1 = dup2 = lost = 0
    fig["per_sub"] = {}
    for s in subs:
        ev = s.events()
        counts = {}
        qos_of = {}
        for e in ev:
            if e["ev"] == "recv":
                counts[e["id"]] = counts.get(e["id"], 0) + 1
                qos_of[e["id"]] = e["qos"]
        delivered += sum(counts.values())
        d1 = sum(c - 1 for i, c in counts.items() if c > 1 and qos_of[i] == 1)
        d2_ids = sorted(i for i, c in counts.items() if c > 1 and qos_of[i] == 2)
        dup1 += d1
        dup2 += sum(counts[i] - 1 for i in d2_ids)
        missing = sorted((i for i in acked if i not in counts), key=id_key)
        lost += len(missing)
        conns = [e for e in ev if e["ev"] == "connected"]
        fresh = sum(1 for e in conns[1:] if not e.get("session_present"))
        fig["per_sub"][s.name] = {"received": len(counts), "dup_q2": len(d2_ids), "lost": len(missing),
                                  "reconnects": max(0, len(conns) - 1), "session_lost": fresh}
        if missing:
            q1 = [i for i in missing if acked[i] == 1]
            q2 = [i for i in missing if acked[i] == 2]
            fig["failures"].append(
                f"{s.name}: {len(missing)} acknowledged messages never arrived (QoS 1: {len(q1)}, QoS 2: {len(q2)}; "
                f"ids {ranges(missing)}); reconnects {max(0, len(conns) - 1)}, of which {fresh} found no session "
                f"(session_present=0)")
        if d2_ids:
            fig["failures"].append(f"{s.name}: QoS 2 delivered more than once: {ranges(d2_ids)}")
        if fresh:
            # MQTT: session present 0 means the server has no session any more, so whatever it
            # held (queued messages, QoS 2 state) is gone; the client subscribes again.
            fig["failures"].append(
                f"{s.name}: persistent session not found on {fresh} of {max(0, len(conns) - 1)} reconnects "
                f"(CONNACK session present 0 at {', '.join(node_name(e['node']) for e in conns[1:] if not e.get('session_present'))})")
        if any(e["ev"] == "gave_up" for e in ev):
            fig["failures"].append(f"{s.name}: could not connect to any node for 90 s")
        wrong_qos = sorted((i for i, q in qos_of.items() if acked.get(i) == 2 and q != 2), key=id_key)
        if wrong_qos:
            fig["failures"].append(f"{s.name}: QoS 2 messages delivered at a lower QoS: {ranges(wrong_qos)}")
    fig["delivered"] = delivered
    fig["dup_q1"] = dup1
    fig["dup_q2"] = dup2
    fig["lost"] = lost
    for p in pubs:
        if any(e["ev"] == "gave_up" for e in p.events()):
            fig["failures"].append(f"{p.name}: could not connect to any node for 90 s")
    if sum(1 for q in acked.values()) == 0:
        fig["failures"].append("no message was acknowledged at all")


def node_name(ip):
    n = int(ip.rsplit(".", 1)[1]) - 10
    return f"core-{n}" if n <= 3 else f"replicant-{n}"


def id_key(i):
    name, _, seq = i.rpartition("-")
    return (name, int(seq) if seq.isdigit() else 0)


def ranges(ids):
    """Compact listing: pub-5-10..14, pub-6-3."""
    by = {}
    for i in ids:
        name, _, seq = i.rpartition("-")
        by.setdefault(name, []).append(int(seq))
    parts = []
    for name, seqs in sorted(by.items()):
        seqs.sort()
        start = prev = seqs[0]
        for s in seqs[1:] + [None]:
            if s is not None and s == prev + 1:
                prev = s
                continue
            parts.append(f"{name}-{start}" + (f"..{prev}" if prev != start else ""))
            if s is not None:
                start = prev = s
    text = ", ".join(parts)
    return text if len(text) < 400 else text[:400] + " …"


# ---------------------------------------------------------------------------------------------
# Report.


KEEP_MARK = "<!-- written by hand below this line; run.py keeps it -->"


def write_report(path, figs, cmdline, commit):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Reliability: the chaos suite",
        "",
        "Written by `tests/chaos/run.py` (do not edit by hand; run it again as root: `python3 tests/chaos/run.py`,",
        "`--only a,c` for some scenarios, `--keep-logs DIR` for node and client logs; `scripts/test` runs it",
        "after the cargo tests). Each scenario starts a fresh",
        "cluster of 3 cores and 1 replicant (debug build, default Raft timings: heartbeat 200 ms, election",
        "timeout 1–2 s) in network namespaces, bootstrapped through DNS SRV discovery, with four",
        "persistent subscribers (one per node; `chaos/q1/#` at QoS 1 and `chaos/q2/#` at QoS 2, session",
        f"expiry 300 s) and two publishers ({RATE:g} messages/s each, alternately QoS 1 and QoS 2, unique ids).",
        "Clients reconnect to the next node when theirs is unreachable.",
        "",
        "Assertions: every acknowledged QoS 1 message reaches every persistent subscriber at least once;",
        "every QoS 2 message at most once and every acknowledged one exactly once; all running nodes report",
        "the same `starling_raft_applied_index` with no pending writes within 30 s; no `panicked at` in any",
        "node log; and a persistent session survives: every reconnect of a persistent subscriber gets",
        "CONNACK session present 1 (0 means the broker dropped the session and what it held).",
        "",
        "*Acknowledged*: PUBACK / PUBCOMP with a reason code below 0x80; *refused*: answered with a code",
        "≥ 0x80 (the publisher knows it was not taken; not counted for loss). *Lost* counts (subscriber,",
        "acknowledged message) pairs never delivered; *duplicated* counts extra deliveries. *Failover*:",
        "leader killed or cut off → a new leader with a higher term on `/metrics` (other scenarios: see",
        "the note). *Convergence*: the last fault action → equal applied indices, no pending writes.",
        "*Longest publish stall*: the longest stretch of the load phase without any acknowledgement.",
        "",
        f"Run: {now}, commit `{commit}`, command: `{cmdline}`",
        "",
        "| scenario | result | sent | acknowledged (QoS 1 / 2) | refused | delivered | duplicated (QoS 1 / 2) | lost | failover | convergence | longest publish stall | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figs:
        if f.get("storm"):
            continue
        ok = "pass" if not f["failures"] else "**FAIL**"
        lines.append(
            f"| ({f['key']}) {f['title']} | {ok} | {f.get('sent', '—')} | "
            f"{f.get('acked_q1', '—')} / {f.get('acked_q2', '—')} | {f.get('refused', '—')} | {f.get('delivered', '—')} | "
            f"{f.get('dup_q1', '—')} / {f.get('dup_q2', '—')} | {f.get('lost', '—')} | "
            f"{fmt_s(f['failover_s'])} | {fmt_s(f['converge_s'])} | {fmt_s(f['stall_s'])} | {'; '.join(f['notes'])} |")
    storms = [f for f in figs if f.get("storm")]
    if storms:
        lines += [
            "", "## Partitions at load", "",
            "One persistent subscriber (QoS 1) on a core that is cut off, one QoS 1 publisher on the leader;",
            "the subscriber resumes its session on a third node while its old node is still cut off, then the",
            "old node heals. Targets: 0 acknowledged lost, duplicates ≤ 1 % of acknowledged, 0 leader changes",
            "on heal, longest acknowledgement gap < 1.5 s. *Drops*: `starling_messages_dropped_total` by node",
            "and reason at the end (other than `no_subscribers`).", "",
            "| scenario | result | sent | acknowledged | refused | lost | duplicated | leader changes on heal | "
            "without leader | longest ack gap | notes |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for f in storms:
            ok = "pass" if not f["failures"] else "**FAIL**"
            acked = f.get("acked_q1", 0) or 0
            dup = f.get("dup_q1", 0) or 0
            pct = f" ({100.0 * dup / acked:.1f} %)" if acked else ""
            lines.append(
                f"| ({f['key']}) {f['title']} | {ok} | {f.get('sent', '—')} | {f.get('acked_q1', '—')} | "
                f"{f.get('refused', '—')} | {f.get('lost', '—')} | {dup}{pct} | {f.get('leader_changes', '—')} | "
                f"{fmt_s(f.get('leaderless_s'))} | {fmt_s(f['stall_s'])} | {'; '.join(f['notes'])} |")
    lines += ["", "## Failed assertions", ""]
    any_fail = False
    for f in figs:
        for msg in f["failures"]:
            any_fail = True
            lines.append(f"- ({f['key']}) {msg}")
    if not any_fail:
        lines.append("None.")
    lines += ["", "## Per subscriber", "",
              "| scenario | subscriber | distinct received | lost | QoS 2 duplicated | reconnects | of which without session |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for f in figs:
        for name, s in f.get("per_sub", {}).items():
            lines.append(f"| ({f['key']}) | {name} | {s['received']} | {s['lost']} | {s['dup_q2']} | "
                         f"{s['reconnects']} | {s['session_lost']} |")
    lines.append("")
    # A hand-written part (comparisons with earlier builds) below the marker survives reruns.
    kept = ""
    if Path(path).exists():
        old = Path(path).read_text()
        if KEEP_MARK in old:
            kept = old[old.index(KEEP_MARK):]
    Path(path).write_text("\n".join(lines) + ("\n" + kept if kept else ""))


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="abcdefg",
                    help="scenarios to run, e.g. a,c (default: a to g; h, the 60 s partition, only when named)")
    ap.add_argument("--report", default=str(REPO / "docs" / "reliability.md"),
                    help="where to write the figures ('' = nowhere)")
    ap.add_argument("--keep-logs", default="", help="copy node and client logs here")
    ap.add_argument("--no-build", action="store_true", help="use target/debug/starling as it is")
    ap.add_argument("--binary", default="", help="run this starling binary instead (implies --no-build)")
    ap.add_argument("--rev", default="", help="with --binary: the revision it was built from, for the report")
    a = ap.parse_args()
    keys = [k for k in a.only.replace(",", "") if k in SCENARIOS]
    if os.geteuid() != 0:
        print("chaos suite: needs root (network namespaces)", file=sys.stderr)
        return 2
    for tool in ("ip",):
        if shutil.which(tool) is None:
            print(f"chaos suite: `{tool}` not found (iproute2)", file=sys.stderr)
            return 2
    if not a.no_build and not a.binary:
        log("cargo build --bin starling")
        subprocess.run(["cargo", "build", "--quiet", "--bin", "starling"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = Path(a.binary).resolve() if a.binary else target / "debug" / "starling"
    prefix = "ch" + secrets.token_hex(3)
    # A SIGTERM (CI's time-out, a Ctrl-C) unwinds through the scenarios' `finally` blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    t0 = time.time()
    figs = []
    try:
        for k in keys:
            f = run_scenario(k, prefix, binary, a.keep_logs)
            figs.append(f)
            state = "pass" if not f["failures"] else "FAIL"
            log(f"({k}) {state}: sent {f.get('sent')}, acknowledged {f.get('acked_q1')}/{f.get('acked_q2')}, "
                f"delivered {f.get('delivered')}, duplicated {f.get('dup_q1')}/{f.get('dup_q2')}, lost {f.get('lost')}, "
                f"refused {f.get('refused')}, failover {fmt_s(f['failover_s'])}, convergence {fmt_s(f['converge_s'])}, "
                f"stall {fmt_s(f['stall_s'])}")
            if f.get("storm"):
                log(f"    leader changes on heal {f.get('leader_changes')}, leaderless {fmt_s(f.get('leaderless_s'))}, "
                    f"longest ack gap {fmt_s(f['stall_s'])}, drops {f.get('drops')}")
            for m in f["failures"]:
                log(f"    FAIL {m}")
    finally:
        # Belt and braces: nothing named with this run's prefix may survive.
        r = sh("ip", "netns", "list", check=False)
        for line in r.stdout.splitlines():
            ns = line.split()[0] if line.split() else ""
            if ns.startswith(prefix + ""):
                sh("ip", "netns", "del", ns, check=False)
    if a.binary:
        commit = f"{a.rev or 'unknown'} (binary {a.binary})"
    else:
        commit = sh("git", "-C", str(REPO), "rev-parse", "--short", "HEAD", check=False).stdout.strip() or "unknown"
    cmdline = "python3 " + shlex.join(sys.argv)
    if a.report:
        write_report(a.report, figs, cmdline, commit)
        log(f"figures written to {a.report}")
    failed = sum(1 for f in figs if f["failures"])
    log(f"chaos suite finished in {time.time() - t0:.0f} s")
    print(f"chaos: {len(figs) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
