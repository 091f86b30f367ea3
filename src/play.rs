//! `packspaces play`: decode a video file and draw it in the terminal, in real time (a
//! recording, `.cast`, is played by [`crate::cast::play`] instead).
//!
//! One loop decodes and hands frames to the screen output (`crate::output`, the same path
//! as `join`). When the terminal cannot keep up, frames that are already late, or that
//! come while the last one is still being written, are decoded (the codec needs them) but
//! not drawn: the newest frame wins and nothing queues up. With `--no-wait` every frame is
//! drawn as fast as possible.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cli::PlayArgs;
use crate::media::{FrameSource, Next, open_video};
use crate::output::{Drawn, MaxRate, OutputConfig, ScreenOutput, SharedBytes};
use crate::render::{ColorMode, reserve_video};
use crate::terminal::input::is_quit_key;
use crate::terminal::{Input, TerminalGuard, input, stdout_file};

/// Frame rate when neither the file nor `--fps` gives one.
const DEFAULT_FPS: f64 = 30.0;
/// Area used when the output is not a terminal and no `--size` was given.
const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// Counters reported by `--stats`.
#[derive(Debug, Default, Clone)]
pub struct PlayStats {
    pub decoded: u64,
    pub shown: u64,
    pub dropped: u64,
    pub corrupt: u64,
    pub bytes: u64,
    /// Sum over frames that drew video of the cells in the picture.
    pub cells: u64,
    /// Microseconds to scale and encode each shown frame.
    pub render_us: Vec<u32>,
    /// Sum over drawn frames of the mean error per channel (0-255) left on screen, and
    /// how many frames that is.
    pub error_sum: f64,
    pub error_frames: u64,
}

impl PlayStats {
    fn percentile(&self, p: f64) -> u32 {
        let mut v = self.render_us.clone();
        v.sort_unstable();
        v.get(((v.len().saturating_sub(1)) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0)
    }
}

impl fmt::Display for PlayStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_cell = if self.cells == 0 {
            0.0
        } else {
            self.bytes as f64 / self.cells as f64
        };
        let per_frame = if self.shown == 0 {
            0.0
        } else {
            self.bytes as f64 / self.shown as f64
        };
        let error = if self.error_frames == 0 {
            0.0
        } else {
            self.error_sum / self.error_frames as f64
        };
        writeln!(
            f,
            "frames: {} decoded, {} shown, {} dropped, {} corrupt",
            self.decoded, self.shown, self.dropped, self.corrupt
        )?;
        writeln!(
            f,
            "render: median {} µs, p95 {} µs per frame",
            self.percentile(0.5),
            self.percentile(0.95)
        )?;
        write!(
            f,
            "output: {} bytes, {per_frame:.0} bytes/frame, {per_cell:.2} bytes/cell, mean error {error:.2}/255 per channel",
            self.bytes
        )
    }
}

/// What the user asked for, resolved.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    pub size: Option<(u16, u16)>,
    pub color: ColorMode,
    pub looping: bool,
    pub fps: Option<f64>,
    pub no_wait: bool,
    pub threshold: u32,
    /// Bytes per cell per frame (0 = unlimited).
    pub budget: f32,
    pub measure_error: bool,
    /// Most bytes per second (`--max-rate`).
    pub max_rate: MaxRate,
}

/// Runs `packspaces play`.
pub fn run(args: &PlayArgs) -> anyhow::Result<()> {
    let name = args.file.display().to_string();
    if crate::cast::is_recording(&args.file) {
        return play_recording(args);
    }
    if args.speed.is_some() {
        anyhow::bail!(
            "cannot play {name} with --speed: that is for recordings (.cast); a video's pace is --fps"
        );
    }
    let mut source = open_video(&args.file).with_context(|| format!("cannot play {name}"))?;
    let interactive = io::stdout().is_terminal();
    // Following a link needs a terminal that answers; into a file or pipe there is none.
    let max_rate = match args.screen.max_rate() {
        MaxRate::Follow if !interactive => MaxRate::Unlimited,
        rate => rate,
    };
    let options = PlayOptions {
        size: args.size,
        color: args.color.resolve(),
        looping: args.looping,
        fps: args.fps,
        no_wait: args.no_wait,
        threshold: args.threshold,
        budget: args.budget,
        measure_error: args.stats,
        max_rate,
    };
    tracing::info!("playing {name}: {}", source.describe());
    let sink = Box::new(stdout_file().context("cannot write to standard output")?);
    let mut stats = PlayStats::default();
    let result = if interactive {
        let guard = TerminalGuard::enter().context("cannot set up the terminal")?;
        let r = play(source.as_mut(), &options, sink, true, &mut stats);
        drop(guard);
        r
    } else {
        play(source.as_mut(), &options, sink, false, &mut stats)
    };
    if args.stats {
        eprintln!("{name}: {}\n{stats}", source.describe());
    }
    result.with_context(|| format!("cannot play {name}"))
}

