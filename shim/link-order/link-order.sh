#!/usr/bin/env bash
# link-order.sh — writes the link-order list of the shim (shim/link-order.txt)
# or of the manager (manager/link-order.txt): the functions the binary runs
# up to idle, first, which its build.rs has rust-lld put at the start of
# .text (see the berth-link-order crate, src/lib.rs, for why).
#
# A private manager (BERTH_ROOT/BERTH_STATE in a temp dir, BERTH_BRIDGE=none,
# `--network none`) runs the binary under valgrind's callgrind, which lists
# every function a process executes:
#   shim:    1. `run -d busybox sleep 1d`, dumped once the shim is idle;
#            2. the rest of a lifecycle (exec, logs, stop, start, stats, top,
#               pause, rm -f, a tty and an -i run);
#   manager: 1. what `benches/density.sh` does before it reads the manager's
#               idle RSS (start, `load`, `run --rm`), then `ps`, dumped idle;
#            2. the rest of a day's work (run -d, exec, logs, inspect, stop,
#               start, stats, top, pause, commit, volumes, networks, rm -f).
# The functions of (1) are listed first, those of (2) after.
# Symbol names carry hashes of their crate's build, so a list is made from
# the binary it is for: run this after `make static` (shim) or `make release`
# (manager), then build again to link with the new list.
# glibc's string functions are listed under the names valgrind replaces
# them with; they stand for the variants glibc picks on AVX2 and EVEX
# machines, and (in the static shim) the resolvers of glibc's IFUNCs, which
# all run at start, go first.
#
# Usage (as root): shim/link-order/link-order.sh shim|manager
#        shim/link-order/link-order.sh shim|manager --check
#              warns when the list no longer fits the built binary (after a
#              dependency changed); `make static` and `make release` run it
# Environment: BIN (default the `make static` shim or the `make release`
# manager), BERTH_CLI (default target/release/berth; the other binaries
# beside it). Needs valgrind.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
die() { echo "link-order: $*" >&2; exit 1; }
what=${1:-}
case $what in
  shim)
    name=containerd-shim-berth-v2
    BIN=${BIN:-$here/target/static/$(rustc -vV | awk '/^host:/ {print $2}')/release/$name}
    out=$here/shim/link-order.txt ;;
  manager)
    name=berth-manager
    BIN=${BIN:-$here/target/release/$name}
    out=$here/manager/link-order.txt ;;
  *) die "usage: $0 shim|manager [--check]" ;;
esac

# --check: how much of the list the built binary still has
if [ "${2:-}" = --check ]; then
  [ -x "$BIN" ] || exit 0
  listed=$(grep -vc '^#' "$out")
  have=$(nm --defined-only "$BIN" 2>/dev/null | awk '{print $3}' | sort -u |
    comm -12 - <(grep -v '^#' "$out" | sort -u) | wc -l)
  if [ $((have * 10)) -lt $((listed * 9)) ]; then
    echo "link-order: the $what has only $have of the $listed functions in ${out#"$here"/};" \
      "run shim/link-order/link-order.sh $what (as root) and build it again" >&2
  fi
  exit 0
fi
[ "$(id -u)" = 0 ] || die "needs root"
command -v valgrind >/dev/null || die "needs valgrind (apt-get install valgrind)"
BERTH_CLI=${BERTH_CLI:-$here/target/release/berth}
CONF=$(cd "$here/../shared/conformance" && pwd) || die "../shared/conformance not found"
[ -x "$BIN" ] || die "$BIN not found (make ${what/manager/release})"
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

# The CLI runs the manager beside it, and the manager the shim beside
# itself: a wrapper in place of the profiled binary runs the real one under
# callgrind; everything else runs natively.
mkdir -p "$bin" "$work/real" "$work/cg"
dir=$(dirname "$BERTH_CLI")
cp "$BERTH_CLI" "$dir/berth-runtime" "$dir/berth-manager" "$dir/containerd-shim-berth-v2" "$bin/"
# the manager finds the shim and the runtime beside itself
cp "$bin/berth-runtime" "$bin/containerd-shim-berth-v2" "$work/real/"
cp "$BIN" "$work/real/$name"
cg="valgrind --tool=callgrind --demangle=no --log-file=$work/cg/log.%p --callgrind-out-file=$work/cg/out.%p"
case $what in
  # the shim daemonizes: its child is the one that serves
  shim) cg="$cg --trace-children=yes --trace-children-skip='*berth-runtime*,*busybox*,*sleep*'" ;;
  *) cg="$cg --trace-children=no" ;;
