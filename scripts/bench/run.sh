#!/usr/bin/env bash
# Compare Starling, Mosquitto and rumqttd on this machine with one load generator
# (`starling-bench`), so that the client's own cost is the same for every broker.
#
# Usage: scripts/bench/run.sh [-r REPS] [-d DURATION] [-b "starling mosquitto rumqttd"]
#                             [-n CONNECTIONS] [-w CONNECTIONS] [-o RESULTS.md] [-s SCENARIOS]
#   -r  repetitions per scenario (default 3); the table shows the median
#   -d  load phase per run (default 10s); flood runs add a drain of up to 30 s
#   -b  brokers to measure (default: all three)
#   -n  idle connection counts for the memory/connect-rate scenario, one run per count
#       (default "1000 5000 19000"; per-connection memory should be flat across them)
#   -w  idle connection count for the TLS and WebSocket memory scenarios (default 5000; the
#       clients are scripts/bench/idle_clients.py, one Python process)
#   -s  scenarios (default: "qos0_fanin qos1_fanin fanout latency conn conn_steps conn_tls
#       conn_ws"); conn_steps adds the -n counts in steps to one broker process;
#       conn_tls / conn_ws run against starling and mosquitto (rumqttd is not set up for them)
#   -o  results file (default target/bench-results/results-<time>.md); raw JSON lines go
#       next to it (<same name>.jsonl)
#   STARLING_BROKER=/path/to/starling (environment): measure that broker binary instead of
#       this tree's release build (which stays the load generator)
#
# Every broker gets the same in-flight window towards a subscriber (BENCH_INFLIGHT in
# scripts/bench/rumqttd.sh: 100, rumqttd's fixed one; BENCH_INFLIGHT=N in the environment sets
# Starling's and Mosquitto's to N).
#
# Installs what it needs when missing: mosquitto (apt), rumqttd (`cargo install`, a few
# minutes of compiling), and builds starling in release. Every broker listens on 127.0.0.1
# only, every run is bounded by -d / --drain / timeouts, and each run gets a freshly started
# broker so one scenario's backlog cannot slow the next.
set -euo pipefail

REPS=3
DURATION=10s
BROKERS="starling mosquitto rumqttd"
CONNS="1000 5000 19000"
WCONNS=5000
SCENARIOS="qos0_fanin qos1_fanin fanout latency conn conn_steps conn_tls conn_ws"
OUT=""
while getopts "r:d:b:n:w:o:s:h" opt; do
    case "$opt" in
        r) REPS=$OPTARG ;;
        d) DURATION=$OPTARG ;;
        b) BROKERS=$OPTARG ;;
        n) CONNS=$OPTARG ;;
        w) WCONNS=$OPTARG ;;
        o) OUT=$OPTARG ;;
        s) SCENARIOS=$OPTARG ;;
        *) sed -n '2,29p' "$0"; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/bench/rumqttd.sh
. "$ROOT/scripts/bench/rumqttd.sh"
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=${OUT:-$ROOT/target/bench-results/results-$STAMP.md}
mkdir -p "$(dirname "$OUT")"
RAW=${OUT%.md}.jsonl
: > "$RAW"
WORK=$(mktemp -d /tmp/starling-bench.XXXXXX)
# Cargo's target directory (a `.cargo/config.toml` may move it out of the tree).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null \
    || echo "$ROOT/target")
STARLING=$TARGET_DIR/release/starling
BENCH=$TARGET_DIR/release/starling-bench
# The broker measured is this tree's release build unless STARLING_BROKER names another (say, a
# build of an older commit, for a before/after comparison in one session).
STARLING_BROKER=${STARLING_BROKER:-$STARLING}

