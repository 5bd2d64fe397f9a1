#!/usr/bin/env bash
# make-bundle.sh — prepare an OCI bundle with a busybox root filesystem.
#
# Usage: tests/scripts/make-bundle.sh DIR [RUNTIME] [-- ARG...]
#
#   DIR      bundle directory to create (must not exist or be empty)
#   RUNTIME  runc-compatible binary whose `spec` writes config.json
#            (default: target/release/berth-runtime, else target/debug/berth-runtime)
#   ARG...   process.args for the container (default: sh)
#
# DIR/rootfs gets /bin/busybox (from busybox-static) with a symlink for every
# applet, /etc/passwd and /etc/group (root, nobody), /tmp (1777), /proc, /sys,
# /dev; DIR/config.json is `RUNTIME spec --bundle DIR` with process.terminal
# false and process.args set.  Needs jq.  Then e.g.:
#   berth-runtime run --bundle DIR mycontainer
set -euo pipefail

die() { echo "make-bundle: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: $0 DIR [RUNTIME] [-- ARG...]"
dir=$1; shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
runtime=
if [ $# -gt 0 ] && [ "$1" != -- ]; then runtime=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = -- ] && shift
args=("$@"); [ ${#args[@]} -gt 0 ] || args=(sh)
if [ -z "$runtime" ]; then
  runtime=$here/target/release/berth-runtime
  [ -x "$runtime" ] || runtime=$here/target/debug/berth-runtime
fi
[ -x "$runtime" ] || die "runtime '$runtime' not found or not executable (make release)"
busybox=${BERTH_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static, or make deps)"
command -v jq >/dev/null || die "jq not found (apt-get install jq, or make deps)"

mkdir -p "$dir"
[ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
chmod 755 "$dir"
r=$dir/rootfs
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,var,run,proc,sys,dev,tmp}
chmod 1777 "$r/tmp"
cp "$busybox" "$r/bin/busybox"
chmod 755 "$r/bin/busybox"
for a in $("$busybox" --list-full); do
  mkdir -p "$r/$(dirname "$a")"
  [ -e "$r/$a" ] || [ -L "$r/$a" ] || ln -s /bin/busybox "$r/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$r/etc/group"
echo berth >"$r/etc/hostname"

"$runtime" spec --bundle "$dir" || die "$runtime spec --bundle $dir failed"
[ -f "$dir/config.json" ] || die "$runtime spec wrote no $dir/config.json"
argv=$(printf '%s\n' "${args[@]}" | jq -R . | jq -s .)
jq --argjson a "$argv" '.process.terminal = false | .process.args = $a' "$dir/config.json" >"$dir/config.json.new"
mv "$dir/config.json.new" "$dir/config.json"
