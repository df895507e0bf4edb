#!/usr/bin/env bash
# Measure a Starling cluster on this machine (loopback only): cross-node delivery against
# same-node delivery, catalog write throughput, and how long a new replicant takes to catch
# up on a catalog of many routes. Prints a markdown table of medians (docs/benchmarks.md,
# section "Cluster").
#
# Usage: scripts/bench/cluster.sh [-r REPS] [-d DURATION] [-p PUBLISHERS] [-w SUBSCRIBERS]
#                                 [-n ROUTES] [-S SNAPSHOT_EVERY] [-a 127.A.B] [-o RESULTS.md]
#                                 [-s "delivery writes catchup"] [-c CPUS]
#   -r  repetitions of every measurement (default 3); the table shows medians
#   -d  load phase of each delivery run (default 10s)
#   -p  publishers of the flood delivery runs (default 8)
#   -w  subscribing clients (one distinct filter each) per catalog-write run (default 10000)
#   -n  routes in the catalog the new replicant catches up on (default 100000)
#   -S  cluster.snapshot_every of every node (default: the built-in 10000 log entries). Routes
#       are written in batches, so 100,000 routes are only a few hundred log entries and a new
#       node gets the log, not a snapshot. With -S, the log is first padded with
#       1,100 + SNAPSHOT_EVERY single writes (retained messages `pad/N`) so the entries before
#       the catalog are purged (1,000 are kept after a snapshot) and a new node must be sent
#       a snapshot. Whether it was is recorded from its log.
#   -a  first three octets of the nodes' loopback addresses (default 127.250.77: the test
#       harness picks 127.20-219.x.x, so the two never collide)
#   -s  parts to run (default: all three)
#   -c  give every node its own CPU limit of CPUS cores (e.g. 0.5), as a Kubernetes pod's
#       `resources.limits.cpu` does: each node process goes into a cgroup of its own with a CFS
#       quota (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us`; needs root). The load generator
#       stays unlimited. Without -c, all nodes and the load generator share the machine's
#       cores, so a cross-node run does the work of two nodes on the CPU of one.
#   -o  results file (default target/bench-results/cluster-<time>.md); raw JSON lines go
#       next to it (<same name>.jsonl)
# Environment: PBIN=path/to/starling (and PBENCH=path/to/starling-bench) measure those binaries
# instead of building this tree, e.g. a copy of the build before a change.
#
# The cluster: 3 cores (127.A.B.1-3) and 1 replicant (.4), each with its own data dir, MQTT
# listener (:1883), admin listener (:18083) and cluster link (:4370), static seeds, a shared
# secret. Every run is bounded (-d, --drain, timeouts on every wait); every node started here
# is killed on exit (trap) and the temporary directory removed.
set -euo pipefail

REPS=3
DURATION=10s
PUBLISHERS=8
SNAPSHOT_EVERY=""
WRITERS=10000
ROUTES=100000
NET=127.250.77
PARTS="delivery writes catchup"
OUT=""
CPU_LIMIT=""
while getopts "r:d:p:w:n:S:a:o:s:c:h" opt; do
    case "$opt" in
        r) REPS=$OPTARG ;;
        d) DURATION=$OPTARG ;;
        p) PUBLISHERS=$OPTARG ;;
        w) WRITERS=$OPTARG ;;
        n) ROUTES=$OPTARG ;;
        S) SNAPSHOT_EVERY=$OPTARG ;;
        a) NET=$OPTARG ;;
        o) OUT=$OPTARG ;;
        s) PARTS=$OPTARG ;;
        c) CPU_LIMIT=$OPTARG ;;
        *) sed -n '2,38p' "$0"; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=${OUT:-$ROOT/target/bench-results/cluster-$STAMP.md}
mkdir -p "$(dirname "$OUT")"
RAW=${OUT%.md}.jsonl
: > "$RAW"
WORK=$(mktemp -d /tmp/starling-cluster-bench.XXXXXX)
# PBIN / PBENCH: measure another build (a copy of an earlier commit's binaries) instead of
# building this tree.
BIN=${PBIN:-$ROOT/target/release/starling}
BENCH=${PBENCH:-$ROOT/target/release/starling-bench}
SECRET=bench-cluster-secret-0123456789
KEY=bench-api-key-0123456789
CORES=3

