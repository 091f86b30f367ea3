#!/usr/bin/env bash
# Issue 15's shaped network: tests/it/shaped_network.rs (a browser in its own network
# namespace calling the terminal, or called by it, over a veth pair with 5 % random UDP loss,
# 1 Mbit/s, or a 10 s UDP outage), ROUNDS times (default 3), then the median of each figure
# per scenario. Needs root, iproute2, nftables, node, Chromium and Firefox ESR.
#
#   bench/shaped.sh [ROUNDS] [LINES]     e.g. bench/shaped.sh 3 bench/results/shaped.txt
#   bench/shaped.sh 0 LINES               only the medians of the figures already in LINES
#   FEATURES=audio bench/shaped.sh 3      the calls carry sound too (cargo features to build)
#
# Figures (milliseconds; "error" is the mean absolute difference per channel, 0-255, between
# the terminal's frames and the Chromium camera's four colours, n/a for Firefox's camera):
#   longest_freeze_ms       the longest time without a new frame at the terminal while shaped
#   page_longest_freeze_ms  the same in the page (its remote <video>'s picture, which moves)
#   recovery_ms             outage: the first new frame at the terminal after UDP is back
#   page_recovery_ms        the same in the page
#   error_before/after      before the network is touched / after it is restored
#   dropped_to/from_browser UDP packets the loss rule dropped each way
#   page_sent_*, page_asked_*  the page's video repairs: NACKs and PLIs its sender got and
#                           what it resent; what its receiver asked of us
#   audio_*                 (FEATURES=audio, at 5 % loss) the terminal's playback of the
#                           browser: packets played, concealed, stalls of the jitter buffer,
#                           due, ms silent; page_audio_*: the page's of ours (s played, ms
#                           concealed, ms concealed as silence)
# A round whose test fails (a target not met) still prints its figures, when it got that far;
# the failure's message goes to LINES as a '# FAILED:' line.
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
out=${2:-target/shaped-$(date -u +%Y%m%dT%H%M%SZ).txt}
mkdir -p "$(dirname "$out")"
[ "$rounds" -gt 0 ] && : >"$out"
for round in $(seq 1 "$rounds"); do
  echo "shaped: round $round of $rounds" >&2
  echo "# round $round" >>"$out"
  # Each round's whole output is kept beside LINES: a scenario that fails prints no figures,
  # and what went wrong is in its log (PACKSPACES_LOG=debug for the calls' side).
  log="${out%.*}-round$round.log"
  cargo test --locked --features "${FEATURES:-}" --test it shaped_network:: -- --nocapture --test-threads=1 2>&1 |
    tee "$log" | grep --line-buffered -oE 'shaped: .*' | tee -a "$out" >&2
  grep -A1 'panicked at' "$log" | grep -v -e '^--$' -e 'panicked at' | sed 's/^/# FAILED: /' | tee -a "$out" >&2
done
echo
echo "medians of $(grep -c '^# round' "$out") rounds ($(date -u +%F), lines in $out; failed scenarios: $(grep -c '^# FAILED' "$out"))"
grep -o 'shaped: .*' "$out" | sed 's/^shaped: //' | awk -F': ' '
  {
    scenario = $1
    if (!(scenario in seen)) { seen[scenario] = 1; order[++n] = scenario }
    split($2, fields, " ")
    for (i = 1; i in fields; i++) {
      split(fields[i], kv, "=")
      key = scenario SUBSEP kv[1]
      if (!(key in count)) keys[scenario] = keys[scenario] " " kv[1]
      values[key, ++count[key]] = kv[2]
    }
  }
  END {
    for (s = 1; s <= n; s++) {
      scenario = order[s]
      line = scenario ":"
      split(substr(keys[scenario], 2), names, " ")
      for (k = 1; k in names; k++) {
        key = scenario SUBSEP names[k]
        m = 0; delete v
        for (i = 1; i <= count[key]; i++) {
          x = values[key, i]
          if (x ~ /^[0-9.]+$/) v[++m] = x + 0; else other = x
        }
        # Insertion sort; a handful of rounds.
        for (i = 2; i <= m; i++) { x = v[i]; j = i - 1; while (j > 0 && v[j] > x) { v[j + 1] = v[j]; j-- } v[j + 1] = x }
        if (m == 0) med = other
        else if (m % 2) med = v[(m + 1) / 2]
        else med = (v[m / 2] + v[m / 2 + 1]) / 2
        note = (m < count[key] && m > 0) ? " (" count[key] - m " " other ")" : ""
        line = line " " names[k] "=" med note
      }
      print line
    }
  }'
