#!/usr/bin/env bash
# density.sh — what an idle container costs as their number grows.
#
# A private manager (its own BERTH_ROOT/BERTH_STATE, BERTH_BRIDGE=none and
# `--network none`, so no host networking is touched) starts detached idle
# containers (`busybox sleep 1d`) one after another up to each N of
# DENSITY_NS (default "10 100 500 1000"), and at each N reports:
#   fill      wall time of `berth run -d` for the containers started since
#             the previous N (median and p90, ms)
#   at-N      wall time of `berth run -d` beside N running containers: one
#             more is started and removed again, DENSITY_SAMPLES times,
#             DENSITY_SAMPLE_GAP seconds apart (median and p90, ms). The
#             samples are spread over several seconds at every N because a
#             VM's CPU speed drifts on that scale (a fixed busy loop took
#             10.5 ms and 16 ms a few seconds apart on the idle 2-core VM
#             this was written on): ten starts in a row at N = 10 land in one
#             such phase, the 900 between 100 and 1000 in all of them.
#   mem/ctr   memory per container, all told (KiB): the shim's
#             Pss (/proc/PID/smaps_rollup: private pages plus a fair share
#             of shared ones), its page tables (VmPTE of /proc/PID/status)
#             and its threads' kernel stacks (Threads × THREAD_SIZE, 16 KiB
#             on x86_64 and arm64), summed over every shim and divided by N.
#             The container's own process (`sleep`) is not counted: it is
#             the workload, not the engine's cost.
#   shim rss  median VmRSS of a shim (KiB), and its threads
#   mgr rss   the manager's VmRSS (KiB)
#   ps        `berth ps` wall time (median of DENSITY_PS_RUNS, ms)
# and at the end `rm -f` of all: total and per container.
#
# Usage (as root): benches/density.sh
# At the end, p90 at the largest N over p90 at the smallest, for both.
# Environment: BERTH_CLI (default target/debug/berth, its manager, shim and
# runtime beside it), DENSITY_NS, DENSITY_PS_RUNS (default 7),
# DENSITY_SAMPLES (default 40), DENSITY_SAMPLE_GAP (default 0.25),
# DENSITY_STATE_TMPFS=1 to keep the manager's state (bundles, sockets, the
# runtime's state) on a tmpfs, as /run is on systemd hosts (berth's default
# state dir is /run/berth), instead of beside the images on /var/tmp.
# The limits it needs (open files, pids, inotify instances: one per shim for
# OOM events on cgroup v2) are raised for the run and restored at its end.
# Exit status 0 whatever the numbers say: it is a benchmark, not a test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench-density: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
BERTH_CLI=${BERTH_CLI:-$here/target/debug/berth}
NS=${DENSITY_NS:-10 100 500 1000}
PS_RUNS=${DENSITY_PS_RUNS:-7}
SAMPLES=${DENSITY_SAMPLES:-40}
GAP=${DENSITY_SAMPLE_GAP:-0.25}
CONF=$(cd "$here/../shared/conformance" && pwd) || die "../shared/conformance not found"
[ -x "$BERTH_CLI" ] || die "$BERTH_CLI not found (cargo build --workspace)"
MAX_N=$(printf '%s\n' $NS | sort -n | tail -1)
KSTACK_KIB=16

# Limits, for this run only: each container holds a few descriptors in the
# manager and a few processes; each shim one inotify instance.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
restore=()
raise() { # sysctl-key minimum
  local cur; cur=$(sysctl -n "$1")
  if [ "$cur" -lt "$2" ]; then
    restore+=("$1=$cur")
    sysctl -qw "$1=$2"
  fi
}
raise fs.inotify.max_user_instances $((MAX_N * 2 + 1024))
raise kernel.pid_max $((MAX_N * 40 + 32768))
raise kernel.keys.maxkeys $((MAX_N * 2 + 1000))

