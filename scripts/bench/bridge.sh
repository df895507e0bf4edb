#!/usr/bin/env bash
# One bridge, Starling's against Mosquitto's, in the same run: messages/s through the bridge at
# QoS 0 and QoS 1, and how fast a backlog drains after an outage of the upstream.
#
# Usage: scripts/bench/bridge.sh [-r REPS] [-d DURATION] [-n BACKLOG] [-b "starling mosquitto"]
#                                [-o RESULTS.md] [-B]
#   -r  repetitions (default 3); the table shows medians
#   -d  load phase of the throughput runs (default 10s)
#   -n  messages published while the upstream is stopped (default 100000)
#   -b  gateways to measure (default: both)
#   -o  results file (default target/bench-results/bridge-<time>.md; raw JSON lines next to it)
#   -B  use the release binary as it is (no cargo build)
#
# Every broker listens on 127.0.0.1 (ports 2288x). The upstream is always a standalone Starling
# (what a gateway bridges to), started fresh for each run; the gateway is either Starling with
# `[bridges.up]` or Mosquitto with a `connection up` section, both forwarding `bench/#` to
# `up/bench/#` with the run's QoS. The load generator is `starling-bench` (release build):
#   throughput  bench pubsub: 4 publishers on the gateway (64-byte payloads, as fast as the
#               gateway takes them), 1 subscriber on the upstream; received/s at the upstream.
#   drain       the upstream is stopped (SIGSTOP) while `bench pub` puts -n QoS 1 messages into
#               the gateway, then continued (SIGCONT); drain = SIGCONT → the subscriber on the
#               upstream has all of them (interpolated between its once-per-second counts).
set -euo pipefail

REPS=3
DURATION=10s
BACKLOG=100000
GATEWAYS="starling mosquitto"
OUT=""
BUILD=1
while getopts "r:d:n:b:o:Bh" opt; do
    case "$opt" in
        r) REPS=$OPTARG ;;
        d) DURATION=$OPTARG ;;
        n) BACKLOG=$OPTARG ;;
        b) GATEWAYS=$OPTARG ;;
        o) OUT=$OPTARG ;;
        B) BUILD="" ;;
        *) sed -n '2,22p' "$0"; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=${OUT:-$ROOT/target/bench-results/bridge-$STAMP.md}
mkdir -p "$(dirname "$OUT")"
RAW=${OUT%.md}.jsonl
: >"$RAW"
WORK=$(mktemp -d /tmp/starling-bridge-bench.XXXXXX)
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET/release/starling
BENCH=$TARGET/release/starling-bench
UP_PORT=22881
GW_PORT=22882
UP_PID=""
GW_PID=""
SUB_PID=""

log() { printf '[bridge-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_all() {
    stop_pid "$SUB_PID"; SUB_PID=""
    stop_pid "$GW_PID"; GW_PID=""
    stop_pid "$UP_PID"; UP_PID=""
}

cleanup() {
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port pid name
    for _ in $(seq 1 100); do
        port_open "$1" && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    log "$3 did not listen on 127.0.0.1:$1"
    return 1
}

# --- brokers --------------------------------------------------------------------------------

start_upstream() {
    for p in $UP_PORT $GW_PORT; do
        if port_open "$p"; then
            log "port $p is already in use; refusing to measure an unknown broker"
            exit 1
        fi
    done
    rm -rf "$WORK/up-data"
    STARLING_ADMIN__ENABLED=false "$BIN" serve --bind "127.0.0.1:$UP_PORT" --data-dir "$WORK/up-data" \
        >>"$WORK/upstream.log" 2>&1 &
    UP_PID=$!
    wait_port $UP_PORT $UP_PID upstream
}

start_gateway() { # kind qos
    local kind=$1 qos=$2
    rm -rf "$WORK/gw-data"
    mkdir -p "$WORK/gw-data"
    case "$kind" in
        starling)
            cat >"$WORK/gateway.toml" <<EOF
node_name = "gateway"
data_dir = "$WORK/gw-data"

[listeners.tcp]
bind = "127.0.0.1:$GW_PORT"
allow_anonymous = true

[admin]
enabled = false

# The bridge's backlog is its session queue, bounded by max_queued (docs/bridge.md).
[session]
max_queued = 1000000

[bridges.up]
addresses = ["127.0.0.1:$UP_PORT"]
protocol = "5"
client_id = "bench-bridge"
keep_alive = "5s"
session_expiry = "1h"
reconnect_min = "200ms"
reconnect_max = "2s"

[bridges.up.backlog]
max_messages = 1000000
overflow = "refuse"

