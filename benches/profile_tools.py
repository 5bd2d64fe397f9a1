#!/usr/bin/env python3
"""Helpers for benches/profile.sh.

  profile_tools.py phases TRACE...      phases of `berth-runtime run` from `perf trace` outputs
  profile_tools.py offcpu TIMEHIST RUNS COMM[,COMM...] [DEPTH]
                                        where the time off the CPU goes, from
                                        `perf sched timehist -g --state` output

Both print medians / per-run means; see docs/performance.md for how they were used.
"""

import collections
import re
import statistics
import sys

# ------------------------------------------------------------------ phases
# `perf trace` line: "  12.345 ( 0.010 ms): comm/1234 syscall(args) = ret"
# or, for a call that blocked: "  12.345 ( 0.010 ms): comm/1234  ... [continued]: syscall()) = ret"
TRACE_RE = re.compile(r"\s*([0-9.]+) \(\s*([0-9.]*)\s*(?:ms)?\s*\): (\S+)/(\d+)\s+(?:\.\.\. \[continued\]: )?(\w+)\(")


def parse_trace(path):
    ev = []
    with open(path, errors="replace") as f:
        for line in f:
            m = TRACE_RE.match(line)
            if m:
                ev.append((float(m[1]), float(m[2]) if m[2] else None, m[3], int(m[4]), m[5]))
    return ev


def phases_of(ev):
    """Phase boundaries of one traced `berth-runtime run`, keyed by syscalls:
    parent P forks an intermediate I (joins cgroups, unshares, clones) whose
    child C (CLONE_PARENT) is the container's init."""
    pids = []
    for e in ev:
        if e[3] not in pids:
            pids.append(e[3])
    if len(pids) < 3:
        raise ValueError("fewer than 3 processes")
    P, I, C = pids[0], pids[1], pids[2]

    def calls(pid, name, done=False):
        return [e for e in ev if e[3] == pid and e[4] == name and (e[1] is not None or not done)]

    t = {}
    t["first_mkdir"] = calls(P, "mkdir")[0][0]
    t["fork"] = calls(P, "socketpair")[0][0]
    t["int_first"] = min(e[0] for e in ev if e[3] == I)
    un = calls(I, "unshare", True)[0]
    t["unshare"], t["unshare_end"] = un[0], un[0] + un[1]
    go = calls(C, "recvmsg", True)[0]
    t["init_go"] = go[0] + go[1]
    t["init_ready"] = calls(C, "sendmsg")[0][0]
    ren = [e for e in calls(P, "rename") if e[0] > t["init_ready"]]
    t["state_saved"] = ren[-1][0] if ren else t["init_ready"]
    t["execve"] = [e for e in ev if e[3] == C and e[4] == "execve"][-1][0]
    t["true_exit"] = calls(C, "exit_group")[0][0]
    t["end"] = calls(P, "exit_group")[0][0]
    bounds = [
        ("exec, parse args + config.json, create state dir", 0.0, t["first_mkdir"]),
        ("parent: cgroup dirs x9, cpuset copy, device rules, exec.fifo", t["first_mkdir"], t["fork"]),
        ("fork the intermediate process", t["fork"], t["int_first"]),
        ("intermediate: join cgroups (9 cgroup.procs writes)", t["int_first"], t["unshare"]),
        ("intermediate: unshare 6 namespaces", t["unshare"], t["unshare_end"]),
        ("clone init, pid handshake", t["unshare_end"], t["init_go"]),
        ("init: mounts, /dev, pivot_root, masked/ro paths", t["init_go"], t["init_ready"]),
        ("parent: write state.json (2 fsyncs)", t["init_ready"], t["state_saved"]),
        ("start: exec.fifo, caps, execve", t["state_saved"], t["execve"]),
        ("container: busybox true runs and exits", t["execve"], t["true_exit"]),
        ("parent: reap, delete cgroups x9 + state dir", t["true_exit"], t["end"]),
    ]
    ph = collections.OrderedDict()
    for name, a, b in bounds:
        # syscalls started in the window by any process of the run, excluding
        # the continuation lines of calls that blocked (counted once)
        n = sum(1 for e in ev if a <= e[0] < b and e[1] is not None)
        ph[name] = (b - a, n)
    ph["TOTAL (traced)"] = (t["end"], sum(1 for e in ev if e[1] is not None))
    ph["  of which in fsync"] = (sum(e[1] for e in calls(P, "fsync", True)), len(calls(P, "fsync", True)))
    ph["  of which in the first cgroup.procs write"] = (max(
        (e[1] for e in calls(I, "write", True)), default=0.0), 1)
    return ph


def cmd_phases(paths):
    allp = collections.OrderedDict()
    skipped = 0
    for p in paths:
        try:
            ph = phases_of(parse_trace(p))
        except (ValueError, IndexError) as e:
            skipped += 1
            print(f"  (skipped {p}: {e})", file=sys.stderr)
            continue
        for k, v in ph.items():
            allp.setdefault(k, []).append(v)
    if not allp:
        print("phases: no trace recognized")
        return
    n = len(next(iter(allp.values())))
    print(f"phases of berth-runtime run under `perf trace`, {n} runs: median ms (min), median syscalls")
    for k, v in allp.items():
        ms = [x[0] for x in v]
        calls = [x[1] for x in v]
        print(f"  {statistics.median(ms):6.2f} ({min(ms):5.2f}) {statistics.median(calls):5.0f}  {k}")


# ------------------------------------------------------------------ offcpu
# `perf sched timehist -g --state` line:
#   time [cpu] comm[tid] wait sch-delay run state stack
TIMEHIST_RE = re.compile(r"\s*([0-9.]+)\s+\[(\d+)\]\s+(\S+)\[(\d+)(?:/\d+)?\]\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+(\S)\s+(.*)")


def cmd_offcpu(path, runs, comms, depth=4):
    run = delay = 0.0
    waits = collections.Counter()
    count = collections.Counter()
    last = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = TIMEHIST_RE.match(line)
            if not m:
                continue
            comm, tid = m[3], m[4]
            if not any(comm.startswith(c) for c in comms):
                continue
            wait, sdelay, rtime, state, stack = float(m[5]), float(m[6]), float(m[7]), m[8], m[9]
            run += rtime
            delay += sdelay
            if tid in last:  # this line's wait belongs to how the task last left the CPU
                waits[last[tid]] += wait
                count[last[tid]] += 1
            frames = [s.strip() for s in stack.split("<-")]
            last[tid] = state + " " + " <- ".join(frames[:depth])
    print(f"per run, summed over all processes of the run: on CPU {run / runs:.2f} ms, "
          f"runnable but waiting for a CPU {delay / runs:.2f} ms; blocked (state, kernel stack):")
    for k, v in waits.most_common(12):
        print(f"  {v / runs:7.2f} ms  x{count[k] / runs:4.1f}  {k[:160]}")


def main(argv):
    if len(argv) >= 2 and argv[1] == "phases":
        cmd_phases(argv[2:])
    elif len(argv) >= 5 and argv[1] == "offcpu":
        cmd_offcpu(argv[2], int(argv[3]), argv[4].split(","), int(argv[5]) if len(argv) > 5 else 4)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
