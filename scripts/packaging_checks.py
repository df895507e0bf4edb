#!/usr/bin/env python3
"""Checks behind scripts/check-packaging, one subcommand each; exit 0 = pass.

Needs PyYAML and jsonschema (both come with kubernetes-validate) and Python >= 3.11 (tomllib).
"""

import argparse
import ast
import builtins
import json
import pathlib
import re
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
IMAGE = "ghcr.io/starling-mqtt/starling"
UID = 10001
HEADLESS = "starling-headless"

# ---------------------------------------------------------------------------------------
# The broker's configuration keys (TOML, figment: unknown keys are errors); keep in step
# with src/config/ and docs/starling.example.toml.
# A dict describes a table; a set lists allowed values; None accepts any value;
# "*" in a dict means any key (named listener tables, or tables not pinned down here).
ANY = None
LISTENER = {
    "kind": {"tcp", "tls", "ws", "wss"},
    "bind": ANY,
    "max_connections": ANY,
    "allow_anonymous": ANY,
    "proxy_protocol": ANY,
    "cert": ANY,
    "key": ANY,
    "ca": ANY,
    "verify": {"none", "optional", "required"},
    "cert_identity": {"none", "cn", "san_dns", "san_email"},
    "crl": ANY,
    "reload_interval": ANY,
    "path": ANY,
    "cert_identity": {"none", "cn", "san_dns", "san_email"},
    "max_connection_rate": ANY,
    "connection_rate_burst": ANY,
}
# The port a listener binds when `bind` is left out (src/config: ListenerKind::default_port).
DEFAULT_PORTS = {"tcp": 1883, "tls": 8883, "ws": 8083, "wss": 8084}
# `[bridges.<name>]` (src/config/bridge.rs); its `out` and `in` are arrays of BRIDGE_RULE tables.
BRIDGE_RULE = {"topic", "qos", "local_prefix", "remote_prefix", "retain"}
BRIDGE = {
    "addresses": ANY,
    "protocol": {"5", "3.1.1"},
    "client_id": ANY,
    "keep_alive": ANY,
    "session_expiry": ANY,
    "username": ANY,
    "password": ANY,
    "password_file": ANY,
    "reconnect_min": ANY,
    "reconnect_max": ANY,
    "tls": {"ca": ANY, "cert": ANY, "key": ANY, "server_name": ANY},
    "backlog": {"max_messages": ANY, "max_bytes": ANY, "max_age": ANY, "overflow": {"drop_oldest", "refuse"}},
    "out": ANY,
    "in": ANY,
}
CONFIG_SCHEMA = {
    "node_name": ANY,
    "bridges": {"*": BRIDGE},
    "data_dir": ANY,
    "listeners": {"*": LISTENER},
    "mqtt": {"*": ANY},
    "session": {"*": ANY},
    "storage": {"sync": {"always", "interval", "never"}, "sync_interval": ANY, "compression": ANY, "cache_size": ANY},
    "sys": {"enabled": ANY, "interval": ANY},
    "log": {"level": ANY, "format": {"text", "json"}},
    "auth": {"chain": ANY, "allow_anonymous": ANY, "password_file": ANY, "acl_file": ANY, "hash": {"argon2id", "pbkdf2_sha256"}},
    "limits": {
        "max_messages_per_second": ANY,
        "messages_burst": ANY,
        "max_bytes_per_second": ANY,
        "bytes_burst": ANY,
        "max_subscriptions": ANY,
    },
    "bans": {"client_ids": ANY, "usernames": ANY, "networks": ANY},
    "flapping": {"enabled": ANY, "max_connects": ANY, "window": ANY, "ban_time": ANY},
    "drain": {"window": ANY, "rate": ANY, "takeover": ANY},
    "admin": {
        "enabled": ANY,
        "bind": ANY,
        "api_keys": ANY,
        "api_keys_file": ANY,
        "generate_api_key": ANY,
        "cert": ANY,
        "key": ANY,
        "ca": ANY,
        "verify": {"none", "optional", "required"},
        "crl": ANY,
        "reload_interval": ANY,
    },
    "cluster": {
        "role": {"core", "replicant"},
        "bind": ANY,
        "advertise": ANY,
        "secret": ANY,
        "secret_file": ANY,
        "name": ANY,
        "bootstrap_expect": ANY,
        "replicant_timeout": ANY,
        "heartbeat_interval": ANY,
        "election_timeout": ANY,
        "snapshot_every": ANY,
        "forward_timeout": ANY,
        "takeover_timeout": ANY,
        "server_reference": ANY,
        "discovery": {
            "kind": {"static", "dns-srv", "dns-a"},
            "seeds": ANY,
            "name": ANY,
            "port": ANY,
            "interval": ANY,
            "nameserver": ANY,
        },
        "tls": {"cert": ANY, "key": ANY, "ca": ANY},
    },
}

# Metric names the broker exports (plus process_* and Prometheus' own `up`).
METRICS = {
    "starling_connections",
    "starling_connects_total",
    "starling_disconnects_total",
    "starling_packets_received_total",
    "starling_packets_sent_total",
    "starling_messages_received_total",
    "starling_messages_sent_total",
    "starling_messages_dropped_total",
    "starling_bytes_received_total",
    "starling_bytes_sent_total",
    "starling_retained_messages",
    "starling_subscriptions",
    "starling_routes",
    "starling_sessions",
    "starling_sessions_persistent",
    "starling_queued_messages",
    "starling_inflight_messages",
    "starling_auth_failures_total",
    "starling_tls_handshake_failures_total",
    "starling_refused_total",
    "starling_throttled_total",
    "starling_tls_reloads_total",
    "starling_tls_certificate_expiry_timestamp_seconds",
    "starling_proxy_protocol_errors_total",
    "starling_websocket_upgrade_failures_total",
    "starling_data_dir_bytes",
    "starling_disk_free_bytes",
    "starling_cluster_nodes",
    "starling_raft_term",
    "starling_raft_is_leader",
    "starling_raft_leader_changes_total",
    "starling_raft_last_log_index",
    "starling_raft_pending_writes",
    "starling_cluster_outbox_messages",
    "starling_cluster_forwarded_messages_total",
    "starling_cluster_forwarded_bytes_total",
    "starling_cluster_received_messages_total",
    "starling_cluster_link_errors_total",
    "starling_cluster_refused_peers_total",
    "starling_raft_applied_index",
    "starling_raft_replication_lag_entries",
    "starling_raft_replication_lag_seconds",
}
PROCESS_METRICS = {
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
}

