#!/usr/bin/env bash
# compose.sh — `compose up -d` and `compose down` of a 10-service project
# (busybox services that sleep until told to stop, all on the project's
# default network): berth compose against Debian's docker-compose on docker
# (docker-env.sh), alternating, a few rounds; medians and berth/docker ratios.
# berth runs in a network namespace this script makes (`unshare -n`, lo up)
# with its manager inside it; docker runs in its own (docker-env.sh).
# Nothing touches the host's network.
#
# Usage (as root): benches/compose.sh
# Environment: BENCH_ITERATIONS (rounds, default 5), BERTH_CLI (default
# target/debug/berth, its manager, shim and runtime beside it), DOCKER=0 to
# leave docker out.  Exit status 0 whatever the numbers say.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench-compose: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
BERTH_CLI=${BERTH_CLI:-$here/target/debug/berth}
ITER=${BENCH_ITERATIONS:-5}
SERVICES=10
CONF=$(cd "$here/../shared/conformance" && pwd) || die "../shared/conformance not found"
[ -x "$BERTH_CLI" ] || die "$BERTH_CLI not found (cargo build --workspace)"

work=$(mktemp -d /var/tmp/berth-bench-compose.XXXXXX)
holder=""
docker_up=0
cleanup() {
  if [ "$docker_up" = 1 ]; then
    (cd "$work/project" && docker-compose -p benchcompose down -t 1 >/dev/null 2>&1) || true
  fi
  if [ -n "$holder" ]; then
    (cd "$work/project" && b compose -p benchcompose down -t 1 >/dev/null 2>&1) || true
    b rm -f $(b ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    for p in $(pgrep -f "$work/state" || true); do kill -9 "$p" 2>/dev/null || true; done
    kill "$holder" 2>/dev/null || true
  fi
  for m in $(grep -o "$work[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# the project: services that exit at once on SIGTERM, so `down` measures
# the teardown rather than a stop timeout
mkdir -p "$work/project"
{
  echo "services:"
  for i in $(seq "$SERVICES"); do
    echo "  s$i:"
    echo "    image: busybox"
    echo "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]"
  done
} > "$work/project/compose.yaml"

unshare -n sleep infinity </dev/null >/dev/null 2>&1 &
holder=$!
sleep 0.2
nsenter --net=/proc/$holder/ns/net ip link set lo up
b() { BERTH_ROOT=$work/root BERTH_STATE=$work/state nsenter --net=/proc/$holder/ns/net "$BERTH_CLI" "$@"; }

bash "$CONF/make-busybox-image.sh" "$work/img" >/dev/null
b load -i "$work/img/busybox-oci.tar" >/dev/null
b run --rm busybox true >/dev/null   # manager up

if [ "${DOCKER:-1}" != 0 ]; then
  if ! command -v docker-compose >/dev/null; then
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends docker-compose >/dev/null 2>&1 \
      || die "docker-compose is not installed and apt-get could not install it"
  fi
  eval "$("$CONF/docker-env.sh" start | grep '^export')"
  "$CONF/docker-env.sh" load >/dev/null 2>&1 || true
  docker_up=1
fi

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { # label cmd...: appends the wall time in µs to $work/label.us
  local label=$1; shift
  local t0; t0=$(now)
  "$@" >/dev/null 2>&1 || die "$label failed: $*"
  echo $(( ($(now) - t0) / 1000 )) >> "$work/$label.us"
}

cd "$work/project"
for _ in $(seq "$ITER"); do
  timed berth-up b compose -p benchcompose up -d
  timed berth-down b compose -p benchcompose down
  if [ "$docker_up" = 1 ]; then
    timed docker-up docker-compose -p benchcompose up -d
    timed docker-down docker-compose -p benchcompose down
  fi
done

echo "median wall time of a $SERVICES-service project, $ITER rounds each:"
for f in berth-up berth-down docker-up docker-down; do
  [ -f "$work/$f.us" ] || continue
  printf '  %-12s %8.1f ms\n' "$f" "$(median < "$work/$f.us" | awk '{print $1/1000}')"
done
if [ "$docker_up" = 1 ]; then
  for op in up down; do
    bo=$(median < "$work/berth-$op.us"); do_=$(median < "$work/docker-$op.us")
    printf '  berth / docker-compose, %-4s %.3fx\n' "$op:" "$(echo "$bo / $do_" | bc -l)"
  done
fi
