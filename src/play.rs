//! `packspaces play`: decode a video file and draw it in the terminal, in real time.
//!
//! One loop decodes, renders and writes. When the terminal cannot keep up, frames that are
//! already late are decoded (the codec needs them) but not drawn: the newest frame wins and
//! nothing queues up. With `--no-wait` every frame is drawn as fast as possible.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use crate::cli::PlayArgs;
use crate::media::{FrameSource, Next, open_video};
use crate::render::{AnsiPainter, ColorMode, cells_from_i420};
use crate::terminal::TerminalGuard;

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
    /// Sum over shown frames of the cells in the picture.
    pub cells: u64,
    /// Microseconds to scale and encode each shown frame.
    pub render_us: Vec<u32>,
    /// Sum over shown frames of the mean error per channel (0-255) left on screen.
    pub error_sum: f64,
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
        let error = if self.shown == 0 {
            0.0
        } else {
            self.error_sum / self.shown as f64
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
}

/// Runs `packspaces play`.
pub fn run(args: &PlayArgs) -> anyhow::Result<()> {
    let name = args.file.display().to_string();
    let mut source = open_video(&args.file).with_context(|| format!("cannot play {name}"))?;
    let options = PlayOptions {
        size: args.size,
        color: args.color.resolve(),
        looping: args.looping,
        fps: args.fps,
        no_wait: args.no_wait,
        threshold: args.threshold,
        budget: args.budget,
        measure_error: args.stats,
    };
    tracing::info!("playing {name}: {}", source.describe());
    let stdout = io::stdout();
    let interactive = stdout.is_terminal();
    let mut stats = PlayStats::default();
    let result = if interactive {
        let guard = TerminalGuard::enter().context("cannot set up the terminal")?;
        let r = play(
            source.as_mut(),
            &options,
            &mut stdout.lock(),
            true,
            &mut stats,
        );
        drop(guard);
        r
    } else {
        play(
            source.as_mut(),
            &options,
            &mut stdout.lock(),
            false,
            &mut stats,
        )
    };
    if args.stats {
        eprintln!("{name}: {}\n{stats}", source.describe());
    }
    result.with_context(|| format!("cannot play {name}"))
}

/// Plays a source into `out`. With `interactive`, keys are read (q quits) and the
/// terminal size is followed.
pub fn play(
    source: &mut dyn FrameSource,
    options: &PlayOptions,
    out: &mut impl Write,
    interactive: bool,
    stats: &mut PlayStats,
) -> anyhow::Result<()> {
    let fps = options
        .fps
        .or_else(|| source.frame_rate().filter(|r| r.is_finite() && *r >= 0.1))
        .unwrap_or(DEFAULT_FPS);
    let interval = Duration::from_secs_f64(1.0 / fps);
    let mut area = match options.size {
        Some(size) => size,
        None if interactive => crossterm::terminal::size().unwrap_or(DEFAULT_SIZE),
        None => DEFAULT_SIZE,
    };
    let mut painter = AnsiPainter::new(options.color)
        .with_threshold(options.threshold)
        .with_budget(options.budget);
    let mut buf = Vec::with_capacity(64 << 10);
    let mut due = Instant::now();
    let mut decoded_this_pass = 0u64;
    loop {
        if interactive {
            match handle_input(Duration::ZERO, options.size.is_none())? {
                Input::Quit => return Ok(()),
                Input::Resized(size) => {
                    area = size;
                    out.write_all(b"\x1b[2J")?;
                    painter.invalidate();
                }
                Input::None => {}
            }
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
        if !options.no_wait {
            if Instant::now() > due + interval {
                // Already late for the next frame too: drop this one, keep the newest.
                stats.dropped += 1;
                due += interval;
                continue;
            }
            if interactive {
                while let Some(left) = due.checked_duration_since(Instant::now()) {
                    match handle_input(left, options.size.is_none())? {
                        Input::Quit => return Ok(()),
                        Input::Resized(size) => {
                            area = size;
                            out.write_all(b"\x1b[2J")?;
                            painter.invalidate();
                        }
                        Input::None => {}
                    }
                }
            } else if let Some(left) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(left);
            }
            due += interval;
        }
        let started = Instant::now();
        let (grid, fit) = cells_from_i420(&frame, area.0, area.1);
        painter.place(fit.col, fit.row, grid.cols(), grid.rows());
        painter.paint(&grid, &mut buf);
        stats
            .render_us
            .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        if options.measure_error {
            stats.error_sum += painter.mean_error(&grid);
        }
        out.write_all(&buf)?;
        out.flush()?;
        stats.bytes += buf.len() as u64;
        stats.cells += u64::from(grid.cols()) * u64::from(grid.rows());
        stats.shown += 1;
        buf.clear();
    }
}

enum Input {
    None,
    Quit,
    Resized((u16, u16)),
}

/// Waits up to `timeout` for a key or resize.
fn handle_input(timeout: Duration, follow_size: bool) -> io::Result<Input> {
    if !event::poll(timeout)? {
        return Ok(Input::None);
    }
    Ok(match event::read()? {
        Event::Key(key) if key.kind != KeyEventKind::Release => match key.code {
            KeyCode::Char('q') | KeyCode::Esc => Input::Quit,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Input::Quit,
            _ => Input::None,
        },
        Event::Resize(cols, rows) if follow_size => Input::Resized((cols, rows)),
        _ => Input::None,
    })
}

/// Plays a file without a terminal into `out` (for tests and tools).
pub fn play_file_to(
    path: &Path,
    options: &PlayOptions,
    out: &mut impl Write,
) -> anyhow::Result<PlayStats> {
    let mut source = open_video(path).with_context(|| format!("cannot play {}", path.display()))?;
    let mut stats = PlayStats::default();
    play(source.as_mut(), options, out, false, &mut stats)?;
    Ok(stats)
}
