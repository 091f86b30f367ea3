#!/usr/bin/env bash
# Compares packspaces with other terminal video players (mpv --vo=tct, timg, chafa) on the
# same synthetic heavy-motion clip (examples/make_clip.rs): whole-process wall time with
# hyperfine, frames per second, bytes written per frame and per cell, and packspaces' own
# --stats line (mean error). Writes a markdown report to $1, or to stdout.
#
# Usage, from the repo root: bash bench/compare.sh [OUT.md]
# Environment: FRAMES (clip length, default 150), RUNS (hyperfine runs, default 5),
# SIZES (cell sizes, default "80x24 160x48").
set -euo pipefail

out_md=""
if [[ $# -ge 1 ]]; then
    out_md=$(realpath -m -- "$1")
fi
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

FRAMES=${FRAMES:-150}
RUNS=${RUNS:-5}
SIZES=${SIZES:-"80x24 160x48"}
# The clip's picture size; every tool fits it into the cell area keeping 4:3.
CLIP_W=640
CLIP_H=480

log() { printf '%s\n' "$*" >&2; }

# (a) Tools. Install what is missing when we can (root + apt-get).
declare -A pkg_of=([mpv]=mpv [chafa]=chafa [timg]=timg [hyperfine]=hyperfine [jq]=jq)
missing=()
for tool in mpv chafa timg hyperfine jq; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing: ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 || true
    else
        log "missing (not root, not installing): ${missing[*]}"
    fi
fi
for tool in hyperfine jq; do
    command -v "$tool" >/dev/null 2>&1 || { log "error: $tool is required"; exit 1; }
done
have() { command -v "$1" >/dev/null 2>&1; }

# (b) Build.
log "building packspaces and examples (release)"
cargo build --release --examples --bins >&2
packspaces="$repo/target/release/packspaces"

# (c) The clip, in a temp dir removed on exit.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/packspaces-compare.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
clip="$tmp/clip.y4m"
"$repo/target/release/examples/make_clip" "$clip" --frames "$FRAMES" \
    --size "${CLIP_W}x${CLIP_H}" 2>&1 | sed 's/^/make_clip: /' >&2
clip_bytes=$(wc -c <"$clip")
# timg has no "ignore the frame rate" option: it sleeps to play at the header's 30 fps.
# Same frames with a 1000000:1 header rate let it run flat out.
fast="$tmp/clip-fast.y4m"
header_len=$(head -n 1 "$clip" | wc -c)
{
    head -n 1 "$clip" | sed 's/ F30:1 / F1000000:1 /'
    tail -c +"$((header_len + 1))" "$clip"
} >"$fast"

# Frames found in an output file, by a marker each tool writes once per frame.
count() { LC_ALL=C grep -aoE -- "$2" "$1" | wc -l; }
frames_in() {
    local tool=$1 file=$2
    case $tool in
        packspaces) count "$file" $'\e\\[\\?2026h' ;;  # synchronized-output begin
        mpv) LC_ALL=C grep -ac $'\e\\[0m$' "$file" || true ;; # vo_tct ends a frame with ESC[0m and a newline
        timg*) echo $(($(count "$file" $'\e\\[[0-9]+A') + 1)) ;; # cursor up between frames
    esac
}

