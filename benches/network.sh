#!/usr/bin/env bash
# network.sh — bridge networking cost:
#   berth run --rm busybox true   on the default bridge vs --network none
#   docker run --rm busybox true  on docker's default bridge (docker-env.sh)
#   podman run --rm --network bridge busybox true  (podman-env.sh; netavark)
# and berth's network setup + teardown per container (bridge run minus none
# run, medians).  berth runs in a network namespace this script makes
# (`unshare -n`, lo up) with its manager inside it; docker runs in its own
# (docker-env.sh); podman runs in berth's namespace, its bridge made there.
# The engines take turns run by run, so drift in the machine's load falls
# on all of them.  Nothing touches the host's network.
#
# Usage (as root): benches/network.sh
# Environment: BENCH_ITERATIONS (default 30), BERTH_CLI (default
# target/debug/berth, its manager, shim and runtime beside it), DOCKER=0 or
# PODMAN=0 to leave an engine out.  Exit status 0 whatever the numbers say.
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
podman_base=""
cleanup() {
  if [ -n "$podman_base" ]; then
    RC_PODMAN_BASE=$podman_base bash "$CONF/podman-env.sh" purge >/dev/null 2>&1 || true
  fi
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
engines=()
time_one() { # label cmd...: one timed run, appended to the label's file
  local label=$1; shift
  local t0; t0=$(now); "$@" >/dev/null; echo $(( ($(now) - t0) / 1000 )) >> "$work/$label.us"
}

engines+=("berth-bridge b run --rm busybox true")
engines+=("berth-none b run --rm --network none busybox true")
if [ "${DOCKER:-1}" != 0 ]; then
  eval "$("$CONF/docker-env.sh" start | grep '^export')"
  d() { docker "$@"; }
  "$CONF/docker-env.sh" load >/dev/null 2>&1 || true
  d run --rm busybox true >/dev/null
  engines+=("docker-bridge d run --rm busybox true")
fi
if [ "${PODMAN:-1}" != 0 ]; then
  podman_base=$work/podman
  eval "$(RC_PODMAN_BASE=$podman_base bash "$CONF/podman-env.sh" start 2>/dev/null)"
  p() { nsenter --net=/proc/$holder/ns/net podman "$@"; }
  p run --rm --network bridge busybox true >/dev/null
  engines+=("podman-bridge p run --rm --network bridge busybox true")
fi
for _ in $(seq "$ITER"); do
  for e in "${engines[@]}"; do
    # shellcheck disable=SC2086 # the entry is a label and its words
    time_one $e
  done
done

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
if [ -f "$work/podman-bridge.us" ]; then
  pb=$(median < "$work/podman-bridge.us")
  printf '  berth bridge / podman bridge: %.2fx\n' "$(echo "$bb / $pb" | bc -l)"
fi
