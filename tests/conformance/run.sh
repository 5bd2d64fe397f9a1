#!/usr/bin/env bash
# run.sh RTV OUTDIR LABEL RUNTIME NORMALIZE — one run of the OCI runtime-tools
# validation suite (RTV = path of runtime-tools-validate.sh) against RUNTIME,
# with --normalize when NORMALIZE=1.  Keeps, in OUTDIR:
#   LABEL.out   the script's stdout (one line per test file + summary lines)
#   LABEL.err   its stderr;  LABEL.meta  rc, start time, runtime version
#   LABEL.logs/ per-file TAP and stderr (OCI_VALIDATION_OUT)
# Test failures are recorded, not returned: exits 0 so a matrix of runs goes on.
set -uo pipefail
[ $# -eq 5 ] || { echo "usage: $0 RTV OUTDIR LABEL RUNTIME NORMALIZE" >&2; exit 2; }
rtv=$1 out=$2 label=$3 runtime=$4 normalize=$5
mkdir -p "$out"
rm -rf "$out/$label.logs" "$out/$label.out.partial"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
flags=(); [ "$normalize" = 1 ] && flags=(--normalize)
echo "=== conformance: $label: $runtime ${flags[*]}"
OCI_VALIDATION_OUT="$out/$label.logs" bash "$rtv" "${flags[@]}" "$runtime" \
  2>"$out/$label.err" | tee "$out/$label.out.partial"
rc=${PIPESTATUS[0]}
mv "$out/$label.out.partial" "$out/$label.out"
rm -rf "$out/$label.logs/cwd"   # copies of runtimetest and the rootfs tarball
version=$("$runtime" --version 2>/dev/null | head -1) || true
{
  echo "rc=$rc"
  echo "started=$started"
  echo "runtime=$runtime"
  echo "normalize=$normalize"
  echo "version=${version:-?}"
} >"$out/$label.meta"
case $rc in
  0) echo "=== $label: every test file passed" ;;
  1) echo "=== $label: some test files failed (recorded)" ;;
  *) echo "=== $label: setup error (rc=$rc), see $out/$label.err:"; tail -5 "$out/$label.err" ;;
esac
exit 0
