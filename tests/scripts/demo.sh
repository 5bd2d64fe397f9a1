#!/usr/bin/env bash
# demo.sh — one busybox container through the whole chain:
#   berth → berth-manager → containerd-shim-berth-v2 → berth-runtime
# The busybox image comes from ../shared/conformance/make-busybox-image.sh
# (built locally, no registry); `berth load` imports it.  The manager is
# started on demand by berth and stopped at the end; every bit of state lives
# in a temporary BERTH_ROOT/BERTH_STATE, removed on exit.
#
# Usage (as root): tests/scripts/demo.sh [-- ARG...]
#   ARG... defaults to sh -c 'echo hello from berth; uname -a'
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$here/target/release
[ $# -gt 0 ] && [ "$1" = -- ] && shift
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(sh -c 'echo hello from berth; uname -a')
[ "$(id -u)" = 0 ] || { echo "demo: must run as root (namespaces, mounts, cgroups)" >&2; exit 1; }
images=${RC_IMAGES:-/var/tmp/rc-images}
make_image=$here/../shared/conformance/make-busybox-image.sh
[ -f "$make_image" ] || { echo "demo: $make_image not found (shared/ must sit beside the repo)" >&2; exit 1; }

# The demo's container gets docker's default bridge: the demo runs in a
# network namespace of its own, so its bridge and NAT rules never reach the
# host's network and go with it.
if [ -z "${BERTH_DEMO_NETNS:-}" ]; then
  exec env BERTH_DEMO_NETNS=1 unshare --net -- "$0" "$@"
fi
ip link set lo up

tmp=$(mktemp -d /tmp/berth-demo.XXXXXX)
export BERTH_ROOT=$tmp/root BERTH_STATE=$tmp/state
cleanup() {
  "$bin/berth" rm -f demo >/dev/null 2>&1 || true
  # the manager berth started for this demo (its command line names our state dir)
  pkill -f -- "--state $BERTH_STATE" 2>/dev/null || true
  sleep 0.2
  grep -o " $tmp[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

[ -f "$images/busybox-oci.tar" ] || bash "$make_image" "$images" >/dev/null
echo "+ berth load -i $images/busybox-oci.tar"
"$bin/berth" load -i "$images/busybox-oci.tar"
echo "+ berth run --rm --name demo busybox ${args[*]}"
"$bin/berth" run --rm --name demo busybox "${args[@]}" </dev/null
echo "+ berth ps -a"
"$bin/berth" ps -a
