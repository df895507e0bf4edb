#!/usr/bin/env bash
# Instructions and system calls per delivered message: a throughput comparison that does not
# depend on how loaded the machine is, so a difference of a few percent can be shown here.
#
# Usage: scripts/bench/instr.sh [-s SCENARIOS] [-n N] [-o DIR] [-C] BROKER [BROKER...]
#   BROKER  a starling binary (e.g. /work/bin/starling-prerelayer or target/release/starling),
#           or rumqttd as `rumqttd` (installed into ~/.cargo/bin if missing, as run.sh does) or
#           `rumqttd:/path/to/rumqttd`; the first is the baseline of the ratio columns
#   -s  scenarios (default "fanout qos0_fanin qos1_fanin")
#   -n  messages published in the large run of each scenario (default 4000; the small run
#       publishes a fifth of it)
#   -o  where the callgrind files and reports go (default target/bench-results/instr-<time>)
#   -C  count instructions only (no system-call runs)
#
# For each broker and scenario the broker runs twice under `valgrind --tool=callgrind`, each time
# freshly started, with a fixed number of messages published by `starling-bench pubsub -L`
# (MQTT 3.1.1, 64-byte payloads, publishers flooding): once with N/5 and once with N messages.
# The broker's instruction count (every thread, start-up and shutdown included) is read from the
# callgrind totals; the figure reported is the difference between the two runs divided by the
# difference in deliveries, so start-up, connects, subscribes and shutdown cancel out and what
# remains is the cost of one delivered message at load. The load generator runs natively and is
# not counted. The callgrind file of each large run is kept for `callgrind_annotate --inclusive=yes`.
#
# callgrind counts user-space instructions only, and runs the broker's threads one at a time,
# which changes how work batches up. So the same pair of runs is made again natively under
# `perf stat` counting the broker's system calls (every thread, by kind), reported per delivered
# message the same way: reads, writes, futex (thread wake-ups), epoll waits, the rest. These
# depend on timing (how much arrives per wake-up), so they move a little with the machine's load.
#
# Scenarios (the shapes of scripts/bench/run.sh, bounded by count instead of duration):
#   fanout      1 publisher → 100 subscribers on one topic, QoS 0
#   qos0_fanin  8 publishers → 1 subscriber on `#`, QoS 0
#   qos1_fanin  8 publishers → 1 subscriber on `#`, QoS 1 (64 unacknowledged per publisher)
# A QoS 0 message the broker drops costs instructions and delivers nothing: the "lost" column says
# how many were dropped, and a run with losses is not comparable with one without.
# rumqttd runs with the configuration run.sh gives it (scripts/bench/rumqttd.sh), and Starling
# with the same in-flight window as there (BENCH_INFLIGHT, rumqttd's fixed 100), unless
# STARLING_SESSION__MAX_INFLIGHT is set in the environment.
set -euo pipefail

SCENARIOS="fanout qos0_fanin qos1_fanin"
N=4000
OUTDIR=""
SYSCALLS=1
usage() { sed -n '2,38p' "$0"; exit 2; }
while getopts "s:n:o:Ch" opt; do
    case "$opt" in
        s) SCENARIOS=$OPTARG ;;
        n) N=$OPTARG ;;
        o) OUTDIR=$OPTARG ;;
        C) SYSCALLS=0 ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/bench/rumqttd.sh
. "$ROOT/scripts/bench/rumqttd.sh"

# Each broker as its kind and an absolute path; NAMES is what the tables print.
KINDS=()
BINARIES=()
NAMES=()
for b in "$@"; do
    kind=starling
    case "$b" in
        rumqttd)
            install_rumqttd
            kind=rumqttd
            b=$(command -v rumqttd || echo "$HOME/.cargo/bin/rumqttd")
            ;;
        rumqttd:*) kind=rumqttd; b=${b#rumqttd:} ;;
    esac
    [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }
    KINDS+=("$kind")
    BINARIES+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")")
    NAMES+=("$kind $b")
done

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
if [ "$SYSCALLS" = 1 ] && ! perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
    echo "perf cannot count system calls here (linux-perf, perf_event_paranoid); -C skips them" >&2
    exit 1
fi
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
write_rumqttd_config "$WORK/rumqttd.toml" "$PORT" 1000
BROKER_PID=""
# Under perf the broker is perf's child: BROKER_PID is perf, SIGNAL_PID the broker itself.
SIGNAL_PID=""

