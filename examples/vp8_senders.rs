//! Measures our two VP8 senders on the 320x240 test card at 15 fps: bytes per second and
//! encode time per frame, intra-only (libwebp key frames) against libvpx, median of runs;
//! and what a receiver sees, as the mean luma error of our decoder's pictures (first run).
//!
//! `cargo run --release --features libvpx --example vp8_senders -- [runs] [seconds]`

use std::time::{Duration, Instant};

use packspaces::media::testcard::{PALETTES, TestCard};
use packspaces::media::vp8::Vp8Decoder;
use packspaces::media::vp8enc::Vp8IntraEncoder;
use packspaces::media::vp8send::INTRA_QUALITY;
use packspaces::media::vpx::VpxEncoder;
use packspaces::render::I420Frame;

const FPS: u32 = 15;
/// What a session gives its senders (`session.rs`).
const BITS_PER_SECOND: u32 = 400_000;

/// One run: bytes per second, mean milliseconds per frame, key frames, and the mean luma
/// error of the decoded pictures (0-255) when the run decoded them.
struct Run {
    bytes_per_second: f64,
    ms_per_frame: f64,
    keys: usize,
    error: Option<f64>,
}

/// Encodes every frame with `encode` (timed), decoding each result if `check` (not timed).
fn measure(
    frames: &[I420Frame],
    check: bool,
    mut encode: impl FnMut(&I420Frame) -> Result<(Vec<u8>, bool), String>,
) -> Result<Run, String> {
    let (mut bytes, mut keys, mut busy, mut error) = (0, 0, Duration::ZERO, 0.0);
    let mut decoder = Vp8Decoder::new().map_err(|e| e.to_string())?;
    for frame in frames {
        let t = Instant::now();
        let (data, key) = encode(frame)?;
        busy += t.elapsed();
        bytes += data.len();
        keys += usize::from(key);
        if check {
            let seen = decoder.decode(&data).map_err(|e| e.to_string())?;
            let seen = seen.ok_or("a frame that is not shown")?;
            let sum: u64 = (seen.y().iter().zip(frame.y()))
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            error += sum as f64 / frame.y().len() as f64;
        }
    }
    let n = frames.len() as f64;
    Ok(Run {
        bytes_per_second: bytes as f64 / (n / f64::from(FPS)),
        ms_per_frame: busy.as_secs_f64() * 1000.0 / n,
        keys,
        error: check.then_some(error / n),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .map_or(Ok(5), |a| a.parse())
        .map_err(|e| format!("runs: {e}"))?;
    let seconds: u32 = args
        .next()
        .map_or(Ok(10), |a| a.parse())
        .map_err(|e| format!("seconds: {e}"))?;
    let card = TestCard::new(320, 240, "packspaces", PALETTES[2]);
    let frames = (0..seconds * FPS)
        .map(|i| card.frame(Duration::from_secs(i.into()) / FPS))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    println!(
        "320x240 test card, {FPS} fps, {} frames, median of {runs} runs",
        frames.len()
    );
    println!("| sender | bytes/s | kbit/s | encode ms/frame | key frames | mean luma error |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut intra_runs = Vec::new();
    let mut vpx_runs = Vec::new();
    for run in 0..runs {
        let mut intra = Vp8IntraEncoder::new(INTRA_QUALITY);
        intra_runs.push(measure(&frames, run == 0, |f| {
            intra
                .encode(f)
                .map(|d| (d, true))
                .map_err(|e| e.to_string())
        })?);
        // The sender's key frame interval (`vp8send`): 4 s.
        let mut vpx =
            VpxEncoder::new(320, 240, FPS, BITS_PER_SECOND, FPS * 4).map_err(|e| e.to_string())?;
        vpx_runs.push(measure(&frames, run == 0, |f| {
            vpx.encode(f, false)
                .map(|o| (o.data, o.key))
                .map_err(|e| e.to_string())
        })?);
    }
    for (name, results) in [
        (
            format!("intra-only WebP, quality {INTRA_QUALITY}"),
            intra_runs,
        ),
        (
            format!("libvpx, {} kbit/s target", BITS_PER_SECOND / 1000),
            vpx_runs,
        ),
    ] {
        let bps = median(results.iter().map(|r| r.bytes_per_second).collect());
        let ms = median(results.iter().map(|r| r.ms_per_frame).collect());
        let keys = results.first().map_or(0, |r| r.keys);
        let error = results.first().and_then(|r| r.error).unwrap_or(f64::NAN);
        println!(
            "| {name} | {bps:.0} | {:.0} | {ms:.2} | {keys} | {error:.2} |",
            bps * 8.0 / 1000.0
        );
    }
    Ok(())
}
