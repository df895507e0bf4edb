#!/usr/bin/env bash
# How a broker's threads spend one QoS 1 fan-in run: per thread, voluntary and involuntary
# context switches per 1,000 deliveries and CPU time, from /proc before and after a fixed number
# of messages. Voluntary switches are a thread going to sleep for want of work (and being woken
# again); they and the CPU time per message show how the work spreads over the cores, which
# instruction counts (instr.sh) cannot. CPU time moves with the machine's load; compare brokers
# measured in one sitting, and run it under the bench lock (it loads the machine).
#
# Usage: scripts/bench/sched.sh [-n MESSAGES] BROKER [BROKER...]
#   BROKER  a starling binary, or `rumqttd` (run.sh's configuration)
#   -n      messages published (default 400000)
# Scenario: instr.sh's qos1_fanin (8 publishers → 1 subscriber on `#`, QoS 1, 64 in flight per
# publisher, 64-byte payloads, MQTT 3.1.1), port 22991, Starling with the in-flight window of
# run.sh (BENCH_INFLIGHT). Environment such as TOKIO_WORKER_THREADS passes through to Starling.
set -euo pipefail

N=400000
while getopts "n:h" opt; do
    case "$opt" in
        n) N=$OPTARG ;;
        *) sed -n '2,16p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,16p' "$0"; exit 2; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/bench/rumqttd.sh
. "$ROOT/scripts/bench/rumqttd.sh"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null \
    || echo "$ROOT/target")
BENCH=$TARGET_DIR/release/starling-bench
[ -x "$BENCH" ] || cargo build --release --quiet -p starling-bench
PORT=22991
WORK=$(mktemp -d /tmp/starling-sched.XXXXXX)
BROKER_PID=""
cleanup() {
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# One line per thread: tid, name, voluntary switches, involuntary switches, CPU ticks.
snapshot() {
    for t in /proc/"$1"/task/*; do
        printf '%s %s %s %s\n' "$(basename "$t")" "$(tr ' ' _ <"$t/comm")" \
            "$(awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v, n}' "$t/status")" \
            "$(awk '{print $14 + $15}' "$t/stat")"
    done
}

for b in "$@"; do
    if port_open "$PORT"; then
        echo "port $PORT is already in use; refusing to measure an unknown broker" >&2
        exit 1
    fi
    case "$b" in
        rumqttd)
            install_rumqttd
            write_rumqttd_config "$WORK/rumqttd.toml" "$PORT" 1000
            "$(command -v rumqttd || echo "$HOME/.cargo/bin/rumqttd")" -q -c "$WORK/rumqttd.toml" >"$WORK/broker.log" 2>&1 &
            ;;
        *)
            rm -rf "$WORK/data"
            STARLING_ADMIN__ENABLED=false STARLING_SESSION__MAX_INFLIGHT=$BENCH_INFLIGHT \
                "$b" serve --bind "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/broker.log" 2>&1 &
            ;;
    esac
    BROKER_PID=$!
    for _ in $(seq 1 100); do
        port_open "$PORT" && break
        sleep 0.1
    done
    snapshot "$BROKER_PID" >"$WORK/before"
    "$BENCH" pubsub -p "$PORT" -V 3 -s 64 -L "$N" -d 600s --drain 60s --json --no-progress \
        --publishers 8 --subscribers 1 -t 'bench/%i' --sub-topic '#' -q 1 >"$WORK/report.json" 2>"$WORK/bench.err" \
        || echo "starling-bench failed: $(tail -n 1 "$WORK/bench.err")" >&2
    snapshot "$BROKER_PID" >"$WORK/after"
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
    python3 - "$WORK" "$b" "$(getconf CLK_TCK)" <<'PY'
import json, sys
work, name, hz = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.load(open(f"{work}/report.json"))
rx = r["messages"]["received"]
def read(path):
    out = {}
    for line in open(path):
        tid, comm, v, nv, cpu = line.split()
        out[tid] = (comm, int(v), int(nv), int(cpu))
    return out
a, b = read(f"{work}/before"), read(f"{work}/after")
k = rx / 1000
tot = [0, 0, 0]
rows = []
for tid, (comm, v, nv, cpu) in b.items():
    _, v0, nv0, cpu0 = a.get(tid, (comm, 0, 0, 0))
    d = (v - v0, nv - nv0, cpu - cpu0)
    if any(d):
        rows.append(f"  {comm:20s} voluntary/1k {d[0] / k:6.1f}  involuntary/1k {d[1] / k:6.1f}  CPU ms/1k {d[2] * 1000 / hz / k:5.2f}")
        tot = [x + y for x, y in zip(tot, d)]
print(f"{name}: {rx:,} delivered, {r['messages'].get('lost') or 0} lost, {r['rates']['recv_overall_per_s']:,.0f}/s; "
      f"all threads: voluntary/1k {tot[0] / k:.1f}, involuntary/1k {tot[1] / k:.1f}, CPU ms/1k {tot[2] * 1000 / hz / k:.2f}")
print("\n".join(rows))
PY
done