# NixOS test driver: the methods the scenarios may use, and the ones they must not.
ALLOWED_DRIVER_METHODS = {
    "wait_for_unit",
    "wait_for_open_port",
    "succeed",
    "fail",
    "wait_until_succeeds",
    "crash",
    "start",
    "shutdown",
    "block",
    "unblock",
    "systemctl",
    "sleep",
}
OTHER_DRIVER_METHODS = {
    "execute",
    "wait_until_fails",
    "wait_for_file",
    "wait_for_open_unix_socket",
    "wait_for_closed_port",
    "wait_for_shutdown",
    "get_unit_info",
    "get_unit_property",
    "require_unit_state",
    "shell_interact",
    "console_interact",
    "get_tty_text",
    "wait_until_tty_matches",
    "send_chars",
    "send_key",
    "send_console",
    "start_job",
    "stop_job",
    "wait_for_job",
    "wait_for_x",
    "get_window_names",
    "wait_for_window",
    "screenshot",
    "copy_from_host",
    "copy_from_host_via_shell",
    "copy_from_vm",
    "dump_tty_contents",
    "get_screen_text",
    "get_screen_text_variants",
    "wait_for_text",
    "wait_for_console_text",
    "forward_port",
    "switch_root",
    "reboot",
    "release",
    "connect",
}
ALLOWED_DRIVER_GLOBALS = {"start_all"}


class CheckError(Exception):
    pass


def fail_if(errors):
    if errors:
        for e in errors:
            print(f"  - {e}")
        raise CheckError(f"{len(errors)} problem(s)")


def load_docs(path):
    return [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]


# ---------------------------------------------------------------------------------------
# broker configuration


def config_errors(cfg, where, schema=CONFIG_SCHEMA, prefix=""):
    errors = []
    for key, value in cfg.items():
        path = f"{prefix}{key}"
        if key in schema:
            rule = schema[key]
        elif "*" in schema:
            rule = schema["*"]
        else:
            errors.append(f"{where}: unknown key `{path}`")
            continue
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                errors.append(f"{where}: `{path}` must be a table")
            else:
                errors += config_errors(value, where, rule, path + ".")
        elif isinstance(rule, set) and value not in rule:
            errors.append(f"{where}: `{path}` = {value!r}, expected one of {sorted(rule)}")
    # semantic checks on whole tables
    if not prefix:
        for name, listener in (cfg.get("listeners") or {}).items():
            kind = listener.get("kind", name)
            if kind not in LISTENER["kind"]:
                errors.append(f"{where}: listener `{name}` needs `kind`")
            if kind in ("tls", "wss") and not ("cert" in listener and "key" in listener):
                errors.append(f"{where}: {kind} listener `{name}` needs `cert` and `key`")
            if "bind" in listener and not re.fullmatch(r".+:\d+", str(listener["bind"])):
                errors.append(f"{where}: listener `{name}`: `bind` must be \"HOST:PORT\"")
            if listener.get("path", "/mqtt") != "/mqtt" and kind not in ("ws", "wss"):
                errors.append(f"{where}: listener `{name}`: `path` only applies to ws and wss listeners")
        for name, bridge in (cfg.get("bridges") or {}).items():
            for direction in ("out", "in"):
                for i, rule in enumerate(bridge.get(direction) or []):
                    unknown = sorted(set(rule) - BRIDGE_RULE) if isinstance(rule, dict) else ["(not a table)"]
                    if unknown:
                        errors.append(f"{where}: `bridges.{name}.{direction}[{i}]`: unknown keys {unknown}")
        disc = (cfg.get("cluster") or {}).get("discovery")
        if disc:
            if disc.get("kind") == "static" and not disc.get("seeds"):
                errors.append(f"{where}: static discovery needs `seeds`")
    return errors


def listener_ports(cfg):
    ports = set()
    for name, l in (cfg.get("listeners") or {}).items():
        if "bind" in l:
            ports.add(int(str(l["bind"]).rsplit(":", 1)[1]))
        else:
            ports.add(DEFAULT_PORTS.get(l.get("kind", name), 1883))
    return ports


def cmd_config(args):
    """TOML files use only the broker's configuration keys."""
    errors = []
    for f in args.files:
        try:
            cfg = tomllib.loads(pathlib.Path(f).read_text())
        except tomllib.TOMLDecodeError as e:
            errors.append(f"{f}: {e}")
            continue
        errors += config_errors(cfg, f)
        if "secret" in (cfg.get("cluster") or {}):
            errors.append(f"{f}: the cluster secret must come from the environment, not a file")
    fail_if(errors)
    print(f"{len(args.files)} configuration files use known keys only")


def cmd_nix_settings(args):
    """The `services.starling.settings` of the VM test nodes (evaluated with stubs)."""
    data = json.loads(pathlib.Path(args.json).read_text())
    errors, n = [], 0
    for test, nodes in data.items():
        brokers = {k: v for k, v in nodes.items() if v is not None}
        if not brokers:
            errors.append(f"{test}: no node runs starling")
        for node, settings in brokers.items():
            n += 1
            errors += config_errors(settings, f"{test}.{node}")
            cluster = settings.get("cluster") or {}
            if "secret" in cluster:
                errors.append(f"{test}.{node}: cluster secret in settings (world-readable store)")
    fail_if(errors)
    print(f"{n} broker nodes in {len(data)} VM tests have valid settings")


