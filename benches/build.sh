#!/usr/bin/env bash
# build.sh — `berth build` against `docker build` (Debian's dockerd 20.10 and
# its classic builder) and `podman build` (podman 4.3, buildah inside), on
# the same Dockerfile (docker's classic seven steps: FROM, RUN, COPY, RUN,
# COPY, WORKDIR, CMD) and the same context, busybox as the base
# (../shared/conformance/make-busybox-image.sh).  Three cases per round:
#   cold     --no-cache: every step made again (the base image is present)
#   cached   the same build again: every step from the cache
#   changed  one file under src/ rewritten, then built: the steps before its
#            COPY from the cache, the rest made again
#
# Usage (as root): benches/build.sh
#
# Environment:
#   BENCH_ITERATIONS  timed rounds (default 5)
#   BERTH_CLI         the berth binary (default target/release/berth, else
#                     target/debug/berth); its manager, shim and runtime beside it
#   DOCKER=0, PODMAN=0  leave an engine out
#   BENCH_OUT         where the raw TSV and the report go (default target/bench)
#
# Rounds alternate engines (berth, docker, podman, berth, …) so drift in the
# machine's load hits each alike; every build is timed around the client
# process with the monotonic clock, daemons already up.  RUN steps use
# --network none everywhere (berth's only bridge-less choice).  docker is the
# shared peer from docker-env.sh (never stopped here; the images this run
# made are removed); berth and podman get private state, removed at the end.
# Exit status 0 whatever the numbers say: a benchmark, not a test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench-build: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"

if [ -z "${BERTH_CLI:-}" ]; then
  BERTH_CLI=$here/target/release/berth
  [ -x "$BERTH_CLI" ] || BERTH_CLI=$here/target/debug/berth
fi
ITER=${BENCH_ITERATIONS:-5}
OUT=${BENCH_OUT:-$here/target/bench}
CONF=$(cd "$here/../shared/conformance" 2>/dev/null && pwd) || die "../shared/conformance not found beside the repo"
[ -x "$BERTH_CLI" ] || die "$BERTH_CLI not found (cargo build --workspace)"
for b in berth-manager containerd-shim-berth-v2 berth-runtime; do
  [ -x "$(dirname "$BERTH_CLI")/$b" ] || die "$(dirname "$BERTH_CLI")/$b not found"
done
mkdir -p "$OUT"

work=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
images=$work/images
ctx=$work/context
export BERTH_ROOT=$work/root BERTH_STATE=$work/state
PODMAN_BASE=/var/tmp/berth-bench-build-podman
podman_up=0
docker_ids=$work/docker-ids

cleanup() {
  set +e
  if [ -S "$BERTH_STATE/manager.sock" ]; then
    ids=$("$BERTH_CLI" ps -aq 2>/dev/null)
    [ -n "$ids" ] && "$BERTH_CLI" rm -f $ids >/dev/null 2>&1
    pid=$("$BERTH_CLI" system info 2>/dev/null | awk '/Manager PID:/ {print $3}')
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    for i in $(seq 50); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  fi
  if [ -s "$docker_ids" ]; then
    docker rmi -f berth-bench-build >/dev/null 2>&1
    sort -u "$docker_ids" | xargs -r docker rmi -f >/dev/null 2>&1
  fi
  grep -o " $work[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$work"
  [ "$podman_up" = 1 ] && RC_PODMAN_BASE=$PODMAN_BASE bash "$CONF/podman-env.sh" purge >/dev/null 2>&1
}
trap cleanup EXIT

echo "# images: make-busybox-image.sh $images"
bash "$CONF/make-busybox-image.sh" "$images" >/dev/null

mkdir -p "$ctx/src"
cat > "$ctx/Dockerfile" <<'EOF'
FROM busybox
RUN echo built > /built && mkdir -p /app
COPY greeting.txt /app/
RUN cat /app/greeting.txt > /app/copied && ls /bin | wc -l > /app/count
COPY src /app/src
WORKDIR /app
CMD ["sh", "-c", "cat /built copied src/main.txt"]
EOF
echo hello > "$ctx/greeting.txt"
for i in $(seq 100); do head -c 4096 /dev/urandom | base64 > "$ctx/src/file$i.txt"; done
echo v0 > "$ctx/src/main.txt"

engines=(berth)
"$BERTH_CLI" load -q -i "$images/busybox-oci.tar" >/dev/null
build_berth() { "$BERTH_CLI" build -q --network none "$@" -t berth-bench-build "$ctx"; }

if [ "${DOCKER:-1}" = 1 ]; then
  eval "$(bash "$CONF/docker-env.sh" start)"
  bash "$CONF/docker-env.sh" load >/dev/null
  build_docker() { docker build -q --network none "$@" -t berth-bench-build "$ctx" 2>/dev/null | tee -a "$docker_ids"; }
  engines+=(docker)
fi
if [ "${PODMAN:-1}" = 1 ]; then
  eval "$(RC_PODMAN_BASE=$PODMAN_BASE RC_IMAGES=$images bash "$CONF/podman-env.sh" start)"
  podman_up=1
  build_podman() { podman build -q --layers --network none "$@" -t berth-bench-build "$ctx"; }
  engines+=(podman)
fi

now_ns() { date +%s%N; }
tsv=$OUT/build-runs.tsv
echo -e "engine\tcase\tround\twall_ms" > "$tsv"
timed() { # engine case round args…
  local e=$1 c=$2 r=$3; shift 3
  local t0 t1
  t0=$(now_ns)
  "build_$e" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; die "$e: $c build $r failed"; }
  t1=$(now_ns)
  echo -e "$e\t$c\t$r\t$(( (t1 - t0) / 1000 ))" | awk -F'\t' '{printf "%s\t%s\t%s\t%.3f\n", $1, $2, $3, $4/1000}' >> "$tsv"
}

echo "# ${engines[*]}: 1 warm-up + $ITER timed rounds of cold / cached / changed, alternating"
for e in "${engines[@]}"; do "build_$e" >/dev/null 2>&1 || die "$e: warm-up build failed"; done
for r in $(seq "$ITER"); do
  for e in "${engines[@]}"; do
    timed "$e" cold "$r" --no-cache
    timed "$e" cached "$r"
    echo "v$r-$e" > "$ctx/src/main.txt"
    timed "$e" changed "$r"
  done
done

report=$OUT/build-report.txt
python3 - "$tsv" "${engines[@]}" <<'PY' | tee "$report"
import statistics, sys
tsv, engines = sys.argv[1], sys.argv[2:]
cases = ["cold", "cached", "changed"]
runs = {(e, c): [] for e in engines for c in cases}
for line in open(tsv).read().splitlines()[1:]:
    e, c, _, ms = line.split("\t")
    runs[(e, c)].append(float(ms))
med = {k: statistics.median(v) for k, v in runs.items() if v}
print(f"{'engine':<8} {'case':<8} {'runs':>5} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
for c in cases:
    for e in engines:
        v = runs[(e, c)]
        print(f"{e:<8} {c:<8} {len(v):>5} {med[(e, c)]:>10.1f} {min(v):>8.1f} {max(v):>8.1f}")
for c in cases:
    peers = [e for e in engines[1:]]
    for e in peers:
        print(f"{c:<8} berth / {e}: {med[('berth', c)] / med[(e, c)]:.3f}")
    if peers:
        fastest = min(peers, key=lambda e: med[(e, c)])
        print(f"{c:<8} berth / faster peer ({fastest}): {med[('berth', c)] / med[(fastest, c)]:.3f}")
PY
echo "# raw runs: $tsv; report: $report"
