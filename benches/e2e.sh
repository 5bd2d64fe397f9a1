#!/usr/bin/env bash
# e2e.sh — end-to-end `run` latency through each engine's whole chain:
#   berth run --rm busybox true      berth → berth-manager → shim → berth-runtime
#   ctr run --rm … true              containerd 1.6 → containerd-shim-runc-v2 → runc
#   podman run --rm busybox true     podman 4.3 → conmon → runc (podman's default)
# on the same busybox image (../shared/conformance/make-busybox-image.sh).
#
# Usage (as root): benches/e2e.sh
#
# Environment:
#   BENCH_ITERATIONS  timed runs per engine (default 50)
#   BENCH_WARMUP      untimed runs per engine first (default 3)
#   BERTH_CLI         the berth binary (default target/release/berth); its
#                     berth-manager, shim and runtime are found beside it
#   CTR=0, PODMAN=0   leave an engine out
#   BENCH_OUT         where the raw per-run TSV and the report go (default target/bench)
#
# Rounds are interleaved (berth, ctr, podman, berth, …) so drift in the
# machine's load hits every engine alike.  Each run is timed around the
# client's process (start to exit) with the monotonic clock; the daemons
# (berth-manager, containerd) are up before timing starts, as a daemon is in
# normal use.  Prints median, p10 and p90 wall time per engine and berth's
# ratio to each.  Every engine gets private state: berth its own
# BERTH_ROOT/BERTH_STATE, containerd and podman the conformance scripts'
# envs under /var/tmp/berth-bench-*; all are stopped and removed at the end.
# Exit status 0 whatever the numbers say: it is a benchmark, not a test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench-e2e: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"

BERTH_CLI=${BERTH_CLI:-$here/target/release/berth}
ITER=${BENCH_ITERATIONS:-50}
WARMUP=${BENCH_WARMUP:-3}
OUT=${BENCH_OUT:-$here/target/bench}
CONF=$(cd "$here/../shared/conformance" 2>/dev/null && pwd) || die "../shared/conformance not found beside the repo"
[ -x "$BERTH_CLI" ] || die "$BERTH_CLI not found (make release)"
for b in berth-manager containerd-shim-berth-v2 berth-runtime; do
  [ -x "$(dirname "$BERTH_CLI")/$b" ] || die "$(dirname "$BERTH_CLI")/$b not found (make release)"
done
mkdir -p "$OUT"

work=$(mktemp -d /tmp/berth-bench-e2e.XXXXXX)
images=$work/images
export BERTH_ROOT=$work/root BERTH_STATE=$work/state
CTRD_BASE=/var/tmp/berth-bench-containerd
PODMAN_BASE=/var/tmp/berth-bench-podman
ctr_up=0; podman_up=0

cleanup() {
  set +e
  if [ -S "$BERTH_STATE/manager.sock" ]; then
    ids=$("$BERTH_CLI" ps -aq 2>/dev/null)
    [ -n "$ids" ] && "$BERTH_CLI" rm -f $ids >/dev/null 2>&1
    pid=$("$BERTH_CLI" system info 2>/dev/null | awk '/Manager PID:/ {print $3}')
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    for i in $(seq 50); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  fi
  grep -o " $work[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$work"
  [ "$ctr_up" = 1 ] && RC_CTRD_BASE=$CTRD_BASE RC_CTRD_CRI=0 bash "$CONF/containerd-env.sh" purge >/dev/null 2>&1
  [ "$podman_up" = 1 ] && RC_PODMAN_BASE=$PODMAN_BASE bash "$CONF/podman-env.sh" purge >/dev/null 2>&1
}
trap cleanup EXIT

echo "# images: make-busybox-image.sh $images"
bash "$CONF/make-busybox-image.sh" "$images" >/dev/null

engines=(berth)
"$BERTH_CLI" load -q -i "$images/busybox-oci.tar" >/dev/null
# no bridge: the manager runs on the host's network here, and ctr and podman
# run without one too (benches/network.sh measures the bridge)
run_berth() { "$BERTH_CLI" run --rm --network none busybox true; }

if [ "${CTR:-1}" = 1 ]; then
  eval "$(RC_CTRD_BASE=$CTRD_BASE RC_CTRD_CRI=0 bash "$CONF/containerd-env.sh" start)"
  ctr_up=1
  ctr image import "$images/busybox-oci.tar" >/dev/null
  n=0
  run_ctr() { n=$((n + 1)); ctr run --rm --fifo-dir "$RC_CTRD_FIFO" --runc-root "$RC_RUNC_ROOT" \
      docker.io/library/busybox:latest "bench-$$-$n" true; }
  engines+=(ctr)
fi
if [ "${PODMAN:-1}" = 1 ]; then
  eval "$(RC_PODMAN_BASE=$PODMAN_BASE RC_IMAGES=$images bash "$CONF/podman-env.sh" start)"
  podman_up=1
  run_podman() { podman run --rm busybox true; }
  engines+=(podman)
fi

now_ns() { date +%s%N; }
tsv=$OUT/e2e-runs.tsv
echo -e "engine\tround\twall_ms" > "$tsv"
echo "# ${engines[*]}: $WARMUP warm-up + $ITER timed runs each, interleaved"
for e in "${engines[@]}"; do
  for _ in $(seq "$WARMUP"); do "run_$e" >/dev/null 2>&1 || die "$e: warm-up run failed"; done
done
for r in $(seq "$ITER"); do
  for e in "${engines[@]}"; do
    t0=$(now_ns)
    "run_$e" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; die "$e: run $r failed"; }
    t1=$(now_ns)
    echo -e "$e\t$r\t$(( (t1 - t0) / 1000 ))" | awk -F'\t' '{printf "%s\t%s\t%.3f\n", $1, $2, $3/1000}' >> "$tsv"
  done
done

report=$OUT/e2e-report.txt
python3 - "$tsv" "${engines[@]}" <<'PY' | tee "$report"
import statistics, sys
tsv, engines = sys.argv[1], sys.argv[2:]
runs = {e: [] for e in engines}
for line in open(tsv).read().splitlines()[1:]:
    e, _, ms = line.split("\t")
    runs[e].append(float(ms))
def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
med = {e: statistics.median(v) for e, v in runs.items()}
print(f"{'engine':<8} {'runs':>5} {'median ms':>10} {'p10 ms':>8} {'p90 ms':>8}")
for e in engines:
    v = runs[e]
    print(f"{e:<8} {len(v):>5} {med[e]:>10.1f} {q(v, .1):>8.1f} {q(v, .9):>8.1f}")
for e in engines[1:]:
    print(f"berth / {e}: {med['berth'] / med[e]:.2f} of {e}'s median")
PY
echo "# raw runs: $tsv; report: $report"