# ---------------------------------------------------------------------------------------
# NixOS test scripts


def cmd_driver_script(args):
    """A testScript uses only the allowed driver methods and only the test's machines."""
    src = pathlib.Path(args.script).read_text()
    tree = ast.parse(src, args.script)
    machines = set(args.machines.split(","))
    errors = []

    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    free = {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    } - bound - set(dir(builtins))
    unknown = free - machines - ALLOWED_DRIVER_GLOBALS
    if unknown:
        errors.append(f"names that are neither machines of the test nor allowed driver globals: {sorted(unknown)}")
    shadowed = bound & machines
    if shadowed:
        errors.append(f"machine names rebound in the script: {sorted(shadowed)}")
    unused = machines - free
    if unused:
        errors.append(f"machines of the test the script never uses: {sorted(unused)}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            meth = node.func.attr
            if meth in OTHER_DRIVER_METHODS:
                errors.append(f"line {node.lineno}: driver method `{meth}` is not in the allowed set")
            target = node.func.value
            if isinstance(target, ast.Name) and target.id in machines and meth not in ALLOWED_DRIVER_METHODS:
                errors.append(f"line {node.lineno}: `{target.id}.{meth}` is not an allowed driver method")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in {"subtest", "retry", "polling_condition", "create_machine", "join_all"}:
                errors.append(f"line {node.lineno}: driver helper `{node.func.id}` is not in the allowed set")
    fail_if(errors)
    print(f"{args.script}: uses machines {sorted(free & machines)} and allowed driver methods only")


# ---------------------------------------------------------------------------------------
# Kubernetes


BUILTIN_API_GROUPS = ("v1", "apps/v1", "policy/v1", "networking.k8s.io/v1", "batch/v1", "rbac.authorization.k8s.io/v1")
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("cert-manager.io/v1", "Certificate"),
    ("cert-manager.io/v1", "Issuer"),
}


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, name):
    found = [d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name]
    if len(found) != 1:
        raise CheckError(f"expected one {kind} {name}, found {len(found)}")
    return found[0]


def subset(a, b):
    return all(b.get(k) == v for k, v in (a or {}).items())


def cmd_crds(args):
    """Custom resources: well-formed, and consistent with the built-in objects they refer to."""
    docs = load_docs(args.rendered)
    errors = []
    custom = [d for d in docs if d.get("apiVersion") not in BUILTIN_API_GROUPS]
    for d in custom:
        what = f"{d.get('kind')} {d.get('metadata', {}).get('name')}"
        if (d.get("apiVersion"), d.get("kind")) not in CRD_KINDS:
            errors.append(f"{what}: unexpected custom resource {d.get('apiVersion')}")
        md = d.get("metadata") or {}
        if not md.get("name") or not md.get("namespace"):
            errors.append(f"{what}: metadata.name and metadata.namespace are required")
        if not isinstance(d.get("spec"), dict):
            errors.append(f"{what}: no spec")
        if not subset({"app.kubernetes.io/part-of": "starling"}, md.get("labels") or {}):
            errors.append(f"{what}: missing app.kubernetes.io/part-of label")
    services = by_kind(docs, "Service")
    namespace = {d["metadata"].get("namespace") for d in docs if d.get("kind") != "Namespace"}
    ns = namespace.pop() if len(namespace) == 1 else None

    for sm in by_kind(docs, "ServiceMonitor"):
        spec = sm["spec"]
        matched = [s for s in services if subset(spec["selector"].get("matchLabels"), s["metadata"].get("labels"))]
        if len(matched) != 1 or matched[0]["metadata"]["name"] != HEADLESS:
            errors.append(f"ServiceMonitor {sm['metadata']['name']}: should select exactly the headless Service, selects {[s['metadata']['name'] for s in matched]}")
        for svc in matched:
            names = {p.get("name") for p in svc["spec"]["ports"]}
            for ep in spec.get("endpoints", []):
                if ep.get("port") not in names:
                    errors.append(f"ServiceMonitor: endpoint port {ep.get('port')} not on Service {svc['metadata']['name']}")
                if ep.get("path") != "/metrics":
                    errors.append("ServiceMonitor: endpoint path must be /metrics")
            job_label = spec.get("jobLabel")
            if job_label and svc["metadata"]["labels"].get(job_label) != "starling":
                errors.append(f"ServiceMonitor: jobLabel {job_label} must give job=\"starling\" (the rules use it)")
    for pr in by_kind(docs, "PrometheusRule"):
        for g in pr["spec"].get("groups", []):
            for r in g.get("rules", []):
                if not r.get("expr") or not (r.get("alert") or r.get("record")):
                    errors.append(f"PrometheusRule group {g.get('name')}: rule without expr/alert")

    issuers = {i["metadata"]["name"]: i for i in by_kind(docs, "Issuer")}
    certs = by_kind(docs, "Certificate")
    cert_secrets = {c["spec"].get("secretName"): c for c in certs}
    for name, issuer in issuers.items():
        kinds = [k for k in ("selfSigned", "ca", "acme", "vault", "venafi") if k in issuer["spec"]]
        if len(kinds) != 1:
            errors.append(f"Issuer {name}: needs exactly one issuer type, has {kinds}")
        if "ca" in issuer["spec"]:
            ca_cert = cert_secrets.get(issuer["spec"]["ca"].get("secretName"))
            if not ca_cert or not ca_cert["spec"].get("isCA"):
                errors.append(f"Issuer {name}: its CA secret is not made by an isCA Certificate")
    for c in certs:
        ref = c["spec"].get("issuerRef", {})
        if ref.get("kind", "Issuer") == "Issuer" and ref.get("name") not in issuers:
            errors.append(f"Certificate {c['metadata']['name']}: issuer {ref.get('name')} not in the manifests")
    # The broker certificate: mounted by the pods, valid for the pods' node names.
    mounted = set()
    for sts in by_kind(docs, "StatefulSet"):
        for v in sts["spec"]["template"]["spec"].get("volumes", []):
            for src in (v.get("projected") or {}).get("sources", []):
                if "secret" in src:
                    mounted.add(src["secret"]["name"])
            if "secret" in v:
                mounted.add(v["secret"]["secretName"])
    for secret in mounted:
        cert = cert_secrets.get(secret)
        if cert is None:
            errors.append(f"Secret {secret} mounted by the pods is made by no Certificate")
            continue
        dns = set(cert["spec"].get("dnsNames", []))
        want = {f"*.{HEADLESS}.{ns}.svc.cluster.local", f"starling.{ns}.svc"}
        if not want <= dns:
            errors.append(f"Certificate {cert['metadata']['name']}: dnsNames lack {sorted(want - dns)} (namespace {ns})")
        usages = set(cert["spec"].get("usages", []))
        if not {"server auth", "client auth"} <= usages:
            errors.append(f"Certificate {cert['metadata']['name']}: the cluster link needs server and client auth usages")
    fail_if(errors)
    print(f"{len(custom)} custom resources checked: " + ", ".join(sorted({d['kind'] for d in custom})))


