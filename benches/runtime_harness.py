#!/usr/bin/env python3
"""Interleaved start-up benchmark of OCI runtimes: `RUNTIME --root R run --bundle B ID`.

Run by benches/runtime.sh, inside the mount namespace it prepares (cgroup v1
only, "/" rshared), so that every runtime sees the same cgroup layout.

Each run goes through benches/spawn.rs (a small static launcher), which records
  wall  monotonic clock from just before the spawn to wait4's return;
  cpu   user + sys from wait4's rusage: the runtime process plus every
        descendant it waited for (its container init and the container's
        `true`; for runc its `runc init`), the same accounting for all;
  rss   ru_maxrss from the same rusage: peak RSS of the runtime process (the
        kernel reports the max over it and its waited-for descendants, not a
        sum; the launcher's own ~1 MiB is the lowest value it can show).
A launcher rather than Python's own posix_spawn because execve folds the old
address space's peak RSS into ru_maxrss: children of Python would all report
Python's ~15 MiB.

Runs alternate between runtimes, every round running each once in a freshly
shuffled order, so that drift in machine load hits all of them alike and no
runtime always runs right after the same other one (what ran just before
matters: e.g. a cgroup v1 migration within ~10 ms of another skips an RCU
grace period).  A benchmark, not a test:
the exit status is 0 unless the harness itself is misused.
"""

import argparse
import datetime
import os
import platform
import random
import statistics
import subprocess
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--workdir", required=True, help="logs go here, and the state roots unless --state-dir")
    p.add_argument("--state-dir", help="the runtimes' --root directories go here")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--seed", type=int, default=1, help="seed of the per-round shuffle of the order")
    p.add_argument("--raw", help="write every run as TSV to this file")
    p.add_argument("--launcher", required=True, help="benches/spawn.rs, built")
    p.add_argument("--env", action="append", default=[], metavar="NAME:VAR=VALUE",
                   help="set VAR=VALUE in the environment of runtime NAME only (repeatable)")
    p.add_argument("--floor", action="store_true",
                   help="also time `unshare` of the spec's namespaces + exec of true")
    p.add_argument("runtimes", nargs="+", metavar="NAME=PATH",
                   help="runtimes to compare; the first is the one the targets are about")
    return p.parse_args()


def spawn_wait(launcher, argv, stderr_path, env=None):
    """Runs argv under the launcher (benches/spawn.rs): stdin/stdout /dev/null,
    stderr to a file.  Returns (wall_s, exit_code, user_s, sys_s, maxrss_kib)."""
    with open(stderr_path, "wb") as err:
        out = subprocess.run([launcher] + argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=err, check=False, env=env).stdout.decode()
    try:
        wall_ns, utime_us, stime_us, maxrss, code = (int(x) for x in out.split())
    except ValueError:
        sys.exit(f"launcher {launcher} printed {out!r} for {argv}")
    return wall_ns / 1e9, code, utime_us / 1e6, stime_us / 1e6, maxrss


