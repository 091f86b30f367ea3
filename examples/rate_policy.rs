//! Frame rate or error: under a byte rate cap, is the displayed error lower when every
//! frame gets a thin update (the largest changes first), or when frames are skipped so
//! that the newest picture gets a fuller one? Plays a clip through the real screen output
//! (`ScreenOutput`, `--max-rate`), in simulated time at the clip's frame rate, into a
//! terminal emulator, and reads the error off the emulated screen against the exact
//! area-averaged picture of the frame due at that moment.
//!
//! Usage: `cargo run --release --example rate_policy -- CLIP.y4m [COLSxROWS]`
//! (make a clip with `cargo run --release --example make_clip -- /tmp/camera.y4m --motion camera`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use packspaces::media::{Next, open_video};
use packspaces::output::{MaxRate, OutputConfig, ScreenOutput, SharedBytes};
use packspaces::render::{ColorMode, I420Frame, Rgb, cells_from_i420, reserve_video};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Frames before this are not counted (the first picture fills in).
const WARM_UP: usize = 30;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: rate_policy CLIP.y4m [COLSxROWS]")?;
    let (cols, rows) = match args.next() {
        Some(size) => packspaces::cli::parse_size(&size)?,
        None => (160, 48),
    };
    let frames = load(&path)?;
    println!(
        "{path}: {} frames, {cols}x{rows} cells, 30 fps, played twice",
        frames.len()
    );
    println!("| rate | min fill | video updates/s | kbit/s written | mean error /255 |");
    println!("|---:|---:|---:|---:|---:|");
    for rate in [2_000_000u64, 10_000_000] {
        for min_fill in [0.0f32, 0.1, 0.2, 0.25, 0.33, 0.5, 1.0] {
            let r = run(&frames, cols, rows, rate, min_fill)?;
            println!(
                "| {} Mbit/s | {min_fill} | {:.1} | {:.0} | {:.2} |",
                rate / 1_000_000,
                r.updates_per_s,
                r.kbit_per_s,
                r.error
            );
        }
    }
    Ok(())
}

fn load(path: &str) -> Result<Vec<Arc<I420Frame>>> {
    let mut source = open_video(std::path::Path::new(path))?;
    let mut frames = Vec::new();
    while let Some(next) = source.next()? {
        if let Next::Frame(f) = next {
            frames.push(Arc::new(f));
        }
    }
    Ok(frames)
}

struct Outcome {
    updates_per_s: f64,
    kbit_per_s: f64,
    error: f64,
}

fn run(
    frames: &[Arc<I420Frame>],
    cols: u16,
    rows: u16,
    rate: u64,
    min_fill: f32,
) -> Result<Outcome> {
    let sink = SharedBytes::default();
    let mut config = OutputConfig::new(ColorMode::TrueColor, MaxRate::Fixed(rate));
    config.min_fill = min_fill;
    let mut output = ScreenOutput::new(Box::new(sink.clone()), cols, rows, config)?;
    let mut term = vt100::Parser::new(rows, cols, 0);
    let t0 = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / 30.0);
    let (mut error_sum, mut counted, mut bytes) = (0.0, 0usize, 0usize);
    let total = frames.len() * 2;
    for i in 0..total {
        let now = t0 + interval * i as u32;
        let frame = &frames[i % frames.len()];
        output.draw(now, |f| {
            let area = f.area();
            reserve_video(f.buffer_mut(), "video", area, frame)
                .into_iter()
                .collect()
        })?;
        output.finish(Duration::from_secs(10));
        let written = sink.take();
        term.process(&written);
        if i >= WARM_UP {
            bytes += written.len();
            error_sum += screen_error(term.screen(), frame, cols, rows);
            counted += 1;
        }
    }
    let seconds = counted as f64 / 30.0;
    Ok(Outcome {
        updates_per_s: output.stats().video_frames as f64 / (total as f64 / 30.0),
        kbit_per_s: bytes as f64 * 8.0 / seconds / 1000.0,
        error: error_sum / counted.max(1) as f64,
    })
}

/// Mean absolute error per channel (0-255) of the picture on the emulated screen against
/// the exact area-averaged picture of `frame`.
fn screen_error(screen: &vt100::Screen, frame: &I420Frame, cols: u16, rows: u16) -> f64 {
    let (grid, fit) = cells_from_i420(frame, cols, rows);
    let (mut sum, mut n) = (0u64, 0u64);
    for row in 0..grid.rows() {
        for col in 0..grid.cols() {
            let Some(want) = grid.get(col, row) else {
                continue;
            };
            let shown = screen
                .cell(fit.row + row, fit.col + col)
                .and_then(shown_colours)
                .unwrap_or((Rgb::BLACK, Rgb::BLACK));
            for (got, want) in [(shown.0, want.upper), (shown.1, want.lower)] {
                sum += u64::from(got.r.abs_diff(want.r))
                    + u64::from(got.g.abs_diff(want.g))
                    + u64::from(got.b.abs_diff(want.b));
                n += 3;
            }
        }
    }
    sum as f64 / n.max(1) as f64
}

/// The (upper, lower) colours a truecolor cell shows.
fn shown_colours(cell: &vt100::Cell) -> Option<(Rgb, Rgb)> {
    let rgb = |c: vt100::Color| match c {
        vt100::Color::Rgb(r, g, b) => Rgb::new(r, g, b),
        _ => Rgb::BLACK,
    };
    let (fg, bg) = (rgb(cell.fgcolor()), rgb(cell.bgcolor()));
    match cell.contents() {
        "▀" => Some((fg, bg)),
        "▄" => Some((bg, fg)),
        "█" => Some((fg, fg)),
        _ => Some((bg, bg)),
    }
}
