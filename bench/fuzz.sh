#!/usr/bin/env bash
# Coverage-guided fuzzing of every target in fuzz/ (FUZZING.md), one after the other:
#
#   bash bench/fuzz.sh [SECONDS_PER_TARGET]      (default 1800: the issue's 30 minutes)
#
# Needs a nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz --locked`), and the `audio` feature's libopus-dev and pkg-config.
# Each target starts from its committed seeds (fuzz/seeds/NAME) and regressions
# (fuzz/regressions/NAME) plus what earlier runs kept in fuzz/corpus/NAME (not committed),
# under libFuzzer with 1 s per input and 2 GB of memory at most. Findings land in
# fuzz/artifacts/NAME, each run's log in fuzz/logs/NAME.log, and the figures (executions,
# executions per second, coverage as libFuzzer counts it: `cov` edges and `ft` features,
# the corpus kept, peak memory) in a table: fuzz/logs/summary.md, or FUZZ_SUMMARY.
#
# A timeout is judged by what the program itself takes: on a machine shared with other work
# a unit can stall past 1 s without being slow, and coverage tracing makes some decoders
# twenty times slower than they are. So a timeout is run again alone, then timed in a plain
# release build (examples/fuzz_replay.rs, built the first time it is needed, its build time
# not counted); one that takes under a second there is noted with both times, kept as
# ARTIFACT.slow-instrumented, left out of the rest of the run (each restart of the fuzzer
# would replay it first), and the target resumes for the rest of its time.
# FUZZ_TARGETS="sdp y4m" picks targets.
# Everything runs under `nice`.
set -euo pipefail
seconds=${1:-1800}
cd "$(dirname "$0")/../fuzz"
summary=${FUZZ_SUMMARY:-logs/summary.md}
mkdir -p logs "$(dirname "$summary")"
# The openh264 crate captures a backtrace with every decode error when RUST_BACKTRACE is
# set; panics keep theirs.
export RUST_LIB_BACKTRACE=0

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "bench/fuzz.sh: needs nightly and cargo-fuzz: rustup toolchain install nightly && cargo install cargo-fuzz --locked" >&2
  exit 1
fi
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}

# One build for all (debug assertions on: an overflow is a finding too).
nice -n 15 cargo +nightly fuzz build --debug-assertions
bin=target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release

