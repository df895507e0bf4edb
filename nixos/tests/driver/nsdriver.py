#!/usr/bin/env python3
"""Run a NixOS VM test scenario (nixos/tests/<test>.py) over Linux network namespaces.

NixOS VM tests cannot be built on machines without nixpkgs and qemu, so this driver offers the
part of the NixOS test-driver API the scenarios use (start_all, wait_for_unit,
wait_for_open_port, succeed, fail, wait_until_succeeds, systemctl, crash, start, shutdown,
block, unblock, sleep, subtest) and runs the same, unchanged script:

* Machines and their configuration come from the test's .nix file and nixos/module.nix,
  evaluated with ./eval.nix (no copy of the settings lives here). The broker's starling.toml is
  the module's own rendering of `services.starling.settings`, its unit the module's
  `systemd.services.starling`.
* Each machine is a network namespace (`ip netns add`) with a veth `eth1` on a bridge in a
  test-owned switch namespace, addressed from 198.18.0.0/15, plus a private mount and UTS
  namespace: /etc, /var (overlays over the host's), /tmp and /run are per machine, /etc/hosts
  names every machine as NixOS' test network does, /etc/resolv.conf holds
  `networking.nameservers`. PATH holds a base system plus the machine's
  environment.systemPackages only.
* A small service manager per machine stands in for systemd: Type=notify (a NOTIFY_SOCKET,
  READY=1/WATCHDOG=1/STOPPING=1), WatchdogSec, Restart=on-failure, RestartSec, Timeout*Sec,
  User/Group, UMask, StateDirectory/RuntimeDirectory, EnvironmentFile, LoadCredential,
  LimitNOFILE, ExecReload. `systemctl`, `systemd-run` and `systemd-analyze security` inside a machine
  talk to it (./shim.py). The `coredns.service` of a DNS machine is ./dns.py serving the zone
  file of its `services.coredns.config`.
* crash() is SIGKILL of every process of the machine; start() boots it again with its disk
  (/etc, /var, /tmp) kept; block()/unblock() take the switch side of its link down/up.

The unit's file-system sandbox is enforced (sandbox_script): ProtectSystem=strict with
ReadWritePaths/StateDirectory/RuntimeDirectory, PrivateTmp, and the service user.
Not emulated (differences from a NixOS VM): the rest of the sandbox (SystemCallFilter,
Protect*, ... are only assessed, by `systemd-analyze security --offline`), the firewall
(every port is open), a PID namespace (ps shows the host's processes), and LimitNOFILE above
the driver's own hard limit. The base system's tools are Debian's, not nixpkgs'.

Everything the driver creates (namespaces, processes, mounts, the run directory) is removed
at the end, also on failure or Ctrl-C. Every wait is bounded by the scenario's timeout and by
--timeout for the whole test.

Usage (root): nsdriver.py TEST [--keep-going] [--without-auth] [--timeout S] [--keep]
"""

import argparse
import ast
import contextlib
import glob
import itertools
import json
import os
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SUBNET = "198.18.0"  # 198.18.0.0/15 is for benchmarks (RFC 2544); only inside our namespaces
MARKER_START = re.compile(r"@@NSD:(text|bin|run|toml):([^@]*)@@")
MARKER_END = "@@NSD:end@@"
STORE_PATH = re.compile(r"/nix/store/[0-9a-z]{32}-([A-Za-z0-9._+-]+)")

# What a package directory (pkgs.<name> in eval.nix) offers: command -> host command.
PACKAGES = {
    "curl": ["curl"],
    "mosquitto": ["mosquitto_pub", "mosquitto_sub", "mosquitto_rr", "mosquitto_passwd", "mosquitto"],
    "dnsutils": ["dig", "nslookup", "host", "nsupdate", "delv"],
    "jq": ["jq"],
    "openssl": ["openssl"],
}
# The base system of a NixOS machine (system.path): the Debian packages with the same tools.
BASE_DEBIAN_PACKAGES = [
    "bash", "coreutils", "grep", "sed", "gawk", "mawk", "findutils", "diffutils", "tar", "gzip",
    "bzip2", "xz-utils", "procps", "util-linux", "mount", "iproute2", "hostname", "libc-bin",
    "debianutils", "less", "psmisc", "kmod", "acl", "attr", "zstd", "ncurses-bin",
]
SHIMS = ["systemctl", "systemd-run", "systemd-analyze"]
CONTROL_SOCKET = "nsdriver-control.sock"  # in the machine's /run
SOCKET_IDS = itertools.count(1)
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"


def sandbox_script(sc, gen):
    """The unit's file-system sandbox as systemd sets it up, in the service's own mount
    namespace: ProtectSystem=strict (every mount read-only but /proc, /sys and /dev), then
    ReadWritePaths, StateDirectory and RuntimeDirectory writable again, PrivateTmp (fresh
    /tmp and /var/tmp); the service runs chrooted into that tree. $0 is the working directory,
    "$@" the command."""
    rw = sc.get("ReadWritePaths") or []
    rw = [rw] if isinstance(rw, str) else list(rw)
    if sc.get("StateDirectory"):
        rw.append("/var/lib/" + sc["StateDirectory"])
    if sc.get("RuntimeDirectory"):
        rw.append("/run/" + sc["RuntimeDirectory"])
    lines = [
        "set -e",
        'W="$0"',
        # The machine's PATH has no mount tools; the service gets its own PATH back at exec.
        'P="$PATH"',
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        f"R=/run/nsd-sandbox-{gen}",
        'mkdir -p "$R"',
        'mount --rbind / "$R"',
    ]
    if sc.get("ProtectSystem") == "strict":
        lines += [
            "for m in $(awk -v r=\"$R\" '$5 == r || index($5, r \"/\") == 1 {print $5}' /proc/self/mountinfo | sort -u); do",
            '  case "$m" in "$R"/proc|"$R"/proc/*|"$R"/sys|"$R"/sys/*|"$R"/dev|"$R"/dev/*) continue ;; esac',
            '  mount -o remount,bind,ro "$m" || echo "sandbox: cannot make $m read-only" >&2',
            "done",
        ]
        for p in rw:
            lines.append(f'[ -d {shlex.quote(p)} ] && mount --bind {shlex.quote(p)} "$R"{shlex.quote(p)}')
    if sc.get("PrivateTmp"):
        lines += ['mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"', 'mount -t tmpfs -o mode=1777 tmpfs "$R/var/tmp"']
    lines.append('PATH="$P" exec "$(command -v chroot)" "$R" /bin/sh -c \'cd "$0" && exec "$@"\' "$W" "$@"')
    return "\n".join(lines)
CLEAN_SIGNALS = {0, -signal.SIGHUP, -signal.SIGINT, -signal.SIGTERM, -signal.SIGPIPE}