log() { printf '[instr %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

stop_broker() {
    [ -n "$BROKER_PID" ] || return 0
    # SIGTERM: Starling shuts down gracefully, rumqttd ends; valgrind and perf then write their
    # counts.
    kill -TERM "${SIGNAL_PID:-$BROKER_PID}" 2>/dev/null || true
    for _ in $(seq 1 600); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    [ -z "$SIGNAL_PID" ] || kill -9 "$SIGNAL_PID" 2>/dev/null || true
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
    SIGNAL_PID=""
}
cleanup() { stop_broker; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The command that starts broker I on $PORT, in BROKER_CMD, and its environment, in BROKER_ENV
# (set outside valgrind and perf: they count the process they start, not one it execs).
broker_cmd() { # index
    local i=$1
    case "${KINDS[$i]}" in
        starling)
            rm -rf "$WORK/data"
            BROKER_ENV=(STARLING_ADMIN__ENABLED=false "STARLING_SESSION__MAX_INFLIGHT=${STARLING_SESSION__MAX_INFLIGHT:-$BENCH_INFLIGHT}")
            BROKER_CMD=("${BINARIES[$i]}" serve --bind "127.0.0.1:$PORT" --data-dir "$WORK/data")
            ;;
        rumqttd)
            BROKER_ENV=()
            BROKER_CMD=("${BINARIES[$i]}" -q -c "$WORK/rumqttd.toml")
            ;;
    esac
}

# One measured run, counted by MODE (callgrind or syscalls) into OUTDIR/TAG.{callgrind,perf};
# prints "<received> <lost>".
measure() { # index scenario count tag mode
    local i=$1 scenario=$2 count=$3 tag=$4 mode=$5
    local report="$OUTDIR/$tag.json"
    if port_open "$PORT"; then
        log "port $PORT is already in use; refusing to measure an unknown broker"
        return 1
    fi
    broker_cmd "$i"
    case "$mode" in
        callgrind)
            env "${BROKER_ENV[@]}" valgrind --tool=callgrind --callgrind-out-file="$OUTDIR/$tag.callgrind" "${BROKER_CMD[@]}" \
                >"$OUTDIR/$tag.log" 2>&1 &
            ;;
        syscalls)
            env "${BROKER_ENV[@]}" perf stat -x, -o "$OUTDIR/$tag.perf" -e 'raw_syscalls:sys_enter,syscalls:sys_enter_*' \
                -- "${BROKER_CMD[@]}" >"$OUTDIR/$tag.log" 2>&1 &
            ;;
    esac
    BROKER_PID=$!
    for _ in $(seq 1 600); do
        port_open "$PORT" && break
        kill -0 "$BROKER_PID" 2>/dev/null || { log "broker exited; see $OUTDIR/$tag.log"; return 1; }
        sleep 0.1
    done
    if [ "$mode" = syscalls ]; then
        # perf's child is the broker.
        SIGNAL_PID=$(pgrep -P "$BROKER_PID" | head -n 1)
        [ -n "$SIGNAL_PID" ] || { log "no broker process under perf ($BROKER_PID)"; return 1; }
    fi
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
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["messages"]; print(r["received"], r.get("lost") or 0)' "$report"
}

RESULTS="$OUTDIR/results.tsv"
: >"$RESULTS"
log "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); files in $OUTDIR"
MODES=callgrind
[ "$SYSCALLS" = 1 ] && MODES="callgrind syscalls"
for scenario in $SCENARIOS; do
    for i in "${!BINARIES[@]}"; do
        for mode in $MODES; do
            small=$((N / 5))
            ext=""
            [ "$mode" = syscalls ] && ext=".sys"
            log "$scenario, $mode: broker $((i + 1)) (${NAMES[$i]}), $small then $N messages"
            read -r rx1 lost1 < <(measure "$i" "$scenario" "$small" "$scenario-$i-small$ext" "$mode")
            read -r rx2 lost2 < <(measure "$i" "$scenario" "$N" "$scenario-$i-large$ext" "$mode")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$i" "$mode" "$rx1" "$lost1" "$rx2" "$lost2" >>"$RESULTS"
        done
    done
done

python3 "$ROOT/scripts/bench/instr_report.py" "$RESULTS" "$OUTDIR" "${NAMES[@]}"
log "callgrind files: $OUTDIR (callgrind_annotate --inclusive=yes FILE)"
