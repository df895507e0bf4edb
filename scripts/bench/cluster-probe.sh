#!/usr/bin/env bash
# Where the CPU of a cross-node QoS 0 flood goes: a 2-core cluster on 127.250.78.1-2, one
# 8 -> 1 QoS 0 flood of 5 s (publishers on core-1, the subscriber on core-2, or on core-1 with
# `same`), `perf stat` of both nodes for 3 s of the load phase (system calls, context switches,
# CPU), the link's frame/write/read counters, and the broker CPU per 1M delivered.
#
# Usage: scripts/bench/cluster-probe.sh STARLING STARLING_BENCH LABEL [cross|same]
#   RECORD=1: `perf record -g` of both nodes instead of `perf stat` (files named in the output).
#   RATE=N: N publishes per second in all (default: as fast as they go), so the CPU per message
#   can be compared at a load that leaves the CPU partly idle, as on a quiet machine.
# Needs perf (and permission to trace the nodes). Run it under `flock /tmp/bench.lock`. The
# nodes and the load generator it starts are killed on exit; their directory stays in /tmp.
set -euo pipefail
BIN=$1; BENCH=$2; LABEL=$3; PLACE=${4:-cross}
NET=127.250.78
W=$(mktemp -d /tmp/starling-cluster-probe.XXXXXX)
PIDS=()
BP=""
cleanup() { [ -z "$BP" ] || kill "$BP" 2>/dev/null || true; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for i in 1 2; do
cat > $W/n$i.toml <<T
node_name = "core-$i"
data_dir = "$W/n$i"
[listeners.tcp]
bind = "$NET.$i:1883"
allow_anonymous = true
[admin]
bind = "$NET.$i:18083"
api_keys = ["bench-api-key-0123456789"]
[log]
level = "warn"
[cluster]
role = "core"
secret = "bench-cluster-secret-0123456789"
bind = "$NET.$i:4370"
advertise = "$NET.$i:4370"
bootstrap_expect = 2
[cluster.discovery]
kind = "static"
seeds = ["$NET.1:4370", "$NET.2:4370"]
T
"$BIN" serve --config $W/n$i.toml >$W/n$i.log 2>&1 &
PIDS+=($!)
done
for i in 1 2; do for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://$NET.$i:18083/readyz)" = 200 ] && break; sleep 0.2; done; done
SUB=$NET.2; [ "$PLACE" = same ] && SUB=$NET.1
cpu() { awk '{ print $14 + $15 }' /proc/$1/stat; }
a0=$(cpu ${PIDS[0]}); b0=$(cpu ${PIDS[1]})
"$BENCH" pubsub -h $NET.1 --sub-host $SUB --settle 1s --publishers 8 --subscribers 1 -t 'bench/%i' --sub-topic 'bench/#' -q 0 ${RATE:+-r $RATE} -d 5s --drain 10s -V 3 -s 64 --json --no-progress > $W/bench.json 2>$W/bench.err &
BP=$!
sleep 2
EV=context-switches,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,task-clock
if [ -n "${RECORD:-}" ]; then
perf record -F 1999 -g -p ${PIDS[0]} -o $W/rec1.data -- sleep 3 >/dev/null 2>&1 &
P1=$!
perf record -F 1999 -g -p ${PIDS[1]} -o $W/rec2.data -- sleep 3 >/dev/null 2>&1 &
P2=$!
else
perf stat -e $EV -p ${PIDS[0]} -o $W/perf1.txt -- sleep 3 &
P1=$!
perf stat -e $EV -p ${PIDS[1]} -o $W/perf2.txt -- sleep 3 &
P2=$!
fi
wait $P1 $P2 || true
m1=$(curl -s http://$NET.1:18083/metrics | grep -E '^starling_cluster_(forwarded_messages|link)' || true)
m2=$(curl -s http://$NET.2:18083/metrics | grep -E '^starling_cluster_(received_messages|link)' || true)
wait $BP || true
a1=$(cpu ${PIDS[0]}); b1=$(cpu ${PIDS[1]})
python3 - "$W/bench.json" "$LABEL" $((a1-a0)) $((b1-b0)) "$(getconf CLK_TCK)" <<'PY'
import json,sys
r=json.load(open(sys.argv[1])); got=r["messages"]["received"]
print(f"{sys.argv[2]}: recv/s {r['rates']['recv_overall_per_s']:,.0f} received {got:,} lost {r['messages'].get('lost')} cpu s/1M core1 {int(sys.argv[3])/int(sys.argv[5])/got*1e6:.2f} core2 {int(sys.argv[4])/int(sys.argv[5])/got*1e6:.2f}")
PY
echo "--- core-1 ($W)"; grep -vE '^#|^$' $W/perf1.txt 2>/dev/null || true; echo "$m1"
echo "--- core-2"; grep -vE '^#|^$' $W/perf2.txt 2>/dev/null || true; echo "$m2"