# Fixed loopback ports, one per broker, away from the usual 1883 so a broker someone else
# runs on this machine is never measured by mistake.
declare -A PORT=([starling]=21883 [mosquitto]=21884 [rumqttd]=21885)
# The idle-connection scenarios over TLS and WebSocket use these, on the same broker process.
declare -A TLS_PORT=([starling]=21983 [mosquitto]=21984)
declare -A WS_PORT=([starling]=22083 [mosquitto]=22084)
BROKER_PID=""
BENCH_PID=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
    [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null || true
    stop_broker
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- installation --------------------------------------------------------------------------

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_tools() {
    if [[ " $BROKERS " == *" mosquitto "* ]] && ! command -v mosquitto >/dev/null; then
        log "installing mosquitto (apt)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
    fi
    if [[ " $BROKERS " == *" rumqttd "* ]]; then
        install_rumqttd
    fi
    export PATH="$HOME/.cargo/bin:$PATH"
    command -v python3 >/dev/null || { log "python3 is needed for the JSON summaries"; exit 1; }
    command -v ss >/dev/null || { log "ss (iproute2) is needed to count connections"; exit 1; }
    log "building starling and starling-bench (release)"
    cargo build --release --quiet -p starling -p starling-bench
}

# --- brokers --------------------------------------------------------------------------------

write_configs() {
    # One throwaway ECDSA P-256 certificate for both brokers' TLS listeners (mosquitto drops
    # to its own user before reading it, so the directory must be readable).
    chmod 755 "$WORK"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
    chmod 644 "$WORK/key.pem"
    cat > "$WORK/mosquitto.conf" <<EOF
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
max_inflight_messages $BENCH_INFLIGHT
listener ${PORT[mosquitto]} 127.0.0.1
max_connections -1
listener ${TLS_PORT[mosquitto]} 127.0.0.1
max_connections -1
certfile $WORK/cert.pem
keyfile $WORK/key.pem
listener ${WS_PORT[mosquitto]} 127.0.0.1
max_connections -1
protocol websockets
EOF
    write_rumqttd_config "$WORK/rumqttd.toml" "${PORT[rumqttd]}" $((MAX_CONNS + 1000))
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_broker() {
    local name=$1 port=${PORT[$1]}
    if port_open "$port"; then
        log "port $port is already in use; refusing to measure an unknown broker"
        return 1
    fi
    case "$name" in
        starling)
            rm -rf "$WORK/starling-data"
            # No admin HTTP listener: its fixed default port may be taken by another
            # instance, and the other brokers run without one too.
            STARLING_ADMIN__ENABLED=false STARLING_SESSION__MAX_INFLIGHT=$BENCH_INFLIGHT \
                STARLING_LISTENERS__TLS__BIND="127.0.0.1:${TLS_PORT[starling]}" \
                STARLING_LISTENERS__TLS__CERT="$WORK/cert.pem" STARLING_LISTENERS__TLS__KEY="$WORK/key.pem" \
                STARLING_LISTENERS__WS__BIND="127.0.0.1:${WS_PORT[starling]}" \
                env -u STARLING_BROKER "$STARLING_BROKER" serve --bind "127.0.0.1:$port" --data-dir "$WORK/starling-data" \
                >>"$WORK/starling.log" 2>&1 &
            ;;
        mosquitto) mosquitto -c "$WORK/mosquitto.conf" >>"$WORK/mosquitto.out" 2>&1 & ;;
        rumqttd) rumqttd -q -c "$WORK/rumqttd.toml" >>"$WORK/rumqttd.log" 2>&1 & ;;
    esac
    BROKER_PID=$!
    for _ in $(seq 1 100); do
        port_open "$port" && return 0
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    log "$name did not start listening on 127.0.0.1:$port; last log lines:"
    tail -n 5 "$WORK/$name.log" "$WORK/$name.out" 2>/dev/null >&2 || true
    stop_broker
    return 1
}

