#!/usr/bin/env bash
# Instructions per delivered message, counted by callgrind: a throughput comparison that does not
# depend on how loaded the machine is, so a difference of a few percent can be shown here.
#
# Usage: scripts/bench/instr.sh [-s SCENARIOS] [-n N] [-o DIR] BINARY [BINARY...]
#   BINARY  starling binaries to compare (e.g. /work/bin/starling-prerelayer target/release/starling);
#           the first is the baseline of the ratio column
#   -s  scenarios (default "fanout qos0_fanin qos1_fanin")
#   -n  messages published in the large run of each scenario (default 4000; the small run
#       publishes a fifth of it)
#   -o  where the callgrind files and reports go (default target/bench-results/instr-<time>)
#
# For each binary and scenario the broker runs twice under `valgrind --tool=callgrind`, each time
# freshly started, with a fixed number of messages published by `starling-bench pubsub -L`
# (MQTT 3.1.1, 64-byte payloads, publishers flooding): once with N/5 and once with N messages.
# The broker's instruction count (every thread, start-up and shutdown included) is read from the
# callgrind totals; the figure reported is the difference between the two runs divided by the
# difference in deliveries, so start-up, connects, subscribes and shutdown cancel out and what
# remains is the cost of one delivered message at load. The load generator runs natively and is
# not counted. The callgrind file of each large run is kept for `callgrind_annotate --inclusive=yes`.
#
# Scenarios (the shapes of scripts/bench/run.sh, bounded by count instead of duration):
#   fanout      1 publisher → 100 subscribers on one topic, QoS 0
#   qos0_fanin  8 publishers → 1 subscriber on `#`, QoS 0
#   qos1_fanin  8 publishers → 1 subscriber on `#`, QoS 1 (64 unacknowledged per publisher)
# A QoS 0 message the broker drops costs instructions and delivers nothing: the "lost" column says
# how many were dropped, and a run with losses is not comparable with one without.
set -euo pipefail

SCENARIOS="fanout qos0_fanin qos1_fanin"
N=4000
OUTDIR=""
while getopts "s:n:o:h" opt; do
    case "$opt" in
        s) SCENARIOS=$OPTARG ;;
        n) N=$OPTARG ;;
        o) OUTDIR=$OPTARG ;;
        *) sed -n '2,28p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,28p' "$0"; exit 2; }
BINARIES=()
for b in "$@"; do
    [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }
    BINARIES+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")")
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null \
    || echo "$ROOT/target")
BENCH=$TARGET_DIR/release/starling-bench
[ -x "$BENCH" ] || cargo build --release --quiet -p starling-bench
OUTDIR=${OUTDIR:-$TARGET_DIR/bench-results/instr-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUTDIR"
WORK=$(mktemp -d /tmp/starling-instr.XXXXXX)
# A port of its own, away from run.sh's, so a broker someone else runs is never measured; one
# instr.sh at a time on it.
PORT=22891
exec 9>/tmp/starling-instr.lock
flock -n 9 || { echo "another instr.sh is running (/tmp/starling-instr.lock)" >&2; exit 1; }
BROKER_PID=""

log() { printf '[instr %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

stop_broker() {
    [ -n "$BROKER_PID" ] || return 0
    # SIGTERM: a graceful shutdown, after which valgrind writes the counts.
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 600); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}
cleanup() { stop_broker; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# One measured run: prints "<instructions> <received> <lost>".
measure() { # binary scenario count tag
    local bin=$1 scenario=$2 count=$3 tag=$4
    local cg="$OUTDIR/$tag.callgrind" report="$OUTDIR/$tag.json"
    if port_open "$PORT"; then
        log "port $PORT is already in use; refusing to measure an unknown broker"
        return 1
    fi
    rm -rf "$WORK/data"
    STARLING_ADMIN__ENABLED=false valgrind --tool=callgrind --callgrind-out-file="$cg" \
        "$bin" serve --bind "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$OUTDIR/$tag.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 600); do
        port_open "$PORT" && break
        kill -0 "$BROKER_PID" 2>/dev/null || { log "broker exited; see $OUTDIR/$tag.log"; return 1; }
        sleep 0.1
    done
    local args=(-p "$PORT" -V 3 -s 64 -L "$count" -d 600s --drain 60s --connect-timeout 60s --json --no-progress)
    case "$scenario" in
        fanout) args+=(--publishers 1 --subscribers 100 -t bench/fanout --sub-topic bench/fanout -q 0) ;;
        qos0_fanin) args+=(--publishers 8 --subscribers 1 -t 'bench/%i' --sub-topic '#' -q 0) ;;
        qos1_fanin) args+=(--publishers 8 --subscribers 1 -t 'bench/%i' --sub-topic '#' -q 1) ;;
        *) log "unknown scenario $scenario"; return 1 ;;
    esac
    "$BENCH" pubsub "${args[@]}" >"$report" 2>"$OUTDIR/$tag.bench.err" \
        || log "$tag: starling-bench failed: $(tail -n 1 "$OUTDIR/$tag.bench.err")"
    stop_broker
    python3 - "$cg" "$report" <<'PY'
import json, re, sys
cg, report = sys.argv[1:3]
total = None
for line in open(cg):
    m = re.match(r"(?:summary|totals):\s+(\d+)", line)
    if m:
        total = int(m.group(1))
r = json.load(open(report))["messages"]
print(total, r["received"], r.get("lost") or 0)
PY
}

RESULTS="$OUTDIR/results.tsv"
: >"$RESULTS"
log "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); files in $OUTDIR"
for scenario in $SCENARIOS; do
    for i in "${!BINARIES[@]}"; do
        bin=${BINARIES[$i]}
        small=$((N / 5))
        log "$scenario: binary $((i + 1)) ($bin), $small then $N messages"
        read -r ir1 rx1 lost1 < <(measure "$bin" "$scenario" "$small" "$scenario-$i-small")
        read -r ir2 rx2 lost2 < <(measure "$bin" "$scenario" "$N" "$scenario-$i-large")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$i" "$ir1" "$rx1" "$lost1" "$ir2" "$rx2" "$lost2" >>"$RESULTS"
    done
done

python3 - "$RESULTS" "${BINARIES[@]}" <<'PY'
import sys
path, bins = sys.argv[1], sys.argv[2:]
rows = [l.split("\t") for l in open(path) if l.strip()]
print("| Scenario | Binary | instructions / delivered message | ratio to the first | deliveries (small, large run) | lost (small, large) |")
print("|---|---|---:|---:|---|---|")
base = {}
for scen, i, ir1, rx1, lost1, ir2, rx2, lost2 in rows:
    i = int(i)
    ir1, rx1, ir2, rx2 = int(ir1), int(rx1), int(ir2), int(rx2)
    per = (ir2 - ir1) / (rx2 - rx1) if rx2 > rx1 else float("nan")
    if i == 0:
        base[scen] = per
    ratio = per / base[scen] if base.get(scen) else float("nan")
    print(f"| {scen} | {bins[i]} | {per:,.0f} | {ratio:.3f} | {rx1:,}, {rx2:,} | {lost1.strip()}, {lost2.strip()} |")
PY
log "callgrind files: $OUTDIR (callgrind_annotate --inclusive=yes FILE)"
