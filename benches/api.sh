#!/usr/bin/env bash
# api.sh — the Docker Engine API's cost: `docker run --rm busybox true` with
# the docker CLI through `berth system service`'s socket vs through
# docker-env.sh's dockerd, alternating run by run; medians and the ratio.
# berth (manager and service) runs in a network namespace this script makes
# (`unshare -n`, lo up); docker in its own (docker-env.sh).  Nothing
# touches the host's network.
#
# Usage (as root): benches/api.sh
# Environment: BENCH_ITERATIONS (default 20), BERTH_CLI (default
# target/debug/berth; berth-api, its manager, shim and runtime beside it),
# DOCKER_CLI (default: docker on PATH).  Exit status 0 whatever the numbers say.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench-api: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
BERTH_CLI=${BERTH_CLI:-$here/target/debug/berth}
ITER=${BENCH_ITERATIONS:-20}
DOCKER_CLI=${DOCKER_CLI:-$(command -v docker)} || die "no docker CLI"
CONF=$(cd "$here/../shared/conformance" && pwd) || die "../shared/conformance not found"
[ -x "$BERTH_CLI" ] || die "$BERTH_CLI not found (cargo build --workspace)"

work=$(mktemp -d /var/tmp/berth-bench-api.XXXXXX)
holder=""
service=""
cleanup() {
  [ -n "$service" ] && kill "$service" 2>/dev/null || true
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
b system service --time 0 --listen "unix://$work/docker.sock" 2>"$work/api.log" &
service=$!
for _ in $(seq 100); do [ -S "$work/docker.sock" ] && break; sleep 0.1; done
[ -S "$work/docker.sock" ] || die "berth system service did not start: $(cat "$work/api.log")"
mkdir -p "$work/config"
bd() { DOCKER_HOST="unix://$work/docker.sock" DOCKER_CONFIG="$work/config" "$DOCKER_CLI" "$@"; }
bd run --rm busybox true >/dev/null   # manager up, bridge made

eval "$("$CONF/docker-env.sh" start | grep '^export')"
dd() { DOCKER_CONFIG="$work/config" "$DOCKER_CLI" "$@"; }
"$CONF/docker-env.sh" load >/dev/null 2>&1 || true
dd run --rm busybox true >/dev/null

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for _ in $(seq "$ITER"); do
  t0=$(now); bd run --rm busybox true >/dev/null; echo $(( ($(now) - t0) / 1000 )) >> "$work/berth.us"
  t0=$(now); dd run --rm busybox true >/dev/null; echo $(( ($(now) - t0) / 1000 )) >> "$work/docker.us"
done

echo "median wall time of 'docker run --rm busybox true' ($("$DOCKER_CLI" --version | awk '{print $3}' | tr -d ,) client), $ITER runs each, alternating:"
mb=$(median < "$work/berth.us"); md=$(median < "$work/docker.us")
printf '  %-22s %8.1f ms\n' "berth system service" "$(echo "$mb/1000" | bc -l)" "dockerd" "$(echo "$md/1000" | bc -l)"
printf '  berth / dockerd: %.2fx (target <= 0.25x)\n' "$(echo "$mb / $md" | bc -l)"