stop_broker() {
    [ -n "$BROKER_PID" ] || return 0
    kill "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}

# Wait until a `starling-bench conn` writing its log to $1 (process $2) has connected all its
# clients, it exited, or $3 tenths of a second passed.
wait_connected() {
    for _ in $(seq 1 "$3"); do
        grep -q '^connect phase:' "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 0
        sleep 0.1
    done
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# A fresh broker's RSS moves for some seconds after start (start-up work whose memory the
# allocator returns late, e.g. Starling's dummy password hash): wait until it holds still
# (under 64 KiB of change over a second, at most 20 s) before taking the baseline.
settled_rss_kib() {
    local prev cur
    sleep 1
    prev=$(rss_kib "$1" || echo 0)
    for _ in $(seq 1 20); do
        sleep 1
        cur=$(rss_kib "$1" || echo 0)
        [ $(( cur > prev ? cur - prev : prev - cur )) -lt 64 ] && break
        prev=$cur
    done
    echo "$cur"
}

# --- scenarios ------------------------------------------------------------------------------

# Same client settings for every broker: MQTT 3.1.1 (rumqttd's v5 listener is separate and
# less complete), 64-byte payloads, 30 s drain for floods so a broker's backlog still counts.
COMMON=(-V 3 --json --no-progress)

record() { # broker scenario rep json-file [extra json fields]
    python3 - "$@" >>"$RAW" <<'PY'
import json, sys
broker, scenario, rep, path = sys.argv[1:5]
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
try:
    with open(path) as f:
        report = json.load(f)
except (OSError, ValueError) as e:
    report = {"error": f"no report: {e}"}
print(json.dumps({"broker": broker, "scenario": scenario, "rep": int(rep), "report": report, **extra}))
PY
}

run_pubsub() { # broker scenario rep args...
    local broker=$1 scenario=$2 rep=$3
    shift 3
    local out="$WORK/$broker-$scenario-$rep.json"
    if ! "$BENCH" pubsub -p "${PORT[$broker]}" "${COMMON[@]}" "$@" >"$out" 2>"$WORK/bench.err"; then
        log "$broker $scenario #$rep failed: $(tail -n 1 "$WORK/bench.err")"
    fi
    record "$broker" "$scenario" "$rep" "$out"
}

run_conn() { # broker rep count [tcp|tls|ws]
    local broker=$1 rep=$2 count=$3 kind=${4:-tcp} port
    case "$kind" in
        tcp) port=${PORT[$broker]} ;;
        tls) port=${TLS_PORT[$broker]:-} ;;
        ws) port=${WS_PORT[$broker]:-} ;;
    esac
    local scenario=conn_$count
    [ "$kind" = tcp ] || scenario=conn_${kind}_$count
    if [ -z "$port" ]; then
        log "$broker has no $kind listener here; $scenario not measured"
        return 0
    fi
    local out="$WORK/$broker-$scenario-$rep.json" err="$WORK/$broker-$scenario-$rep.err"
    local before after established warm_pid
    # WARM clients stay connected over plain TCP through the measurement: the baseline is then
    # taken with the broker past its start-up (a fresh Starling returns ~10 MB of start-up
    # memory only once some hundreds of clients have come and gone, which would hide that
    # much of the connections' own memory), and the result is the cost of each further one.
    "$BENCH" conn -p "${PORT[$broker]}" -c "$WARM" --prefix warm -d 300s "${COMMON[@]}" \
        >/dev/null 2>"$WORK/warm.err" &
    warm_pid=$!
    wait_connected "$WORK/warm.err" "$warm_pid" 600
    before=$(settled_rss_kib "$BROKER_PID")
    # Hold up to 5 minutes; the script interrupts it as soon as memory has been sampled.
    if [ "$kind" = tcp ]; then
        "$BENCH" conn -p "$port" -c "$count" --connect-timeout 30s -d 300s "${COMMON[@]}" \
            >"$out" 2>"$err" &
    else
        python3 "$ROOT/scripts/bench/idle_clients.py" "$kind" 127.0.0.1 "$port" "$count" --hold 300 \
            >"$out" 2>"$err" &
    fi
    BENCH_PID=$!
    for _ in $(seq 1 1800); do
        if [ "$kind" = tcp ]; then
            grep -q '^connect phase:' "$err" 2>/dev/null && break
        else
            [ -s "$out" ] && break
        fi
        kill -0 "$BENCH_PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep 2 # let allocations settle after the last CONNACK
    after=$(rss_kib "$BROKER_PID" || echo "$before")
    established=$(ss -Htn state established "( sport = :$port )" | wc -l)
    [ "$kind" = tcp ] && established=$(( established - WARM ))
    kill -INT "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || log "$broker conn #$rep: bench exited with an error: $(tail -n 1 "$err")"
    BENCH_PID=""
    kill -INT "$warm_pid" 2>/dev/null || true
    wait "$warm_pid" 2>/dev/null || true
    record "$broker" "$scenario" "$rep" "$out" \
        "{\"rss_before_kib\": $before, \"rss_after_kib\": $after, \"established\": $established}"
}