[[bridges.up.out]]
topic = "bench/#"
qos = $qos
remote_prefix = "up/"
EOF
            "$BIN" serve --config "$WORK/gateway.toml" >>"$WORK/gateway-starling.log" 2>&1 &
            ;;
        mosquitto)
            # Defaults but for the queue, which would otherwise drop beyond 1,000 messages.
            cat >"$WORK/gateway.conf" <<EOF
listener $GW_PORT 127.0.0.1
allow_anonymous true
max_queued_messages 1000000
log_dest stderr
log_type error
log_type warning
connection up
address 127.0.0.1:$UP_PORT
remote_clientid bench-bridge
bridge_protocol_version mqttv50
cleansession false
try_private false
notifications false
keepalive_interval 5
restart_timeout 1 2
topic bench/# out $qos "" up/
EOF
            mosquitto -c "$WORK/gateway.conf" >>"$WORK/gateway-mosquitto.log" 2>&1 &
            ;;
    esac
    GW_PID=$!
    wait_port $GW_PORT $GW_PID "$kind gateway"
    sleep 2 # the bridge connects and subscribes upstream
}

record() { # gateway scenario rep json-file [extra json]
    python3 - "$@" >>"$RAW" <<'PY'
import json, sys
gw, scenario, rep, path = sys.argv[1:5]
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
try:
    report = json.load(open(path))
except (OSError, ValueError) as e:
    report = {"error": f"no report: {e}"}
print(json.dumps({"gateway": gw, "scenario": scenario, "rep": int(rep), "report": report, **extra}))
PY
}

# --- scenarios ------------------------------------------------------------------------------

run_throughput() { # gateway qos rep
    local gw=$1 qos=$2 rep=$3 out="$WORK/$1-q$2-$3.json"
    start_upstream
    start_gateway "$gw" "$qos"
    if ! "$BENCH" pubsub -h 127.0.0.1 -p $GW_PORT --sub-host 127.0.0.1 --sub-port $UP_PORT \
        --publishers 4 --subscribers 1 -t 'bench/%i' --sub-topic 'up/bench/#' -q "$qos" -s 64 \
        -d "$DURATION" --drain 20s --settle 1s --json --no-progress >"$out" 2>"$WORK/bench.err"; then
        log "$gw qos$qos #$rep failed: $(tail -n 1 "$WORK/bench.err")"
    fi
    record "$gw" "qos$qos" "$rep" "$out"
    stop_all
}

run_drain() { # gateway rep
    local gw=$1 rep=$2 prog="$WORK/$1-drain-$2.progress"
    start_upstream
    start_gateway "$gw" 1
    # The subscriber's once-per-second progress lines, each stamped with the wall clock.
    "$BENCH" sub -h 127.0.0.1 -p $UP_PORT -t 'up/bench/#' -q 1 -d 300s --json \
        > "$WORK/sub.json" 2> >(while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done >"$prog") &
    SUB_PID=$!
    for _ in $(seq 1 100); do grep -q 'subscribers ready' "$prog" 2>/dev/null && break; sleep 0.1; done
    kill -STOP "$UP_PID"
    local t_stop
    t_stop=$(date +%s.%N)
    if ! "$BENCH" pub -h 127.0.0.1 -p $GW_PORT -c 4 -t 'bench/%i' -q 1 -s 64 -L "$BACKLOG" -d 120s \
        --json --no-progress >"$WORK/$gw-drain-pub-$rep.json" 2>"$WORK/bench.err"; then
        log "$gw drain #$rep: publishing failed: $(tail -n 1 "$WORK/bench.err")"
    fi
    # Past the bridge's keep-alive, so both bridges notice the outage and reconnect after it.
    local left
    left=$(python3 -c "import time; print(max(0.0, 12 - (time.time() - $t_stop)))")
    sleep "$left"
    local t_cont
    t_cont=$(date +%s.%N)
    kill -CONT "$UP_PID"
    for _ in $(seq 1 1200); do
        python3 - "$prog" "$BACKLOG" <<'PY' && break
import re, sys
n = int(sys.argv[2])
for line in open(sys.argv[1]):
    m = re.search(r"recv (\d+)$", line.strip())
    if m and int(m.group(1)) >= n:
        sys.exit(0)
sys.exit(1)
PY
        kill -0 "$SUB_PID" 2>/dev/null || break
        sleep 0.5
    done
    sleep 1.5 # one more progress line
    kill -INT "$SUB_PID" 2>/dev/null || true
    wait "$SUB_PID" 2>/dev/null || true
    SUB_PID=""
    local extra
    extra=$(python3 - "$prog" "$BACKLOG" "$t_cont" "$WORK/$gw-drain-pub-$rep.json" <<'PY'
import json, re, sys
prog, n, t_cont, pub = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
points = []
for line in open(prog):
    m = re.match(r"(\d+\.\d+) .*recv (\d+)$", line.strip())
    if m:
        points.append((float(m.group(1)), int(m.group(2))))
try:
    acked = json.load(open(pub))["messages"]["acked"]
except (OSError, ValueError, KeyError, TypeError):
    acked = None
done = None
base = max([c for t, c in points if t <= t_cont] or [0])
prev = (t_cont, base)
for t, c in points:
    if t <= t_cont:
        continue
    if c >= n:
        # Linear between the last count below n and the first at or above it.
        t0, c0 = prev
        done = t0 + (t - t0) * (n - c0) / max(1, c - c0)
        break
    prev = (t, c)
total = max([c for _, c in points] or [0])
drain = None if done is None else done - t_cont
print(json.dumps({"acked": acked, "received": total, "before_cont": base, "drain_s": drain,
                  "drain_per_s": None if not drain else (n - base) / drain}))
PY
)
    record "$gw" "drain" "$rep" "$WORK/$gw-drain-pub-$rep.json" "$extra"
    stop_all
}

