//! Issue 10's figures, measured side by side on one machine: what a screen costs in bytes
//! per picture cell against the colour error read back off an emulated terminal (in
//! process), and what a person at the far end of a slow SSH link sees (how late a change in
//! the picture arrives, how fast a key is answered, how many pictures a second), for
//! packspaces now, the `join` of commit 3e58a19 (ratatui's buffer diff, before the one
//! output path) and `mpv --vo=tct`.
//!
//! Subcommands (bench/ssh_link.sh runs them all and builds what they need):
//!
//! - `screen CLIP...`: heavy motion at 160x48 truecolor, in process. Every source frame is
//!   drawn once and the bytes are fed to a vt100 screen, whose cells are compared with the
//!   exact area-averaged picture. Rows: `play` and the `join` screen through
//!   `ScreenOutput`, the `join` screen through ratatui's diff (the old path), and mpv's tct
//!   output split into frames.
//! - `link WHO RATE SECONDS [--keys] [--clip PATH] [--new-bin PATH] [--old-bin PATH]
//!   [--out FILE]`: `WHO` (`new`: target/release/packspaces, `old`: commit 3e58a19's build,
//!   `mpv`) runs in an emulated 160x48 terminal over a real sshd behind a shaped
//!   link (RATE bits/s each way, 40 ms each way), watching a clip made with
//!   `make_clip --marker` (sent by an in-process bot for `join`, played from the file by
//!   mpv). It reads the marker's colour and the frame index's Gray code off the screen after
//!   every chunk the terminal reads, and appends one JSON line of results to FILE.
//! - `chromium CLIP SECONDS [--bin PATH]`: the T1 figures of `join` with a real peer: a
//!   Chromium page whose fake camera is CLIP (made with `make_clip --marker`) and
//!   `packspaces join --stats` (PATH, default target/release/packspaces) in an emulated
//!   160x48 terminal, both in a space of an in-process server on 127.0.0.1. Every 33 ms the
//!   frame index is read off the screen and the picture's cells are compared with that
//!   source frame's exact area-averaged picture (so the error includes what the browser's
//!   encoder lost); bytes per cell come from `join`'s own `--stats`.
//! - `table FILE`: the JSON lines as Markdown tables (medians over runs).
//!
//! With `SSH_LINK_DEBUG` set, `link` also prints every frame change and marker switch it saw.

// A benchmark fails loudly: a broken rig must not print figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use serde_json::{Value, json};

use common::link::{Shape, ShapedLink};
use common::ssh::{SshServer, shell_words};
use common::visible;
use common::vterm::VirtualTerminal;
use packspaces::media::clip::Clip;
use packspaces::model::TileState;
use packspaces::output::{MaxRate, OutputConfig, ScreenOutput, SharedBytes};
use packspaces::render::color::palette_rgb;
use packspaces::render::{CellGrid, ColorMode, I420Frame, Rgb, cells_from_i420, reserve_video};
use packspaces::ui::{State, view};

const COLS: u16 = 160;
const ROWS: u16 = 48;
const USAGE: &str = "usage: ssh_link screen CLIP... | link new|old|mpv RATE SECONDS [--keys] \
                     [--clip PATH] [--new-bin PATH] [--old-bin PATH] [--out FILE] | table FILE | \
                     chromium CLIP SECONDS [--bin PATH]";