def container(sts):
    cs = sts["spec"]["template"]["spec"]["containers"]
    if len(cs) != 1:
        raise CheckError(f"{sts['metadata']['name']}: expected one container")
    return cs[0]


def cmd_k8s(args):
    """Invariants of a rendered overlay (see the research notes §3.3)."""
    docs = load_docs(args.rendered)
    errors = []
    expect = json.loads(args.expect)

    for d in docs:
        md = d.get("metadata") or {}
        labels = md.get("labels") or {}
        if labels.get("app.kubernetes.io/part-of") != "starling" or labels.get("app.kubernetes.io/managed-by") != "kustomize":
            errors.append(f"{d['kind']} {md.get('name')}: missing app.kubernetes.io/part-of / managed-by labels")
        if d["kind"] not in ("Namespace", "ConfigMap", "Secret") and labels.get("app.kubernetes.io/name") != "starling":
            errors.append(f"{d['kind']} {md.get('name')}: missing app.kubernetes.io/name=starling")

    headless = one(docs, "Service", HEADLESS)
    hs = headless["spec"]
    if hs.get("clusterIP") != "None" or hs.get("publishNotReadyAddresses") is not True:
        errors.append("headless Service: needs clusterIP: None and publishNotReadyAddresses: true")
    if {"name": "cluster", "port": 4370} not in [{"name": p.get("name"), "port": p.get("port")} for p in hs["ports"]]:
        errors.append("headless Service: needs a port named `cluster` on 4370 (SRV _cluster._tcp)")
    client = one(docs, "Service", "starling")
    client_ports = sorted(p["port"] for p in client["spec"]["ports"])
    if client_ports != sorted(expect["client_ports"]):
        errors.append(f"client Service ports {client_ports}, expected {sorted(expect['client_ports'])}")

    configmaps = {c["metadata"]["name"]: c for c in by_kind(docs, "ConfigMap")}
    secrets = {s["metadata"]["name"] for s in by_kind(docs, "Secret")}
    accounts = {s["metadata"]["name"] for s in by_kind(docs, "ServiceAccount")}
    made_by_cert = {c["spec"].get("secretName") for c in by_kind(docs, "Certificate")}
    statefulsets = by_kind(docs, "StatefulSet")
    if sorted(s["metadata"]["name"] for s in statefulsets) != ["starling-core", "starling-replicant"]:
        errors.append("expected the StatefulSets starling-core and starling-replicant")

    for sts in statefulsets:
        name = sts["metadata"]["name"]
        role = name.removeprefix("starling-")
        spec = sts["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        c = container(sts)
        e = lambda msg: errors.append(f"{name}: {msg}")

        if spec.get("replicas") != expect["replicas"][role]:
            e(f"replicas {spec.get('replicas')}, expected {expect['replicas'][role]}")
        if spec.get("serviceName") != HEADLESS:
            e(f"serviceName must be {HEADLESS}")
        if spec.get("podManagementPolicy") != "Parallel":
            e("podManagementPolicy must be Parallel")
        if not subset(spec["selector"]["matchLabels"], labels):
            e("selector does not match the pod labels")
        if labels.get("app.kubernetes.io/component") != role:
            e(f"pod label app.kubernetes.io/component must be {role}")
        if not subset({"app.kubernetes.io/name": "starling", "app.kubernetes.io/instance": "starling"}, labels):
            e("pod labels need app.kubernetes.io/name and instance")
        if pod.get("terminationGracePeriodSeconds") != 60:
            e("terminationGracePeriodSeconds must be 60")
        if pod.get("serviceAccountName") not in accounts:
            e("its ServiceAccount is not in the manifests")
        psc = pod.get("securityContext") or {}
        if not (psc.get("runAsNonRoot") is True and psc.get("runAsUser") == UID and (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault"):
            e(f"pod securityContext needs runAsNonRoot, runAsUser {UID}, seccomp RuntimeDefault")
        csc = c.get("securityContext") or {}
        if not (csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False and (csc.get("capabilities") or {}).get("drop") == ["ALL"]):
            e("container securityContext needs readOnlyRootFilesystem, no privilege escalation, drop ALL")
        if csc.get("runAsUser", UID) != UID:
            e(f"container runAsUser must be {UID}")
        if not c.get("image", "").startswith(IMAGE + ":"):
            e(f"image must be {IMAGE}:<tag>")
        res = c.get("resources") or {}
        if not (res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory") and res.get("limits", {}).get("memory")):
            e("resources need cpu/memory requests and a memory limit")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if ports.get("admin") != 18083 or ports.get("cluster") != 4370:
            e("container ports admin=18083 and cluster=4370 are required")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            get = (c.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path or ports.get(get.get("port"), get.get("port")) != 18083:
                e(f"{probe} must be GET {path} on the admin port 18083")
        if ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command") != ["starling", "ctl", "node", "drain", "--wait"]:
            e("preStop must exec `starling ctl node drain --wait`")
        spreads = pod.get("topologySpreadConstraints") or []
        if not spreads or not all(subset(t["labelSelector"]["matchLabels"], labels) for t in spreads):
            e("topologySpreadConstraints missing or not matching the pod labels")
        anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
        terms = [t["podAffinityTerm"] for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])] + anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        if not terms or not all(subset(t["labelSelector"]["matchLabels"], labels) for t in terms):
            e("podAntiAffinity missing or not matching the pod labels")
        if role == "core" and expect.get("core_anti_affinity") == "required" and not anti.get("requiredDuringSchedulingIgnoredDuringExecution"):
            e("cores need required podAntiAffinity here")

        env = c.get("env") or []
        env_names = [v["name"] for v in env]
        env_map = {v["name"]: v.get("value") for v in env}
        want_env = {
            "STARLING_NODE_NAME": f"$(POD_NAME).{HEADLESS}.$(POD_NAMESPACE).svc.$(CLUSTER_DOMAIN)",
            "STARLING_CLUSTER__ROLE": role,
            "STARLING_CLUSTER__DISCOVERY__NAME": f"_cluster._tcp.{HEADLESS}.$(POD_NAMESPACE).svc.$(CLUSTER_DOMAIN)",
            "STARLING_CLUSTER__ADVERTISE": "$(STARLING_NODE_NAME):4370",
        }
        for k, v in want_env.items():
            if env_map.get(k) != v:
                e(f"env {k} must be {v!r}, is {env_map.get(k)!r}")
        for var in ("POD_NAME", "POD_NAMESPACE", "CLUSTER_DOMAIN"):
            if var not in env_names or env_names.index(var) > env_names.index("STARLING_NODE_NAME"):
                e(f"{var} must be defined (downward API, or the cluster domain) before STARLING_NODE_NAME")
        for v in env:
            ref = (v.get("valueFrom") or {}).get("secretKeyRef")
            if ref and ref["name"] not in secrets and ref["name"] not in expect.get("external_secrets", []):
                e(f"env {v['name']}: Secret {ref['name']} neither rendered nor declared external")

        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
        if mounts.get("/var/lib/starling") not in claims:
            e("/var/lib/starling must be a volumeClaimTemplate")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        cfg_vol = volumes.get(mounts.get("/etc/starling"))
        if not cfg_vol:
            e("no volume at /etc/starling")
            continue
        files = {}  # path under /etc/starling -> (kind, name, key)
        if "projected" in cfg_vol:
            sources = cfg_vol["projected"].get("sources", [])
        elif "configMap" in cfg_vol:
            sources = [{"configMap": cfg_vol["configMap"]}]
        else:
            sources = []
        for src in sources:
            if "configMap" in src:
                cm = configmaps.get(src["configMap"]["name"])
                if cm is None:
                    e(f"ConfigMap {src['configMap']['name']} not in the manifests")
                    continue
                for key in cm.get("data", {}):
                    files[key] = ("configMap", cm, key)
            if "secret" in src:
                sname = src["secret"]["name"]
                if sname not in secrets and sname not in made_by_cert and sname not in expect.get("external_secrets", []):
                    e(f"Secret {sname} is neither rendered, made by a Certificate, nor declared external")
                for item in src["secret"].get("items", []):
                    files[item["path"]] = ("secret", sname, item["key"])
        if "starling.toml" not in files or files["starling.toml"][0] != "configMap":
            e("/etc/starling/starling.toml must come from the ConfigMap")
            continue
        if c.get("args", [])[:2] != ["--config", "/etc/starling/starling.toml"]:
            e("args must be --config /etc/starling/starling.toml")
        cfg = tomllib.loads(files["starling.toml"][1]["data"]["starling.toml"])
        errors += [f"{name}: {x}" for x in config_errors(cfg, "starling.toml")]
        if (cfg.get("admin") or {}).get("bind") != "0.0.0.0:18083":
            e("admin.bind must be 0.0.0.0:18083 in pods (probes, metrics)")
        if (cfg.get("cluster") or {}).get("discovery", {}).get("kind") != "dns-srv":
            e("cluster.discovery.kind must be dns-srv (headless Service SRV records)")
        if "secret" in (cfg.get("cluster") or {}):
            e("the cluster secret must not be in the ConfigMap")
        for ref in [l.get(k) for l in (cfg.get("listeners") or {}).values() for k in ("cert", "key", "ca", "crl")] + [((cfg.get("cluster") or {}).get("tls") or {}).get(k) for k in ("cert", "key", "ca")]:
            if ref and not (ref.startswith("/etc/starling/") and ref.removeprefix("/etc/starling/") in files):
                e(f"config refers to {ref}, which is not mounted")
        # The environment overrides the file (dev-cluster sets it on the cores); only cores
        # bootstrap, so only theirs must match.
        expected_cores = env_map.get("STARLING_CLUSTER__BOOTSTRAP_EXPECT") or (cfg.get("cluster") or {}).get("bootstrap_expect")
        if "cluster" not in cfg or (env_map.get("STARLING_CLUSTER__ROLE") == "core" and str(expected_cores) != str(expect["replicas"]["core"])):
            e(f"cluster.bootstrap_expect must equal the core replicas ({expect['replicas']['core']})")
        cports = set(ports.values())
        missing = listener_ports(cfg) - cports
        if missing:
            e(f"listener ports {sorted(missing)} are not container ports")
        extra = cports - listener_ports(cfg) - {18083, 4370}
        if extra:
            e(f"container ports {sorted(extra)} have no listener")

    for svc in by_kind(docs, "Service"):
        sel = svc["spec"].get("selector") or {}
        pods = [s for s in statefulsets if subset(sel, s["spec"]["template"]["metadata"]["labels"])]
        if not pods:
            errors.append(f"Service {svc['metadata']['name']}: selects no pods")
        for s in pods:
            names = {p["name"] for p in container(s).get("ports", [])}
            for p in svc["spec"]["ports"]:
                if isinstance(p.get("targetPort"), str) and p["targetPort"] not in names:
                    errors.append(f"Service {svc['metadata']['name']}: targetPort {p['targetPort']} not a port of {s['metadata']['name']}")

    pdbs = by_kind(docs, "PodDisruptionBudget")
    core = next((s for s in statefulsets if s["metadata"]["name"] == "starling-core"), None)
    core_pdbs = [p for p in pdbs if core and subset(p["spec"]["selector"]["matchLabels"], core["spec"]["template"]["metadata"]["labels"])]
    if len(core_pdbs) != 1 or core_pdbs[0]["apiVersion"] != "policy/v1" or core_pdbs[0]["spec"].get("maxUnavailable") != 1:
        errors.append("cores need one policy/v1 PodDisruptionBudget with maxUnavailable: 1")

    for np in by_kind(docs, "NetworkPolicy"):
        for rule in np["spec"].get("ingress", []):
            ports = [p.get("port") for p in rule.get("ports", [])]
            if not rule.get("ports") or 4370 in ports or "cluster" in ports:
                sources = rule.get("from")
                ok = sources and all(set(f) == {"podSelector"} and f["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": "starling"} for f in sources)
                if not ok:
                    errors.append(f"NetworkPolicy {np['metadata']['name']}: 4370 reachable from more than app.kubernetes.io/name=starling pods")
        if not any(4370 in [p.get("port") for p in r.get("ports", [])] for r in np["spec"].get("ingress", [])):
            errors.append("NetworkPolicy: no rule for the cluster port 4370")
    if not by_kind(docs, "NetworkPolicy"):
        errors.append("no NetworkPolicy")

    fail_if(errors)
    print(f"{args.rendered}: {len(docs)} objects, invariants hold")


def cmd_renamed(args):
    """The overlay rendered into another namespace and cluster domain (its `namespace:` set, the
    StatefulSets' CLUSTER_DOMAIN patched, both in a copy of k8s/) keeps no old name: no
    `cluster.local`, no `.<old namespace>.svc`, no object in the old namespace."""
    import shutil
    import subprocess
    import tempfile
    import yaml

    overlay = pathlib.Path(args.overlay)
    new_ns, new_domain = "mqtt-elsewhere", "corp.example"
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "k8s", pathlib.Path(tmp) / "k8s")
        if overlay.parts[0] != "k8s":
            raise CheckError(f"{overlay}: not under k8s/")
        kdir = pathlib.Path(tmp) / overlay
        kfile = kdir / "kustomization.yaml"
        k = yaml.safe_load(kfile.read_text())
        old_ns = k.get("namespace")
        parent = k
        while old_ns is None:
            # An overlay on another overlay (dev-cluster on dev) takes its namespace from it.
            base = next(r for r in parent.get("resources", []) if not r.endswith(".yaml"))
            parent = yaml.safe_load((kdir / base / "kustomization.yaml").read_text())
            old_ns = parent.get("namespace")
        k["namespace"] = new_ns
        # docs/operations.md's one patch for both StatefulSets.
        (kdir / "cluster-domain.yaml").write_text(yaml.safe_dump({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "any"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "starling", "env": [{"name": "CLUSTER_DOMAIN", "value": new_domain}]}]}}}}))
        k.setdefault("patches", []).append({"path": "cluster-domain.yaml", "target": {"kind": "StatefulSet"}})
        kfile.write_text(yaml.safe_dump(k, sort_keys=False))
        r = subprocess.run(["kubectl", "kustomize", str(kdir)], capture_output=True, text=True)
        if r.returncode != 0:
            raise CheckError(f"kubectl kustomize {overlay} (renamed): {r.stderr.strip()}")
        docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    stale = re.compile(r"cluster\.local|(^|\.)" + re.escape(old_ns) + r"\.svc(\.|$)")
    errors = []

    def walk(v, where):
        if isinstance(v, dict):
            for key, x in v.items():
                walk(x, f"{where}.{key}")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{where}[{i}]")
        elif isinstance(v, str) and stale.search(v):
            errors.append(f"{where}: {v!r}")

    domains = set()
    for d in docs:
        md = d.get("metadata") or {}
        where = f"{d['kind']} {md.get('name')}"
        if md.get("namespace") == old_ns or (d["kind"] == "Namespace" and md.get("name") == old_ns):
            errors.append(f"{where}: still in namespace {old_ns}")
        walk(d, where)
        if d["kind"] == "StatefulSet":
            env = {e["name"]: e.get("value") for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])}
            domains.add(env.get("CLUSTER_DOMAIN"))
        if d["kind"] == "Certificate" and d["metadata"]["name"] == "starling-tls":
            want = f"*.starling-headless.{new_ns}.svc.{new_domain}"
            if want not in d["spec"].get("dnsNames", []):
                errors.append(f"{where}: dnsNames lack {want}: {d['spec'].get('dnsNames')}")
    if domains and domains != {new_domain}:
        errors.append(f"StatefulSets' CLUSTER_DOMAIN {sorted(map(str, domains))}, expected only {new_domain}")
    fail_if(errors)
    print(f"{overlay} rendered into namespace {new_ns} (was {old_ns}) and domain {new_domain}: no old names")


