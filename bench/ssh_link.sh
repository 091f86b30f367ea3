#!/usr/bin/env bash
# Issue 10's figures in one run (benches/ssh_link.rs): bytes per picture cell against the
# error read off an emulated screen (in process, and `join` with a Chromium page sending the
# marker clip), then packspaces `join` now, `join` at commit 3e58a19
# (before the one output path) and `mpv --vo=tct` over a real sshd behind a shaped link:
# 2 Mbit/s with `?` pressed every 5 s, and 10 Mbit/s for the frame rate, each ROUNDS times
# in turn so that the machine's noise falls on all three alike.
#
# Usage: bash bench/ssh_link.sh [OUT.md]   (ROUNDS=3 SECONDS_2M=120 SECONDS_10M=60 DIR=/tmp/sshlink)
#
# Needs openssh-server, openssh-client and mpv (installed with apt-get when run as root), and
# builds what is missing: the release binary and make_clip, the clips in $DIR, and commit
# 3e58a19 in a git worktree at $OLD (its own target folder; 5-10 minutes on 2 cores).
# Writes the tables to OUT.md (default $DIR/ssh_link.md) and every run as a JSON line to
# $DIR/ssh_link.jsonl. Only 127.0.0.1 is used; every process started is ended.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
DIR=${DIR:-/tmp/sshlink}
OLD=${OLD:-/tmp/ps-old}
ROUNDS=${ROUNDS:-3}
SECONDS_2M=${SECONDS_2M:-120}
SECONDS_10M=${SECONDS_10M:-60}
out=${1:-$DIR/ssh_link.md}
mkdir -p "$DIR"
jsonl=$DIR/ssh_link.jsonl

missing=()
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
command -v ssh > /dev/null || missing+=(openssh-client)
command -v mpv > /dev/null || missing+=(mpv)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]]; then
        apt-get install -y "${missing[@]}" > "$DIR/apt.log"
    else
        echo "missing: ${missing[*]} (apt-get install them)" >&2
        exit 1
    fi
fi

cd "$repo"
cargo build --release --bin packspaces --example make_clip
# The runs use copies, so that a rebuild of the tree meanwhile (someone editing src/) cannot
# change what is measured halfway through.
exe=$(cargo bench --bench ssh_link --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -n 1)
cp "$exe" "$DIR/ssh_link-bench"
cp target/release/packspaces "$DIR/packspaces-new"
built="$(git describe --always --dirty), src/ changes: $(git status --short src | wc -l) files"
make_clip=$repo/target/release/examples/make_clip
[[ -f $DIR/camera.y4m ]] || "$make_clip" "$DIR/camera.y4m" --motion camera
[[ -f $DIR/pan.y4m ]] || "$make_clip" "$DIR/pan.y4m"
[[ -f $DIR/marker.y4m ]] || "$make_clip" "$DIR/marker.y4m" --motion camera --marker

if [[ ! -x $OLD/target/release/packspaces ]]; then
    [[ -d $OLD ]] || git -C "$repo" worktree add "$OLD" 3e58a19
    (cd "$OLD" && cargo build --release --bin packspaces)
fi

bench() { "$DIR/ssh_link-bench" "$@"; }

{
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
    echo "- Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- packspaces: $built, release build; before: 3e58a19 (worktree $OLD)"
    echo "- $(mpv --no-config --version | head -n 1)"
    echo "- $(ssh -V 2>&1)"
    echo
    bench screen "$DIR/camera.y4m" "$DIR/pan.y4m"
    echo
    # The same for `join` with a real peer: a Chromium page whose camera is the marker clip
    # (needs chromium and `npm ci` in tests/node).
    if command -v node > /dev/null && [[ -x /usr/bin/chromium && -d tests/node/node_modules ]]; then
        bench chromium "$DIR/marker.y4m" 60 --bin "$DIR/packspaces-new"
    else
        echo "(join with a Chromium page: skipped, needs chromium, node and npm ci in tests/node)"
    fi
} > "$out.screen"
cat "$out.screen"

: > "$jsonl"
for ((round = 1; round <= ROUNDS; round++)); do
    for who in new old mpv; do
        echo "round $round: $who at 2 Mbit/s for $SECONDS_2M s" >&2
        bench link "$who" 2mbit "$SECONDS_2M" --keys --clip "$DIR/marker.y4m" \
            --new-bin "$DIR/packspaces-new" --old-bin "$OLD/target/release/packspaces" --out "$jsonl"
    done
    for who in new old mpv; do
        echo "round $round: $who at 10 Mbit/s for $SECONDS_10M s" >&2
        bench link "$who" 10mbit "$SECONDS_10M" --clip "$DIR/marker.y4m" \
            --new-bin "$DIR/packspaces-new" --old-bin "$OLD/target/release/packspaces" --out "$jsonl"
    done
done

{
    cat "$out.screen"
    bench table "$jsonl"
    echo "- Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out"
rm -f "$out.screen"
cat "$out"