class TestFailure(Exception):
    pass


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def run(cmd, check=True, **kw):
    """A host command of the driver's own (namespace setup), never a scenario command."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def seconds(value):
    """systemd time span ("2s", "5min", "90s", 30) in seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)\s*([a-z]*)", value):
        total += float(num) * {"": 1, "s": 1, "sec": 1, "ms": 0.001, "m": 60, "min": 60, "h": 3600}[unit]
    return total


# ---------------------------------------------------------------------------------------
# TOML rendering of the module's settings (pkgs.formats.toml does this with json2toml)


def toml_key(k):
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        # A table inside an array (`out = [ { topic = ...; } ]`): inline, which TOML reads as the
        # same array of tables json2toml writes.
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise ValueError(f"cannot render {v!r} as a TOML value")


def to_toml(table, prefix=()):
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for k, v in table.items():
        if isinstance(v, dict):
            path = prefix + (k,)
            if not v or any(not isinstance(x, dict) for x in v.values()):
                lines += ["", "[" + ".".join(map(toml_key, path)) + "]"]
            lines.append(to_toml(v, path))
    text = "\n".join(lines)
    return text.strip("\n") + "\n" if not prefix else text.rstrip("\n")


# ---------------------------------------------------------------------------------------
# The world: switch namespace, machines


