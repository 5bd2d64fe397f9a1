#!/usr/bin/env bash
# normalized-ns.sh — run a command in a private mount namespace where "/" is
# rshared and /sys/fs/cgroup is rebuilt as pure cgroup v1: a tmpfs with each of
# the host's v1 hierarchies re-mounted on it, and no cgroup2 "unified" mount.
#
# Usage (as root): benches/normalized-ns.sh COMMAND [ARG...]
#
# crun refuses this host's hybrid layout (v1 controllers + an empty cgroup2 at
# /sys/fs/cgroup/unified), so the benchmarks run every runtime under this same
# wrapper.  It does what ../shared/conformance/runtime-tools-validate.sh
# --normalize does, except that it binds no controller the host left unbound
# (hugetlb, net_cls, ...): nothing outlives the namespace and the host's mount
# table is not touched.
set -euo pipefail

die() { echo "normalized-ns: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: $0 COMMAND [ARG...]"

if [ "${BERTH_NORMALIZED_NS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || die "needs root"
  BERTH_NORMALIZED_NS=1 exec unshare --mount --propagation private -- "$BASH" "${BASH_SOURCE[0]}" "$@"
fi

mount --make-rshared / || die "mount --make-rshared / failed"
v1=$(awk '{for (i = 7; $i != "-"; i++); if ($(i+1) == "cgroup" && $5 ~ "^/sys/fs/cgroup/") print $5, $(i+3)}' /proc/self/mountinfo)
[ -n "$v1" ] || die "no cgroup v1 hierarchy under /sys/fs/cgroup on this host"
mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup-root /sys/fs/cgroup || die "cannot mount a tmpfs on /sys/fs/cgroup"
while read -r mp opts; do
  [ -n "$mp" ] || continue
  name=${mp#/sys/fs/cgroup/}
  opts=$(echo "$opts" | tr ',' '\n' | grep -vxE 'rw|ro' | paste -sd,)
  case ",$opts," in *,name=*) echo "$opts" | grep -qE '(^|,)(cpu|cpuacct|cpuset|memory|devices|freezer|blkio|pids|hugetlb|net_cls|net_prio|perf_event|rdma|misc)(,|$)' || opts="none,$opts" ;; esac
  mkdir -p "/sys/fs/cgroup/$name"
  mount -t cgroup -o "$opts" cgroup "/sys/fs/cgroup/$name" || echo "normalized-ns: could not remount $name ($opts)" >&2
done <<<"$v1"
unset BERTH_NORMALIZED_NS
exec "$@"