# Pretty command for the report: repo and temp paths shortened.
show() {
    local s=$1
    s=${s//"$repo/"/}
    s=${s//"$tmp/"/}
    printf '%s' "$s"
}

report=$tmp/report.md
{
    echo "# packspaces vs other terminal video players"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -sr)"
    echo "- Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- packspaces: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' (+ local changes)'), release build"
    have mpv && echo "- $(mpv --no-config --version | head -n 1)"
    have timg && echo "- $(timg --version 2>&1 | head -n 1)"
    have chafa && echo "- $(chafa --version | head -n 1)"
    echo "- $(hyperfine --version), $RUNS runs + 1 warm-up per command, output redirected to a file"
    echo "- Clip: \`cargo run --release --example make_clip -- clip.y4m --frames $FRAMES\`:" \
        "${CLIP_W}x${CLIP_H}, 30 fps, $FRAMES frames ($clip_bytes bytes), a 3.3 px/frame pan with" \
        "vertical drift and shake over a detailed scene, ±3 luma sensor noise per frame."
    echo
    echo "fps = frames written / median wall time of the whole process (decode + scale + encode +"
    echo "write). Bytes per cell are per cell of the picture (all tools fit the 4:3 picture into the"
    echo "same cells, e.g. 64x24 of 80x24). CPU s = mean user + system time. Ratio = packspaces fps /"
    echo "tool fps."
    echo
} >"$report"

notes=()
if have chafa; then
    if chafa_err=$(chafa --size=80x24 "$clip" 2>&1 >/dev/null </dev/null); then
        notes+=("chafa opened the y4m clip, but is not benchmarked by this script.")
    else
        notes+=("chafa $(chafa --version | head -n 1 | awk '{print $3}') cannot play the clip: \`chafa --size=80x24 clip.y4m\` says \"${chafa_err//"$tmp/"/}\" (it reads images and GIF/WebP animations, not video; converting the clip to GIF would not be a fair comparison).")
    fi
else
    notes+=("chafa is not installed.")
fi
have mpv || notes+=("mpv is not installed.")
have timg || notes+=("timg is not installed.")

for size in $SIZES; do
    cols=${size%x*}
    rows=${size#*x}
    # Picture cells: fit ${CLIP_W}x${CLIP_H} into cols x (2*rows) pixels, keeping the aspect.
    read -r pcols prows < <(awk -v c="$cols" -v r="$rows" -v w="$CLIP_W" -v h="$CLIP_H" 'BEGIN {
        pr = int(c * h / w / 2 + 0.5); pc = c
        if (pr > r) { pr = r; pc = int(r * 2 * w / h + 0.5); if (pc > c) pc = c }
        print pc, pr }')
    cells=$((pcols * prows))

    names=()
    cmds=()
    add() { names+=("$1"); cmds+=("$2"); }
    add packspaces "$packspaces play $clip --size $size --no-wait --color truecolor > $tmp/packspaces-$size.out"
    if have mpv; then
        add mpv "mpv --no-config --vo=tct --untimed --no-audio --vo-tct-width=$cols --vo-tct-height=$rows --really-quiet $clip > $tmp/mpv-$size.out"
    fi
    if have timg; then
        add "timg (header rate 1000000:1)" "timg -g$size -ph -V $fast > $tmp/timg-fast-$size.out"
        add "timg (paced at 30 fps)" "timg -g$size -ph -V $clip > $tmp/timg-paced-$size.out"
    fi

    log "benchmarking $size: ${names[*]}"
    json="$tmp/hyperfine-$size.json"
    hf_args=(--runs "$RUNS" --warmup 1 --style basic --export-json "$json")
    for i in "${!cmds[@]}"; do
        hf_args+=(--command-name "${names[$i]}" "${cmds[$i]}")
    done
    hyperfine "${hf_args[@]}" </dev/null >&2

    # packspaces' own statistics (a separate run: --stats also measures the error).
    stats=$("$packspaces" play "$clip" --size "$size" --no-wait --color truecolor --stats \
        2>&1 >/dev/null </dev/null | sed "s|$tmp/||")

    {
        echo "## $size cells (picture ${pcols}x${prows} = $cells cells)"
        echo
        echo "| tool | command | median s | CPU s | frames | fps | bytes/frame | bytes/cell | packspaces fps ÷ tool fps |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    } >>"$report"
    ps_fps=""
    for i in "${!cmds[@]}"; do
        name=${names[$i]}
        file=$(sed -E 's/.*> ([^ ]+)$/\1/' <<<"${cmds[$i]}")
        bytes=$(wc -c <"$file")
        frames=$(frames_in "$(cut -d' ' -f1 <<<"$name")" "$file")
        read -r median cpu < <(jq -r --argjson i "$i" \
            '.results[$i] | "\(.median) \(.user + .system)"' "$json")
        fps=$(awk -v f="$frames" -v t="$median" 'BEGIN { printf "%.1f", f / t }')
        [[ $name == packspaces ]] && ps_fps=$fps
        ratio=$(awk -v a="$ps_fps" -v b="$fps" 'BEGIN { if (a == "" || b == 0) print "-"; else printf "%.2f", a / b }')
        awk -v n="$name" -v c="$(show "${cmds[$i]}")" -v t="$median" -v u="$cpu" -v f="$frames" \
            -v fps="$fps" -v b="$bytes" -v cells="$cells" -v r="$ratio" 'BEGIN {
            bf = f ? b / f : 0
            printf "| %s | `%s` | %.3f | %.3f | %d | %s | %.0f | %.2f | %s |\n", n, c, t, u, f, fps, bf, bf / cells, r }' >>"$report"
        if [[ $name == mpv ]] && LC_ALL=C grep -aqE $'\e\\[0;[0-9]+f\e\\[' "$file"; then
            mpv_row0=1
        fi
        if [[ $frames -ne $FRAMES ]]; then
            notes+=("$size: $name wrote $frames frames, not $FRAMES.")
        fi
    done
    {
        echo
        echo "packspaces \`--stats\` (\`target/release/packspaces play clip.y4m --size $size --no-wait --color truecolor --stats\`):"
        echo
        echo '```'
        echo "$stats"
        echo '```'
        echo
    } >>"$report"
done

{
    echo "## Notes"
    echo
    echo "- Frames are counted in each output: packspaces' synchronized-output begin (\`ESC[?2026h\`), mpv tct's end of frame (\`ESC[0m\` then a newline; it also writes \`ESC[0m\` after every row), timg's cursor-up between frames (+1)."
    echo "- mpv: \`--untimed\` draws every frame as fast as possible; tct's default algorithm is half-blocks and its default colours are 24-bit; it redraws every cell of every frame."
    echo "- timg has no option to ignore the frame rate; the paced row shows real-time playback (wall ≈ frames / 30). The unpaced row plays the same frames with only the y4m header rate changed. \`-ph\` selects half blocks (timg defaults to quarter blocks without a terminal); \`-V\` skips image probing. It works without a tty."
    if [[ -n ${mpv_row0:-} ]]; then
        echo "- mpv's tct moves to each row with \`ESC[row;colf\` counting rows from 0, but the sequence counts from 1 (0 means 1), so its first two rows land on the same terminal line: the top row of every frame is drawn and then overwritten, and the picture is one row short."
    fi
    for n in "${notes[@]}"; do
        echo "- $n"
    done
} >>"$report"

if [[ -n $out_md ]]; then
    cp -- "$report" "$out_md"
    log "wrote $out_md"
else
    cat -- "$report"
fi