fn main() {
    // `cargo bench` passes `--bench`; nothing else here is an option of the harness.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("screen") if args.len() > 1 => screen_figures(&args[1..]),
        Some("link") if args.len() >= 4 => link_run(&args[1..]),
        Some("table") if args.len() == 2 => print_tables(Path::new(&args[1])),
        Some("chromium") if args.len() >= 3 => chromium_run(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------------
// T1: bytes per cell against the error on the emulated screen, in process.

/// Every frame of a clip.
fn read_frames(path: &Path) -> Vec<Arc<I420Frame>> {
    let mut source = packspaces::media::open_video(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut frames = Vec::new();
    while let Some(next) = source.next().unwrap() {
        if let packspaces::media::Next::Frame(f) = next {
            frames.push(Arc::new(f));
        }
    }
    assert!(!frames.is_empty(), "{}: no frames", path.display());
    frames
}

/// A colour as the emulated terminal shows it (xterm's palette for indexed colours).
fn shown_rgb(c: vt100::Color) -> Option<Rgb> {
    match c {
        vt100::Color::Rgb(r, g, b) => Some(Rgb::new(r, g, b)),
        vt100::Color::Idx(i) => Some(palette_rgb(i)),
        vt100::Color::Default => None,
    }
}

/// What one screen cell shows as (upper, lower) pixels; None for text or default colours.
fn cell_pixels(screen: &vt100::Screen, row: u16, col: u16) -> Option<(Rgb, Rgb)> {
    let (upper, lower) = visible(screen.cell(row, col)?)?;
    Some((shown_rgb(upper)?, shown_rgb(lower)?))
}

/// Sum of absolute differences per channel between `exact`'s cells and the screen cells at
/// (`row0 + r`, `col0 + c`) for the grid rows `from_row..`, and how many channel values
/// that is. A cell that shows no picture (text, default colours) counts as black.
fn screen_error(
    screen: &vt100::Screen,
    exact: &CellGrid,
    col0: u16,
    row0: i32,
    from_row: u16,
) -> (f64, u64) {
    let (mut sum, mut n) = (0u64, 0u64);
    let diff = |a: Rgb, b: Rgb| {
        u64::from(a.r.abs_diff(b.r)) + u64::from(a.g.abs_diff(b.g)) + u64::from(a.b.abs_diff(b.b))
    };
    for r in from_row..exact.rows() {
        let Ok(row) = u16::try_from(row0 + i32::from(r)) else {
            continue;
        };
        for c in 0..exact.cols() {
            let want = exact.get(c, r).unwrap();
            let (up, low) = cell_pixels(screen, row, col0 + c).unwrap_or((Rgb::BLACK, Rgb::BLACK));
            sum += diff(up, want.upper) + diff(low, want.lower);
            n += 6;
        }
    }
    (sum as f64, n)
}

/// One row of the T1 table.
struct ScreenRow {
    path: &'static str,
    bytes: u64,
    frames: u64,
    cells: u64,
    error_sum: f64,
}

impl ScreenRow {
    /// Feeds a frame's bytes to the emulated screen and adds its error against `frame`'s
    /// exact picture at `area`.
    fn add_frame(&mut self, out: &[u8], parser: &mut vt100::Parser, frame: &I420Frame, area: Rect) {
        self.bytes += out.len() as u64;
        parser.process(out);
        let exact = cells_from_i420(frame, area.width, area.height).0;
        let (sum, n) = screen_error(parser.screen(), &exact, area.x, i32::from(area.y), 0);
        self.error_sum += sum / n as f64;
        self.cells = u64::from(area.width) * u64::from(area.height);
        self.frames += 1;
    }

    fn print(&self, clip: &str) {
        let per_frame = self.bytes as f64 / self.frames as f64;
        println!(
            "| {clip} | {} | {} | {per_frame:.0} | {:.2} | {:.2} |",
            self.path,
            self.cells,
            per_frame / self.cells as f64,
            self.error_sum / self.frames as f64
        );
    }
}

/// Milliseconds between source frames (30 fps): the output's clock, so that its pacing and
/// status figures see real-time playback although it runs flat out.
const FRAME: Duration = Duration::from_nanos(33_333_333);

/// `play`: one picture filling 160x48, one draw per source frame, as src/play.rs does.
fn play_row(frames: &[Arc<I420Frame>]) -> ScreenRow {
    let bytes = SharedBytes::default();
    let config = OutputConfig::new(ColorMode::TrueColor, MaxRate::Unlimited);
    let mut output = ScreenOutput::new(Box::new(bytes.clone()), COLS, ROWS, config).unwrap();
    let mut parser = vt100::Parser::new(ROWS, COLS, 0);
    let start = Instant::now();
    let mut row = ScreenRow {
        path: "`play` (ScreenOutput)",
        bytes: 0,
        frames: 0,
        cells: 0,
        error_sum: 0.0,
    };
    for (k, frame) in frames.iter().enumerate() {
        let mut area = Rect::default();
        output
            .draw(start + FRAME * k as u32, |f| {
                let whole = f.area();
                let slots: Vec<_> = reserve_video(f.buffer_mut(), "video", whole, frame)
                    .into_iter()
                    .collect();
                area = slots.first().map_or(area, |s| s.area);
                slots
            })
            .unwrap();
        assert!(
            output.finish(Duration::from_secs(10)),
            "the writer thread hung"
        );
        row.add_frame(&bytes.take(), &mut parser, frame, area);
    }
    row
}

/// The `join` screen of one participant (`Ada`) whose picture is the clip, as a remote
/// `join` with `--no-video` shows it: our own tile says "no video".
fn join_state() -> State {
    let mut state = State::new("127.0.0.1:3000 CSC342", ColorMode::TrueColor);
    state.room.our_name = Some("Remote".into());
    state.room.our_id = Some("0f1e2d3c-remote".into());
    state.room.space_link = packspaces::model::Link::Up;
    state.room.peer_link = packspaces::model::Link::Up;
    let p = state.room.upsert("5a6b7c8d-ada");
    p.set_name("Ada");
    p.state = TileState::Live;
    state
}

/// The picture's cells on the `join` screen (the same for both paths: one layout).
fn join_picture(state: &State) -> Rect {
    let mut terminal = Terminal::new(ratatui::backend::TestBackend::new(COLS, ROWS)).unwrap();
    let mut area = Rect::default();
    terminal
        .draw(|f| {
            let slots = view::render(f, state);
            area = slots
                .iter()
                .find(|s| s.key != view::OWN_TILE)
                .map(|s| s.area)
                .unwrap();
        })
        .unwrap();
    area
}

/// The `join` screen through the one output path, refreshing the status bar's figures
/// once a second as `join` does.
fn join_row(frames: &[Arc<I420Frame>]) -> ScreenRow {
    let bytes = SharedBytes::default();
    let config = OutputConfig::new(ColorMode::TrueColor, MaxRate::Unlimited);
    let mut output = ScreenOutput::new(Box::new(bytes.clone()), COLS, ROWS, config).unwrap();
    let mut parser = vt100::Parser::new(ROWS, COLS, 0);
    let mut state = join_state();
    let start = Instant::now();
    let mut row = ScreenRow {
        path: "`join` screen (ScreenOutput)",
        bytes: 0,
        frames: 0,
        cells: 0,
        error_sum: 0.0,
    };
    state.room.participants[0].frame = frames.first().cloned();
    let area = join_picture(&state);
    for (k, frame) in frames.iter().enumerate() {
        let now = start + FRAME * k as u32;
        state.room.participants[0].frame = Some(Arc::clone(frame));
        if k.is_multiple_of(30) {
            state.output = Some(output.status(now));
        }
        output.draw(now, |f| view::render(f, &state)).unwrap();
        assert!(
            output.finish(Duration::from_secs(10)),
            "the writer thread hung"
        );
        row.add_frame(&bytes.take(), &mut parser, frame, area);
    }
    row
}

/// The `join` screen as it was drawn before this work: ratatui's buffer diff over the
/// whole screen, pictures as half-block cells in ratatui's buffer.
fn old_join_row(frames: &[Arc<I420Frame>]) -> ScreenRow {
    let bytes = SharedBytes::default();
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(bytes.clone()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, COLS, ROWS)),
        },
    )
    .unwrap();
    let mut parser = vt100::Parser::new(ROWS, COLS, 0);
    let mut state = join_state();
    let mut row = ScreenRow {
        path: "`join` screen before (ratatui diff)",
        bytes: 0,
        frames: 0,
        cells: 0,
        error_sum: 0.0,
    };
    state.room.participants[0].frame = frames.first().cloned();
    let area = join_picture(&state);
    for frame in frames {
        state.room.participants[0].frame = Some(Arc::clone(frame));
        terminal
            .draw(|f| view::render_with_video(f, &state))
            .unwrap();
        row.add_frame(&bytes.take(), &mut parser, frame, area);
    }
    row
}

