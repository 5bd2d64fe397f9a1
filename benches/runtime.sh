#!/usr/bin/env bash
# runtime.sh — start-up benchmark: `berth-runtime run` of busybox `true` against
# `crun run` and `runc run` on the same bundle, plus the floor (`unshare` of the
# same namespaces + exec of true).  `make bench` runs it after `make release`.
#
# Usage (as root): benches/runtime.sh
#
# Environment:
#   BENCH_ITERATIONS  timed runs per runtime (default 200)
#   BENCH_WARMUP      untimed runs per runtime first (default 5)
#   BENCH_FLOOR       0: leave out the `unshare` floor (default 1)
#   BENCH_SEED        seed of the per-round shuffle of the order (default 1)
#   BENCH_STATE_TMPFS 1: the runtimes' --root directories on a tmpfs (as /run is
#                     on most hosts) instead of $TMPDIR's filesystem (default 0)
#   BERTH, CRUN, RUNC runtimes (default target/release/berth-runtime, /usr/bin/crun,
#                     /usr/bin/runc); set CRUN= or RUNC= to leave one out
#   BENCH_EXTRA       more subjects, "NAME=PATH ..." (an A/B build of berth-runtime)
#   BENCH_ENV         "NAME:VAR=VALUE ..." set VAR only in subject NAME's environment
#   BENCH_OUT         where the raw per-run TSV and the printed report go
#                     (default target/bench)
#
# The whole measurement runs once, in one private mount namespace shared by all
# runtimes (benches/normalized-ns.sh: "/" rshared, /sys/fs/cgroup rebuilt as
# pure cgroup v1, as ../shared/conformance/runtime-tools-validate.sh --normalize
# does), because crun refuses this host's hybrid cgroup layout.  Runs alternate:
# every round runs berth, crun, runc and the floor once each, in a shuffled
# order (BENCH_SEED, default 1), so drift hits every runtime alike; benches/runtime_harness.py drives them, each run through
# benches/spawn.rs (built here with rustc into $BENCH_OUT), which times it with
# spawn + wait4 (wall: monotonic clock; CPU and peak RSS: wait4's rusage).
# Exit status 0 whatever the numbers say: it is a benchmark, not a test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }

# ---------------------------------------------- inside the namespace
if [ "${BENCH_IN_NS:-}" = 1 ]; then
  echo "# mount namespace: / rshared; /sys/fs/cgroup = cgroup v1 only: $(cd /sys/fs/cgroup && ls | paste -sd' ')"
  mkdir -p "$BENCH_STATE"
  if [ "${BENCH_STATE_TMPFS:-0}" = 1 ]; then
    mount -t tmpfs -o mode=700 bench-state "$BENCH_STATE" || die "cannot mount a tmpfs on $BENCH_STATE"
  fi
  echo "# state roots (--root) on $(findmnt -n -o FSTYPE -T "$BENCH_STATE") ($BENCH_STATE)"
  exec python3 "$here/benches/runtime_harness.py" "$@"
fi

# ---------------------------------------------------------- outside
[ "$(id -u)" = 0 ] || die "needs root (namespaces, mounts, cgroups)"
command -v python3 >/dev/null || die "python3 not found"
command -v unshare >/dev/null || die "unshare (util-linux) not found"

BERTH=${BERTH-$here/target/release/berth-runtime}
CRUN=${CRUN-/usr/bin/crun}
RUNC=${RUNC-/usr/bin/runc}
ITER=${BENCH_ITERATIONS:-200}
WARMUP=${BENCH_WARMUP:-5}
OUT=${BENCH_OUT:-$here/target/bench}
[ -x "$BERTH" ] || die "$BERTH not found (make release)"

subjects=("berth-runtime=$BERTH")
if [ -n "$CRUN" ]; then [ -x "$CRUN" ] && subjects+=("crun=$CRUN") || echo "bench: $CRUN not found, leaving crun out" >&2; fi
if [ -n "$RUNC" ]; then [ -x "$RUNC" ] && subjects+=("runc=$RUNC") || echo "bench: $RUNC not found, leaving runc out" >&2; fi
for x in ${BENCH_EXTRA:-}; do subjects+=("$x"); done
envs=(); for e in ${BENCH_ENV:-}; do envs+=(--env "$e"); done
floor=(); [ "${BENCH_FLOOR:-1}" = 0 ] || floor=(--floor)

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
cleanup() {
  local s name path root id
  for s in "${subjects[@]}"; do            # a container a failed run left behind
    name=${s%%=*} path=${s#*=} root=$work/state/state-${name//[^A-Za-z0-9._-]/_}
    [ -d "$root" ] || continue
    for id in $("$path" --root "$root" list -q 2>/dev/null); do
      "$path" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT

# one bundle for all: busybox rootfs, config.json from `berth-runtime spec`,
# terminal off, args ["true"]
"$here/tests/scripts/make-bundle.sh" "$work/bundle" "$BERTH" -- true >/dev/null

mkdir -p "$OUT"
# the launcher: std only, static so that its own RSS (the floor of what it can
# report) stays ~1 MiB
launcher=$OUT/spawn
if [ ! -x "$launcher" ] || [ "$here/benches/spawn.rs" -nt "$launcher" ]; then
  rustc=${RUSTC:-$(command -v rustc || echo "$HOME/.cargo/bin/rustc")}
  "$rustc" --edition 2021 -O -C panic=abort -C strip=symbols -C target-feature=+crt-static \
    "$here/benches/spawn.rs" -o "$launcher" || die "cannot build $launcher with $rustc"
fi
stamp=$(date +%Y%m%d-%H%M%S)
raw=$OUT/runtime-$stamp.tsv
report=$OUT/runtime-$stamp.txt

BENCH_IN_NS=1 BENCH_STATE=$work/state "$here/benches/normalized-ns.sh" "$BASH" "${BASH_SOURCE[0]}" \
  --bundle "$work/bundle" --workdir "$work" --state-dir "$work/state" --iterations "$ITER" --warmup "$WARMUP" --seed "${BENCH_SEED:-1}" \
  --raw "$raw" --launcher "$launcher" "${floor[@]}" "${envs[@]}" "${subjects[@]}" | tee "$report" || echo "bench: harness failed (status $?)" >&2
echo "# raw runs: $raw; this report: $report"
exit 0
