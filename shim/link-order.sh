#!/usr/bin/env bash
# link-order.sh — writes shim/link-order.txt, the functions an idle shim has
# run, which build.rs has the linker put first (see build.rs for why).
#
# A private manager (BERTH_ROOT/BERTH_STATE in a temp dir, BERTH_BRIDGE=none,
# `--network none`) runs the shim under valgrind's callgrind, which lists
# every function a process executes:
#   1. `run -d busybox sleep 1d`, dumped once the shim is idle: the functions
#      an idle shim has run, listed first;
#   2. the rest of a lifecycle (exec, logs, stop, start, stats, top, pause,
#      rm -f, a tty and an -i run), listed after.
# Symbol names carry hashes of their crate's build, so the list is made from
# the binary it is for: the static shim `make static` builds (run this after
# `make static`, then `make static` again to link with the new list).
# glibc's string functions are listed under the names valgrind replaces
# them with; they stand for the variants glibc picks on AVX2 and EVEX
# machines, and the resolvers of all glibc's IFUNCs (run at start) go first.
#
# Usage (as root): shim/link-order.sh
#        shim/link-order.sh --check   warns when the list no longer fits the
#                                     built shim (after a dependency changed)
# Environment: SHIM (default the `make static` shim), BERTH_CLI (default
# target/ci/berth; its manager and runtime beside it). Needs valgrind.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "link-order: $*" >&2; exit 1; }
SHIM=${SHIM:-$here/target/static/$(rustc -vV | awk '/^host:/ {print $2}')/release/containerd-shim-berth-v2}
out=$here/shim/link-order.txt

# --check: how much of the list the built shim still has (make static runs it)
if [ "${1:-}" = --check ]; then
  [ -x "$SHIM" ] || exit 0
  listed=$(grep -vc '^#' "$out")
  have=$(nm --defined-only "$SHIM" 2>/dev/null | awk '{print $3}' | sort -u |
    comm -12 - <(grep -v '^#' "$out" | sort -u) | wc -l)
  if [ $((have * 10)) -lt $((listed * 9)) ]; then
    echo "link-order: the shim has only $have of the $listed functions in shim/link-order.txt;" \
      "run shim/link-order.sh (as root) and make static again" >&2
  fi
  exit 0
fi
[ "$(id -u)" = 0 ] || die "needs root"
command -v valgrind >/dev/null || die "needs valgrind (apt-get install valgrind)"
BERTH_CLI=${BERTH_CLI:-$here/target/ci/berth}
CONF=$(cd "$here/../shared/conformance" && pwd) || die "../shared/conformance not found"
[ -x "$SHIM" ] || die "$SHIM not found (make static)"
[ -x "$BERTH_CLI" ] || die "$BERTH_CLI not found"

work=$(mktemp -d /var/tmp/berth-link-order.XXXXXX)
export BERTH_ROOT=$work/root BERTH_STATE=$work/state BERTH_BRIDGE=none
bin=$work/bin
b() { "$bin/berth" "$@"; }
cleanup() {
  b rm -f $(b ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  for p in $(pgrep -f "$work/state" || true); do kill -9 "$p" 2>/dev/null || true; done
  for m in $(grep -o "$work[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The manager runs the shim beside it: a wrapper that runs the real one
# (and the daemon it starts) under callgrind; the runtime and the
# container's processes run natively.
mkdir -p "$bin" "$work/real" "$work/cg"
dir=$(dirname "$BERTH_CLI")
cp "$BERTH_CLI" "$dir/berth-manager" "$dir/berth-runtime" "$bin/"
cp "$SHIM" "$work/real/containerd-shim-berth-v2"
cat > "$bin/containerd-shim-berth-v2" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --trace-children=yes \
  --trace-children-skip='*berth-runtime*,*busybox*,*sleep*' --demangle=no \
  --log-file=$work/cg/log.%p --callgrind-out-file=$work/cg/out.%p \
  $work/real/containerd-shim-berth-v2 "\$@"
EOF
chmod +x "$bin/containerd-shim-berth-v2"

bash "$CONF/make-busybox-image.sh" "$work/img" >/dev/null
b load -i "$work/img/busybox-oci.tar" >/dev/null

# 1. up to idle
id=$(b run -d --network none busybox sleep 1d)
sleep 5
daemon=$(pgrep -f "valgrind.*-id $id -address" | head -1)
[ -n "$daemon" ] || die "no shim daemon for $id"
callgrind_control -d "$daemon" >/dev/null 2>&1
sleep 1
idle_dump=$(ls "$work/cg/out.$daemon".* | head -1)

# 2. the rest of a lifecycle
b exec "$id" true
b logs "$id" >/dev/null
b stop -t 1 "$id" >/dev/null
b start "$id" >/dev/null
b stats --no-stream "$id" >/dev/null
b top "$id" >/dev/null
b pause "$id" >/dev/null
b unpause "$id" >/dev/null
b rm -f "$id" >/dev/null
script -qc "$bin/berth run --rm -t --network none busybox echo tty" /dev/null >/dev/null
script -qc "$bin/berth run --rm -i --network none busybox cat" /dev/null </dev/null >/dev/null
sleep 3   # the last shims exit and write their profiles

# function names in callgrind profiles, first seen first, without the
# "'N" of recursion levels
functions() { grep -ho '^c\?fn=([0-9]*) .*' "$@" | sed "s/^c\?fn=([0-9]*) //; s/'[0-9]*\$//" | awk '!seen[$0]++'; }
nm --defined-only "$SHIM" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u > "$work/defined"
# A name the binary has stays; a string function (which valgrind replaces,
# so the binary may lack its name) brings its AVX2 and EVEX variants.
resolve() {
  awk -v defined="$work/defined" '
    BEGIN { while ((getline s < defined) > 0) { have[s] = 1; all[++n] = s } }
    have[$0] { print }
    { for (i = 1; i <= n; i++) {
        s = all[i]
        if (index(s, "__" $0 "_") == 1 && s !~ /_rtm$/ && s !~ /avx512/ &&
            substr(s, length($0) + 3) ~ /^_(avx2|avx|evex)(_|$)/) print s } }'
}
{
  echo "# The shim's functions in the order its code is laid out: those an idle"
  echo "# shim has run first. Generated by shim/link-order.sh; see shim/build.rs."
  {
    echo _start
    # what runs before main and callgrind does not name: glibc's resolvers
    # of its IFUNCs (all run at start) and the C runtime's constructors
    nm --defined-only "$SHIM" | awk '$2 ~ /^[iI]$/ || $3 ~ /_ifunc$/ {print $3}
      $3 ~ /^(frame_dummy|register_tm_clones|deregister_tm_clones|__do_global_dtors_aux)$/ {print $3}'
    # paths a native run takes by timing and callgrind, running one thread
    # at a time, may not: locks and channels under contention; glibc's
    # start-up steps it does not name; strcmp's variants
    grep -E 'lock_contended|futex|__lll_lock|mpmc|4park|unpark|_dl_new_object|_dl_setup_hash' "$work/defined"
    printf '%s\n' strcmp strncmp | resolve
    functions "$idle_dump" | resolve
    functions "$work"/cg/out.* | resolve
  } | awk '!seen[$0]++'
} > "$out"
echo "link-order: $(grep -vc '^#' "$out") functions in $out ($(functions "$idle_dump" | resolve | wc -l) run by an idle shim)"