class Driver:
    def __init__(self, test, args):
        self.test = test
        self.args = args
        self.tag = secrets.token_hex(3)
        # The driver's pid in every name, so that a later run can tell a dead run's leftovers.
        self.prefix = f"nsd{os.getpid()}-{self.tag}"
        self.switch = f"{self.prefix}-sw"
        # Short: socket paths inside it must stay under 108 bytes.
        self.dir = os.path.join(ROOT, "target", "nsd", f"{test}-{self.tag}")
        self.deadline = time.monotonic() + args.timeout
        self.machines = {}
        self.cond = threading.Condition()
        self.namespaces = []
        self.compat_notes = set()
        self.built = {}
        self.closed = False

    # ---- time ---------------------------------------------------------------------------
    def remaining(self):
        return self.deadline - time.monotonic()

    def bounded(self, timeout):
        """A wait of `timeout` seconds, cut to what is left of the whole test's time."""
        left = self.remaining()
        if left <= 0:
            raise TestFailure(f"the test ran out of its {self.args.timeout:.0f} s (--timeout)")
        return min(timeout, left)

    # ---- setup --------------------------------------------------------------------------
    def prepare(self):
        """Evaluate the test and build what its machines need (no root, no namespaces)."""
        os.makedirs(self.dir, mode=0o755)
        self.pkgs = os.path.join(self.dir, "pkgs")
        self.make_packages()
        names = self.machine_names()
        self.addresses = {n: f"{SUBNET}.{i + 1}" for i, n in enumerate(names)}
        info = self.evaluate(self.addresses)
        self.name = info["name"]
        self.info = self.materialize(info)
        for n, m in self.info["machines"].items():
            if m["starling"] and m["starling"]["assertions"]:
                raise TestFailure(f"{n}: failed module assertions: {m['starling']['assertions']}")
        log(f"test {self.name}: machines {', '.join(names)}; run directory {self.dir}")

    def describe(self):
        """--eval-only: what the driver would run, per machine."""
        for n, m in self.info["machines"].items():
            print(f"{n} ({self.addresses[n]}): packages {[os.path.basename(p) for p in m['systemPackages']]}")
            if m["starling"]:
                unit = m["starling"]["unit"]
                print(f"  starling.service wantedBy {unit['wantedBy']}: {unit['serviceConfig']['ExecStart']}")
                config = re.search(r"--config (\S+)", unit["serviceConfig"]["ExecStart"]).group(1)
                print("  " + open(config).read().strip().replace("\n", "\n  "))
            if m["coredns"]:
                print(f"  coredns.service: {m['coredns']['config'].strip()}")

    def setup(self):
        remove_stale_namespaces()
        self.prepare()
        names = list(self.info["machines"])
        addresses = self.addresses
        info = self.info
        self.add_netns(self.switch)
        run(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.switch, "link", "set", "br0", "up"])
        run(["ip", "-n", self.switch, "link", "set", "lo", "up"])
        for i, n in enumerate(names):
            self.machines[n] = Machine(self, n, i, addresses[n], info["machines"][n], addresses, info["machines"])

    def add_netns(self, name):
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)

    def machine_names(self):
        """The machine list, from the .nix file (eval with placeholder addresses)."""
        out = self.nix_eval({}, attr="machineNames")
        return json.loads(out)

    def nix_eval(self, addresses, attr=None):
        expr = os.path.join(HERE, "eval.nix")
        addr = "{ " + " ".join(f'{k} = "{v}";' for k, v in addresses.items()) + " }"
        cmd = ["nix-instantiate", "--eval", "--strict", "--json", expr,
               "--argstr", "test", self.test, "--argstr", "pkgsDir", self.pkgs, "--arg", "addresses", addr]
        if attr:
            cmd += ["-A", attr]
        r = run(cmd, check=False)
        if r.returncode != 0:
            raise TestFailure(f"evaluating nixos/tests/{self.test}.nix failed:\n{r.stderr}")
        return r.stdout

    def evaluate(self, addresses):
        return json.loads(self.nix_eval(addresses))

    def make_packages(self):
        def link(pkg, cmd, target):
            d = os.path.join(self.pkgs, pkg, "bin")
            os.makedirs(d, exist_ok=True)
            if target:
                os.symlink(target, os.path.join(d, cmd))

        for pkg, cmds in PACKAGES.items():
            os.makedirs(os.path.join(self.pkgs, pkg, "bin"), exist_ok=True)
            for c in cmds:
                if shutil.which(c):
                    link(pkg, c, shutil.which(c))
        for c in self.debian_commands(["coreutils", "procps"]):
            link("coreutils", os.path.basename(c), c)
        link("python3-env", "python3", sys.executable)
        binary = os.path.abspath(self.args.binary)
        if not os.access(binary, os.X_OK) and not self.args.eval_only:
            raise TestFailure(f"{binary} is not an executable: build it first (cargo build)")
        link("starling", "starling", binary)
        shim_dir = os.path.join(self.dir, "shims")
        os.makedirs(shim_dir)
        for s in SHIMS:
            with open(os.path.join(shim_dir, s), "w") as f:
                f.write(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {HERE!r})\nimport shim\nshim.main()\n")
            os.chmod(os.path.join(shim_dir, s), 0o755)
        base = os.path.join(self.dir, "base", "bin")
        os.makedirs(base)
        for c in self.debian_commands(BASE_DEBIAN_PACKAGES):
            dst = os.path.join(base, os.path.basename(c))
            if not os.path.lexists(dst) and os.path.basename(c) not in SHIMS:
                os.symlink(c, dst)

    @staticmethod
    def debian_commands(packages):
        r = run(["dpkg", "-L", *packages], check=False)
        return sorted(
            {p for p in r.stdout.splitlines()
             if re.match(r"^/(usr/)?s?bin/[^/]+$", p) and os.path.isfile(p) and os.access(p, os.X_OK)}
        )

    # ---- markers from eval.nix ------------------------------------------------------------
    def materialize(self, value):
        if isinstance(value, dict):
            return {k: self.materialize(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.materialize(v) for v in value]
        if not isinstance(value, str):
            return value
        return STORE_PATH.sub(self.store_file, self.expand(value))

    def expand(self, text):
        """Replace the outermost markers in `text`, innermost first inside each."""
        out, pos = "", 0
        while True:
            m = MARKER_START.search(text, pos)
            if not m:
                return out + text[pos:]
            out += text[pos:m.start()]
            depth, i = 1, m.end()
            while depth:
                nxt = re.compile(r"@@NSD:(?:[a-z]+:[^@]*@@|end@@)").search(text, i)
                if not nxt:
                    raise TestFailure(f"unterminated marker in {text[:200]!r}")
                depth += -1 if nxt.group(0) == MARKER_END else 1
                i = nxt.end()
            body = text[m.end():i - len(MARKER_END)]
            out += self.build(m.group(1), m.group(2), body)
            pos = i

    def store_file(self, m):
        """A local file the .nix interpolated (`${./tools/x.py}`): the repository's file."""
        name = m.group(1)
        found = [os.path.join(d, name) for d, _, files in os.walk(os.path.join(ROOT, "nixos")) if name in files]
        if len(found) != 1:
            raise TestFailure(f"store path {m.group(0)}: no unique file {name} under nixos/")
        return found[0]

    def build(self, kind, name, body):
        """One output per distinct derivation, as in the store."""
        key = (kind, name, body)
        if key not in self.built:
            self.built[key] = self.build_new(kind, name, body)
        return self.built[key]

    def build_new(self, kind, name, body):
        if kind == "toml":  # JSON whose strings may hold markers themselves
            settings = self.materialize(json.loads(body))
        else:
            body = self.materialize(body)
        out = os.path.join(self.dir, "store", f"{secrets.token_hex(4)}-{name}")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if kind == "text":
            with open(out, "w") as f:
                f.write(body)
            os.chmod(out, 0o444)
        elif kind == "toml":
            settings = self.compat(settings)
            with open(out, "w") as f:
                f.write(to_toml(settings))
            os.chmod(out, 0o444)
        elif kind == "bin":
            os.makedirs(os.path.join(out, "bin"))
            path = os.path.join(out, "bin", name)
            with open(path, "w") as f:
                f.write("#!/bin/bash\n" + body)
            os.chmod(path, 0o555)
        elif kind == "run":
            os.makedirs(out)
            build_dir = out + ".build"
            os.makedirs(build_dir)
            env = {"out": out, "PATH": os.environ["PATH"], "HOME": "/homeless-shelter", "TMPDIR": build_dir}
            r = subprocess.run(["bash", "-eo", "pipefail", "-c", body], cwd=build_dir, env=env,
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise TestFailure(f"building {name} failed:\n{r.stdout}\n{r.stderr}")
            shutil.rmtree(build_dir)
            for root, dirs, files in os.walk(out):
                for f in files:
                    os.chmod(os.path.join(root, f), 0o444)
        return out

    def compat(self, settings):
        """--without-auth: the broker on this branch has no [auth] table yet."""
        if not self.args.without_auth or "auth" not in settings:
            return settings
        auth = settings.pop("auth")
        self.compat_notes.add(f"removed [auth] {json.dumps(auth)}; listeners allow anonymous clients")
        for listener in settings.get("listeners", {}).values():
            listener["allow_anonymous"] = True
        return settings

    # ---- scenario -----------------------------------------------------------------------
    def script_globals(self):
        g = {name: m for name, m in self.machines.items()}
        g["machines"] = list(self.machines.values())

        def start_all():
            log("starting all machines")
            for m in self.machines.values():
                m.start()

        @contextlib.contextmanager
        def subtest(name):
            log(f"subtest: {name}")
            yield

        g["start_all"] = start_all
        g["subtest"] = subtest
        g["__name__"] = "__main__"
        return g

    def run_script(self):
        path = self.args.script or os.path.join(ROOT, "nixos", "tests", f"{self.test}.py")
        source = open(path).read()
        tree = ast.parse(source, path)
        g = self.script_globals()
        failures = []
        statements = tree.body if self.args.keep_going else [tree]
        for stmt in statements:
            module = stmt if isinstance(stmt, ast.Module) else ast.Module(body=[stmt], type_ignores=[])
            try:
                exec(compile(module, path, "exec"), g)
            except Exception as e:  # the scenario's own assertion or a driver call that failed
                line = getattr(stmt, "lineno", None) or traceback.extract_tb(e.__traceback__)[-1].lineno
                if isinstance(stmt, ast.Module):
                    tb = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == path]
                    line = tb[-1].lineno if tb else line
                text = source.splitlines()[line - 1].strip() if line else ""
                failures.append((line, text, f"{type(e).__name__}: {e}"))
                log(f"FAILED at {os.path.basename(path)}:{line}: {text}\n    {type(e).__name__}: {e}")
                if self.remaining() <= 0:
                    log("out of time: stopping the scenario")
                    break
        return failures

    # ---- teardown -----------------------------------------------------------------------
    def close(self):
        if self.closed:
            return
        self.closed = True
        for m in self.machines.values():
            try:
                m.power_off(reason="test end")
            except Exception as e:
                log(f"{m.name}: cleanup: {e}")
        for ns in reversed(self.namespaces):
            kill_netns_processes(ns)
            run(["ip", "netns", "del", ns], check=False)
        left = [ns for ns in run(["ip", "netns", "list"]).stdout.split() if ns.startswith(self.prefix)]
        if left:
            log(f"WARNING: namespaces left behind: {left}")
        if self.args.keep:
            log(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def remove_stale_namespaces():
    """Namespaces of earlier runs whose driver died without cleaning up (e.g. SIGKILL)."""
    for ns in run(["ip", "netns", "list"]).stdout.split():
        m = re.fullmatch(r"nsd(\d+)-[0-9a-f]{6}-[A-Za-z0-9_-]+", ns)
        if not m:
            continue
        pid = int(m.group(1))
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                alive = b"nsdriver" in f.read()
        except OSError:
            alive = False
        if not alive:
            log(f"removing namespace {ns} of a dead driver run (pid {pid})")
            kill_netns_processes(ns)
            run(["ip", "netns", "del", ns], check=False)
            tag = ns.split("-")[1]
            for d in glob.glob(os.path.join(ROOT, "target", "nsd", f"*-{tag}")):
                shutil.rmtree(d, ignore_errors=True)


def signal_group(pgid, sig):
    """`sig` then SIGCONT to a unit's processes, as systemd does (a stopped process gets it too)."""
    for s in (sig, signal.SIGCONT):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, s)


def netns_pids(ns):
    r = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


def kill_netns_processes(ns, timeout=10):
    """SIGKILL every process in the network namespace and wait until none is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = netns_pids(ns)
        if not pids:
            return True
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        time.sleep(0.1)
    log(f"WARNING: processes left in {ns}: {netns_pids(ns)}")
    return False


# ---------------------------------------------------------------------------------------
# A machine


class Machine:
    def __init__(self, driver, name, index, address, info, addresses, all_info):
        self.driver = driver
        self.name = name
        self.address = address
        self.info = info
        self.ns = f"{driver.prefix}-{name}"
        self.dir = os.path.join(driver.dir, "machines", name)
        self.holder = None
        self.booted = False
        self.units = {}
        self.control = None
        for d in ["etc", "etc.work", "var", "var.work", "tmp", "run", "journal"]:
            os.makedirs(os.path.join(self.dir, d))
        os.chmod(os.path.join(self.dir, "tmp"), 0o1777)
        self.uid = None
        self.write_etc(addresses, all_info)
        self.make_path()
        self.setup_network(index)
        self.control = ControlServer(self)

    def __repr__(self):
        return f"<Machine {self.name}>"

    # ---- filesystem -------------------------------------------------------------------
    def write_etc(self, addresses, all_info):
        etc = os.path.join(self.dir, "etc")
        net = self.info["networking"]
        # nixos/lib/testing/network.nix: every node by "<host>.<domain> <host>".
        hosts = ["127.0.0.1 localhost", "::1 localhost"]
        for n, i in all_info.items():
            d = i["networking"]["domain"]
            hosts.append(f"{addresses[n]} " + (f"{n}.{d} " if d else "") + n)
        write(os.path.join(etc, "hosts"), "\n".join(hosts) + "\n")
        resolv = [f"nameserver {ns}" for ns in self.info["nameservers"]]
        if net["domain"]:
            resolv.append(f"search {net['domain']}")
        resolv.append("options timeout:2 attempts:2")
        write(os.path.join(etc, "resolv.conf"), "\n".join(resolv) + "\n")
        write(os.path.join(etc, "hostname"), self.name + "\n")
        passwd = open("/etc/passwd").read()
        group = open("/etc/group").read()
        starling = self.info["starling"]
        if starling:
            self.uid = 401
            user = starling["user"]
            passwd += f"starling:x:401:401:{user['description']}:{user['home']}:/usr/sbin/nologin\n"
            group += "starling:x:401:\n"
        write(os.path.join(etc, "passwd"), passwd)
        write(os.path.join(etc, "group"), group)
        for path, source in self.info["etc"].items():
            dst = os.path.join(etc, path)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(source, dst)
            os.chmod(dst, 0o444)

    def make_path(self):
        """PATH: the service-manager shims, the machine's packages, the base system."""
        self.bin = os.path.join(self.dir, "sw", "bin")
        os.makedirs(self.bin)
        dirs = [os.path.join(self.driver.dir, "shims")]
        dirs += [os.path.join(p, "bin") for p in self.info["systemPackages"]]
        dirs.append(os.path.join(self.driver.dir, "base", "bin"))
        for d in dirs:
            for c in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                dst = os.path.join(self.bin, c)
                if not os.path.lexists(dst):
                    os.symlink(os.path.join(d, c), dst)

    def env(self, extra=None):
        env = {
            "PATH": self.bin,
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "NSDRIVER_CONTROL": "/run/" + CONTROL_SOCKET,
        }
        env.update(extra or {})
        return env

    def bind_run_socket(self, sock, name):
        """Bind `sock` as /run/NAME of the machine (its /run is DIR/run on the host).

        Through /proc/self/fd, so that the host-side path stays short: AF_UNIX paths are
        limited to 108 bytes and the repository may live deep in the file system."""
        fd = os.open(os.path.join(self.dir, "run"), os.O_PATH | os.O_DIRECTORY)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)
            sock.bind(f"/proc/self/fd/{fd}/{name}")
        finally:
            os.close(fd)
        os.chmod(os.path.join(self.dir, "run", name), 0o777)
        return "/run/" + name

    # ---- network ----------------------------------------------------------------------
    def setup_network(self, index):
        d = self.driver
        d.add_netns(self.ns)
        self.port = f"p{index}"
        run(["ip", "-n", d.switch, "link", "add", self.port, "type", "veth", "peer", "name", "eth1", "netns", self.ns])
        run(["ip", "-n", d.switch, "link", "set", self.port, "master", "br0", "up"])
        run(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.ns, "addr", "add", f"{self.address}/24", "dev", "eth1"])
        run(["ip", "-n", self.ns, "link", "set", "eth1", "up"])

    # ---- power ------------------------------------------------------------------------
    def start(self):
        """Boot: new mount/UTS namespaces over the machine's disk, then the wanted units."""
        if self.booted:
            return
        log(f"{self.name}: starting")
        d = self.dir
        # /run is a tmpfs on a real machine: empty at boot, but for the driver's own socket.
        for entry in os.listdir(os.path.join(d, "run")):
            if entry != CONTROL_SOCKET:
                path = os.path.join(d, "run", entry)
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
        setup = " && ".join([
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/etc,workdir={d}/etc.work /etc",
            f"mount -t overlay overlay -o lowerdir=/var,upperdir={d}/var,workdir={d}/var.work /var",
            # /run before /tmp: with the run directory under /tmp, binding /tmp first would
            # hide the machine's own run directory from the second bind.
            f"mount --bind {d}/run /run",
            f"mount --bind {d}/tmp /tmp",
            f"hostname {self.name}",
            "echo booted",
            "exec sleep infinity",
        ])
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "unshare", "--mount", "--uts", "--propagation", "private",
             "/bin/sh", "-c", setup],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        line = self.holder.stdout.readline().strip()
        if line != "booted":
            err = self.holder.stderr.read()
            raise TestFailure(f"{self.name}: could not set up the machine's namespaces: {err}")
        self.booted = True
        self.boot_time = time.monotonic()
        self.units = {}
        starling = self.info["starling"]
        if starling:
            self.units["starling.service"] = Unit.from_module(self, starling)
        if self.info["coredns"]:
            self.units["coredns.service"] = Unit.coredns(self, self.info["coredns"]["config"])
        for u in list(self.units.values()):
            if "multi-user.target" in u.wanted_by:
                threading.Thread(target=u.start, kwargs={"wait": False}, daemon=True).start()

    def power_off(self, reason):
        """Every process of the machine gets SIGKILL (power loss); its disk stays."""
        if not self.booted and not netns_pids(self.ns):
            return
        with self.driver.cond:
            self.booted = False
            for u in self.units.values():
                u.machine_off()
            self.driver.cond.notify_all()
        kill_netns_processes(self.ns)
        if self.holder:
            with contextlib.suppress(Exception):
                self.holder.wait(timeout=5)
        self.holder = None
        log(f"{self.name}: off ({reason})")

    def crash(self):
        log(f"{self.name}: crash (power loss)")
        self.power_off(reason="crash")

    def shutdown(self):
        """Clean poweroff: every unit is stopped, then the machine goes off."""
        log(f"{self.name}: shutting down")
        for u in list(self.units.values()):
            u.stop()
        self.power_off(reason="shutdown")

    def block(self):
        log(f"{self.name}: network link down")
        run(["ip", "-n", self.driver.switch, "link", "set", self.port, "down"])

    def unblock(self):
        log(f"{self.name}: network link up")
        run(["ip", "-n", self.driver.switch, "link", "set", self.port, "up"])

    # ---- commands ---------------------------------------------------------------------
    def nsenter(self):
        if not self.booted or not self.holder:
            # As the NixOS driver's connect(): a command on a machine that is off boots it.
            self.start()
        return [NSENTER, "-t", str(self.holder.pid), "-m", "-n", "-u"]

    def execute(self, command, check_return=True, timeout=900, quiet=False):
        """(exit status, stdout) of a shell command inside the machine; stderr is logged."""
        timeout = self.driver.bounded(timeout)
        p = subprocess.Popen(
            self.nsenter() + ["/bin/bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, env=self.env(), text=True, errors="replace", start_new_session=True,
        )
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            err += f"\n(killed after {timeout:.0f} s)"
            p.returncode = 124
        self.last_stderr = err
        if not quiet:
            self.print_stderr(err)
        return p.returncode, out

    def print_stderr(self, err):
        for line in err.splitlines()[-40:]:
            print(f"    {self.name} stderr: {line}", flush=True)

    def succeed(self, *commands, timeout=900):
        output = ""
        for c in commands:
            log(f"{self.name}: must succeed: {c}")
            status, out = self.execute(c, timeout=timeout)
            if status != 0:
                if out.strip():
                    print(f"    {self.name} stdout: {out.strip()[-2000:]}", flush=True)
                raise TestFailure(f"command `{c}` failed (exit code {status})")
            output += out
        return output

    def fail(self, *commands, timeout=900):
        output = ""
        for c in commands:
            log(f"{self.name}: must fail: {c}")
            status, out = self.execute(c, timeout=timeout)
            if status == 0:
                raise TestFailure(f"command `{c}` unexpectedly succeeded")
            output += out
        return output

    def wait_until_succeeds(self, command, timeout=None):
        log(f"{self.name}: waiting for success: {command}")
        timeout = timeout or self.driver.args.default_wait
        deadline = time.monotonic() + self.driver.bounded(timeout)
        while True:
            status, out = self.execute(command, timeout=max(1, deadline - time.monotonic()), quiet=True)
            if status == 0:
                return out
            if time.monotonic() >= deadline:
                self.print_stderr(self.last_stderr)
                raise TestFailure(f"`{command}` did not succeed within {timeout} s (last exit code {status})")
            time.sleep(1)

    def wait_until_fails(self, command, timeout=None):
        log(f"{self.name}: waiting for failure: {command}")
        timeout = timeout or self.driver.args.default_wait
        deadline = time.monotonic() + self.driver.bounded(timeout)
        while True:
            status, out = self.execute(command, timeout=max(1, deadline - time.monotonic()), quiet=True)
            if status != 0:
                return out
            if time.monotonic() >= deadline:
                raise TestFailure(f"`{command}` did not fail within {timeout} s")
            time.sleep(1)

    def wait_for_open_port(self, port, addr="localhost", timeout=None):
        log(f"{self.name}: waiting for TCP port {addr}:{port}")
        timeout = timeout or self.driver.args.default_wait
        deadline = time.monotonic() + self.driver.bounded(timeout)
        probe = f"timeout 2 bash -c '</dev/tcp/{addr}/{port}' 2>/dev/null"
        while self.execute(probe, timeout=5)[0] != 0:
            if time.monotonic() >= deadline:
                raise TestFailure(f"port {addr}:{port} on {self.name} not open within {timeout} s")
            time.sleep(0.5)

    def wait_for_unit(self, unit, user=None, timeout=None):
        log(f"{self.name}: waiting for unit {unit}")
        timeout = timeout or self.driver.args.default_wait
        deadline = time.monotonic() + self.driver.bounded(timeout)
        with self.driver.cond:
            while True:
                if not self.booted:
                    self.start()
                if unit == "multi-user.target":
                    wanted = [u for u in self.units.values() if "multi-user.target" in u.wanted_by]
                    if all(u.state not in ("activating",) or u.auto_restart for u in wanted) and all(
                        u.started_once for u in wanted
                    ):
                        return
                else:
                    u = self.units.get(unit)
                    if u is None:
                        raise TestFailure(f"unit {unit} on {self.name} does not exist")
                    if u.state == "active" and u.proc and u.proc.poll() is None:
                        return
                    if u.state == "failed" and not u.auto_restart:
                        raise TestFailure(f"unit {unit} on {self.name} failed ({u.result})\n{u.journal_tail()}")
                    if u.state == "inactive" and not u.job:
                        raise TestFailure(f"unit {unit} on {self.name} is inactive and there are no pending jobs")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure(f"unit {unit} on {self.name} not active within {timeout} s")
                self.driver.cond.wait(min(left, 1))

    def systemctl(self, q, user=None):
        log(f"{self.name}: systemctl {q}")
        status, out, err = self.control.handle(["systemctl", *shlex.split(q)])
        for line in err.splitlines():
            print(f"    {self.name} systemctl: {line}", flush=True)
        return status, out

    def sleep(self, secs):
        time.sleep(self.driver.bounded(secs))

    def log(self, msg):
        log(f"{self.name}: {msg}")


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


# ---------------------------------------------------------------------------------------
# A service manager per machine


class Unit:
    def __init__(self, machine, name, argv, service, wanted_by=(), env=None):
        self.m = machine
        self.name = name
        self.argv = argv
        self.sc = service  # serviceConfig
        self.wanted_by = list(wanted_by)
        self.extra_env = env or {}
        self.state = "inactive"
        self.result = "success"
        self.proc = None
        self.job = None  # "start", "stop" while one runs
        self.auto_restart = False
        self.started_once = False
        self.stop_requested = False
        self.ready_at = None
        self.last_watchdog = None
        self.journal = os.path.join(machine.dir, "journal", name + ".log")
        self.generation = 0
        self.stop_timed_out = False

    @classmethod
    def from_module(cls, m, starling):
        sc = starling["unit"]["serviceConfig"]
        env = {}
        if sc.get("EnvironmentFile"):
            for line in open(sc["EnvironmentFile"]).read().splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    env[k.strip()] = v.strip().strip('"')
        if starling["assertions"]:
            raise TestFailure(f"{m.name}: failed assertions: {starling['assertions']}")
        for w in starling["warnings"]:
            log(f"{m.name}: evaluation warning: {w}")
        return cls(m, "starling.service", shlex.split(sc["ExecStart"]), sc, starling["unit"]["wantedBy"], env)

    @classmethod
    def coredns(cls, m, config):
        """services.coredns with a `file` zone: ./dns.py serves it."""
        blocks = re.findall(r"([A-Za-z0-9.-]+):(\d+)\s*\{([^}]*)\}", config)
        if not blocks:
            raise TestFailure(f"{m.name}: cannot read services.coredns.config:\n{config}")
        argv = [sys.executable, os.path.join(HERE, "dns.py")]
        for zone, port, body in blocks:
            directives = [line.split() for line in body.strip().splitlines() if line.strip()]
            files = [d[1] for d in directives if d[0] == "file"]
            unknown = [d[0] for d in directives if d[0] not in ("file", "log", "errors")]
            if len(files) != 1 or unknown:
                raise TestFailure(f"{m.name}: coredns server block {zone}: only `file`, `log`, `errors` are emulated")
            argv += ["--zone", f"{zone}:{port}:{files[0]}"]
        return cls(m, "coredns.service", argv, {"Type": "simple", "Restart": "on-failure"}, ["multi-user.target"])

    # ---- state ------------------------------------------------------------------------
    def set_state(self, state, result=None):
        with self.m.driver.cond:
            if state != self.state:
                log(f"{self.m.name}: {self.name}: {self.state} -> {state}" + (f" ({result})" if result else ""))
            self.state = state
            if result:
                self.result = result
            self.m.driver.cond.notify_all()

    def journal_tail(self, n=25):
        try:
            lines = open(self.journal, errors="replace").read().splitlines()
        except OSError:
            return ""
        return "\n".join(f"    {self.name}: {line}" for line in lines[-n:])

    def machine_off(self):
        self.generation += 1
        self.auto_restart = False
        self.job = None
        self.state = "inactive"

    # ---- start ------------------------------------------------------------------------
    def start(self, wait=True):
        with self.m.driver.cond:
            running = self.proc is not None and self.proc.poll() is None
            if self.state not in ("active", "activating", "reloading") or (self.auto_restart and not running):
                self.auto_restart = False
                self.job = "start"
                try:
                    self.spawn()
                except (OSError, subprocess.SubprocessError, TestFailure) as e:
                    log(f"{self.m.name}: {self.name}: cannot start: {e}")
                    self.set_state("failed", "resources")
                finally:
                    self.job = None
            if not wait:
                return 0, ""
            # The start job ends when the unit is up, or when this process exits (a later
            # automatic restart is not part of the job).
            proc = self.proc
            deadline = time.monotonic() + self.m.driver.bounded(seconds(self.sc.get("TimeoutStartSec", "90s")))
            while self.state == "activating" and self.proc is proc and time.monotonic() < deadline:
                if proc is None or (proc.poll() is not None and self.auto_restart):
                    break
                self.m.driver.cond.wait(0.5)
            if self.state == "active" and self.proc is proc:
                return 0, ""
        return 1, f"Job for {self.name} failed: {self.state} ({self.result}).\n{self.journal_tail()}\n"

    def spawn(self):
        """Start the main process (called with the condition held)."""
        sc = self.sc
        m = self.m
        self.generation += 1
        gen = self.generation
        self.stop_requested = False
        prepare = []
        user = sc.get("User")
        for key, base in (("StateDirectory", "/var/lib"), ("RuntimeDirectory", "/run")):
            if sc.get(key):
                mode = sc.get(key + "Mode", "0755")
                owner = f"-o {user} -g {sc.get('Group', user)}" if user else ""
                prepare.append(f"install -d -m {mode} {owner} {base}/{sc[key]}")
        # LoadCredential=NAME:PATH: a copy of PATH (read by the driver, as systemd reads it as
        # root) in /run/credentials/UNIT/, readable by the service user only.
        creds = sc.get("LoadCredential") or []
        if creds:
            cdir = os.path.join(m.dir, "run", "credentials", self.name)
            shutil.rmtree(cdir, ignore_errors=True)
            os.makedirs(cdir, mode=0o500)
            for entry in [creds] if isinstance(creds, str) else creds:
                name, _, src = entry.partition(":")
                try:
                    shutil.copyfile(src, os.path.join(cdir, name))
                except OSError as e:
                    log(f"{m.name}: {self.name}: LoadCredential {entry}: {e}")
                    self.state = "failed"
                    self.result = "resources"
                    return
                os.chmod(os.path.join(cdir, name), 0o400)
            if user:
                prepare.append(f"chown -R {user}:{sc.get('Group', user)} /run/credentials/{self.name}")
        if prepare:
            status, _ = m.execute(" && ".join(prepare), timeout=30)
            if status != 0:
                self.state = "failed"
                self.result = "resources"
                return
        env = m.env(self.extra_env)
        env.pop("NSDRIVER_CONTROL")
        notify, notify_name = None, None
        if sc.get("Type") == "notify":
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            # A name never used before on this machine: an old process's cleanup must not
            # remove the socket of a new one.
            notify_name = f"nsdriver-notify-{next(SOCKET_IDS)}.sock"
            env["NOTIFY_SOCKET"] = m.bind_run_socket(notify, notify_name)
            notify.settimeout(0.2)
            if sc.get("WatchdogSec"):
                env["WATCHDOG_USEC"] = str(int(seconds(sc["WatchdogSec"]) * 1_000_000))
        # nsenter --wd opens the directory before entering the mount namespace: cd inside.
        cmd = m.nsenter() + ["/bin/sh", "-c", 'cd "$0" && exec "$@"', sc.get("WorkingDirectory", "/")]
        if sc.get("ProtectSystem") == "strict" or sc.get("PrivateTmp"):
            cmd = m.nsenter() + [UNSHARE, "--mount", "--propagation", "private", "/bin/sh", "-c",
                                 sandbox_script(sc, gen), sc.get("WorkingDirectory", "/")]
        if user:
            cmd += [SETPRIV, f"--reuid={user}", f"--regid={sc.get('Group', user)}", "--init-groups"]
        cmd += self.argv
        umask = int(sc.get("UMask", "0022"), 8)
        nofile = None
        if sc.get("LimitNOFILE"):
            # Bounded by the hard limit the driver has: without CAP_SYS_RESOURCE (containers)
            # it cannot be raised.
            nofile = min(int(sc["LimitNOFILE"]), resource.getrlimit(resource.RLIMIT_NOFILE)[1])

        def preexec():
            os.umask(umask)
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        out = open(self.journal, "a")
        out.write(f"-- {time.strftime('%H:%M:%S')} started: {' '.join(self.argv)}\n")
        out.flush()
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                     preexec_fn=preexec, start_new_session=True)
        out.close()
        self.started_once = True
        self.result = "success"  # systemd resets the result when the unit starts again
        self.last_watchdog = time.monotonic()
        self.state = "activating" if notify else "active"
        log(f"{m.name}: {self.name}: started (pid {self.proc.pid})")
        self.m.driver.cond.notify_all()
        threading.Thread(target=self.monitor, args=(gen, self.proc, notify, notify_name), daemon=True).start()

    def monitor(self, gen, proc, notify, notify_name):
        sc = self.sc
        watchdog = seconds(sc["WatchdogSec"]) if sc.get("WatchdogSec") else None
        start_timeout = seconds(sc.get("TimeoutStartSec", "90s"))
        started = time.monotonic()
        killed_for = None
        final_kill_at = None
        while proc.poll() is None:
            if notify:
                with contextlib.suppress(socket.timeout, OSError):
                    msg = notify.recv(4096).decode(errors="replace")
                    self.on_notify(gen, msg)
            else:
                time.sleep(0.2)
            now = time.monotonic()
            if killed_for and now > final_kill_at:
                # As systemd after TimeoutAbortSec/TimeoutStopSec: the process did not go.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            if gen != self.generation or killed_for:
                continue
            if self.state == "activating" and now - started > start_timeout:
                killed_for, sig = "timeout", signal.SIGTERM
            elif watchdog and self.state == "active" and now - self.last_watchdog > watchdog:
                killed_for, sig = "watchdog", signal.SIGABRT
            if killed_for:
                log(f"{self.m.name}: {self.name}: {killed_for}, sending {sig.name}")
                final_kill_at = now + seconds(sc.get("TimeoutStopSec", "90s"))
                signal_group(proc.pid, sig)
        if notify:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.m.dir, "run", notify_name))
            notify.close()
        code = proc.returncode
        with contextlib.suppress(OSError), open(self.journal, "a") as f:  # gone after teardown
            f.write(f"-- {time.strftime('%H:%M:%S')} exited: {code}\n")
        with self.m.driver.cond:
            if gen != self.generation:
                return  # the machine went off, or a newer process took over
            if self.stop_requested:
                result = "success" if code in CLEAN_SIGNALS and not self.stop_timed_out else "timeout"
                self.set_state("inactive" if result == "success" else "failed", result)
                return
            result = killed_for or ("success" if code == 0 else "exit-code" if code > 0 else "signal")
            failed = result != "success"
            restart = self.sc.get("Restart", "no")
            if failed and restart in ("on-failure", "always") or restart == "always":
                self.auto_restart = True
                self.set_state("activating", result)
                threading.Thread(target=self.restart_later, args=(gen,), daemon=True).start()
            else:
                self.set_state("failed" if failed else "inactive", result)
                log(f"{self.m.name}: {self.name} stopped:\n{self.journal_tail()}")

    def restart_later(self, gen):
        time.sleep(seconds(self.sc.get("RestartSec", "100ms")))
        with self.m.driver.cond:
            if gen == self.generation and self.auto_restart and self.m.booted:
                log(f"{self.m.name}: {self.name}: automatic restart")
                self.auto_restart = False
                try:
                    self.spawn()
                except (OSError, subprocess.SubprocessError, TestFailure) as e:
                    log(f"{self.m.name}: {self.name}: cannot start: {e}")
                    self.set_state("failed", "resources")

    def on_notify(self, gen, msg):
        fields = dict(line.split("=", 1) for line in msg.splitlines() if "=" in line)
        with self.m.driver.cond:
            if gen != self.generation:
                return
            if fields.get("WATCHDOG") == "1":
                self.last_watchdog = time.monotonic()
            if fields.get("READY") == "1" and self.state in ("activating", "reloading"):
                self.auto_restart = False
                self.set_state("active")
            if fields.get("RELOADING") == "1":
                self.set_state("reloading")
            if fields.get("STOPPING") == "1" and self.state != "deactivating":
                self.set_state("deactivating")

    # ---- stop / reload ----------------------------------------------------------------
    def stop(self):
        with self.m.driver.cond:
            self.auto_restart = False
            if self.proc is None or self.proc.poll() is not None:
                if self.state != "failed":
                    self.state = "inactive"
                self.generation += 1
                self.m.driver.cond.notify_all()
                return 0, ""
            self.stop_requested = True
            self.stop_timed_out = False
            self.job = "stop"
            self.set_state("deactivating")
            proc = self.proc
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=self.m.driver.bounded(seconds(self.sc.get("TimeoutStopSec", "90s"))))
        except subprocess.TimeoutExpired:
            log(f"{self.m.name}: {self.name}: stop timed out, SIGKILL")
            self.stop_timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with self.m.driver.cond:
            # the monitor sets the final state; wait for it
            deadline = time.monotonic() + 5
            while self.state == "deactivating" and time.monotonic() < deadline:
                self.m.driver.cond.wait(0.2)
            self.job = None
        return 0, ""

    def reload(self):
        reload = self.sc.get("ExecReload")
        if not reload or self.state != "active":
            return 1, f"Job for {self.name} failed: not active or no ExecReload.\n"
        command = reload.replace("$MAINPID", str(self.proc.pid))
        status, out = self.m.execute(command, timeout=30)
        return status, out

    # ---- properties -------------------------------------------------------------------
    def prop(self, name):
        if name == "ActiveState":
            return {"reloading": "reloading"}.get(self.state, self.state)
        if name == "SubState":
            return {"active": "running", "activating": "start", "deactivating": "stop"}.get(self.state, "dead")
        if name == "Result":
            return self.result
        if name == "MainPID":
            return str(self.proc.pid) if self.proc and self.proc.poll() is None else "0"
        if name == "WantedBy":
            return " ".join(self.wanted_by)
        v = self.sc.get(name, "")
        if isinstance(v, list):
            return " ".join(v)
        if isinstance(v, bool):
            return "yes" if v else "no"
        return str(v)

    def unit_file(self):
        """The unit as systemd would have it (for `systemd-analyze security`)."""
        lines = ["[Unit]", f"Description={self.name}", "", "[Service]"]
        for k, v in self.sc.items():
            for item in (v if isinstance(v, list) else [v]):
                if isinstance(item, bool):
                    item = "yes" if item else "no"
                lines.append(f"{k}={item}")
        lines += ["", "[Install]", f"WantedBy={' '.join(self.wanted_by)}"]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# systemctl / systemd-run / systemd-analyze inside a machine (./shim.py is the client)


