#!/usr/bin/env bash
# test-summary.sh LOG [RC] — sum the "test result:" lines of a cargo test log,
# list failed tests with the head of what each printed (the end of a long log
# is what survives a truncated CI page), and exit non-zero when RC != 0 or
# anything failed.
set -uo pipefail
log=$1; rc=${2:-0}
awk '
  /^test result: / {
    bins++
    for (i = 1; i <= NF; i++) {
      v = $(i - 1) + 0
      if ($i ~ /^passed;?$/) p += v
      else if ($i ~ /^failed;?$/) f += v
      else if ($i ~ /^ignored;?$/) ig += v
    }
    if ($0 ~ /FAILED/) badbins++
  }
  /^test .* \.\.\. FAILED$/ { sub(/^test /, ""); sub(/ \.\.\. FAILED$/, ""); failed[++nf] = $0 }
  /^---- .* stdout ----$/ { cur = $2; lines[cur] = 0; next }
  /^(failures:|test result: )/ { cur = "" }
  cur != "" && lines[cur] < 25 { out[cur] = out[cur] "      " $0 "\n"; lines[cur]++ }
  END {
    print ""
    print "==================== test summary ===================="
    printf "%d passed, %d failed, %d ignored (%d test binaries, %d failing)\n", p, f, ig, bins, badbins
    for (i = 1; i <= nf; i++) print "  FAILED: " failed[i]
    for (i = 1; i <= nf; i++) if (failed[i] in out) printf "---- %s\n%s", failed[i], out[failed[i]]
    if (bins == 0) print "  no test results found (build failure?)"
    exit (f > 0 || badbins > 0 || bins == 0) ? 1 : 0
  }' "$log"
sum_rc=$?
if [ "$rc" != 0 ]; then
  echo "cargo test exited with status $rc"
  exit "$rc"
fi
exit $sum_rc