# Idle connections added in steps to one broker process (the counts of -n, cumulative): the
# RSS per connection at each count and the cost of each step's connections alone. The first
# shows the allocator's fixed steps (mimalloc commits memory in MiB-sized pieces, noise of a
# few KiB per connection at 1,000); the second is the per-connection cost, which is flat when
# each further connection costs the same.
run_conn_steps() { # broker rep
    local broker=$1 rep=$2 port=${PORT[$1]} warm_pid before prev=0 n pids=() rss=() est=() step=0
    "$BENCH" conn -p "$port" -c "$WARM" --prefix warm -d 600s "${COMMON[@]}" >/dev/null 2>"$WORK/warm.err" &
    warm_pid=$!
    wait_connected "$WORK/warm.err" "$warm_pid" 600
    before=$(settled_rss_kib "$BROKER_PID")
    for n in $(printf '%s\n' $CONNS | sort -n); do
        step=$((step + 1))
        local err="$WORK/$broker-steps-$rep-$step.err"
        "$BENCH" conn -p "$port" -c $((n - prev)) --prefix "step$step-" --connect-timeout 30s -d 600s \
            "${COMMON[@]}" >/dev/null 2>"$err" &
        pids+=($!)
        wait_connected "$err" "${pids[-1]}" 1800
        sleep 2 # let allocations settle after the last CONNACK
        rss+=("$(rss_kib "$BROKER_PID" || echo "$before")")
        est+=("$(( $(ss -Htn state established "( sport = :$port )" | wc -l) - WARM ))")
        prev=$n
    done
    for p in "${pids[@]}" "$warm_pid"; do
        kill -INT "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    local out="$WORK/$broker-steps-$rep.json"
    echo '{}' >"$out"
    record "$broker" conn_steps "$rep" "$out" \
        "{\"rss_before_kib\": $before, \"step_rss_kib\": [$(IFS=,; echo "${rss[*]}")], \"step_conns\": [$(IFS=,; echo "${est[*]}")]}"
}

run_scenario() { # broker scenario rep
    local broker=$1 scenario=$2 rep=$3
    case "$scenario" in
        qos0_fanin)
            run_pubsub "$broker" "$scenario" "$rep" --publishers 8 --subscribers 1 -t 'bench/%i' \
                --sub-topic '#' -q 0 -s 64 -d "$DURATION" --drain 30s ;;
        qos1_fanin)
            run_pubsub "$broker" "$scenario" "$rep" --publishers 8 --subscribers 1 -t 'bench/%i' \
                --sub-topic '#' -q 1 -s 64 -d "$DURATION" --drain 30s ;;
        fanout)
            run_pubsub "$broker" "$scenario" "$rep" --publishers 1 --subscribers 100 -t bench/fanout \
                --sub-topic bench/fanout -q 0 -s 64 -d "$DURATION" --drain 30s ;;
        latency)
            run_pubsub "$broker" "$scenario" "$rep" --publishers 1 --subscribers 1 -t bench/lat \
                --sub-topic bench/lat -q 0 -s 64 -r 5000 -d "$DURATION" --drain 5s ;;
        conn_steps) run_conn_steps "$broker" "$rep" ;;
        conn_tls_*) run_conn "$broker" "$rep" "${scenario#conn_tls_}" tls ;;
        conn_ws_*) run_conn "$broker" "$rep" "${scenario#conn_ws_}" ws ;;
        conn_*) run_conn "$broker" "$rep" "${scenario#conn_}" ;;
        *) log "unknown scenario $scenario"; return 1 ;;
    esac
}

# --- summary --------------------------------------------------------------------------------

