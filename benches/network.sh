#!/usr/bin/env bash
# network.sh — bridge networking cost:
#   berth run --rm busybox true   on the default bridge vs --network none
#   docker run --rm busybox true  on docker's default bridge (docker-env.sh)
# and berth's network setup + teardown per container (bridge run minus none
# run, medians).  berth runs in a network namespace this script makes
# (`unshare -n`, lo up) with its manager inside it; docker runs in its own
# (docker-env.sh).  Nothing touches the host's network.
#
# Usage (as root): benches/network.sh
# Environment: BENCH_ITERATIONS (default 30), BERTH_CLI (default
# target/debug/berth, its manager, shim and runtime beside it), DOCKER=0 to
# leave docker out.  Exit status 0 whatever the numbers say.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench-network: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
BERTH_CLI=${BERTH_CLI:-$here/target/debug/berth}
ITER=${BENCH_ITERATIONS:-30}
CONF=$(cd "$here/../shared/conformance" && pwd) || die "../shared/conformance not found"
[ -x "$BERTH_CLI" ] || die "$BERTH_CLI not found (cargo build --workspace)"

work=$(mktemp -d /var/tmp/berth-bench-net.XXXXXX)
holder=""
cleanup() {
  if [ -n "$holder" ]; then
    b rm -f $(b ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    for p in $(pgrep -f "$work/state" || true); do kill -9 "$p" 2>/dev/null || true; done
    kill "$holder" 2>/dev/null || true
  fi
  for m in $(grep -o "$work[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

unshare -n sleep infinity </dev/null >/dev/null 2>&1 &
holder=$!
sleep 0.2
nsenter --net=/proc/$holder/ns/net ip link set lo up
b() { BERTH_ROOT=$work/root BERTH_STATE=$work/state nsenter --net=/proc/$holder/ns/net "$BERTH_CLI" "$@"; }

bash "$CONF/make-busybox-image.sh" "$work/img" >/dev/null
b load -i "$work/img/busybox-oci.tar" >/dev/null
b run --rm busybox true >/dev/null   # manager up, bridge made

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() { # label cmd...
  local label=$1; shift
  for _ in $(seq "$ITER"); do
    local t0; t0=$(now); "$@" >/dev/null; echo $(( ($(now) - t0) / 1000 ))
  done > "$work/$label.us"
}

time_runs berth-bridge b run --rm busybox true
time_runs berth-none b run --rm --network none busybox true
if [ "${DOCKER:-1}" != 0 ]; then
  eval "$("$CONF/docker-env.sh" start | grep '^export')"
  d() { docker "$@"; }
  "$CONF/docker-env.sh" load >/dev/null 2>&1 || true
  d run --rm busybox true >/dev/null
  time_runs docker-bridge d run --rm busybox true
fi

echo "median wall time of 'run --rm busybox true', $ITER runs each:"
for f in "$work"/*.us; do
  printf '  %-14s %8.1f ms\n' "$(basename "$f" .us)" "$(median < "$f" | awk '{print $1/1000}')"
done
bb=$(median < "$work/berth-bridge.us"); bn=$(median < "$work/berth-none.us")
printf '  berth network setup + teardown per container: %.1f ms\n' "$(echo "($bb - $bn)/1000" | bc -l)"
if [ -f "$work/docker-bridge.us" ]; then
  db=$(median < "$work/docker-bridge.us")
  printf '  berth bridge / docker bridge: %.2fx\n' "$(echo "$bb / $db" | bc -l)"
fi