def cmd_crd_presence(args):
    """The production overlay ships the CRD-based objects."""
    docs = load_docs(args.rendered)
    kinds = sorted({d["kind"] for d in docs})
    missing = [k for k in args.kinds.split(",") if k not in kinds]
    fail_if([f"missing {k}" for k in missing])
    print(f"present: {args.kinds}")


# ---------------------------------------------------------------------------------------
# monitoring

METRIC_RE = re.compile(r"\b((?:starling|process)_[a-z0-9_]+)\b")


def metric_names(text):
    return set(METRIC_RE.findall(text))


def unknown_metrics(names):
    return sorted(n for n in names if n not in METRICS and n not in PROCESS_METRICS)


def grafana_exprs(dash):
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    exprs.append((p.get("title"), t["expr"]))
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            exprs.append((f"annotation {a.get('name')}", a["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            exprs.append((f"variable {v.get('name')}", q))
    return exprs


def cmd_grafana(args):
    """The dashboard is a well-formed Grafana dashboard over the broker's metrics."""
    dash = json.loads(pathlib.Path(args.dashboard).read_text())
    errors = []
    for key in ("title", "uid", "panels", "schemaVersion", "templating"):
        if key not in dash:
            errors.append(f"no `{key}`")
    ids, titles = set(), []
    for p in dash.get("panels", []):
        if p.get("id") in ids:
            errors.append(f"duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        g = p.get("gridPos") or {}
        if not all(k in g for k in "hwxy") or g["x"] + g["w"] > 24:
            errors.append(f"panel {p.get('title')}: bad gridPos {g}")
        if p.get("type") != "row":
            titles.append(p.get("title"))
            if not p.get("targets"):
                errors.append(f"panel {p.get('title')}: no queries")
            if (p.get("datasource") or {}).get("uid") != "${datasource}":
                errors.append(f"panel {p.get('title')}: datasource must be the ${{datasource}} variable")
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    for title, expr in grafana_exprs(dash):
        for var in re.findall(r"\$(?!__)(\w+)", expr):
            if var not in variables:
                errors.append(f"{title}: unknown variable ${var}")
    used = set()
    for _, expr in grafana_exprs(dash):
        used |= metric_names(expr)
    bad = unknown_metrics(used)
    if bad:
        errors.append(f"metrics the broker does not export: {bad}")
    wanted = ["starling_connections", "starling_messages_received_total", "starling_messages_sent_total",
              "starling_messages_dropped_total", "starling_bytes_received_total", "starling_bytes_sent_total",
              "starling_subscriptions", "starling_queued_messages", "starling_inflight_messages",
              "starling_raft_term", "starling_raft_is_leader", "starling_raft_replication_lag_entries",
              "starling_disk_free_bytes"]
    missing = [m for m in wanted if m not in used]
    if missing:
        errors.append(f"dashboard lacks panels for {missing}")
    fail_if(errors)
    print(f"{len(titles)} panels, {len(used)} metrics, all exported by the broker")


def cmd_grafana_promql(args):
    """Write the dashboard's queries as recording rules, for `promtool check rules`."""
    dash = json.loads(pathlib.Path(args.dashboard).read_text())
    subst = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h", "$job": "starling",
             "$namespace": ".*", "$instance": ".*"}
    rules = []
    for i, (title, expr) in enumerate(grafana_exprs(dash)):
        if expr.startswith("label_values("):
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", expr)
            if not m:
                raise CheckError(f"{title}: unparsable label_values")
            expr = m.group(1)
        for k, v in subst.items():
            expr = expr.replace(k, v)
        rules.append({"record": f"grafana:query_{i}", "expr": expr})
    pathlib.Path(args.out).write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}))
    print(f"{len(rules)} queries written to {args.out}")


