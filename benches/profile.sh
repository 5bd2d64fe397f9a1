#!/usr/bin/env bash
# profile.sh — where `berth-runtime run` of busybox `true` spends its time,
# next to crun and runc, on the bundle and in the namespace of benches/runtime.sh.
#
# Usage (as root): benches/profile.sh [RUNS]        (RUNS per tool, default 10)
#
# Writes into target/bench/profile-<date>/ and prints the summaries:
#   strace-<rt>.txt   `strace -f -c -w`: syscalls by count and by wall time
#                     (one run; strace slows each call by ~10-20 us)
#   phases.txt        phases of berth's run from `perf trace` (RUNS runs)
#   offcpu-<rt>.txt   `perf sched record -g`: CPU time and blocked time by
#                     kernel stack, per run (RUNS runs)
#   cpu-<rt>.txt      `perf record -e cpu-clock -g`: kernel entry points by
#                     CPU time (RUNS runs; software clock: no PMU in this VM)
# Environment: BERTH, CRUN, RUNC as for benches/runtime.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "profile: $*" >&2; exit 1; }
RUNS=${1:-10}

if [ "${PROFILE_IN_NS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || die "needs root"
  command -v strace >/dev/null || die "strace not found"
  command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
  BERTH=${BERTH-$here/target/release/berth-runtime}
  [ -x "$BERTH" ] || die "$BERTH not found (make release)"
  out=$here/target/bench/profile-$(date +%Y%m%d-%H%M%S)
  mkdir -p "$out"
  work=$(mktemp -d "${TMPDIR:-/tmp}/berth-profile.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  "$here/tests/scripts/make-bundle.sh" "$work/bundle" "$BERTH" -- true >/dev/null
  PROFILE_IN_NS=1 OUT=$out WORK=$work BERTH=$BERTH CRUN=${CRUN-/usr/bin/crun} RUNC=${RUNC-/usr/bin/runc} \
    "$here/benches/normalized-ns.sh" "$BASH" "${BASH_SOURCE[0]}" "$RUNS"
  echo "# outputs in $out"
  exit 0
fi

# ----------------------------------------------------- in the namespace
tools=$here/benches/profile_tools.py
rts=("berth-runtime=$BERTH")
[ -n "$CRUN" ] && [ -x "$CRUN" ] && rts+=("crun=$CRUN")
[ -n "$RUNC" ] && [ -x "$RUNC" ] && rts+=("runc=$RUNC")
n=0
run() {   # run NAME PATH [WRAPPER...]: one `run` of the bundle
  local name=$1 path=$2; shift 2
  n=$((n + 1))
  mkdir -p "$WORK/state-$name"
  "$@" "$path" --root "$WORK/state-$name" run --bundle "$WORK/bundle" "p$$-$n" </dev/null >/dev/null
}
loop() {  # loop NAME PATH: RUNS runs, as one command for perf to wrap
  local i
  for i in $(seq "$RUNS"); do run "$1" "$2"; sleep 0.05; done
}
export -f run loop
export WORK RUNS

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${rts[@]}"; do
  name=${s%%=*} path=${s#*=}
  for i in 1 2 3; do run "$name" "$path"; done     # warm caches
  run "$name" "$path" strace -f -c -w -S calls -o "$OUT/strace-$name.txt"
  echo "== strace -f -c -w, one run of $name: $(tail -1 "$OUT/strace-$name.txt" | awk '{print $4, "syscalls,", $5+0, "errors,", $2*1000, "ms in syscalls (wall)"}')"
done

rm -f "$WORK"/phase-*.trace
for i in $(seq "$RUNS"); do
  perf trace -f -o "$WORK/phase-$i.trace" -- "$BERTH" --root "$WORK/state-berth-runtime" run --bundle "$WORK/bundle" "ph$$-$i" </dev/null >/dev/null 2>&1 || true
  sleep 0.05
done
python3 "$tools" phases "$WORK"/phase-*.trace >"$OUT/phases.txt" 2>/dev/null || true
echo "== $(head -1 "$OUT/phases.txt")"
tail -n +2 "$OUT/phases.txt"

for s in "${rts[@]}"; do
  name=${s%%=*} path=${s#*=} comm=$(basename "$path")
  perf sched record -g -o "$WORK/sched.data" -- bash -c "loop $name $path" >/dev/null 2>&1 || { echo "perf sched record failed"; break; }
  perf sched timehist -i "$WORK/sched.data" -g --state 2>/dev/null >"$WORK/timehist.txt" || true
  case $name in runc) comm=runc ;; esac
  python3 "$tools" offcpu "$WORK/timehist.txt" "$RUNS" "$comm,true" 5 >"$OUT/offcpu-$name.txt"
  echo "== off-CPU, $name ($RUNS runs): $(head -1 "$OUT/offcpu-$name.txt")"
  tail -n +2 "$OUT/offcpu-$name.txt" | head -8
done

for s in "${rts[@]}"; do
  name=${s%%=*} path=${s#*=} comm=$(basename "$path")
  perf record -F 20000 -e cpu-clock -g -o "$WORK/cpu.data" -- bash -c "loop $name $path" >/dev/null 2>&1 || { echo "perf record failed"; break; }
  total=$(perf script -i "$WORK/cpu.data" -F comm 2>/dev/null | grep -c "^ *$comm" || true)
  perf report -i "$WORK/cpu.data" --children -g none --sort sym --comm "$comm" 2>/dev/null |
    awk -v T="$(perf script -i "$WORK/cpu.data" -F comm 2>/dev/null | wc -l)" -v R="$RUNS" '
      /\[k\] (__x64_sys_|__do_sys_clone|copy_net_ns|exc_page_fault|ret_from_fork|do_exit)/ { p = $1; sub("%", "", p); printf "  %6.2f ms  %s\n", p / 100 * T / 20000 * 1000 / R, $NF }' |
    head -18 >"$OUT/cpu-$name.txt"
  echo "== on-CPU in the kernel, $name: $(awk -v t="$total" -v r="$RUNS" 'BEGIN{printf "%.2f", t / 20000 * 1000 / r}') ms/run in $comm processes; top entry points, ms/run:"
  cat "$OUT/cpu-$name.txt"
done