class ControlServer:
    def __init__(self, machine):
        self.m = machine
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        machine.bind_run_socket(self.sock, CONTROL_SOCKET)
        self.sock.listen(16)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.client, args=(conn,), daemon=True).start()

    def client(self, conn):
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            try:
                req = json.loads(data)
                status, out, err = self.handle(req["argv"], req.get("env", {}))
            except Exception as e:
                status, out, err = 1, "", f"nsdriver: {type(e).__name__}: {e}\n"
            conn.sendall(json.dumps({"status": status, "stdout": out, "stderr": err}).encode() + b"\n")

    def handle(self, argv, env=None):
        tool, args = os.path.basename(argv[0]), argv[1:]
        if tool == "systemctl":
            return self.systemctl(args)
        if tool == "systemd-run":
            return self.systemd_run(args, env or {})
        if tool == "systemd-analyze":
            return self.analyze(args)
        return 1, "", f"{tool}: not emulated\n"

    def unit(self, name):
        if "." not in name:
            name += ".service"
        u = self.m.units.get(name)
        if u is None:
            raise KeyError(f"Unit {name} not found.")
        return u

    def systemctl(self, args):
        opts = [a for a in args if a.startswith("-")]
        words = [a for a in args if not a.startswith("-")]
        props = [o.split("=", 1)[1] for o in opts if o.startswith("--property=")]
        if "-P" in args:
            i = args.index("-P")
            props.append(args[i + 1])
            words.remove(args[i + 1])
        value_only = "-P" in args or "--value" in opts
        if not words:
            return 1, "", "systemctl: no command\n"
        verb, names = words[0], words[1:]
        try:
            units = [self.unit(n) for n in names]
        except KeyError as e:
            return (3 if verb in ("is-active", "is-failed") else 5), ("inactive\n" if verb == "is-active" else ""), f"{e.args[0]}\n"
        if verb in ("start", "restart", "stop", "reload", "try-restart"):
            status, out = 0, ""
            for u in units:
                if verb in ("stop", "restart"):
                    u.stop()
                if verb in ("start", "restart"):
                    s, o = u.start()
                    status, out = max(status, s), out + o
                if verb == "reload":
                    s, o = u.reload()
                    status, out = max(status, s), out + o
            return status, "", out
        if verb in ("is-active", "is-failed"):
            states = [u.prop("ActiveState") for u in units]
            want = "active" if verb == "is-active" else "failed"
            return (0 if any(s == want for s in states) else (3 if verb == "is-active" else 1)), "\n".join(states) + "\n", ""
        if verb == "show":
            out = ""
            for u in units:
                for p in props or ["ActiveState", "SubState", "Result", "MainPID"]:
                    out += (u.prop(p) if value_only else f"{p}={u.prop(p)}") + "\n"
            return 0, out, ""
        if verb == "status":
            out = ""
            for u in units:
                out += f"* {u.name}\n     Active: {u.prop('ActiveState')} ({u.prop('SubState')}) result {u.result}\n"
                out += f"   Main PID: {u.prop('MainPID')}\n{u.journal_tail(10)}\n"
            return (0 if all(u.state == "active" for u in units) else 3), out, ""
        return 1, "", f"systemctl {verb}: not emulated by nsdriver\n"

    def systemd_run(self, args, env):
        unit = None
        while args and args[0].startswith("-"):
            a = args.pop(0)
            if a.startswith("--unit="):
                unit = a.split("=", 1)[1]
            elif a in ("-u", "--unit"):
                unit = args.pop(0)
            else:
                return 1, "", f"systemd-run {a}: not emulated by nsdriver\n"
        if not args:
            return 1, "", "systemd-run: no command\n"
        unit = (unit or f"run-{secrets.token_hex(4)}") + ("" if unit and "." in unit else ".service")
        if unit in self.m.units and self.m.units[unit].state in ("active", "activating"):
            return 1, "", f"Unit {unit} already exists.\n"
        u = Unit(self.m, unit, args, {"Type": "simple"})
        self.m.units[unit] = u
        u.start()
        return 0, "", f"Running as unit: {unit}\n"

    def analyze(self, args):
        words = [a for a in args if not a.startswith("-")]
        opts = [a for a in args if a.startswith("-")]
        if not words or words[0] != "security" or len(words) != 2:
            return 1, "", "systemd-analyze: only `security UNIT` is emulated by nsdriver\n"
        u = self.unit(words[1])
        path = os.path.join(self.m.dir, "journal", u.name)
        write(path, u.unit_file())
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", *opts, path],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr


# ---------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("test", choices=["single", "cluster", "rolling", "bridge"])
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "starling"))
    ap.add_argument("--timeout", type=float,
                    help="bound on the whole test in seconds (default: single 120, cluster 240, rolling 180, "
                    "so that all three stay under 10 minutes even when they fail)")
    ap.add_argument("--default-wait", type=float, default=120,
                    help="timeout of waits the scenario gives none for (the NixOS driver's is 900 s)")
    ap.add_argument("--keep-going", action="store_true",
                    help="run every top-level statement of the script even after one failed, to list all failing steps")
    ap.add_argument("--without-auth", action="store_true",
                    help="drop [auth] from the broker settings and allow anonymous clients (for brokers without auth)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory (logs, configuration)")
    ap.add_argument("--script", help="run this script on the test's machines instead of nixos/tests/TEST.py")
    ap.add_argument("--eval-only", action="store_true",
                    help="only evaluate the test and render its configuration (no root needed)")
    args = ap.parse_args()
    if args.timeout is None:
        args.timeout = {"single": 120, "cluster": 240, "rolling": 180, "bridge": 300}[args.test]
    if args.eval_only:
        driver = Driver(args.test, args)
        try:
            driver.prepare()
            driver.describe()
        except TestFailure as e:
            print(f"nixos/tests/{args.test}.nix: {e}")
            return 1
        finally:
            shutil.rmtree(driver.dir, ignore_errors=True)
        return 0
    if os.geteuid() != 0:
        print("nsdriver needs root (network and mount namespaces)", file=sys.stderr)
        return 2
    for path in (ROOT, os.path.abspath(args.binary)):
        if os.path.realpath(path).startswith(("/tmp/", "/run/")):
            # Each machine gets its own /tmp and /run, which would hide the checkout (its run
            # directory and the binary) from the machines.
            print(f"nsdriver: {path} is under /tmp or /run, which every machine replaces with its own; "
                  "run from a checkout elsewhere", file=sys.stderr)
            return 2

    driver = Driver(args.test, args)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    failures = []
    started = time.monotonic()
    try:
        driver.setup()
        if driver.compat_notes:
            for n in sorted(driver.compat_notes):
                log(f"NOTE --without-auth: {n}")
        failures = driver.run_script()
    except (Exception, KeyboardInterrupt) as e:
        traceback.print_exc()
        failures.append((0, "driver", f"{type(e).__name__}: {e}"))
    finally:
        if failures:
            for m in driver.machines.values():
                for u in m.units.values():
                    tail = u.journal_tail(40)
                    if tail:
                        print(f"--- {m.name} {u.name} (last lines)\n{tail}", flush=True)
        driver.close()
    took = time.monotonic() - started
    if failures:
        print(f"\n{args.script or f'nixos/tests/{args.test}.py'}: FAILED after {took:.0f} s, {len(failures)} failing step(s):")
        for line, text, err in failures:
            print(f"  line {line}: {text}\n      {err}")
        if args.without_auth:
            print("  (run with --without-auth: the [auth] settings were removed)")
        return 1
    print(f"\n{args.script or f'nixos/tests/{args.test}.py'}: passed in {took:.0f} s" + (" (with --without-auth)" if args.without_auth else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