def cmd_rule_metrics(args):
    """The alerting rules use only exported metrics, and are the seven agreed alerts."""
    rules = yaml.safe_load(pathlib.Path(args.rules).read_text())
    errors, used, alerts = [], set(), []
    for g in rules["groups"]:
        for r in g["rules"]:
            used |= metric_names(r["expr"])
            alerts.append(r.get("alert"))
            if "severity" not in (r.get("labels") or {}):
                errors.append(f"{r.get('alert')}: no severity label")
            if not {"summary", "description"} <= set(r.get("annotations") or {}):
                errors.append(f"{r.get('alert')}: needs summary and description")
    bad = unknown_metrics(used)
    if bad:
        errors.append(f"metrics the broker does not export: {bad}")
    want = ["StarlingNodeDown", "StarlingQuorumLost", "StarlingReplicationLag", "StarlingDroppedMessages",
            "StarlingAuthFailureSpike", "StarlingConnectionDrop", "StarlingDiskFilling",
            "StarlingCertificateExpiresSoon", "StarlingCertificateExpiresVerySoon"]
    if sorted(alerts) != sorted(want):
        errors.append(f"alerts {sorted(alerts)}, expected {sorted(want)}")
    fail_if(errors)
    print(f"{len(alerts)} alerts over {len(used)} exported metrics")