declare -A PID=()      # node name -> pid
declare -A IP=()       # node name -> address
HELPERS=()             # subscribers holding the catalog's routes (live until the end)
CGROUPS=()             # per-node CPU cgroups made for -c (removed on exit)
BENCH_PID=""           # a running `starling-bench sub`

log() { printf '[cluster-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
    local p
    [ -z "$BENCH_PID" ] || kill "$BENCH_PID" 2>/dev/null || true
    for p in "${HELPERS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    for p in $BENCH_PID "${HELPERS[@]}" "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for p in "${CGROUPS[@]}"; do rmdir "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# Seconds from $1 to $2 as a JSON number, or null when $2 is empty (never happened).
json_elapsed() { if [ -n "$2" ]; then elapsed "$1" "$2"; else echo null; fi; }

# --- nodes ----------------------------------------------------------------------------------

seeds() {
    local i out=""
    for i in $(seq 1 "$CORES"); do out+="\"$NET.$i:4370\", "; done
    echo "[${out%, }]"
}

# write_config NAME ROLE N
write_config() {
    local name=$1 role=$2 n=$3 ip=$NET.$3
    IP[$name]=$ip
    mkdir -p "$WORK/$name"
    cat > "$WORK/$name.toml" <<EOF
node_name = "$name"
data_dir = "$WORK/$name/data"

[listeners.tcp]
bind = "$ip:1883"
allow_anonymous = true

[admin]
bind = "$ip:18083"
api_keys = ["$KEY"]

[log]
# info for the state machine: "catalog snapshot installed" tells how a new node caught up.
level = "warn,starling::cluster::raft::state_machine=info"

[cluster]
role = "$role"
secret = "$SECRET"
bind = "$ip:4370"
advertise = "$ip:4370"
bootstrap_expect = $CORES
${SNAPSHOT_EVERY:+snapshot_every = $SNAPSHOT_EVERY}

[cluster.discovery]
kind = "static"
seeds = $(seeds)
EOF
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

start_node() { # name role n
    local name=$1 ip=$NET.$3
    write_config "$@"
    for port in 1883 18083 4370; do
        if port_open "$ip" "$port"; then
            log "$ip:$port is already in use; refusing to start $name next to an unknown process"
            return 1
        fi
    done
    "$BIN" serve --config "$WORK/$name.toml" >>"$WORK/$name.log" 2>&1 &
    PID[$name]=$!
    limit_cpu "$name" "${PID[$name]}"
}

# With -c: put the node's process into a cgroup of its own with a CPU quota of CPU_LIMIT cores.
limit_cpu() { # name pid
    [ -n "$CPU_LIMIT" ] || return 0
    local name=$1 pid=$2 quota dir
    quota=$(awk -v c="$CPU_LIMIT" 'BEGIN { printf "%d", c * 100000 }')
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        # cgroup v2: the cpu controller must be enabled for the children of the root.
        grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
        dir=/sys/fs/cgroup/starling-bench-$name
        mkdir -p "$dir"
        echo "$quota 100000" >"$dir/cpu.max"
    elif [ -d /sys/fs/cgroup/cpu ]; then
        dir=/sys/fs/cgroup/cpu/starling-bench-$name
        mkdir -p "$dir"
        echo 100000 >"$dir/cpu.cfs_period_us"
        echo "$quota" >"$dir/cpu.cfs_quota_us"
    else
        log "no cgroup cpu controller found; cannot apply -c"
        exit 1
    fi
    CGROUPS+=("$dir")
    echo "$pid" >"$dir/cgroup.procs"
}

stop_node() {
    local name=$1 p=${PID[$1]:-}
    [ -n "$p" ] || return 0
    kill "$p" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset "PID[$name]"
}

ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://${IP[$1]}:18083/readyz")" = 200 ]; }

wait_ready() { # timeout-seconds node...
    local limit=$1; shift
    local end=$(( $(date +%s) + limit )) n
    for n in "$@"; do
        until ready "$n"; do
            if [ "$(date +%s)" -ge "$end" ] || ! kill -0 "${PID[$n]}" 2>/dev/null; then
                log "$n is not ready after ${limit}s; last log lines:"
                tail -n 5 "$WORK/$n.log" >&2 || true
                return 1
            fi
            sleep 0.1
        done
    done
}

# metric NODE NAME: one unlabelled sample of the node's /metrics, empty if unreachable (never
# fails: a node that is still starting is polled again).
metric() {
    curl -s --max-time 2 "http://${IP[$1]}:18083/metrics" 2>/dev/null \
        | awk -v m="starling_$2" '$1 == m && !seen { print $2; seen = 1 }' || true
}

leader() {
    local n
    for n in $(seq 1 "$CORES"); do
        [ "$(metric "core-$n" raft_is_leader)" = 1 ] && { echo "core-$n"; return 0; }
    done
    return 1
}

# Wait until every pending catalog write of the nodes is committed and every node applied the
# leader's log; bounded by $1 seconds.
wait_converged() { # timeout node...
    local limit=$1; shift
    local end=$(( $(date +%s) + limit )) n l target ok
    while [ "$(date +%s)" -lt "$end" ]; do
        ok=1
        for n in "$@"; do [ "$(metric "$n" raft_pending_writes)" = 0 ] || ok=0; done
        if [ $ok = 1 ] && l=$(leader); then
            target=$(metric "$l" raft_last_log_index)
            for n in "$@"; do [ "$(metric "$n" raft_applied_index)" -ge "${target:-0}" ] 2>/dev/null || ok=0; done
            [ $ok = 1 ] && return 0
        fi
        sleep 0.2
    done
    log "catalog did not converge within ${limit}s"
    return 1
}

record() { # part placement/label rep json-file [extra json]
    python3 - "$@" >>"$RAW" <<'PY'
import json, sys
part, label, rep, path = sys.argv[1:5]
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
try:
    with open(path) as f:
        report = json.load(f)
except (OSError, ValueError) as e:
    report = {"error": f"no report: {e}"}
print(json.dumps({"part": part, "label": label, "rep": int(rep), "report": report, **extra}))
PY
}

# --- 1. cross-node delivery -----------------------------------------------------------------

COMMON=(-V 3 --json --no-progress -s 64)
# The route of a subscriber on another node reaches the publishers' node once committed; a
# second of settling keeps route convergence (measured in part 2) out of the delivery numbers.
SETTLE=1s

# CPU time (user + system) a process has used so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

run_pubsub() { # placement scenario rep args...
    local placement=$1 scenario=$2 rep=$3
    shift 3
    local sub_ip=${IP[core-1]}
    [ "$placement" = cross ] && sub_ip=${IP[core-2]}
    local out="$WORK/$placement-$scenario-$rep.json"
    # CPU used by the two brokers during the run (connects, settle and drain included), to
    # tell "slower because each message costs more CPU" from "slower because it waits".
    local a0 b0 a1 b1
    a0=$(cpu_ticks "${PID[core-1]}"); b0=$(cpu_ticks "${PID[core-2]}")
    if ! "$BENCH" pubsub -h "${IP[core-1]}" --sub-host "$sub_ip" --settle "$SETTLE" \
        --prefix "b$rep-$placement-$scenario" "${COMMON[@]}" "$@" >"$out" 2>"$WORK/bench.err"; then
        log "$placement $scenario #$rep failed: $(tail -n 1 "$WORK/bench.err")"
    fi
    a1=$(cpu_ticks "${PID[core-1]}"); b1=$(cpu_ticks "${PID[core-2]}")
    local hz
    hz=$(getconf CLK_TCK)
    record delivery "$placement/$scenario" "$rep" "$out" \
        "{\"cpu_pub_node_ticks\": $(( a1 - a0 )), \"cpu_sub_node_ticks\": $(( b1 - b0 )), \"hz\": $hz}"
}

delivery() {
    local rep placement order
    for rep in $(seq 1 "$REPS"); do
        # Alternate the order so a drift in the machine's load does not favour one placement.
        if [ $((rep % 2)) = 1 ]; then order="single cross"; else order="cross single"; fi
        for placement in $order; do
            log "delivery run $rep/$REPS: $placement (load $(cut -d' ' -f1 /proc/loadavg))"
            run_pubsub "$placement" qos0_flood "$rep" --publishers "$PUBLISHERS" --subscribers 1 -t 'bench/%i' \
                --sub-topic 'bench/#' -q 0 -d "$DURATION" --drain 30s
            run_pubsub "$placement" qos1_flood "$rep" --publishers "$PUBLISHERS" --subscribers 1 -t 'bench/%i' \
                --sub-topic 'bench/#' -q 1 -d "$DURATION" --drain 30s
            run_pubsub "$placement" qos0_latency "$rep" --publishers 1 --subscribers 1 -t bench/lat \
                --sub-topic bench/lat -q 0 -r 5000 -d "$DURATION" --drain 5s
            run_pubsub "$placement" qos1_latency "$rep" --publishers 1 --subscribers 1 -t bench/lat \
                --sub-topic bench/lat -q 1 -r 5000 -d "$DURATION" --drain 5s
        done
    done
}

# --- 2. catalog write throughput ------------------------------------------------------------

# $WRITERS clients connect to the replicant and each subscribes one distinct filter; each
# first subscription of a filter on a node is one catalog write (AddRoute), forwarded by the
# replicant to the leader. Timed from the start of the bench until the writes are committed
# (replicant: no pending writes) and applied on another node (core-1).
writes() {
    local rep
    for rep in $(seq 1 "$REPS"); do
        wait_converged 60 replicant-4 core-1 core-2 core-3 || true
        local out="$WORK/writes-$rep.json" err="$WORK/writes-$rep.err"
        local before_applied applied_after="" t0 t_ready="" t_done="" target
        before_applied=$(metric core-1 raft_applied_index)
        log "catalog writes run $rep/$REPS: $WRITERS subscribers on replicant-4"
        t0=$(now)
        # Held up to 5 minutes; interrupted as soon as the routes arrived and were checked.
        "$BENCH" sub -h "${IP[replicant-4]}" -c "$WRITERS" -t "w/$rep/%i" -q 0 -V 3 -d 300s \
            --connect-timeout 30s --prefix "w$rep" --json >"$out" 2>"$err" &
        local bench=$!
        BENCH_PID=$bench
        local end=$(( $(date +%s) + 240 ))
        while [ "$(date +%s)" -lt "$end" ] && kill -0 "$bench" 2>/dev/null; do
            if [ -z "$t_ready" ] && grep -q 'subscribers ready' "$err"; then t_ready=$(now); fi
            if [ -n "$t_ready" ] && [ "$(metric replicant-4 raft_pending_writes)" = 0 ]; then
                # Every write of this run is in the leader's log now; wait for core-1 to apply it.
                target=$(metric "$(leader)" raft_last_log_index)
                until [ "$(metric core-1 raft_applied_index)" -ge "${target:-0}" ] 2>/dev/null; do
                    [ "$(date +%s)" -lt "$end" ] || break
                    sleep 0.02
                done
                t_done=$(now)
                applied_after=$(metric core-1 raft_applied_index)
                break
            fi
            sleep 0.02
        done
        # Proof the routes are usable cluster-wide: publish on core-1 to three of the filters
        # (first, middle, last); the subscribers on the replicant must receive all three.
        local mid=$(( (WRITERS + 1) / 2 ))
        for i in 1 "$mid" "$WRITERS"; do
            mosquitto_pub -h "${IP[core-1]}" -p 1883 -t "w/$rep/$i" -m check -q 1 || true
        done
        sleep 1
        kill -INT "$bench" 2>/dev/null || true
        wait "$bench" 2>/dev/null || log "writes run $rep: bench exited with an error: $(tail -n 1 "$err")"
        BENCH_PID=""
        record writes replicant "$rep" "$out" "{\"t_ready_s\": $(json_elapsed "$t0" "$t_ready"), \
\"t_done_s\": $(json_elapsed "$t0" "$t_done"), \"writers\": $WRITERS, \
\"raft_entries\": $(( ${applied_after:-0} - ${before_applied:-0} ))}"
    done
}

# --- 3. catch-up of a new replicant ---------------------------------------------------------

# The catalog: $ROUTES distinct filters held by long-lived clean-session subscribers on
# core-2, 10,000 filters per client in one SUBSCRIBE (mosquitto_sub -t ... -t ...).
build_catalog() {
    local per=10000 clients=$(( (ROUTES + 9999) / 10000 )) c i first last
    log "building a catalog of $ROUTES routes ($clients clients on core-2)"
    local t0
    t0=$(now)
    for c in $(seq 1 "$clients"); do
        first=$(( (c - 1) * per + 1 )); last=$(( c * per )); [ "$last" -le "$ROUTES" ] || last=$ROUTES
        local args=()
        for i in $(seq "$first" "$last"); do args+=(-t "cat/$i"); done
        mosquitto_sub -h "${IP[core-2]}" -p 1883 -i "catalog-$c" -q 0 -k 300 -v "${args[@]}" \
            >"$WORK/catalog-$c.out" 2>>"$WORK/catalog.err" &
        HELPERS+=("$!")
    done
    local end=$(( $(date +%s) + 300 ))
    until [ "$(metric core-2 routes)" = "$ROUTES" ]; do
        [ "$(date +%s)" -lt "$end" ] || { log "core-2 holds $(metric core-2 routes) of $ROUTES routes after 300 s"; return 1; }
        sleep 0.1
    done
    wait_converged 300 core-1 core-2 core-3 replicant-4
    local t1
    t1=$(now)
    echo "{\"part\": \"catalog\", \"label\": \"build\", \"rep\": 1, \"report\": {}, \"routes\": $ROUTES, \"seconds\": $(elapsed "$t0" "$t1"), \"applied_index\": $(metric core-1 raft_applied_index)}" >>"$RAW"
    log "catalog built in $(elapsed "$t0" "$t1") s (applied index $(metric core-1 raft_applied_index))"
}

# Sequential single writes, so each is (about) one log entry of its own.
pad_log() {
    local n=$((1100 + SNAPSHOT_EVERY)) i
    log "padding the log with $n single writes (retained messages) so a snapshot is needed"
    for i in $(seq 1 "$n"); do
        mosquitto_pub -h "${IP[core-1]}" -p 1883 -t "pad/$i" -m x -r -q 1 || true
    done
    wait_converged 120 core-1 core-2 core-3 replicant-4
    log "log padded: applied index $(metric core-1 raft_applied_index)"
}

catchup() {
    build_catalog
    [ -z "$SNAPSHOT_EVERY" ] || pad_log
    local rep
    for rep in $(seq 1 "$REPS"); do
        # A new address and name per run: each joins as a brand-new replicant.
        local n=$((4 + rep)) name="replicant-$((4 + rep))"
        log "catch-up run $rep/$REPS: $name joins with an empty data dir"
        local t0 t_ready="" t_caught="" l la ra
        t0=$(now)
        start_node "$name" replicant "$n"
        local end=$(( $(date +%s) + 300 ))
        while [ "$(date +%s)" -lt "$end" ] && kill -0 "${PID[$name]}" 2>/dev/null; do
            if [ -z "$t_ready" ] && ready "$name"; then t_ready=$(now); fi
            if l=$(leader); then
                la=$(metric "$l" raft_applied_index); ra=$(metric "$name" raft_applied_index)
                if [ -n "$ra" ] && [ -n "$la" ] && [ "$ra" -ge "$la" ] && [ "$la" -gt 0 ]; then
                    [ -n "$t_caught" ] || t_caught=$(now)
                fi
            fi
            [ -n "$t_ready" ] && [ -n "$t_caught" ] && break
            sleep 0.05
        done
        # Proof the new replicant routes with the caught-up catalog: a message published on it
        # to the last route must reach that route's subscriber on core-2.
        local seen=false last_client=$(( (ROUTES + 9999) / 10000 ))
        if [ -n "$t_caught" ]; then
            mosquitto_pub -h "${IP[$name]}" -p 1883 -t "cat/$ROUTES" -m "check-$rep" -q 1 || true
            for _ in $(seq 1 50); do
                grep -q "^cat/$ROUTES check-$rep\$" "$WORK/catalog-$last_client.out" && { seen=true; break; }
                sleep 0.1
            done
        fi
        local snapshot=false
        grep -q "catalog snapshot installed" "$WORK/$name.log" && snapshot=true
        local rss
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${PID[$name]}/status" 2>/dev/null || echo 0)
        local data_kib
        data_kib=$(du -sk "$WORK/$name/data" 2>/dev/null | cut -f1)
        echo "{\"part\": \"catchup\", \"label\": \"$name\", \"rep\": $rep, \"report\": {}, \"routes\": $ROUTES, \"ready_s\": $(json_elapsed "$t0" "$t_ready"), \"caught_up_s\": $(json_elapsed "$t0" "$t_caught"), \"applied_index\": ${ra:-null}, \"rss_kib\": ${rss:-0}, \"data_kib\": ${data_kib:-0}, \"routed\": $seen, \"snapshot\": $snapshot}" >>"$RAW"
        log "$name: ready after $(json_elapsed "$t0" "$t_ready") s, caught up after $(json_elapsed "$t0" "$t_caught") s"
        stop_node "$name"
        # Take it out of the membership so the next run joins a cluster of the same shape.
        "$BIN" ctl --url "http://${IP[core-1]}:18083" --api-key "$KEY" cluster forget "$name" >/dev/null \
            || log "could not remove $name from the membership"
        rm -rf "${WORK:?}/$name"
    done
}

# --- summary --------------------------------------------------------------------------------

summarise() {
    python3 - "$RAW" "$REPS" "$DURATION" "$PUBLISHERS" "$SNAPSHOT_EVERY" "$CPU_LIMIT" <<'PY'
import json, statistics, sys
raw, reps, duration, pubs, snap, cpu = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
rows = [json.loads(l) for l in open(raw) if l.strip()]

def get(v, *path):
    for p in path:
        if not isinstance(v, dict) or v.get(p) is None:
            return None
        v = v[p]
    return v

def vals(part, label, f):
    out = [f(r) for r in rows if r["part"] == part and r["label"] == label]
    return [v for v in out if v is not None]

def med(vs):
    return statistics.median(vs) if vs else None

def fmt(v, f):
    return "not measured" if v is None else f(v)

def spread(vs, f):
    return "" if len(vs) < 2 else f" ({f(min(vs))}–{f(max(vs))})"

n0 = lambda v: f"{v:,.0f}"
f1 = lambda v: f"{v:,.1f}"
f2 = lambda v: f"{v:,.2f}"
delivered = lambda r: get(r["report"], "rates", "recv_overall_per_s")
lost = lambda r: get(r["report"], "messages", "lost")
p50 = lambda r: get(r["report"], "latency_us", "p50_us")
p99 = lambda r: get(r["report"], "latency_us", "p99_us")

if any(r["part"] == "delivery" for r in rows):
    print("### Cross-node delivery (publishers on core-1; subscriber on core-1 = same node, on core-2 = cross-node)")
    print()
    if cpu:
        print(f"CPU: every node limited to {cpu} cores (a cgroup CPU quota of its own, like a pod's CPU limit); the load generator unlimited.")
    else:
        print("CPU: no limits; all nodes and the load generator share the machine's cores.")
    print()
    print("| Scenario | Metric | same node | cross-node | cross / same | target |")
    print("|---|---|---|---|---|---|")
    for scen, title in (("qos0_flood", f"QoS 0, {pubs} pub → 1 sub, flood"), ("qos1_flood", f"QoS 1, {pubs} pub → 1 sub, flood")):
        s, c = vals("delivery", f"single/{scen}", delivered), vals("delivery", f"cross/{scen}", delivered)
        ratio = f"{med(c) / med(s):.0%}" if s and c else "n/a"
        ok = "met" if s and c and med(c) >= 0.7 * med(s) else "not met"
        print(f"| {title} | delivered msgs/s (end to end) | {fmt(med(s), n0)}{spread(s, n0)} | {fmt(med(c), n0)}{spread(c, n0)} | {ratio} | ≥ 70 %: {ok} |")
        s, c = vals("delivery", f"single/{scen}", lost), vals("delivery", f"cross/{scen}", lost)
        print(f"|  | not delivered | {fmt(med(s), n0)} | {fmt(med(c), n0)} | | |")
    def cpu_per_m(r):
        # Broker CPU seconds (both nodes) per million deliveries.
        got = get(r["report"], "messages", "received")
        if not got or "hz" not in r:
            return None
        return (r["cpu_pub_node_ticks"] + r["cpu_sub_node_ticks"]) / r["hz"] / got * 1e6
    for scen, title in (("qos0_flood", "QoS 0 flood"), ("qos1_flood", "QoS 1 flood")):
        s, c = vals("delivery", f"single/{scen}", cpu_per_m), vals("delivery", f"cross/{scen}", cpu_per_m)
        ratio = f"{med(c) / med(s):.2f}×" if s and c else "n/a"
        print(f"| {title} | broker CPU s per 1M delivered (core-1 + core-2) | {fmt(med(s), f1)} | {fmt(med(c), f1)} | {ratio} | |")
    for scen, title in (("qos0_latency", "QoS 0, 1 → 1 at 5,000 msg/s"), ("qos1_latency", "QoS 1, 1 → 1 at 5,000 msg/s")):
        s, c = vals("delivery", f"single/{scen}", p50), vals("delivery", f"cross/{scen}", p50)
        print(f"| {title} | p50 µs | {fmt(med(s), f1)} | {fmt(med(c), f1)} | +{fmt((med(c) or 0) - (med(s) or 0), f1)} µs | |")
        s, c = vals("delivery", f"single/{scen}", p99), vals("delivery", f"cross/{scen}", p99)
        added = (med(c) - med(s)) if s and c else None
        ok = "met" if added is not None and added < 1000 else "not met"
        print(f"|  | p99 µs | {fmt(med(s), f1)}{spread(s, f1)} | {fmt(med(c), f1)}{spread(c, f1)} | +{fmt(added, f1)} µs | added < 1 ms: {ok} |")
        s, c = vals("delivery", f"single/{scen}", lost), vals("delivery", f"cross/{scen}", lost)
        print(f"|  | not delivered | {fmt(med(s), n0)} | {fmt(med(c), n0)} | | |")
    print()

w = [r for r in rows if r["part"] == "writes"]
if w:
    writers = w[0]["writers"]
    done = [r["t_done_s"] for r in w if r.get("t_done_s")]
    ready = [r["t_ready_s"] for r in w if r.get("t_ready_s")]
    rate = [r["writers"] / r["t_done_s"] for r in w if r.get("t_done_s")]
    entries = [r["raft_entries"] for r in w]
    got = [get(r["report"], "messages", "received") for r in w]
    print(f"### Catalog writes ({writers:,} clients on replicant-4, one distinct filter each)")
    print()
    print("| Metric | median (min–max) |")
    print("|---|---|")
    print(f"| all SUBACKs received, s | {fmt(med(ready), f2)}{spread(ready, f2)} |")
    print(f"| all routes committed and applied on core-1, s | {fmt(med(done), f2)}{spread(done, f2)} |")
    print(f"| **subscribes committed per second** | **{fmt(med(rate), n0)}**{spread(rate, n0)} |")
    print(f"| Raft log entries these writes took (batches) | {fmt(med(entries), n0)} |")
    print(f"| check messages published on core-1 received on replicant-4 (of 3) | {', '.join(str(g) for g in got)} |")
    print()

b = [r for r in rows if r["part"] == "catalog"]
c = [r for r in rows if r["part"] == "catchup"]
if c:
    routes = c[0]["routes"]
    rd = [r["ready_s"] for r in c if r.get("ready_s") is not None]
    cu = [r["caught_up_s"] for r in c if r.get("caught_up_s") is not None]
    print(f"### Catch-up of a new replicant ({routes:,} routes in the catalog; snapshot_every {snap or 'default'})")
    print()
    print("| Metric | median (min–max) |")
    print("|---|---|")
    if b:
        print(f"| building the catalog: {routes:,} subscribes on core-2 until applied everywhere, s (one run) | {b[0]['seconds']:.2f} ({routes / b[0]['seconds']:,.0f} routes/s; applied index {b[0]['applied_index']}) |")
    print(f"| start → `/readyz` 200, s | {fmt(med(rd), f2)}{spread(rd, f2)} |")
    print(f"| **start → applied index = leader's, s** | **{fmt(med(cu), f2)}**{spread(cu, f2)} |")
    rss = [r["rss_kib"] / 1024 for r in c if r.get("rss_kib")]
    dk = [r["data_kib"] / 1024 for r in c if r.get("data_kib")]
    routed = sum(1 for r in c if r.get("routed"))
    print(f"| runs in which a message published on the new replicant reached a subscriber of the last route on core-2 | {routed} of {len(c)} |")
    snaps = sum(1 for r in c if r.get("snapshot"))
    print(f"| runs in which the new replicant was sent a snapshot (else: the log) | {snaps} of {len(c)} |")
    print(f"| new replicant's RSS after catch-up, MiB | {fmt(med(rss), f1)} |")
    print(f"| new replicant's data dir after catch-up, MiB | {fmt(med(dk), f1)} |")
    print()

errors = [r for r in rows if "error" in r["report"] or r["report"].get("errors")]
for r in errors:
    e = r["report"].get("error") or "; ".join(f"{k}: {v['count']} × {v['example']}" for k, v in r["report"]["errors"].items())
    print(f"- {r['part']} {r['label']} run {r['rep']}: {e}")
print(f"Medians of {reps} run(s) (min–max in parentheses); delivery load phase {duration}; MQTT 3.1.1, 64-byte payloads.")
PY
}

# --- main -----------------------------------------------------------------------------------

for tool in curl python3 mosquitto_pub mosquitto_sub; do
    command -v "$tool" >/dev/null || { log "$tool is needed (apt-get install curl python3 mosquitto-clients)"; exit 1; }
done
if [ -z "${PBIN:-}" ]; then
    log "building starling (release)"
    cargo build --release --quiet -p starling -p starling-bench
else
    log "measuring $BIN (PBIN), load generator $BENCH"
fi
# 10,000 subscribers need one descriptor each in the bench and in the replicant.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((WRITERS + 512)) ]; then
    WRITERS=$(( $(ulimit -n) - 512 ))
    log "open-file limit is $(ulimit -n); using $WRITERS subscribers per catalog-write run"
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $(nproc) cores, load $LOAD_BEFORE; starting 3 cores and 1 replicant on $NET.1-4"
for n in $(seq 1 "$CORES"); do start_node "core-$n" core "$n"; done
start_node replicant-4 replicant 4
wait_ready 60 core-1 core-2 core-3 replicant-4
wait_converged 60 core-1 core-2 core-3 replicant-4
log "cluster ready; leader $(leader)"

for part in $PARTS; do
    case "$part" in
        delivery) delivery ;;
        writes) writes ;;
        catchup) catchup ;;
        *) log "unknown part $part"; exit 2 ;;
    esac
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "# Cluster benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r);" \
        "load average before: $LOAD_BEFORE, after: $LOAD_AFTER. Starling ${PBIN:+$PBIN, not this tree: }$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')."
    echo
    summarise
} | tee "$OUT"
log "results: $OUT (raw: $RAW)"
