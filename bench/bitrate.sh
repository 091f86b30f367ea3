#!/bin/sh
# Which of our bitrate requests each browser follows: runs tests/it/bitrate_requests.rs (a
# Chromium page with a noisy 640x480 camera clip, a Firefox page with a noisy canvas
# camera; the terminal shows each in a 64x24 tile) with PACKSPACES_BITRATE_REQUESTS set to
# none, sdp (b=AS/b=TIAS only), remb and both, ROUNDS times, and prints the median rate
# (kbit/s, 1 s windows, from the browser's getStats) each browser sends the tile: over the
# 5 s after it fell to 200 kbit/s, else over its last 10 reports of 20 s. Usage, from the
# repo root:  sh bench/bitrate.sh [ROUNDS]
set -eu
rounds=${1:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo test --release --test it --no-run >/dev/null 2>&1
for round in $(seq "$rounds"); do
  for levers in none sdp remb both; do
    for browser in chromium firefox; do
      PACKSPACES_BITRATE_REQUESTS=$levers CI=true cargo test --release \
        --test it "bitrate_requests::${browser}_sends_a_small" -- --nocapture \
        >"$out/$levers.$browser.$round" 2>&1 || true
    done
  done
done
python3 - "$out" <<'PY'
import glob, os, re, statistics, sys
out = sys.argv[1]
def tile_rates(text):
    steady = re.search(r"steady kbit/s to the tile: \[([^\]]*)\]", text)
    if steady:
        return [float(x) for x in steady.group(1).split(",") if x.strip()]
    falls = re.search(r"the rate to a small tile falls: kbit/s@width every 0.5 s: \[([^\]]*)\]", text)
    if not falls:
        return []
    return [float(x.strip().strip('"').split("@")[0]) for x in falls.group(1).split(",") if x.strip()][-10:]
print("| levers | Chromium → 64x24 tile, kbit/s (each round) | Firefox ESR → 64x24 tile, kbit/s (each round) |")
print("|---|---:|---:|")
for levers in ["none", "sdp", "remb", "both"]:
    cells = []
    for browser in ["chromium", "firefox"]:
        medians = []
        for path in sorted(glob.glob(os.path.join(out, f"{levers}.{browser}.*"))):
            rates = tile_rates(open(path).read())
            medians.append(f"{statistics.median(rates):.0f}" if rates else "?")
        cells.append(", ".join(medians))
    print(f"| {levers} | {cells[0]} | {cells[1]} |")
PY