summarise() {
    python3 - "$RAW" "$BROKERS" "$REPS" "$DURATION" "$CONNS" "$WCONNS" <<'PY'
import json, statistics, sys
raw, brokers, reps, duration, conns, wconns = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
rows = [json.loads(l) for l in open(raw) if l.strip()]

def get(row, *path):
    v = row
    for p in path:
        if not isinstance(v, dict) or v.get(p) is None:
            return None
        v = v[p]
    return v

def metric(row, name):
    r = row["report"]
    if isinstance(name, tuple):  # conn_steps: (what, step index)
        what, i = name
        rss, n = row.get("step_rss_kib") or [], row.get("step_conns") or []
        if i >= len(rss) or i >= len(n) or n[i] <= 0:
            return None
        if what == "step_total":
            return (rss[i] - row["rss_before_kib"]) / n[i]
        base_rss, base_n = (rss[i - 1], n[i - 1]) if i else (row["rss_before_kib"], 0)
        return (rss[i] - base_rss) / (n[i] - base_n) if n[i] > base_n else None
    if name == "rss_per_conn_kib":
        n = row.get("established") or 0
        if n <= 0 or "rss_after_kib" not in row:
            return None
        return (row["rss_after_kib"] - row["rss_before_kib"]) / n
    if "kind" in r and name in ("connect_rate", "ready"):
        # idle_clients.py's report (TLS, WebSocket)
        if name == "ready":
            return r.get("established")
        return r["established"] / r["seconds"] if r.get("seconds") else None
    paths = {
        "delivered": ("rates", "recv_overall_per_s"),
        "delivered_median": ("rates", "recv_median_per_s"),
        "sent": ("rates", "sent_overall_per_s"),
        "lost": ("messages", "lost"),
        "p50": ("latency_us", "p50_us"),
        "p99": ("latency_us", "p99_us"),
        "connect_rate": ("clients", "connect_rate_per_s"),
        "ready": ("clients", "ready"),
    }
    return get(r, *paths[name])

def cell(broker, scenario, name, fmt):
    vals = [metric(r, name) for r in rows if r["broker"] == broker and r["scenario"] == scenario]
    vals = [v for v in vals if v is not None]
    if not vals:
        return "not measured"
    m = statistics.median(vals)
    return fmt(m) + ("" if len(vals) > 1 else " (1 run)")

n0 = lambda v: f"{v:,.0f}"
f1 = lambda v: f"{v:,.1f}"
table = [
    ("QoS 0 fan-in, 8 pub → 1 sub on `#`", "qos0_fanin", "delivered", "delivered msgs/s (end to end)", n0),
    ("", "qos0_fanin", "delivered_median", "delivered msgs/s, median second under load", n0),
    ("", "qos0_fanin", "sent", "published msgs/s", n0),
    ("", "qos0_fanin", "lost", "not delivered by the end of the drain", n0),
    ("QoS 1 fan-in, 8 pub → 1 sub on `#`", "qos1_fanin", "delivered", "delivered msgs/s (end to end)", n0),
    ("", "qos1_fanin", "sent", "published msgs/s", n0),
    ("", "qos1_fanin", "lost", "acknowledged but never delivered", n0),
    ("Fan-out, 1 pub → 100 subs", "fanout", "delivered", "delivered msgs/s (end to end)", n0),
    ("", "fanout", "lost", "not delivered by the end of the drain", n0),
    ("Latency, 1 → 1 at 5,000 msg/s, QoS 0", "latency", "p50", "p50 µs", f1),
    ("", "latency", "p99", "p99 µs", f1),
]
for c in conns.split():
    table += [
        (f"{int(c):,} idle connections", f"conn_{c}", "rss_per_conn_kib", "RSS per connection, KiB", f1),
        ("", f"conn_{c}", "connect_rate", "connects/s", n0),
        ("", f"conn_{c}", "ready", "connections established", n0),
    ]
steps = sorted(int(c) for c in conns.split())
for i, c in enumerate(steps):
    prev = steps[i - 1] if i else 0
    table += [
        (f"{c:,} idle, added in steps to one process", "conn_steps", ("step_total", i),
         "RSS per connection since the baseline, KiB", f1),
        ("", "conn_steps", ("step_marginal", i), f"KiB per connection of the {c - prev:,} added last", f1),
    ]
for kind, label in (("tls", "TLS"), ("ws", "WebSocket")):
    table += [
        (f"{int(wconns):,} idle {label} connections", f"conn_{kind}_{wconns}", "rss_per_conn_kib", "RSS per connection, KiB", f1),
        ("", f"conn_{kind}_{wconns}", "ready", "connections established", n0),
    ]
print(f"| Scenario | Metric | " + " | ".join(brokers) + " |")
print("|---|---|" + "---|" * len(brokers))
present = {r["scenario"] for r in rows}
for label, scenario, name, what, fmt in table:
    if scenario not in present:
        continue
    print(f"| {label} | {what} | " + " | ".join(cell(b, scenario, name, fmt) for b in brokers) + " |")
print()
print(f"Each cell is the median of {reps} run(s); load phase {duration} per run; MQTT 3.1.1, 64-byte payloads.")
errors = [r for r in rows if "error" in r["report"] or r["report"].get("errors")]
for r in errors:
    errs = r["report"].get("errors")
    if isinstance(errs, dict):
        e = r["report"].get("error") or "; ".join(f"{k}: {v['count']} × {v['example']}" for k, v in errs.items())
    else:  # idle_clients.py: a count and the first one
        e = r["report"].get("error") or f"{errs} failed, first: {r['report'].get('first_error')}"
    print(f"- {r['broker']} {r['scenario']} run {r['rep']}: {e}")
PY
}