work=$(mktemp -d /var/tmp/berth-bench-density.XXXXXX)
export BERTH_ROOT=$work/root BERTH_STATE=$work/state BERTH_BRIDGE=none
b() { "$BERTH_CLI" "$@"; }
cleanup() {
  b rm -f $(b ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  for p in $(pgrep -f "$work/state" || true); do kill -9 "$p" 2>/dev/null || true; done
  for m in $(grep -o "$work[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
  for kv in "${restore[@]}"; do sysctl -qw "$kv" || true; done
}
trap cleanup EXIT
if [ "${DENSITY_STATE_TMPFS:-0}" = 1 ]; then
  mkdir "$work/state"
  mount -t tmpfs -o mode=0711 berth-density-state "$work/state"
fi

bash "$CONF/make-busybox-image.sh" "$work/img" >/dev/null
b load -i "$work/img/busybox-oci.tar" >/dev/null
b run --rm --network none busybox true >/dev/null   # manager up

now() { date +%s%N; }
# percentile P (0-100) of the numbers on stdin
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print a[i]}'; }
manager_pid() { pgrep -f "berth-manager .*$work/state" | head -1; }
shim_pids() { pgrep -f "containerd-shim-berth-v2 .*-address $work/state/" || true; }
kib() { # file key
  awk -v k="$2" '$1 == k":" {print $2}' "$1" 2>/dev/null; }

sleep 1   # idle
echo "manager idle: $(kib "/proc/$(manager_pid)/status" VmRSS) KiB VmRSS"
printf '%6s %9s %9s %9s %9s %9s %9s %8s %9s %8s\n' N "fill-med" "fill-p90" "at-N-med" "at-N-p90" "mem/ctr" "shim-rss" threads "mgr-rss" "ps"
printf '%6s %9s %9s %9s %9s %9s %9s %8s %9s %8s\n' "" ms ms ms ms KiB KiB "" KiB ms
count=0
first_n="" fill_p90_first="" at_p90_first=""
for n in $NS; do
  : > "$work/start.us"
  while [ "$count" -lt "$n" ]; do
    t0=$(now)
    b run -d --network none busybox sleep 1d >/dev/null
    echo $(( ($(now) - t0) / 1000 )) >> "$work/start.us"
    count=$((count + 1))
  done
  sleep 2   # let every shim settle to idle
  total=0 rss="" threads=""
  for p in $(shim_pids); do
    pss=$(awk '$1 == "Pss:" {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    pte=$(kib "/proc/$p/status" VmPTE)
    thr=$(awk '$1 == "Threads:" {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$(( total + ${pss:-0} + ${pte:-0} + ${thr:-0} * KSTACK_KIB ))
    rss+="$(kib "/proc/$p/status" VmRSS)"$'\n'
    threads+="$thr"$'\n'
  done
  for _ in $(seq "$PS_RUNS"); do
    t0=$(now); b ps >/dev/null; echo $(( ($(now) - t0) / 1000 ))
  done > "$work/ps.us"
  : > "$work/at.us"
  for _ in $(seq "$SAMPLES"); do
    t0=$(now)
    id=$(b run -d --network none busybox sleep 1d)
    echo $(( ($(now) - t0) / 1000 )) >> "$work/at.us"
    b rm -f "$id" >/dev/null
    sleep "$GAP"
  done
  fill_p90=$(pct 90 < "$work/start.us")
  at_p90=$(pct 90 < "$work/at.us")
  if [ -z "$first_n" ]; then
    first_n=$n fill_p90_first=$fill_p90 at_p90_first=$at_p90
  fi
  printf '%6d %9.1f %9.1f %9.1f %9.1f %9d %9s %8s %9s %8.1f\n' "$n" \
    "$(pct 50 < "$work/start.us" | awk '{print $1/1000}')" \
    "$(echo "$fill_p90" | awk '{print $1/1000}')" \
    "$(pct 50 < "$work/at.us" | awk '{print $1/1000}')" \
    "$(echo "$at_p90" | awk '{print $1/1000}')" \
    $(( total / n )) \
    "$(printf '%s' "$rss" | pct 50)" "$(printf '%s' "$threads" | pct 50)" \
    "$(kib "/proc/$(manager_pid)/status" VmRSS)" \
    "$(pct 50 < "$work/ps.us" | awk '{print $1/1000}')"
done

printf 'p90 at %d / p90 at %d: fill %.2f, at-N %.2f\n' "$n" "$first_n" \
  "$(echo "$fill_p90 / $fill_p90_first" | bc -l)" "$(echo "$at_p90 / $at_p90_first" | bc -l)"
ids=$(b ps -aq)
t0=$(now)
# shellcheck disable=SC2086
b rm -f $ids >/dev/null
t=$(( ($(now) - t0) / 1000 ))
printf 'rm -f of %d containers: %.2f s, %.1f ms per container\n' "$count" \
  "$(echo "$t / 1000000" | bc -l)" "$(echo "$t / 1000 / $count" | bc -l)"
echo
