#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_decide's report, not its timings: CPU time, the minimum beside the
# median, the load average with every run, the seed's pilot-org case and ids
# of the length asked for. Timings are never pass/fail.
set -eu
bench=$1
out=$("$bench" --runs 3 --reps 1 --bytes 17)
status=0
for want in "load average before: " "load average after: " "(17 bytes each)" \
            "thread CPU time" "median/raw  min/raw" "decide, seed, pilot org" \
            "decide, id-list cohort"; do
  case $out in
    *"$want"*) ;;
    *) echo "bench_smoke: \"$want\" missing from:"; status=1 ;;
  esac
done
[ $status -eq 0 ] || { echo "$out"; exit 1; }
out=$("$bench" --runs 1 --reps 1 --wall --uuid)
case $out in *"(36 bytes each)"*"wall clock"*) ;; *) echo "$out"; exit 1 ;; esac
echo "bench_smoke: ok"