/// Plays a recording, refusing the options that only mean something for video.
fn play_recording(args: &PlayArgs) -> anyhow::Result<()> {
    let video_only: Vec<&str> = [
        ("--size", args.size.is_some()),
        ("--fps", args.fps.is_some()),
        ("--no-wait", args.no_wait),
        ("--stats", args.stats),
        ("--max-rate", args.screen.max_rate.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect();
    if !video_only.is_empty() {
        anyhow::bail!(
            "cannot play {} with {}: a recording plays as it was recorded (--speed and --loop apply)",
            args.file.display(),
            video_only.join(", ")
        );
    }
    let options = crate::cast::play::CastOptions {
        speed: args.speed.unwrap_or(1.0),
        looping: args.looping,
    };
    crate::cast::play::run(&args.file, &options)
}

/// The key of the one picture `play` shows.
const VIDEO: &str = "video";
/// How long to wait for the last frames to be written at the end.
const DRAIN: Duration = Duration::from_secs(30);

/// Plays a source into `sink` through the screen output. With `interactive`, keys are read
/// (q quits), the terminal size is followed, and the terminal's status answers reach the
/// output (for `--max-rate auto`).
pub fn play(
    source: &mut dyn FrameSource,
    options: &PlayOptions,
    sink: Box<dyn Write + Send>,
    interactive: bool,
    stats: &mut PlayStats,
) -> anyhow::Result<()> {
    let fps = options
        .fps
        .or_else(|| source.frame_rate().filter(|r| r.is_finite() && *r >= 0.1))
        .unwrap_or(DEFAULT_FPS);
    let interval = Duration::from_secs_f64(1.0 / fps);
    let area = match options.size {
        Some(size) => size,
        None if interactive => crossterm::terminal::size().unwrap_or(DEFAULT_SIZE),
        None => DEFAULT_SIZE,
    };
    let mut config = OutputConfig::new(options.color, options.max_rate);
    config.threshold = options.threshold;
    config.bytes_per_cell = options.budget;
    config.measure_error = options.measure_error;
    let mut output = ScreenOutput::new(sink, area.0, area.1, config)?;
    let mut keys = if interactive {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        input::spawn_reader(tx)?;
        Some(rx)
    } else {
        None
    };
    let follow_size = interactive && options.size.is_none();
    let result = play_loop(
        source,
        options,
        &mut output,
        &mut keys,
        follow_size,
        interval,
        stats,
    );
    output.finish(DRAIN);
    let totals = output.stats();
    stats.bytes = totals.bytes;
    stats.cells = totals.video_cells;
    stats.error_sum = totals.error_sum;
    stats.error_frames = totals.error_frames;
    result
}

fn play_loop(
    source: &mut dyn FrameSource,
    options: &PlayOptions,
    output: &mut ScreenOutput,
    keys: &mut Option<tokio::sync::mpsc::Receiver<Input>>,
    follow_size: bool,
    interval: Duration,
    stats: &mut PlayStats,
) -> anyhow::Result<()> {
    let mut due = Instant::now();
    let mut decoded_this_pass = 0u64;
    loop {
        if handle_input(keys, output, follow_size)? == Flow::Quit {
            return Ok(());
        }
        let frame = match source.next()? {
            Some(Next::Frame(frame)) => frame,
            Some(Next::Corrupt(e)) => {
                stats.corrupt += 1;
                tracing::warn!("skipped a frame: {e}");
                continue;
            }
            None if options.looping && decoded_this_pass > 0 => {
                source.rewind()?;
                decoded_this_pass = 0;
                continue;
            }
            None => return Ok(()),
        };
        stats.decoded += 1;
        decoded_this_pass += 1;
        if options.no_wait {
            // Every frame is shown: wait for the last one to be written.
            output.finish(DRAIN);
        } else {
            if Instant::now() > due + interval {
                // Already late for the next frame too: drop this one, keep the newest.
                stats.dropped += 1;
                due += interval;
                continue;
            }
            while let Some(left) = due.checked_duration_since(Instant::now()) {
                if handle_input(keys, output, follow_size)? == Flow::Quit {
                    return Ok(());
                }
                std::thread::sleep(left.min(INPUT_POLL));
            }
            due += interval;
        }
        let frame = Arc::new(frame);
        let started = Instant::now();
        let drawn = match output.draw(started, |f| {
            let area = f.area();
            reserve_video(f.buffer_mut(), VIDEO, area, &frame)
                .into_iter()
                .collect()
        }) {
            Ok(drawn) => drawn,
            // Whoever read our output is gone (`play … | head`): the end, not an error.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        stats
            .render_us
            .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        match drawn {
            // The terminal is still taking the last frame: this one is dropped.
            Drawn::Busy => stats.dropped += 1,
            Drawn::Nothing | Drawn::Wrote(_) => stats.shown += 1,
        }
    }
}

/// How often keys are looked at while waiting for a frame's time.
const INPUT_POLL: Duration = Duration::from_millis(5);

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Quit,
}

/// Takes in the keys and terminal answers that arrived, and follows the terminal's size.
fn handle_input(
    keys: &mut Option<tokio::sync::mpsc::Receiver<Input>>,
    output: &mut ScreenOutput,
    follow_size: bool,
) -> io::Result<Flow> {
    let Some(keys) = keys else {
        return Ok(Flow::Go);
    };
    while let Ok(input) = keys.try_recv() {
        match input {
            Input::Closed => return Ok(Flow::Quit),
            Input::StatusReport => output.status_answered(Instant::now()),
            Input::Key(key) if is_quit_key(key) => return Ok(Flow::Quit),
            Input::Key(_) => {}
        }
    }
    if follow_size && let Ok((cols, rows)) = crossterm::terminal::size() {
        output.resize(cols, rows)?;
    }
    Ok(Flow::Go)
}

/// Plays a file without a terminal into `out` (for tests and tools).
pub fn play_file_to(
    path: &Path,
    options: &PlayOptions,
    out: &mut impl Write,
) -> anyhow::Result<PlayStats> {
    let mut source = open_video(path).with_context(|| format!("cannot play {}", path.display()))?;
    let mut stats = PlayStats::default();
    let sink = SharedBytes::default();
    play(
        source.as_mut(),
        options,
        Box::new(sink.clone()),
        false,
        &mut stats,
    )?;
    out.write_all(&sink.take())?;
    Ok(stats)
}
