#!/usr/bin/env bash
# shim_rss.sh — memory of an idle shim: containerd-shim-berth-v2 (running
# berth-runtime) next to containerd-shim-runc-v2 (running runc), each with
# one idle container (`sleep`) started by a real containerd 1.6
# (../shared/conformance/containerd-env.sh) from the same busybox image.
#
# Usage (as root): benches/shim_rss.sh
#
# Environment:
#   BERTH_SHIM     the shim binary (default target/release/containerd-shim-berth-v2)
#   BERTH_RUNTIME  the runtime it runs (default target/release/berth-runtime)
#   BENCH_SAMPLES  containers per shim, measured one after another (default 5)
#   BENCH_OUT      where the report goes (default target/bench)
#
# Each sample starts a container with `ctr run -d`, waits until the task is
# RUNNING and its shim has been idle for a second, then reads the shim's
# /proc/PID/status (VmRSS, RssAnon, RssFile, Threads) and smaps_rollup (Pss:
# shared library pages divided among the processes mapping them, the fair
# per-shim cost), and removes the container. Prints the median of each per
# shim and berth's ratio. The containerd instance is private
# (/var/tmp/berth-bench-shim) and stopped at the end. Exit status 0 whatever
# the numbers say: it is a benchmark, not a test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench-shim-rss: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"

SHIM=${BERTH_SHIM:-$here/target/release/containerd-shim-berth-v2}
RUNTIME=${BERTH_RUNTIME:-$here/target/release/berth-runtime}
SAMPLES=${BENCH_SAMPLES:-5}
OUT=${BENCH_OUT:-$here/target/bench}
CONF=$(cd "$here/../shared/conformance" 2>/dev/null && pwd) || die "../shared/conformance not found beside the repo"
[ -x "$SHIM" ] || die "$SHIM not found (make release)"
[ -x "$RUNTIME" ] || die "$RUNTIME not found (make release)"
command -v containerd-shim-runc-v2 >/dev/null || die "containerd-shim-runc-v2 not installed"

BASE=/var/tmp/berth-bench-shim
export RC_CTRD_BASE=$BASE RC_CTRD_CRI=0
mkdir -p "$BASE/bin" "$OUT"
# Copies, not links: the shim runs the berth-runtime beside its executable.
install -m 755 "$SHIM" "$BASE/bin/containerd-shim-berth-v2"
install -m 755 "$RUNTIME" "$BASE/bin/berth-runtime"

cleanup() { "$CONF/containerd-env.sh" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
eval "$("$CONF/containerd-env.sh" start)"
ctr() { command ctr --address "$CONTAINERD_ADDRESS" --namespace default "$@"; }
IMAGE=docker.io/library/busybox:latest
if ! ctr images ls -q | grep -qx "$IMAGE"; then
  imgdir=$(mktemp -d)
  "$CONF/make-busybox-image.sh" "$imgdir" >/dev/null
  ctr images import "$imgdir/busybox-oci.tar" >/dev/null
  rm -rf "$imgdir"
fi

# shim_pid ID SHIM-BINARY-NAME
shim_pid() {
  local p
  for p in /proc/[0-9]*; do
    if { tr "\0" " " <"$p/cmdline"; } 2>/dev/null | grep -q -- "$2 .*-id $1 "; then
      echo "${p#/proc/}"; return 0
    fi
  done
  return 1
}

# sample NAME ID CTR-RUN-FLAGS... : prints "vmrss rssanon rssfile pss threads" (kB)
sample() {
  local name=$1 id=$2; shift 2
  ctr run -d "$@" --fifo-dir "$RC_CTRD_FIFO" "$IMAGE" "$id" sleep 3600 >/dev/null
  local i pid=""
  for i in $(seq 1 100); do
    pid=$(shim_pid "$id" "$name") && ctr tasks ls | grep -q "^$id .*RUNNING" && break
    sleep 0.1
  done
  [ -n "$pid" ] || die "no $name for $id"
  sleep 1
  local st=/proc/$pid/status
  printf '%s %s %s %s %s\n' \
    "$(awk '/^VmRSS/{print $2}' "$st")" "$(awk '/^RssAnon/{print $2}' "$st")" \
    "$(awk '/^RssFile/{print $2}' "$st")" "$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup")" \
    "$(awk '/^Threads/{print $2}' "$st")"
  ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  for i in $(seq 1 100); do ctr tasks ls | grep -q "^$id .*STOPPED" && break; sleep 0.1; done
  ctr tasks delete "$id" >/dev/null 2>&1 || true
  ctr containers delete "$id" >/dev/null 2>&1 || true
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

report=$OUT/shim_rss.txt
: >"$OUT/shim_rss.raw"
for s in $(seq 1 "$SAMPLES"); do
  echo "berth $(sample containerd-shim-berth-v2 "bench-berth-$s" --runtime io.containerd.berth.v2)" >>"$OUT/shim_rss.raw"
  echo "runc $(sample containerd-shim-runc-v2 "bench-runc-$s" --runc-root "$RC_RUNC_ROOT")" >>"$OUT/shim_rss.raw"
done

col() { awk -v e="$1" -v c="$2" '$1==e {print $c}' "$OUT/shim_rss.raw" | median; }
{
  echo "idle shim with one running container, median of $SAMPLES (kB; Pss shares library pages)"
  printf '%-26s %8s %8s %8s %8s %8s\n' shim VmRSS RssAnon RssFile Pss threads
  printf '%-26s %8s %8s %8s %8s %8s\n' containerd-shim-berth-v2 "$(col berth 2)" "$(col berth 3)" "$(col berth 4)" "$(col berth 5)" "$(col berth 6)"
  printf '%-26s %8s %8s %8s %8s %8s\n' containerd-shim-runc-v2 "$(col runc 2)" "$(col runc 3)" "$(col runc 4)" "$(col runc 5)" "$(col runc 6)"
  awk -v b="$(col berth 2)" -v r="$(col runc 2)" -v bp="$(col berth 5)" -v rp="$(col runc 5)" \
    'BEGIN { printf "berth/runc: VmRSS %.2f, Pss %.2f\n", b / r, bp / rp }'
} | tee "$report"