/// mpv's tct at 160x48, its output split after each frame's final `ESC[0m` and newline.
/// tct moves to each picture row with `ESC[row;16f` counting rows from 0 where the
/// sequence counts from 1, so picture row r lands on screen row r - 1 and row 0 is
/// overwritten: the error is taken over the 47 rows it shows, each against the picture row
/// it draws (the picture is 128x48 at column 15). Also returns the error as placed (against
/// the picture where it belongs, all 48 rows).
fn mpv_row(path: &Path, frames: &[Arc<I420Frame>]) -> Option<(ScreenRow, f64)> {
    let out = Command::new("mpv")
        .args(["--no-config", "--vo=tct", "--untimed", "--no-audio"])
        .arg(format!("--vo-tct-width={COLS}"))
        .arg(format!("--vo-tct-height={ROWS}"))
        .arg("--really-quiet")
        .arg(path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let bytes = hvp_to_cup(&out.stdout);
    let end = b"\x1b[0m\n";
    let mut parser = vt100::Parser::new(ROWS, COLS, 0);
    let mut row = ScreenRow {
        path: "mpv --vo=tct",
        bytes: 0,
        frames: 0,
        cells: 128 * 48,
        error_sum: 0.0,
    };
    let mut placed = 0.0;
    let mut start = 0;
    for frame in frames {
        let Some(at) = bytes[start..].windows(end.len()).position(|w| w == end) else {
            break;
        };
        let piece = &bytes[start..start + at + end.len()];
        start += at + end.len();
        row.bytes += piece.len() as u64;
        parser.process(piece);
        let exact = cells_from_i420(frame, 128, 48).0;
        let (sum, n) = screen_error(parser.screen(), &exact, 15, -1, 1);
        row.error_sum += sum / n as f64;
        let (sum, n) = screen_error(parser.screen(), &exact, 16, 0, 0);
        placed += sum / n as f64;
        row.frames += 1;
    }
    let shown = row.frames;
    (shown == frames.len() as u64).then(|| (row, placed / shown as f64))
}

/// `bytes` with every `ESC[r;cf` (HVP) turned into `ESC[r;cH` (CUP), which means the same
/// to xterm and other terminals, but only CUP to the vt100 crate (0.16 ignores HVP, and
/// mpv's tct positions every row with it). Same length: byte counts are unchanged.
fn hvp_to_cup(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i + 2 < out.len() {
        if out[i] == 0x1b && out[i + 1] == b'[' {
            let mut j = i + 2;
            while j < out.len() && (out[j].is_ascii_digit() || out[j] == b';') {
                j += 1;
            }
            if j < out.len() && out[j] == b'f' {
                out[j] = b'H';
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// [`hvp_to_cup`] as a filter between mpv and the remote terminal, for the SSH runs.
const HVP_TO_CUP_PERL: &str = r#"$| = 1; my $c = "";
while (sysread(STDIN, my $b, 65536)) {
    $b = $c . $b; $c = "";
    if ($b =~ s/(\e[^A-Za-z]{0,24})\z//) { $c = $1 }
    $b =~ s/(\e\[[0-9;]*)f/$1H/g;
    print $b;
}
print $c;"#;

fn screen_figures(clips: &[String]) {
    println!("| clip | output path | picture cells | bytes/frame | bytes/cell | mean error /255 |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut notes = Vec::new();
    for clip in clips {
        let path = Path::new(clip);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let frames = read_frames(path);
        play_row(&frames).print(&name);
        join_row(&frames).print(&name);
        old_join_row(&frames).print(&name);
        match mpv_row(path, &frames) {
            Some((row, placed)) => {
                row.print(&name);
                notes.push(format!(
                    "{name}: mpv's error against the picture where it belongs (all 48 rows, \
                     column 16): {placed:.2}/255"
                ));
            }
            None => notes.push(format!("{name}: mpv did not run or wrote too few frames")),
        }
    }
    for note in notes {
        println!("\n{note}");
    }
}

/// The `join` that watches: space CSC342 of the server at `base`, loopback only, sending
/// nothing, named Remote.
fn remote_join(bin: &Path, base: &str) -> Vec<String> {
    vec![
        bin.display().to_string(),
        "join".into(),
        format!("{base}CSC342"),
        "--peer-server".into(),
        format!("{base}peerjs"),
        "--ice-server".into(),
        "none".into(),
        "--udp-bind".into(),
        "127.0.0.1".into(),
        "--no-audio".into(),
        "--no-video".into(),
        "--name".into(),
        "Remote".into(),
    ]
}

/// T1 for `join` with a Chromium page sending the clip (see the module's docs).
fn chromium_run(args: &[String]) {
    let clip_path = std::fs::canonicalize(&args[0]).unwrap();
    let seconds: u64 = args[1].parse().expect("SECONDS");
    let bin = match args.iter().position(|a| a == "--bin") {
        Some(i) => PathBuf::from(&args[i + 1]),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/packspaces"),
    };
    let frames = read_frames(&clip_path);
    let clip = ClipInfo {
        width: frames[0].width(),
        height: frames[0].height(),
        frames: frames.len() as u64,
        fps: 30.0,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async {
        packspaces::server::start(packspaces::server::ServeOptions::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            0,
        ))
        .await
        .unwrap()
    });
    let base = server.url();
    let mut argv = remote_join(&bin, &base);
    argv.push("--stats".into());
    let term = VirtualTerminal::spawn(&argv, COLS, ROWS, &[("COLORTERM", "truecolor")]);
    let page = common::page::Page::open(
        "browser-peer.mjs",
        &format!("{base}CSC342"),
        Some(&clip_path),
    );
    let shown = term.wait_for(Duration::from_secs(90), |s| picture_box(s).is_some());
    assert!(
        shown.is_some(),
        "no picture within 90 s; screen:\n{}",
        term.screen().contents()
    );
    // The browser's encoder starts low and ramps up its bitrate: measure after that.
    std::thread::sleep(Duration::from_secs(10));
    let placement = picture_box(&term.screen()).unwrap();
    let reader = MarkerReader::new(placement, &clip);
    let (col, row) = (placement.col as u16, placement.row);
    let (cols, rows) = (placement.cols as u16, placement.rows as u16);
    let mut errors = Vec::new();
    // A screen caught halfway through an update does not read; its error against the last
    // frame that did read is kept apart (the picture has moved on: an upper bound).
    let mut unreadable = Vec::new();
    let mut last_index = None;
    let start = Instant::now();
    let mut next = start;
    while next < start + Duration::from_secs(seconds) {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += FRAME;
        let screen = term.screen();
        let error_against = |index: u64| {
            let exact = cells_from_i420(&frames[index as usize], cols, rows).0;
            let (sum, n) = screen_error(&screen, &exact, col, row, 0);
            sum / n as f64
        };
        match reader.read(&screen) {
            Some(index) => {
                errors.push(error_against(index));
                last_index = Some(index);
            }
            None => unreadable.extend(last_index.map(error_against)),
        }
    }
    term.send(b"q");
    assert!(
        term.wait_exit(Duration::from_secs(20)).is_some(),
        "join did not end on q"
    );
    drop(page);
    let text = term.screen().contents();
    let stats = text
        .lines()
        .find(|l| l.starts_with("output: "))
        .unwrap_or_else(|| panic!("no --stats line:\n{text}"))
        .to_string();
    let number_before = |what: &str| -> f64 {
        let at = stats
            .find(what)
            .unwrap_or_else(|| panic!("{what}? {stats}"));
        stats[..at]
            .trim_end()
            .rsplit([' ', ','])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let bytes = number_before("bytes in");
    let written = number_before("frames written");
    let cells = f64::from(cols) * f64::from(rows);
    let mean = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
    let all = (errors.iter().sum::<f64>() + unreadable.iter().sum::<f64>())
        / (errors.len() + unreadable.len()).max(1) as f64;
    println!(
        "| clip | picture cells | bytes/cell per frame written (all output) | error on screen /255: mean | median | samples read | mean with unread samples against the last frame read |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {cols}x{rows} | {:.2} | {mean:.2} | {:.2} | {} of {} | {all:.2} |",
        clip_path.file_name().unwrap().to_string_lossy(),
        bytes / written / cells,
        median(&errors).unwrap_or(f64::NAN),
        errors.len(),
        errors.len() + unreadable.len()
    );
    println!("\njoin --stats: {stats}");
}

// ---------------------------------------------------------------------------------------
// T2: over a real SSH link.

/// The marker's colours (examples/make_clip.rs: MARKER_A in even seconds, MARKER_B in odd).
const MARKER_A: Rgb = Rgb::new(230, 30, 190);
const MARKER_B: Rgb = Rgb::new(30, 200, 70);
/// Bits of the frame index; the marker shows them, then the same inverted.
const MARKER_BITS: usize = 9;
/// Frames per marker colour (1 s at 30 fps).
const BLOCK: u64 = 30;

/// Where the marker is drawn, in the clip's pixels (as examples/make_clip.rs places it).
fn marker_rects(width: u32, height: u32) -> ([u32; 4], Vec<[u32; 4]>) {
    let x = |v: u32| 2 * ((v * width) as f64 / 1280.0).round() as u32;
    let y = |v: u32| 2 * ((v * height) as f64 / 960.0).round() as u32;
    let block = [x(536), y(400), x(632), y(472)];
    let bits = (0..2 * MARKER_BITS as u32)
        .map(|k| [x(568), y(4 + 22 * k), x(632), y(26 + 22 * k)])
        .collect();
    (block, bits)
}

/// The picture's cells on the screen. `row` may be -1 (mpv's first row is hidden).
#[derive(Debug, Clone, Copy)]
struct Placement {
    col: i32,
    row: i32,
    cols: i32,
    rows: i32,
}

/// A half cell on the screen: (row, column, upper half).
type Half = (u16, u16, bool);

/// The half cells whose pixels lie wholly inside `rect` (clip pixels).
fn halves_inside(p: Placement, clip: (u32, u32), [x0, y0, x1, y1]: [u32; 4]) -> Vec<Half> {
    let (w, h) = (f64::from(clip.0), f64::from(clip.1));
    let cols: Vec<i32> = (0..p.cols)
        .filter(|&c| {
            let a = f64::from(c) * w / f64::from(p.cols);
            let b = f64::from(c + 1) * w / f64::from(p.cols);
            a >= f64::from(x0) && b <= f64::from(x1)
        })
        .collect();
    let halves = 2 * p.rows;
    let mut out = Vec::new();
    for hr in 0..halves {
        let a = f64::from(hr) * h / f64::from(halves);
        let b = f64::from(hr + 1) * h / f64::from(halves);
        if a < f64::from(y0) || b > f64::from(y1) {
            continue;
        }
        let Ok(row) = u16::try_from(p.row + hr / 2) else {
            continue;
        };
        for &c in &cols {
            out.push((row, (p.col + c) as u16, hr % 2 == 0));
        }
    }
    out
}

/// Reads the marker off a screen.
struct MarkerReader {
    block: Vec<Half>,
    bits: Vec<Vec<Half>>,
    frames: u64,
}

/// What the screen shows of the marker: the frame index (the Gray code, checked against its
/// inverse), consistent with the block's colour.
impl MarkerReader {
    fn new(p: Placement, clip: &ClipInfo) -> MarkerReader {
        let (block, bits) = marker_rects(clip.width, clip.height);
        let reader = MarkerReader {
            block: halves_inside(p, (clip.width, clip.height), block),
            bits: bits
                .into_iter()
                .map(|r| halves_inside(p, (clip.width, clip.height), r))
                .collect(),
            frames: clip.frames,
        };
        assert!(
            reader.block.len() >= 4 && reader.bits.iter().all(|b| !b.is_empty()),
            "the marker is too small on this screen ({p:?}): {} block halves, bits {:?}",
            reader.block.len(),
            reader.bits.iter().map(Vec::len).collect::<Vec<_>>()
        );
        reader
    }

    fn half(screen: &vt100::Screen, (row, col, upper): Half) -> Option<Rgb> {
        let (u, l) = cell_pixels(screen, row, col)?;
        Some(if upper { u } else { l })
    }

    /// The frame index shown, when the code reads cleanly and at least 60% of the block's
    /// halves show the colour that index's second has.
    fn read(&self, screen: &vt100::Screen) -> Option<u64> {
        let mut code = 0u64;
        for bit in &self.bits {
            let mut luma = 0.0;
            for &h in bit {
                let c = Self::half(screen, h)?;
                luma += 0.299 * f64::from(c.r) + 0.587 * f64::from(c.g) + 0.114 * f64::from(c.b);
            }
            let luma = luma / bit.len() as f64;
            let one = match luma {
                l if l > 170.0 => 1,
                l if l < 85.0 => 0,
                _ => return None,
            };
            code = code << 1 | one;
        }
        // The bits, then the same inverted: a square updated in one half only (a screen
        // caught halfway through an update) breaks the pair.
        let mask = (1u64 << MARKER_BITS) - 1;
        let gray = code >> MARKER_BITS;
        if gray ^ (code & mask) != mask {
            return None;
        }
        let mut index = gray;
        let mut shift = gray >> 1;
        while shift != 0 {
            index ^= shift;
            shift >>= 1;
        }
        if index >= self.frames {
            return None;
        }
        let want = if (index / BLOCK).is_multiple_of(2) {
            MARKER_A
        } else {
            MARKER_B
        };
        let near = |c: Rgb| {
            u32::from(c.r.abs_diff(want.r))
                + u32::from(c.g.abs_diff(want.g))
                + u32::from(c.b.abs_diff(want.b))
                < 150
        };
        let matching = self
            .block
            .iter()
            .filter(|&&h| Self::half(screen, h).is_some_and(near))
            .count();
        (matching * 10 >= self.block.len() * 6).then_some(index)
    }
}

#[derive(Debug, Clone, Copy)]
struct ClipInfo {
    width: u32,
    height: u32,
    frames: u64,
    fps: f64,
}

/// The wall clock, read once next to the monotonic one, to turn one into the other.
#[derive(Debug, Clone, Copy)]
struct Clock {
    instant: Instant,
    unix: f64,
}

impl Clock {
    fn now() -> Clock {
        let instant = Instant::now();
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        Clock { instant, unix }
    }

    fn unix_at(&self, at: Instant) -> f64 {
        if at >= self.instant {
            self.unix + (at - self.instant).as_secs_f64()
        } else {
            self.unix - (self.instant - at).as_secs_f64()
        }
    }

    fn instant_at(&self, unix: f64) -> Instant {
        if unix >= self.unix {
            self.instant + Duration::from_secs_f64(unix - self.unix)
        } else {
            self.instant - Duration::from_secs_f64(self.unix - unix)
        }
    }

    /// The frame (counted from the epoch at the clip's rate) whose index `index` was being
    /// sent most recently at `at`: the clip source picks frame floor(unix * fps) mod frames.
    fn frame_sent(&self, clip: &ClipInfo, index: u64, at: Instant) -> i64 {
        let now = (self.unix_at(at) * clip.fps).floor() as i64;
        now - (now - index as i64).rem_euclid(clip.frames as i64)
    }
}

/// The picture's cells: the bounding box of half-block cells (no chrome uses them).
fn picture_box(screen: &vt100::Screen) -> Option<Placement> {
    let (rows, cols) = screen.size();
    let (mut r0, mut r1, mut c0, mut c1) = (u16::MAX, 0, u16::MAX, 0);
    let mut n = 0;
    for r in 0..rows {
        for c in 0..cols {
            if screen
                .cell(r, c)
                .is_some_and(|cell| matches!(cell.contents(), "▀" | "▄"))
            {
                (r0, r1, c0, c1) = (r0.min(r), r1.max(r), c0.min(c), c1.max(c));
                n += 1;
            }
        }
    }
    (n >= 300).then(|| Placement {
        col: i32::from(c0),
        row: i32::from(r0),
        cols: i32::from(c1 - c0 + 1),
        rows: i32::from(r1 - r0 + 1),
    })
}

/// Kills the process whose pid is in the file (the remote command, via `echo $$`), if it
/// is still running, when dropped — whatever happened to ssh on the way.
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0)
            && let Ok(pid) = pid.trim().parse::<i32>()
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// A bits-per-second figure: `2mbit`, `10mbit`, `500k` or a plain number.
fn parse_rate(s: &str) -> u64 {
    let lower = s.to_ascii_lowercase();
    let (digits, scale) = if let Some(d) = lower.strip_suffix("mbit") {
        (d, 1_000_000.0)
    } else if let Some(d) = lower.strip_suffix('k') {
        (d, 1_000.0)
    } else {
        (lower.as_str(), 1.0)
    };
    (digits
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("bad rate {s:?}"))
        * scale) as u64
}

/// One `link` run's options.
struct LinkOptions {
    who: String,
    rate: u64,
    seconds: u64,
    keys: bool,
    clip: PathBuf,
    new_bin: PathBuf,
    old_bin: PathBuf,
    out: Option<PathBuf>,
}

fn parse_link(args: &[String]) -> LinkOptions {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut o = LinkOptions {
        who: args[0].clone(),
        rate: parse_rate(&args[1]),
        seconds: args[2].parse().expect("SECONDS"),
        keys: false,
        clip: PathBuf::from("/tmp/sshlink/marker.y4m"),
        new_bin: repo.join("target/release/packspaces"),
        old_bin: PathBuf::from("/tmp/ps-old/target/release/packspaces"),
        out: None,
    };
    let mut rest = args[3..].iter();
    while let Some(a) = rest.next() {
        let mut value =
            || PathBuf::from(rest.next().unwrap_or_else(|| panic!("{a} needs a value")));
        match a.as_str() {
            "--keys" => o.keys = true,
            "--clip" => o.clip = value(),
            "--new-bin" => o.new_bin = value(),
            "--old-bin" => o.old_bin = value(),
            "--out" => o.out = Some(value()),
            _ => panic!("unknown option {a}\n{USAGE}"),
        }
    }
    assert!(
        matches!(o.who.as_str(), "new" | "old" | "mpv"),
        "WHO is new, old or mpv"
    );
    o.clip = std::fs::canonicalize(&o.clip).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (make it with make_clip --marker)",
            o.clip.display()
        )
    });
    o
}

/// A marker change seen on screen: when the chunk that showed it was read, and the index.
#[derive(Debug, Clone, Copy)]
struct Seen {
    at: Instant,
    index: u64,
}

fn median(v: &[f64]) -> Option<f64> {
    percentile(v, 0.5)
}

fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let i = (s.len() - 1) as f64 * p;
    let (lo, hi) = (i.floor() as usize, i.ceil() as usize);
    Some(s[lo] + (s[hi] - s[lo]) * (i - i.floor()))
}

fn link_run(args: &[String]) {
    let o = parse_link(args);
    let clip = {
        let c = Clip::open(&o.clip).unwrap();
        ClipInfo {
            width: c.width(),
            height: c.height(),
            frames: c.frames(),
            fps: c.fps(),
        }
    };
    assert!(
        clip.frames.is_multiple_of(2 * BLOCK) && (clip.fps - 30.0).abs() < 1e-9,
        "{}: not a make_clip --marker clip (30 fps, a multiple of 60 frames)",
        o.clip.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sshd = SshServer::start().expect("OpenSSH (openssh-server, openssh-client) is needed");

    // The space and the bot sending the clip (not for mpv, which plays the file itself).
    let (server, bot) = if o.who == "mpv" {
        (None, None)
    } else {
        let (server, bot) = runtime.block_on(async {
            use packspaces::call::codecs::DEFAULT_PREFERENCE;
            use packspaces::session::{CardSpec, Session};
            let server = packspaces::server::start(packspaces::server::ServeOptions::new(
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                0,
            ))
            .await
            .unwrap();
            let card = CardSpec {
                clip: Some(o.clip.clone()),
                ..CardSpec::default()
            };
            let config = common::loopback_session(
                &server.url(),
                "CSC342",
                "Ada",
                Some(card),
                &DEFAULT_PREFERENCE,
            );
            let bot = Session::start(config).await.unwrap();
            (server, bot)
        });
        (Some(server), Some(bot))
    };
    let link = ShapedLink::start(sshd.addr(), Shape::new(o.rate, 40), Shape::new(o.rate, 40));
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let reaper = Reaper(pid_file.path().to_path_buf());
    let program = match o.who.as_str() {
        "mpv" => vec![
            "mpv".to_string(),
            "--no-config".into(),
            "--vo=tct".into(),
            "--no-audio".into(),
            "--loop".into(),
            "--really-quiet".into(),
            // Its output is a pipe (below), so it is told the terminal's size.
            format!("--vo-tct-width={COLS}"),
            format!("--vo-tct-height={ROWS}"),
            o.clip.display().to_string(),
        ],
        who => {
            let base = server.as_ref().unwrap().url();
            let bin = if who == "new" { &o.new_bin } else { &o.old_bin };
            let mut words = remote_join(bin, &base);
            if who == "new" {
                words.push("--stats".into());
            }
            words
        }
    };
    // The remote shell notes its pid, which is also its process group's (sshd starts it as
    // a session leader): the Reaper ends whatever is left of it.
    let pid = shell_words(&[pid_file.path().to_str().unwrap()]);
    let remote = if o.who == "mpv" {
        // mpv's rows go through a filter that turns HVP into CUP (see `hvp_to_cup`),
        // holding back a sequence cut by a read until the rest comes.
        format!(
            "echo $$ > {pid}; env COLORTERM=truecolor {} | perl -e {}",
            shell_words(&program),
            shell_words(&[HVP_TO_CUP_PERL])
        )
    } else {
        format!(
            "echo $$ > {pid}; exec env COLORTERM=truecolor {}",
            shell_words(&program)
        )
    };
    let started = Instant::now();
    let term = VirtualTerminal::spawn(&sshd.client_argv(link.port(), &remote), COLS, ROWS, &[]);

    // The picture, where it is, and the marker read off it.
    let shown = term.wait_for(Duration::from_secs(90), |s| picture_box(s).is_some());
    assert!(
        shown.is_some(),
        "no picture within 90 s; screen:\n{}\nsshd:\n{}",
        term.screen().contents(),
        sshd.log()
    );
    let first_picture = shown.unwrap() - started;
    std::thread::sleep(Duration::from_secs(2));
    let mut placement = picture_box(&term.screen()).unwrap();
    if o.who == "mpv" {
        // tct's row 0 is overwritten by row 1 (see `mpv_row`): the picture starts a row up.
        placement.row -= 1;
        placement.rows += 1;
    }
    let reader = MarkerReader::new(placement, &clip);
    let readable = term.wait_for(Duration::from_secs(30), |s| reader.read(s).is_some());
    assert!(
        readable.is_some(),
        "the marker cannot be read at {placement:?}; screen:\n{}",
        term.screen().contents()
    );
    // The link measurement settles, then the figures count.
    std::thread::sleep(Duration::from_secs(5));
    let clock = Clock::now();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(o.seconds);
    let bytes_before = link.bytes_down();

    let changes: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    let switches: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    let key_ms: Mutex<Vec<f64>> = Mutex::new(Vec::new());
    let bytes_down = Mutex::new(0u64);
    let wall = o.who != "mpv";
    std::thread::scope(|scope| {
        // Every new frame shown, for the frame rate (noted when looked at: within a
        // millisecond or so of the read). A frame counts when its index is 1 to 60 frames
        // after the last one counted; anything else (the loop's wrap, or a screen caught
        // halfway through an update that happens to read as some other index) counts only
        // once it held for three reads in a row, and then as the new base, not as a frame.
        scope.spawn(|| {
            let frames = clip.frames as i64;
            let mut base: Option<u64> = None;
            let mut odd: (Option<u64>, u32) = (None, 0);
            term.wait_for(deadline.saturating_duration_since(Instant::now()), |s| {
                if let Some(index) = reader.read(s) {
                    let step = base.map(|b| (index as i64 - b as i64).rem_euclid(frames));
                    match step {
                        Some(0) => odd = (None, 0),
                        Some(1..=60) => {
                            base = Some(index);
                            odd = (None, 0);
                            changes.lock().unwrap().push(Seen {
                                at: Instant::now(),
                                index,
                            });
                        }
                        _ => {
                            odd = if odd.0 == Some(index) {
                                (odd.0, odd.1 + 1)
                            } else {
                                (Some(index), 1)
                            };
                            if odd.1 >= 3 {
                                base = Some(index);
                            }
                        }
                    }
                }
                Instant::now() >= deadline
            });
        });
        // Every marker switch: the first read after which the marker shows the other
        // colour, together with a frame index of a later second than the last switch's
        // (from the wall clock for `join`; for mpv, which keeps its own clock, an odd
        // number of seconds up to 5 on in the loop). Requiring the colour to change keeps
        // a screen caught halfway through an update from counting: the code above the
        // marker is complete before the marker below it changes in a top-to-bottom update,
        // and the painter draws the largest changes (the marker's and the code's) first.
        scope.spawn(|| {
            let block_of = |index: u64, at: Instant| -> i64 {
                if wall {
                    clock.frame_sent(&clip, index, at).div_euclid(BLOCK as i64)
                } else {
                    (index / BLOCK) as i64
                }
            };
            let blocks = (clip.frames / BLOCK) as i64;
            let mut last = reader
                .read(&term.screen())
                .map(|i| block_of(i, Instant::now()));
            while Instant::now() < deadline {
                let mut found = None;
                let at = term.wait_for(deadline.saturating_duration_since(Instant::now()), |s| {
                    let Some(index) = reader.read(s) else {
                        return false;
                    };
                    let block = block_of(index, Instant::now());
                    let newer = match last {
                        None => true,
                        Some(b) if wall => block > b && (block - b) % 2 == 1,
                        Some(b) => matches!((block - b).rem_euclid(blocks), 1 | 3 | 5),
                    };
                    if newer {
                        found = Some((index, block));
                    }
                    newer
                });
                let (Some(at), Some((index, block))) = (at, found) else {
                    break;
                };
                last = Some(block);
                switches.lock().unwrap().push(Seen { at, index });
            }
        });
        // The bytes that crossed the link in the measured time.
        scope.spawn(|| {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            *bytes_down.lock().unwrap() = link.bytes_down() - bytes_before;
        });
        // `?` every 5 s, the time until the help is on screen, then Esc.
        if o.keys && o.who != "mpv" {
            scope.spawn(|| {
                let help = |s: &vt100::Screen| {
                    s.contents()
                        .contains("save the selected video frame as PNG")
                };
                let mut next = start + Duration::from_millis(2500);
                while next + Duration::from_secs(3) < deadline {
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    let pressed = Instant::now();
                    term.send(b"?");
                    let at = term.wait_for(Duration::from_secs(10), help);
                    key_ms
                        .lock()
                        .unwrap()
                        .push(at.map_or(10_000.0, |at| (at - pressed).as_secs_f64() * 1e3));
                    term.send(b"\x1b");
                    term.wait_for(Duration::from_secs(10), |s| !help(s));
                    // Every 5 s, or 1 s after the help closed when that took longer.
                    next = (next + Duration::from_secs(5))
                        .max(Instant::now() + Duration::from_secs(1));
                }
            });
        }
    });
    let bytes_down = bytes_down.into_inner().unwrap();
    let measured = o.seconds as f64;

    // Leave as a person does (q), and read `--stats` off the screen.
    // (mpv reads no keys when its output is not a terminal: it is ended by the Reaper.)
    term.send(b"q");
    let exited = term.wait_exit(Duration::from_secs(if o.who == "mpv" { 1 } else { 30 }));
    let screen = term.screen().contents();
    let stats = screen
        .lines()
        .find(|l| l.contains("video fps"))
        .map(|l| l.trim().to_string());
    drop(term);
    drop(reaper);
    drop(link);
    if let Some(bot) = bot {
        runtime.block_on(bot.leave());
    }
    drop(server);
    drop(sshd);
    drop(runtime);

    // Figures.
    let rel = |at: Instant| at.saturating_duration_since(start).as_secs_f64();
    let changes = changes.into_inner().unwrap();
    let switches = switches.into_inner().unwrap();
    if std::env::var_os("SSH_LINK_DEBUG").is_some() {
        for c in &changes {
            eprintln!("change {:.3} {}", rel(c.at), c.index);
        }
        for c in &switches {
            eprintln!("switch {:.3} {}", rel(c.at), c.index);
        }
    }
    let measured_window = |at: Instant| at >= start && at < deadline;
    let frames_shown = changes.iter().filter(|c| measured_window(c.at)).count();
    let fps = frames_shown as f64 / measured;
    let mut record = json!({
        "who": o.who,
        "rate": o.rate,
        "seconds": o.seconds,
        "measured_s": measured,
        "first_picture_s": first_picture.as_secs_f64(),
        "placement": format!("{} columns x {} rows at column {}, row {}", placement.cols, placement.rows, placement.col, placement.row),
        "fps_shown": fps,
        "bytes_down_per_s": bytes_down as f64 / measured,
        "exited": exited.is_some(),
        "stats": stats,
        "keys_ms": key_ms.into_inner().unwrap(),
        "commit": git_describe(),
        "load": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_string(),
    });
    if wall {
        // Latency of each switch: from the second it began (wall clock) to the read.
        let mut latency = Vec::new();
        let mut missed = 0i64;
        let mut last_block: Option<i64> = None;
        for s in &switches {
            let block = clock
                .frame_sent(&clip, s.index, s.at)
                .div_euclid(BLOCK as i64);
            let began = clock.instant_at(block as f64);
            let gap = last_block.map_or(0, |b| (block - b - 1).max(0));
            last_block = Some(block);
            if began >= start && s.at < deadline {
                missed += gap;
                latency.push(json!([
                    rel(began),
                    (s.at.saturating_duration_since(began)).as_secs_f64()
                ]));
            }
        }
        // How old each picture was when it came up (its frame's sending time to the read).
        let ages: Vec<f64> = changes
            .iter()
            .filter(|c| measured_window(c.at))
            .map(|c| {
                let sent = clock.frame_sent(&clip, c.index, c.at) as f64 / clip.fps;
                clock.unix_at(c.at) - sent
            })
            .collect();
        record["switch_latency"] = json!(latency);
        record["missed_switches"] = json!(missed);
        record["frame_age_median_s"] = json!(median(&ages));
    } else {
        // mpv: the k-th switch's time minus (the first's + k seconds).
        let blocks = (clip.frames / BLOCK) as i64;
        let mut seconds = 0i64;
        let mut prev: Option<i64> = None;
        let mut first: Option<Instant> = None;
        let mut growth = Vec::new();
        let mut missed = 0;
        for s in switches.iter().filter(|s| measured_window(s.at)) {
            let block = (s.index / BLOCK) as i64;
            if let Some(p) = prev {
                let step = (block - p).rem_euclid(blocks);
                seconds += step;
                missed += step - 1;
            }
            prev = Some(block);
            let first = *first.get_or_insert(s.at);
            growth.push(json!([
                rel(s.at),
                (s.at - first).as_secs_f64() - seconds as f64
            ]));
        }
        record["lag_growth"] = json!(growth);
        record["missed_switches"] = json!(missed);
    }
    let line = record.to_string();
    println!("{}", summary_line(&record));
    if let Some(out) = &o.out {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    } else {
        println!("{line}");
    }
}

fn git_describe() -> String {
    Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// One run's figures, from its JSON record.
#[derive(Debug, Default, Clone)]
struct RunFigures {
    latency: Option<f64>,
    p90: Option<f64>,
    first20: Option<f64>,
    last20: Option<f64>,
    /// mpv: lag growth by the last 20 s (their median).
    growth: Option<f64>,
    missed: i64,
    switches: usize,
    key_median: Option<f64>,
    key_max: Option<f64>,
    fps: f64,
    kbit: f64,
    age: Option<f64>,
    stats: Option<String>,
}

fn figures(r: &Value) -> RunFigures {
    let pairs = |key: &str| -> Vec<(f64, f64)> {
        r[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let seconds = r["measured_s"].as_f64().unwrap();
    let window = |v: &[(f64, f64)], from: f64, to: f64| -> Vec<f64> {
        v.iter()
            .filter(|p| p.0 >= from && p.0 < to)
            .map(|p| p.1)
            .collect()
    };
    let keys: Vec<f64> = r["keys_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() / 1e3)
        .collect();
    let mut f = RunFigures {
        missed: r["missed_switches"].as_i64().unwrap_or(0),
        key_median: median(&keys),
        key_max: keys.iter().copied().reduce(f64::max),
        fps: r["fps_shown"].as_f64().unwrap(),
        kbit: r["bytes_down_per_s"].as_f64().unwrap() * 8.0 / 1e3,
        age: r["frame_age_median_s"].as_f64(),
        stats: r["stats"].as_str().map(String::from),
        ..RunFigures::default()
    };
    let latency = pairs("switch_latency");
    if !latency.is_empty() {
        let all: Vec<f64> = latency.iter().map(|p| p.1).collect();
        f.switches = all.len();
        f.latency = median(&all);
        f.p90 = percentile(&all, 0.9);
        f.first20 = median(&window(&latency, 0.0, 20.0));
        f.last20 = median(&window(&latency, seconds - 20.0, seconds));
    }
    let growth = pairs("lag_growth");
    if !growth.is_empty() {
        f.switches = growth.len();
        f.first20 = median(&window(&growth, 0.0, 20.0));
        f.last20 = median(&window(&growth, seconds - 20.0, seconds));
        f.growth = growth.last().map(|p| p.1);
    }
    f
}

/// The median over runs of one figure, with every run's value.
fn over_runs(
    runs: &[RunFigures],
    pick: impl Fn(&RunFigures) -> Option<f64>,
    digits: usize,
) -> String {
    let v: Vec<f64> = runs.iter().filter_map(&pick).collect();
    match median(&v) {
        None => "–".into(),
        Some(m) if v.len() == 1 => format!("{m:.digits$}"),
        Some(m) => {
            let each: Vec<String> = v.iter().map(|x| format!("{x:.digits$}")).collect();
            format!("**{m:.digits$}** ({})", each.join(", "))
        }
    }
}

fn summary_line(r: &Value) -> String {
    let f = figures(r);
    let s = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.3}"));
    format!(
        "{} at {} bit/s: switches {} (missed {}), latency median {} p90 {} first 20 s {} last 20 s {} \
         (mpv growth {}), keys median {} max {}, {:.1} fps shown, {:.0} kbit/s, frame age {}, stats {:?}",
        r["who"].as_str().unwrap(),
        r["rate"],
        f.switches,
        f.missed,
        s(f.latency),
        s(f.p90),
        s(f.first20),
        s(f.last20),
        s(f.growth),
        s(f.key_median),
        s(f.key_max),
        f.fps,
        f.kbit,
        s(f.age),
        f.stats
    )
}

fn print_tables(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let records: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let name = |who: &str| match who {
        "new" => "packspaces `join` (now)",
        "old" => "packspaces `join` at 3e58a19 (before)",
        _ => "mpv --vo=tct",
    };
    let runs_of = |who: &str, rate: u64| -> Vec<RunFigures> {
        records
            .iter()
            .filter(|r| r["who"] == who && r["rate"].as_u64() == Some(rate))
            .map(figures)
            .collect()
    };
    let clients = ["new", "old", "mpv"];

    println!("\n2 Mbit/s, 40 ms each way (marker switch → screen; mpv: lag growth):\n");
    println!(
        "| client | runs | switch → screen median s | p90 s | median, first 20 s | median, last 20 s | \
         switches seen (missed) | `?` → help median s | `?` max s | video fps shown | link use kbit/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    for who in clients {
        let runs = runs_of(who, 2_000_000);
        if runs.is_empty() {
            continue;
        }
        let mpv = who == "mpv";
        // mpv plays the file itself: when a switch was sent, and its keys, are unknown.
        let unless_mpv = |absent: &str, pick: &dyn Fn(&RunFigures) -> Option<f64>| {
            if mpv {
                absent.to_string()
            } else {
                over_runs(&runs, pick, 3)
            }
        };
        let seen: Vec<String> = runs
            .iter()
            .map(|f| format!("{} ({})", f.switches, f.missed))
            .collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            name(who),
            runs.len(),
            unless_mpv("unknown", &|f| f.latency),
            unless_mpv("–", &|f| f.p90),
            over_runs(&runs, |f| f.first20, 3),
            over_runs(&runs, |f| f.last20, 3),
            seen.join(", "),
            unless_mpv("not measured", &|f| f.key_median),
            unless_mpv("–", &|f| f.key_max),
            over_runs(&runs, |f| Some(f.fps), 1),
            over_runs(&runs, |f| Some(f.kbit), 0),
        );
    }

    println!("\n10 Mbit/s, 40 ms each way:\n");
    println!("| client | runs | video fps shown | switch → screen median s | link use kbit/s |");
    println!("|---|---:|---:|---:|---:|");
    for who in clients {
        let runs = runs_of(who, 10_000_000);
        if runs.is_empty() {
            continue;
        }
        println!(
            "| {} | {} | {} | {} | {} |",
            name(who),
            runs.len(),
            over_runs(&runs, |f| Some(f.fps), 1),
            if who == "mpv" {
                "unknown".into()
            } else {
                over_runs(&runs, |f| f.latency, 3)
            },
            over_runs(&runs, |f| Some(f.kbit), 0),
        );
    }

    println!();
    for r in &records {
        if let Some(stats) = r["stats"].as_str() {
            println!(
                "- `join --stats` at {} Mbit/s: {stats}",
                r["rate"].as_u64().unwrap_or(0) / 1_000_000
            );
        }
    }
    for who in clients {
        if let Some(r) = records.iter().find(|r| r["who"] == who) {
            let age = records
                .iter()
                .filter(|r| r["who"] == who && r["rate"].as_u64() == Some(2_000_000))
                .filter_map(|r| r["frame_age_median_s"].as_f64())
                .collect::<Vec<_>>();
            println!(
                "- {}: the picture is {}; first picture {:.1} s after ssh started{}",
                name(who),
                r["placement"].as_str().unwrap_or("?"),
                r["first_picture_s"].as_f64().unwrap_or(0.0),
                median(&age)
                    .map(|a| format!(
                        "; at 2 Mbit/s a picture is {a:.3} s old when it comes up (median)"
                    ))
                    .unwrap_or_default()
            );
        }
    }
}
