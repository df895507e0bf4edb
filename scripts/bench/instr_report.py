"""The tables of scripts/bench/instr.sh: instructions and system calls per delivered message.

Usage: instr_report.py RESULTS.tsv OUTDIR NAME [NAME...]
RESULTS.tsv rows: scenario, broker index, mode (callgrind | syscalls), deliveries and losses of
the small and the large run; the counts are read from OUTDIR/<scenario>-<index>-{small,large}
(.callgrind, or .sys.perf for `perf stat -x,`). Each figure is (large − small) / (deliveries
large − deliveries small), so what start-up, connects and shutdown cost cancels out.
"""

import re
import sys

# System calls by kind, by their tracepoint names.
KINDS = {
    "read": ("read", "readv", "recvfrom", "recvmsg", "recvmmsg"),
    "write": ("write", "writev", "sendto", "sendmsg", "sendmmsg"),
    "futex": ("futex",),
    "epoll": ("epoll_wait", "epoll_pwait", "epoll_pwait2"),
}


def instructions(path):
    total = None
    for line in open(path):
        m = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if m:
            total = int(m.group(1))
    return total


def syscalls(path):
    out = dict.fromkeys(("all", *KINDS), 0)
    for line in open(path):
        parts = line.strip().split(",")
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        value, event = int(parts[0]), parts[2]
        if event == "raw_syscalls:sys_enter":
            out["all"] = value
            continue
        name = event.removeprefix("syscalls:sys_enter_")
        for kind, names in KINDS.items():
            if name in names:
                out[kind] += value
    out["other"] = out["all"] - sum(out[k] for k in KINDS)
    return out


def per(small, large, rx_small, rx_large):
    return (large - small) / (rx_large - rx_small) if rx_large > rx_small else float("nan")


def ratios_to_first(rows, value):
    """Each row's value (`value(p)`) over the first broker's (index 0) in the same scenario."""
    base, out = {}, []
    for scen, i, p, *_ in rows:
        if i == 0:
            base[scen] = value(p)
        out.append(value(p) / base[scen] if base.get(scen) else float("nan"))
    return out


def main():
    path, outdir, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    instr, sysc = [], []
    for line in open(path):
        if not line.strip():
            continue
        scen, i, mode, rx1, lost1, rx2, lost2 = line.rstrip("\n").split("\t")
        i, rx1, rx2 = int(i), int(rx1), int(rx2)
        tag = f"{outdir}/{scen}-{i}"
        if mode == "callgrind":
            p = per(instructions(f"{tag}-small.callgrind"), instructions(f"{tag}-large.callgrind"), rx1, rx2)
            instr.append((scen, i, p, rx1, rx2, lost1, lost2))
        else:
            a, b = syscalls(f"{tag}-small.sys.perf"), syscalls(f"{tag}-large.sys.perf")
            sysc.append((scen, i, {k: per(a[k], b[k], rx1, rx2) for k in a}, rx1, rx2, lost1, lost2))

    print("| Scenario | Broker | instructions / delivered message | ratio to the first "
          "| deliveries (small, large run) | lost (small, large) |")
    print("|---|---|---:|---:|---|---|")
    for (scen, i, p, rx1, rx2, lost1, lost2), ratio in zip(instr, ratios_to_first(instr, lambda p: p)):
        print(f"| {scen} | {names[i]} | {p:,.0f} | {ratio:.3f} | {rx1:,}, {rx2:,} | {lost1}, {lost2} |")
    if not sysc:
        return
    print()
    print("| Scenario | Broker | system calls / delivered message | ratio to the first | reads | writes "
          "| futex | epoll | other | deliveries (small, large run) | lost (small, large) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for (scen, i, p, rx1, rx2, lost1, lost2), ratio in zip(sysc, ratios_to_first(sysc, lambda p: p["all"])):
        cells = " | ".join(f"{p[k]:.3f}" for k in ("read", "write", "futex", "epoll", "other"))
        print(f"| {scen} | {names[i]} | {p['all']:.3f} | {ratio:.3f} | {cells} | {rx1:,}, {rx2:,} | {lost1}, {lost2} |")


if __name__ == "__main__":
    main()
