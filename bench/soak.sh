#!/usr/bin/env bash
# The long run of issue 15: tests/it/soak.rs (a `join` terminal while 6 bots come and go,
# `serve` with 200 members of another space churning) for SECONDS (default 3600), its
# samples kept as CSV, then a summary per process: the median resident memory, open files,
# threads and tokio tasks just after warm-up (the run's second third) and at the end (its
# last third).
#
#   bench/soak.sh [SECONDS] [CSV]      e.g. bench/soak.sh 3600 bench/results/soak.csv
#
# The test fails if anything grew by more than 10% from one to the other.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3600}
csv=${2:-target/soak-$(date -u +%Y%m%dT%H%M%SZ).csv}
mkdir -p "$(dirname "$csv")"
echo "soak: ${secs} s, samples to $csv"
status=0
PACKSPACES_SOAK_SECS=$secs PACKSPACES_SOAK_CSV=$(realpath -m "$csv") \
  cargo test --locked --test it soak:: -- --nocapture || status=$?
if [ -s "$csv" ]; then
  echo
  echo "process  metric            after warm-up   end   (medians; seconds ${secs}/3-2/3 vs 2/3-end)"
  for process in serve join; do
    for col in 3:rss_kib 4:fds 5:threads 6:tasks; do
      n=${col%%:*}
      name=${col#*:}
      median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'; }
      early=$(awk -F, -v p="$process" -v n="$n" -v s="$secs" \
        'NR>1 && $2==p && $1>=s/3 && $1<2*s/3 {print $n}' "$csv" | median)
      late=$(awk -F, -v p="$process" -v n="$n" -v s="$secs" \
        'NR>1 && $2==p && $1>=2*s/3 {print $n}' "$csv" | median)
      printf '%-8s %-17s %13s %7s\n' "$process" "$name" "$early" "$late"
    done
  done
fi
exit "$status"