{
  echo "# Fuzzing summary"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(rustc +nightly --version), $(nproc) cores, \`bash bench/fuzz.sh $seconds\`"
  echo
  echo "| target | ran (s) | executions | exec/s | cov | ft | corpus | peak RSS (MB) | outcome |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >"$summary"

# The slowest of three runs of one input in a plain release build, in ms (nothing if it
# cannot be built or run). The crate's features are the fuzz crate's.
plain_ms() {
  (cd .. && nice -n 15 cargo build --quiet --release --features audio --example fuzz_replay >&2) || return 0
  "${CARGO_TARGET_DIR:-../target}/release/examples/fuzz_replay" "$1" "$2" 2>/dev/null | awk '{ print $NF }' | tail -1
}

# Removes the inputs with the same bytes as $1 from the folders that follow (the fuzzer's
# corpus names its files by their SHA-1, the committed ones have names that say what they are).
leave_out() {
  local sum
  sum=$(sha1sum <"$1" | cut -d' ' -f1)
  shift
  find "$@" -type f -exec sha1sum {} + | awk -v sum="$sum" '$1 == sum { print $2 }' | xargs -r rm -f
}

for target in $targets; do
  mkdir -p "corpus/$target" "artifacts/$target" "seeds/$target" "regressions/$target"
  # The committed inputs are read from a copy, so that one found slow only under
  # instrumentation can be left out of the fuzzer's later starts: each start replays every
  # input first, and would time out on it again before fuzzing anything.
  inputs=$(mktemp -d)
  cp -r "seeds/$target" "$inputs/seeds"
  cp -r "regressions/$target" "$inputs/regressions"
  log="logs/$target.log"
  : >"$log"
  echo "== $target: $seconds s (log: fuzz/$log)"
  start=$(date +%s)
  execs_total=0
  notes=""
  outcome="no finding"
  slow=0 # timeouts that took under 1 s in a plain build
  slowest_plain=-1
  slowest_note=""
  while :; do
    left=$(( seconds - ($(date +%s) - start) ))
    [ "$left" -le 0 ] && break
    set +e
    # The first folder receives what the fuzzer finds worth keeping; the others are read.
    # The binary built above, not `cargo fuzz run`, which would first rebuild whatever
    # changed in the tree since and count the build in the target's time.
    nice -n 15 "$bin/$target" "corpus/$target" "$inputs/seeds" "$inputs/regressions" \
      -artifact_prefix="artifacts/$target/" \
      -max_total_time="$left" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log.part" 2>&1
    status=$?
    set -e
    cat "$log.part" >>"$log"
    # libFuzzer's final statistics, or its last status line (`#N ... cov: C ft: F corp: K/S`).
    status_line=$(grep -E '^#[0-9]+[[:space:]].*cov: [0-9]+' "$log.part" | tail -1 || true)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log.part" | grep -o '[0-9]*$' || true)
    [ -z "$execs" ] && execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$status_line")
    execs_total=$(( execs_total + ${execs:-0} ))
    [ $status -eq 0 ] && break
    if grep -q 'libFuzzer: run interrupted' "$log.part"; then
      outcome="interrupted by a signal"
      break
    fi
    artifact=$(grep -oE "artifacts/$target/[a-z-]+-[0-9a-f]+" "$log.part" | tail -1 || true)
    if grep -q 'ERROR: libFuzzer: timeout' "$log.part" && [ -n "$artifact" ]; then
      alone=$(RUST_BACKTRACE=0 "$bin/$target" "$artifact" 2>&1 | sed -nE 's/^Executed .* in ([0-9]+) ms$/\1/p' | tail -1)
      if [ -n "$alone" ] && [ "$alone" -lt 1000 ]; then
        notes="$notes; a timeout took ${alone} ms alone (a stalled machine), resumed"
        mv "$artifact" "$artifact.stalled"
        continue
      fi
      paused=$(date +%s)
      plain=$(plain_ms "$target" "$artifact")
      start=$(( start + $(date +%s) - paused ))
      if [ -n "$alone" ] && [ -n "$plain" ] && [ "$plain" -lt 1000 ]; then
        slow=$(( slow + 1 ))
        if [ "$plain" -gt "$slowest_plain" ]; then
          slowest_plain=$plain
          slowest_note="${alone} ms instrumented, ${plain} ms in a plain build"
        fi
        mv "$artifact" "$artifact.slow-instrumented"
        leave_out "$artifact.slow-instrumented" "corpus/$target" "$inputs"
        continue
      fi
    fi
    kind=$(grep -oE 'ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+|SUMMARY: [A-Za-z]+: [a-z-]+' "$log.part" | head -1 || true)
    outcome="FINDING: ${kind:-exit $status} ${artifact:+fuzz/$artifact}"
    break
  done
  rm -f "$log.part"
  rm -rf "$inputs"
  [ "$slow" -gt 0 ] && notes="$notes; $slow timeout(s) slow only under instrumentation (slowest in a plain build: $slowest_note), resumed"
  ran=$(( $(date +%s) - start ))
  stat() { grep -o "stat::$1: *[0-9]*" "$log" | tail -1 | grep -o '[0-9]*$' || echo "?"; }
  field() { sed -nE "s/.*$1: ([0-9]+).*/\\1/p" <<<"$status_line"; }
  corpus=$(sed -nE 's/.*corp: ([0-9]+\/[0-9a-zA-Z]+).*/\1/p' <<<"$status_line")
  rate=$(( execs_total / (ran > 0 ? ran : 1) ))
  row="| $target | $ran | $execs_total | $rate | $(field cov) | $(field ft) | ${corpus:-?} | $(stat peak_rss_mb) | $outcome$notes |"
  echo "$row" >>"$summary"
  echo "   $outcome$notes"
done
echo "summary: fuzz/$summary"