def pct(values, q):
    """Percentile by linear interpolation between closest ranks (q in 0..100)."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def machine_line():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def version_of(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.strip().splitlines()[0] if out.strip() else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def main():
    a = parse_args()
    subjects = []  # (name, kind, path)
    for spec in a.runtimes:
        name, _, path = spec.partition("=")
        if not path:
            sys.exit(f"bad runtime argument {spec!r}: want NAME=PATH")
        subjects.append((name, "runtime", path))
    if a.floor:
        unshare = "/usr/bin/unshare"
        subjects.append(("floor (unshare)", "floor", unshare))

    roots = {}
    for name, kind, path in subjects:
        if kind == "runtime":
            roots[name] = os.path.join(a.state_dir or a.workdir, "state-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in name))
            os.makedirs(roots[name], exist_ok=True)

    def argv_for(name, kind, path, cid):
        if kind == "floor":
            # the namespaces of the default spec: pid network ipc uts mount cgroup
            return [path, "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "--cgroup",
                    "--", os.path.join(a.bundle, "rootfs", "bin", "true")]
        return [path, "--root", roots[name], "run", "--bundle", a.bundle, cid]

    envs = {}
    for spec in a.env:
        name, _, kv = spec.partition(":")
        var, eq, val = kv.partition("=")
        if not eq or name not in roots:
            sys.exit(f"bad --env {spec!r}: want NAME:VAR=VALUE with NAME one of the runtimes")
        envs.setdefault(name, dict(os.environ))[var] = val
    errlog = os.path.join(a.workdir, "stderr")
    results = {name: [] for name, _, _ in subjects}
    failures = {name: 0 for name, _, _ in subjects}
    first_error = {}
    tag = f"b{os.getpid()}"
    load0 = os.getloadavg()
    started = datetime.datetime.now().astimezone()

    print(f"# {started:%Y-%m-%d %H:%M:%S %Z}  {machine_line()}")
    for name, kind, path in subjects:
        v = version_of(path) if kind == "runtime" else "unshare --pid --fork --mount --uts --ipc --net --cgroup true"
        extra = " ".join(f"{k}={envs[name][k]}" for k in envs.get(name, {}) if os.environ.get(k) != envs[name][k])
        print(f"#   {name:<16} {path}  ({v}){'  env: ' + extra if extra else ''}")
    print(f"# {a.iterations} runs each (+{a.warmup} warm-up), interleaved: every round runs each once,"
          f" in a shuffled order (seed {a.seed}); bundle {a.bundle}")
    print(f"# load average at start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    sys.stdout.flush()

    total_rounds = a.warmup + a.iterations
    raw = []
    rng = random.Random(a.seed)
    for rnd in range(total_rounds):
        warm = rnd < a.warmup
        order = list(subjects)
        rng.shuffle(order)   # each round in a new order: no runtime always follows the same one
        for name, kind, path in order:
            cid = f"{tag}-{rnd}"
            wall, code, utime, stime, maxrss = spawn_wait(a.launcher, argv_for(name, kind, path, cid), errlog,
                                                          envs.get(name))
            ok = code == 0
            if not ok:
                failures[name] += 1
                if name not in first_error:
                    try:
                        with open(errlog, errors="replace") as f:
                            first_error[name] = f"exit {code}: " + f.read().strip()[-600:]
                    except OSError:
                        first_error[name] = f"exit {code}"
                if kind == "runtime":  # leave no container behind for the next rounds
                    subprocess.run([path, "--root", roots[name], "delete", "--force", cid],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not warm:
                raw.append((rnd - a.warmup, name, wall, utime, stime, maxrss, int(ok)))
                if ok:
                    results[name].append((wall, utime + stime, utime, stime, maxrss, rnd))
        if (rnd + 1) % 50 == 0 and rnd + 1 < total_rounds:
            print(f"# ... {rnd + 1}/{total_rounds} rounds", file=sys.stderr, flush=True)

    load1 = os.getloadavg()
    elapsed = (datetime.datetime.now().astimezone() - started).total_seconds()
    print(f"# load average at end:   {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; took {elapsed:.0f} s")

    if a.raw:
        with open(a.raw, "w") as f:
            f.write("round\truntime\twall_s\tuser_s\tsys_s\tmaxrss_kib\tok\n")
            for r in raw:
                f.write("%d\t%s\t%.6f\t%.6f\t%.6f\t%d\t%d\n" % r)

    # ---------------------------------------------------------------- table
    summary = {}
    hdr = f"{'runtime':<16} {'ok':>5} {'fail':>4}  {'wall med':>8} {'p10':>6} {'p90':>6} {'min':>6}  {'cpu med':>7} {'user':>5} {'sys':>5}  {'RSS MiB':>7}"
    print()
    print("times in ms; cpu = user + sys of the process and the descendants it waited for")
    print(hdr)
    print("-" * len(hdr))
    for name, kind, path in subjects:
        rs = results[name]
        if not rs:
            print(f"{name:<16} {0:>5} {failures[name]:>4}  (no successful run)")
            continue
        wall = [r[0] * 1e3 for r in rs]
        cpu = [r[1] * 1e3 for r in rs]
        user = [r[2] * 1e3 for r in rs]
        sysd = [r[3] * 1e3 for r in rs]
        rss = [r[4] / 1024.0 for r in rs]
        s = dict(wall=statistics.median(wall), p10=pct(wall, 10), p90=pct(wall, 90), min=min(wall),
                 cpu=statistics.median(cpu), user=statistics.median(user), sys=statistics.median(sysd),
                 rss=statistics.median(rss), rounds={r[5]: r for r in rs})
        summary[name] = s
        print(f"{name:<16} {len(rs):>5} {failures[name]:>4}  {s['wall']:8.2f} {s['p10']:6.2f} {s['p90']:6.2f} {s['min']:6.2f}"
              f"  {s['cpu']:7.2f} {s['user']:5.2f} {s['sys']:5.2f}  {s['rss']:7.2f}")
    for name, msg in first_error.items():
        print(f"! {name}: {failures[name]} failed run(s); first: {msg}")

    # --------------------------------------------------------------- ratios
    runtimes = [name for name, kind, _ in subjects if kind == "runtime"]
    me = runtimes[0]
    print()
    if me not in summary:
        print(f"no successful {me} run: no ratios")
        return 0
    m = summary[me]
    print(f"ratios {me} / other  (ratio of medians; in brackets the median of the per-round paired ratios)")
    for other in runtimes[1:] + [n for n, k, _ in subjects if k == "floor"]:
        if other not in summary:
            print(f"  vs {other:<16} no successful run")
            continue
        o = summary[other]
        common = sorted(set(m["rounds"]) & set(o["rounds"]))
        pw = statistics.median([m["rounds"][r][0] / o["rounds"][r][0] for r in common]) if common else float("nan")
        pc = [m["rounds"][r][1] / o["rounds"][r][1] for r in common if o["rounds"][r][1] > 0]
        pc = statistics.median(pc) if pc else float("nan")
        cpu_ratio = m["cpu"] / o["cpu"] if o["cpu"] > 0 else float("nan")
        print(f"  vs {other:<16} wall {m['wall'] / o['wall']:5.2f}x [{pw:4.2f}]   cpu {cpu_ratio:5.2f}x [{pc:4.2f}]"
              f"   rss {m['rss'] / o['rss']:5.2f}x")

    crun = next((n for n in runtimes[1:] if "crun" in n), None)
    print()
    if crun and crun in summary:
        c = summary[crun]
        w_ok = m["wall"] <= 0.8 * c["wall"]
        c_ok = m["cpu"] < c["cpu"]
        print(f"target: {me} median wall <= 0.8 x {crun}'s: {m['wall']:.2f} ms vs {0.8 * c['wall']:.2f} ms"
              f" -> {'HOLDS' if w_ok else 'MISSED'}")
        print(f"target: {me} median cpu  <  {crun}'s:       {m['cpu']:.2f} ms vs {c['cpu']:.2f} ms"
              f" -> {'HOLDS' if c_ok else 'MISSED'}")
    else:
        print("targets: no crun result to compare with")
    floor = next((n for n, k, _ in subjects if k == "floor"), None)
    if floor and floor in summary:
        f = summary[floor]
        print(f"floor: unshare + exec true takes {f['wall']:.2f} ms wall, {f['cpu']:.2f} ms cpu; "
              f"{me} spends {m['wall'] - f['wall']:.2f} ms wall / {m['cpu'] - f['cpu']:.2f} ms cpu above it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
