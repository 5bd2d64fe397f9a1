#!/usr/bin/env bash
# demo.sh — run one busybox container with berth-runtime and clean up.
#
# Usage (as root): tests/scripts/demo.sh [RUNTIME] [-- ARG...]
#   RUNTIME defaults to target/release/berth-runtime; ARG... defaults to
#   sh -c 'echo hello from berth; uname -a'
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
runtime=$here/target/release/berth-runtime
if [ $# -gt 0 ] && [ "$1" != -- ]; then runtime=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = -- ] && shift
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(sh -c 'echo hello from berth; uname -a')
[ "$(id -u)" = 0 ] || { echo "demo: must run as root (namespaces, mounts, cgroups)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/berth-demo.XXXXXX)
id=berth-demo-$$
cleanup() {
  "$runtime" --root "$tmp/state" delete --force "$id" >/dev/null 2>&1 || true
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

"$here/tests/scripts/make-bundle.sh" "$tmp/bundle" "$runtime" -- "${args[@]}"
echo "+ $(basename "$runtime") run --bundle $tmp/bundle $id    # process.args: ${args[*]}"
"$runtime" --root "$tmp/state" run --bundle "$tmp/bundle" "$id" </dev/null