def cmd_rule_sync(args):
    """The PrometheusRule rendered for production carries exactly monitoring/prometheus-rules.yml."""
    rules = yaml.safe_load(pathlib.Path(args.rules).read_text())
    docs = [d for d in load_docs(args.rendered) if d.get("kind") == "PrometheusRule"]
    if len(docs) != 1:
        raise CheckError(f"expected one PrometheusRule, found {len(docs)}")
    if docs[0]["spec"]["groups"] != rules["groups"]:
        raise CheckError("PrometheusRule differs from monitoring/prometheus-rules.yml: run scripts/gen-prometheus-rule")
    print(f"PrometheusRule {docs[0]['metadata']['name']} == {args.rules}")


# ---------------------------------------------------------------------------------------
# image <-> manifests


def cmd_image(args):
    """The OCI image (nix/oci.nix, evaluated with stubs) fits the Kubernetes manifests."""
    img = json.loads(pathlib.Path(args.image_json).read_text())
    errors = []
    cfg = img["config"]
    if img["name"] != IMAGE:
        errors.append(f"image name {img['name']}, expected {IMAGE}")
    if cfg.get("User") != f"{UID}:{UID}":
        errors.append(f"image User {cfg.get('User')}, expected {UID}:{UID}")
    if cfg.get("Entrypoint", [])[-1:] != ["serve"] or not cfg["Entrypoint"][0].endswith("/bin/starling"):
        errors.append(f"Entrypoint must be `starling serve`, is {cfg.get('Entrypoint')}")
    if cfg.get("Cmd") != ["--config", "/etc/starling/starling.toml"]:
        errors.append("Cmd must be --config /etc/starling/starling.toml")
    exposed = {int(p.split("/")[0]) for p in cfg.get("ExposedPorts", {})}
    if exposed != {1883, 8883, 8083, 8084, 18083, 4370}:
        errors.append(f"ExposedPorts {sorted(exposed)}")
    labels = cfg.get("Labels", {})
    for k in ("title", "description", "version", "revision", "source", "licenses"):
        if f"org.opencontainers.image.{k}" not in labels:
            errors.append(f"label org.opencontainers.image.{k} missing")
    if "/var/lib/starling" not in cfg.get("Volumes", {}) or cfg.get("WorkingDir") != "/var/lib/starling":
        errors.append("/var/lib/starling must be the volume and working directory")
    if f"chown {UID}:{UID} var/lib/starling" not in img["fakeRootCommands"]:
        errors.append("the data directory must belong to the image user")
    passwd = img["files"].get("etc/passwd", "")
    if not re.search(rf"^starling:x:{UID}:{UID}:", passwd, re.M):
        errors.append(f"/etc/passwd needs the starling user {UID}")
    default_cfg = tomllib.loads(img["files"]["etc/starling/starling.toml"])
    errors += config_errors(default_cfg, "image starling.toml")
    if not listener_ports(default_cfg) <= exposed:
        errors.append("the image's default listeners are not all exposed")
    if not any(e.startswith("SSL_CERT_FILE=") for e in cfg.get("Env", [])):
        errors.append("SSL_CERT_FILE must be set")

    for path in args.rendered:
        docs = load_docs(path)
        for sts in by_kind(docs, "StatefulSet"):
            c = container(sts)
            if c["image"].split(":")[0] != IMAGE:
                errors.append(f"{path} {sts['metadata']['name']}: image {c['image']}")
            if sts["spec"]["template"]["spec"]["securityContext"].get("runAsUser") != UID:
                errors.append(f"{path} {sts['metadata']['name']}: runAsUser differs from the image user")
            ports = {p["containerPort"] for p in c.get("ports", [])}
            if not ports <= exposed:
                errors.append(f"{path} {sts['metadata']['name']}: ports {sorted(ports - exposed)} not exposed by the image")
    fail_if(errors)
    print(f"image {IMAGE}:{img['tag']} (user {UID}, ports {sorted(exposed)}) fits {len(args.rendered)} renderings")