esac
printf '#!/bin/sh\nexec %s %s "$@"\n' "$cg" "$work/real/$name" > "$bin/$name"
chmod +x "$bin/$name"
bash "$CONF/make-busybox-image.sh" "$work/img" >/dev/null

# the profiled process once idle, dumped; prints the dump's path
dump_idle() { # pgrep-pattern
  local pid
  sleep 5
  pid=$(pgrep -f "$1" | head -1)
  [ -n "$pid" ] || die "no $what process matching $1"
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  ls "$work/cg/out.$pid".* | head -1
}

# 1. up to idle
case $what in
  shim)
    b load -i "$work/img/busybox-oci.tar" >/dev/null
    id=$(b run -d --network none busybox sleep 1d)
    idle_dump=$(dump_idle "valgrind.*-id $id -address") ;;
  manager)
    b load -i "$work/img/busybox-oci.tar" >/dev/null
    b run --rm --network none busybox true >/dev/null
    b ps >/dev/null
    idle_dump=$(dump_idle "valgrind.*$work/real/berth-manager")
    id=$(b run -d --network none busybox sleep 1d) ;;
esac

# 2. the rest of a lifecycle
b exec "$id" true
b logs "$id" >/dev/null
b inspect "$id" >/dev/null
b stop -t 1 "$id" >/dev/null
b start "$id" >/dev/null
b stats --no-stream "$id" >/dev/null
b top "$id" >/dev/null
b pause "$id" >/dev/null
b unpause "$id" >/dev/null
if [ "$what" = manager ]; then
  b ps -a --format '{{json .}}' >/dev/null
  b commit "$id" link-order-commit >/dev/null
  b images >/dev/null
  b rmi link-order-commit >/dev/null
  b volume create link-order-vol >/dev/null
  # (valgrind 3.19 knows no openat2, so the volume's copy-up fails under it)
  b run --rm --network none -v link-order-vol:/data busybox touch /data/f 2>/dev/null || true
  b volume ls >/dev/null
  b volume rm link-order-vol >/dev/null
  b network ls >/dev/null
  b events --since 0 --until 1 >/dev/null 2>&1 || true
fi
b rm -f "$id" >/dev/null
script -qc "$bin/berth run --rm -t --network none busybox echo tty" /dev/null >/dev/null
script -qc "$bin/berth run --rm -i --network none busybox cat" /dev/null </dev/null >/dev/null
if [ "$what" = manager ]; then
  pid=$(pgrep -f "valgrind.*$work/real/berth-manager" | head -1)
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill -TERM "$pid" 2>/dev/null || true
fi
sleep 3   # the last processes exit and write their profiles

# function names in callgrind profiles, first seen first, without the
# "'N" of recursion levels
functions() { grep -ho '^c\?fn=([0-9]*) .*' "$@" | sed "s/^c\?fn=([0-9]*) //; s/'[0-9]*\$//" | awk '!seen[$0]++'; }
nm --defined-only "$BIN" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u > "$work/defined"
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
  echo "# The $what's functions in the order its code is laid out: those it runs up"
  echo "# to idle first. Generated by shim/link-order/link-order.sh; see the"
  echo "# berth-link-order crate."
  {
    echo _start
    # what runs before main and callgrind does not name: glibc's resolvers
    # of its IFUNCs (all run at start) and the C runtime's constructors
    nm --defined-only "$BIN" | awk '$2 ~ /^[iI]$/ || $3 ~ /_ifunc$/ {print $3}
      $3 ~ /^(frame_dummy|register_tm_clones|deregister_tm_clones|__do_global_dtors_aux)$/ {print $3}'
    # paths a native run takes by timing and callgrind, running one thread
    # at a time, may not: locks and channels under contention; glibc's
    # start-up steps it does not name; strcmp's variants
    grep -E 'lock_contended|futex|__lll_lock|mpmc|4park|unpark|_dl_new_object|_dl_setup_hash' "$work/defined" || true
    printf '%s\n' strcmp strncmp | resolve
    functions "$idle_dump" | resolve
    functions "$work"/cg/out.* | resolve
  } | awk '!seen[$0]++'
} > "$out"
echo "link-order: $(grep -vc '^#' "$out") functions in $out ($(functions "$idle_dump" | resolve | wc -l) run up to idle)"
