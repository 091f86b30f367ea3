//! Measures our two VP8 senders on the 320x240 test card at 15 fps: bytes per second and
//! encode time per frame, intra-only (libwebp key frames) against libvpx, median of runs.
//!
//! `cargo run --release --features libvpx --example vp8_senders -- [runs] [seconds]`

use std::time::{Duration, Instant};

use packspaces::media::testcard::{PALETTES, TestCard};
use packspaces::media::vp8enc::Vp8IntraEncoder;
use packspaces::media::vp8send::INTRA_QUALITY;
use packspaces::media::vpx::VpxEncoder;
use packspaces::render::I420Frame;

const FPS: u32 = 15;
/// What a session gives its senders (`session.rs`).
const BITS_PER_SECOND: u32 = 400_000;

/// One run: (bytes per second, mean milliseconds per frame, key frames).
type Run = (f64, f64, usize);

fn measure(
    frames: &[I420Frame],
    mut encode: impl FnMut(&I420Frame) -> Result<(usize, bool), String>,
) -> Result<Run, String> {
    let (mut bytes, mut keys, mut busy) = (0, 0, Duration::ZERO);
    for frame in frames {
        let t = Instant::now();
        let (len, key) = encode(frame)?;
        busy += t.elapsed();
        bytes += len;
        keys += usize::from(key);
    }
    let seconds = frames.len() as f64 / f64::from(FPS);
    let ms = busy.as_secs_f64() * 1000.0 / frames.len() as f64;
    Ok((bytes as f64 / seconds, ms, keys))
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
    println!("| sender | bytes/s | kbit/s | encode ms/frame | key frames |");
    println!("|---|---:|---:|---:|---:|");
    let mut intra_runs = Vec::new();
    let mut vpx_runs = Vec::new();
    for _ in 0..runs {
        let mut intra = Vp8IntraEncoder::new(INTRA_QUALITY);
        intra_runs.push(measure(&frames, |f| {
            intra
                .encode(f)
                .map(|d| (d.len(), true))
                .map_err(|e| e.to_string())
        })?);
        let interval = FPS * 4;
        let mut vpx =
            VpxEncoder::new(320, 240, FPS, BITS_PER_SECOND, interval).map_err(|e| e.to_string())?;
        vpx_runs.push(measure(&frames, |f| {
            vpx.encode(f, false)
                .map(|o| (o.data.len(), o.key))
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
        let bps = median(results.iter().map(|r| r.0).collect());
        let ms = median(results.iter().map(|r| r.1).collect());
        let keys = results.first().map_or(0, |r| r.2);
        println!(
            "| {name} | {bps:.0} | {:.0} | {ms:.2} | {keys} |",
            bps * 8.0 / 1000.0
        );
    }
    Ok(())
}