def cmd_package(args):
    """nix/package.nix (evaluated with stubs) builds the crate of Cargo.toml."""
    pkg = json.loads(pathlib.Path(args.package_json).read_text())
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    errors = []
    if pkg["pname"] != cargo["package"]["name"]:
        errors.append(f"pname {pkg['pname']} != crate {cargo['package']['name']}")
    if pkg["version"] != cargo["package"]["version"]:
        errors.append("version differs from Cargo.toml")
    if pkg["cargoLock"] != "Cargo.lock":
        errors.append("cargoLock.lockFile must be ./Cargo.lock")
    if pkg["doCheck"] is not False:
        errors.append("doCheck must be false (tests run in checks.cargo-test)")
    if pkg["mainProgram"] != "starling" or "starling" not in [b.get("name") for b in cargo.get("bin", [])] + [cargo["package"]["name"]]:
        errors.append("meta.mainProgram must be the starling binary")
    for p in pkg["fileset"]:
        if not (ROOT / p).exists() and not p.startswith("maybe:"):
            errors.append(f"source file set names a missing path {p}")
    fail_if(errors)
    print(f"{pkg['pname']} {pkg['version']} from Cargo.lock, doCheck=false")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("config"); p.add_argument("files", nargs="+"); p.set_defaults(f=cmd_config)
    p = sub.add_parser("nix-settings"); p.add_argument("json"); p.set_defaults(f=cmd_nix_settings)
    p = sub.add_parser("driver-script"); p.add_argument("script"); p.add_argument("--machines", required=True); p.set_defaults(f=cmd_driver_script)
    p = sub.add_parser("k8s"); p.add_argument("rendered"); p.add_argument("--expect", required=True); p.set_defaults(f=cmd_k8s)
    p = sub.add_parser("crds"); p.add_argument("rendered"); p.set_defaults(f=cmd_crds)
    p = sub.add_parser("renamed"); p.add_argument("overlay"); p.set_defaults(f=cmd_renamed)
    p = sub.add_parser("crd-presence"); p.add_argument("rendered"); p.add_argument("--kinds", required=True); p.set_defaults(f=cmd_crd_presence)
    p = sub.add_parser("grafana"); p.add_argument("dashboard"); p.set_defaults(f=cmd_grafana)
    p = sub.add_parser("grafana-promql"); p.add_argument("dashboard"); p.add_argument("out"); p.set_defaults(f=cmd_grafana_promql)
    p = sub.add_parser("rule-metrics"); p.add_argument("rules"); p.set_defaults(f=cmd_rule_metrics)
    p = sub.add_parser("rule-sync"); p.add_argument("rules"); p.add_argument("rendered"); p.set_defaults(f=cmd_rule_sync)
    p = sub.add_parser("image"); p.add_argument("image_json"); p.add_argument("rendered", nargs="*"); p.set_defaults(f=cmd_image)
    p = sub.add_parser("package"); p.add_argument("package_json"); p.set_defaults(f=cmd_package)
    args = ap.parse_args()
    try:
        args.f(args)
    except CheckError as e:
        print(f"FAILED: {e}")
        return 1
    except (KeyError, TypeError, ValueError, IndexError) as e:
        print(f"FAILED: malformed input: {e!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