# --- summary --------------------------------------------------------------------------------

summarise() {
    python3 - "$RAW" "$GATEWAYS" "$REPS" "$DURATION" "$BACKLOG" "$*" <<'PY'
import json, statistics, sys
raw, gws, reps, duration, backlog, cmd = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
rows = [json.loads(l) for l in open(raw) if l.strip()]

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def fig(gw, scenario):
    rs = [r for r in rows if r["gateway"] == gw and r["scenario"] == scenario]
    if scenario == "drain":
        return med([r.get("drain_per_s") for r in rs]), med([r.get("drain_s") for r in rs]), \
            sum(1 for r in rs if r.get("drain_s") is None)
    rate = med([(r["report"].get("rates") or {}).get("recv_overall_per_s") for r in rs])
    lost = sum(((r["report"].get("messages") or {}).get("lost") or 0) for r in rs)
    return rate, None, lost

def num(v, unit=""):
    return "—" if v is None else f"{v:,.0f}{unit}"

print(f"Command: `{cmd}` ({reps} runs each, medians; load phase {duration}, backlog {int(backlog):,} messages)")
print()
print("| measure | " + " | ".join(gws) + (" | ratio starling / mosquitto |" if len(gws) == 2 else " |"))
print("| --- | " + " | ".join("---" for _ in gws) + (" | --- |" if len(gws) == 2 else " |"))
for scenario, label in (("qos0", "QoS 0 through the bridge, received msgs/s"),
                        ("qos1", "QoS 1 through the bridge, received msgs/s"),
                        ("drain", "backlog drain after the outage, msgs/s")):
    vals = {gw: fig(gw, scenario) for gw in gws}
    cells = []
    for gw in gws:
        rate, secs, bad = vals[gw]
        extra = []
        if scenario == "drain" and secs is not None:
            extra.append(f"{secs:.1f} s")
        if bad:
            extra.append(f"{bad} {'incomplete' if scenario == 'drain' else 'lost'}")
        cells.append(num(rate) + (f" ({', '.join(extra)})" if extra else ""))
    ratio = ""
    if len(gws) == 2:
        a, b = vals["starling"][0] if "starling" in vals else None, vals["mosquitto"][0] if "mosquitto" in vals else None
        ratio = " | " + (f"{a / b:.2f}" if a and b else "—")
    print(f"| {label} | " + " | ".join(cells) + ratio + " |")
PY
}

# --- main -----------------------------------------------------------------------------------

command -v mosquitto >/dev/null || [[ " $GATEWAYS " != *" mosquitto "* ]] || {
    log "mosquitto is not installed (apt-get install mosquitto)"
    exit 1
}
if [ -n "$BUILD" ]; then
    log "building starling (release)"
    cargo build --release --quiet -p starling -p starling-bench
fi
for rep in $(seq 1 "$REPS"); do
    for gw in $GATEWAYS; do
        for qos in 0 1; do
            log "$gw qos$qos #$rep"
            run_throughput "$gw" "$qos" "$rep"
        done
        log "$gw drain #$rep"
        run_drain "$gw" "$rep"
    done
done
{
    echo "# Bridge benchmark $STAMP"
    echo
    summarise "scripts/bench/bridge.sh $*"
} >"$OUT"
cat "$OUT"
log "results: $OUT (raw: $RAW)"