# --- main -----------------------------------------------------------------------------------

# The idle-connection scenario needs one descriptor per client in both processes, plus the
# warm-up clients held beside them.
WARM=400
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ]; then
    fitted=""
    for c in $CONNS; do
        if [ "$c" -gt $(( $(ulimit -n) - 512 - WARM )) ]; then
            log "open-file limit is $(ulimit -n); measuring $(( $(ulimit -n) - 512 - WARM )) idle connections instead of $c"
            c=$(( $(ulimit -n) - 512 - WARM ))
        fi
        fitted="$fitted $c"
    done
    CONNS=${fitted# }
fi
MAX_CONNS=$(printf '%s\n' $CONNS | sort -n | tail -n 1)
# "conn" stands for one idle-connection run per count in -n.
SCENARIOS=$(for s in $SCENARIOS; do
    case "$s" in
        conn) for c in $CONNS; do printf 'conn_%s ' "$c"; done ;;
        conn_tls | conn_ws) printf '%s_%s ' "$s" "$WCONNS" ;;
        *) printf '%s ' "$s" ;;
    esac
done)
install_tools
write_configs

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
for broker in $BROKERS; do
    for scenario in $SCENARIOS; do
        for rep in $(seq 1 "$REPS"); do
            log "$broker: $scenario run $rep/$REPS"
            if start_broker "$broker"; then
                run_scenario "$broker" "$scenario" "$rep" || true
                stop_broker
            else
                echo "{\"broker\": \"$broker\", \"scenario\": \"$scenario\", \"rep\": $rep, \"report\": {\"error\": \"broker did not start\"}}" >>"$RAW"
            fi
        done
    done
done

{
    starling_v=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')
    [ "$STARLING_BROKER" = "$STARLING" ] || starling_v="$STARLING_BROKER (generator: $starling_v)"
    mosquitto_v=$({ mosquitto -h 2>/dev/null || true; } | head -n 1)
    rumqttd_v=$({ rumqttd --version 2>/dev/null || true; } | head -n 1)
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
    echo "# Broker comparison, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores ($cpu), kernel $(uname -r), load before the run: $LOAD_BEFORE."
    echo "Brokers: starling $starling_v, ${mosquitto_v:-mosquitto ?}, ${rumqttd_v:-rumqttd ?}."
    echo
    summarise
} | tee "$OUT"
log "results: $OUT (raw: $RAW)"
