//! One output path for every full-screen command (`join`, `demo`, `monitor`, `play`).
//!
//! ratatui draws the chrome (bars, borders, text) into memory; each video picture is a
//! [`VideoSlot`] whose cells ratatui skips, painted by the budgeted diffing painter
//! ([`AnsiPainter`]) that knows what the screen shows there. Chrome and video go out as
//! one write per frame inside synchronized output, on a writer thread ([`writer`]), so a
//! slow terminal never blocks the UI and frames never queue.
//!
//! What a frame may write is capped twice: bytes per picture cell per frame, and bytes per
//! second ([`rate`]: a fixed `--max-rate`, or [`link`]: the rate measured from the
//! terminal's own answers when following an SSH link). Chrome goes first, always; video
//! gets what is left, the largest changes on the whole screen first, and a picture that
//! could not be finished is refined in the next frames. A tile whose picture did not
//! change costs nothing.

pub mod link;
pub mod rate;
pub mod writer;

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Frame, Terminal, TerminalOptions, Viewport};

use crate::cast::Recorder;
use crate::render::ansi::{Cut, DEFAULT_THRESHOLD, choose_cut};
use crate::render::widget::is_reserved;
use crate::render::{AnsiPainter, CellGrid, ColorMode, I420Frame, VideoSlot, cells_from_i420};
use link::{LinkMeter, STATUS_REQUEST};
pub use rate::{MaxRate, Pacer, format_bits};
use writer::FrameWriter;

const SYNC_BEGIN: &[u8] = b"\x1b[?2026h";
const SYNC_END: &[u8] = b"\x1b[?2026l";
/// Resets colours and clears the screen.
const CLEAR: &[u8] = b"\x1b[0m\x1b[2J";
/// What ratatui writes after every frame; the terminal guard hid the cursor already.
const HIDE_CURSOR: &[u8] = b"\x1b[?25l";
/// Default [`OutputConfig::min_fill`] (see BENCHMARKS.md, "frame rate or error").
pub const DEFAULT_MIN_FILL: f32 = 0.25;
/// One frame may use up to this many frames' share of the per-cell cap when earlier frames
/// left theirs unspent; over any two frames the average holds (see BENCHMARKS.md).
pub const FRAME_BURST: f64 = 2.0;
/// At most this many cuts per frame: the first sized by the cost estimate, the rest
/// spending what cells that proved cheaper left over.
const MAX_PASSES: usize = 3;
/// A further pass needs at least this many bytes left (and an eighth of the frame's budget).
const MIN_PASS_BYTES: usize = 256;
/// Default cap on video bytes per picture cell per frame, on average (see BENCHMARKS.md).
pub const DEFAULT_BYTES_PER_CELL: f32 = 10.0;

/// How the screen is written.
#[derive(Debug, Clone, Copy)]
pub struct OutputConfig {
    pub mode: ColorMode,
    /// Video bytes per picture cell per frame (0 = no cap).
    pub bytes_per_cell: f32,
    /// Skip threshold of the painters (squared redmean; 0 = exact).
    pub threshold: u32,
    pub max_rate: MaxRate,
    /// Keep the mean displayed error per frame (costs a pass over the cells).
    pub measure_error: bool,
    /// Under a rate cap, skip a frame's video when it could redraw less than this share
    /// of the cells that changed (0 = always draw what the caps allow).
    pub min_fill: f32,
}

impl OutputConfig {
    pub fn new(mode: ColorMode, max_rate: MaxRate) -> OutputConfig {
        OutputConfig {
            mode,
            bytes_per_cell: DEFAULT_BYTES_PER_CELL,
            threshold: DEFAULT_THRESHOLD,
            max_rate,
            measure_error: false,
            min_fill: DEFAULT_MIN_FILL,
        }
    }
}

/// What [`ScreenOutput::draw`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drawn {
    /// The last frame is still being written: nothing was composed; try again later.
    Busy,
    /// Nothing on screen needed to change.
    Nothing,
    /// A frame of this many bytes went to the writer.
    Wrote(usize),
}

/// One picture's painter and what it painted last.
struct Tile {
    painter: AnsiPainter,
    area: Rect,
    frame: Option<Arc<I420Frame>>,
    grid: CellGrid,
    covered: Vec<bool>,
    /// The frame the painter last drew a cell of (for counting video frames shown).
    shown_frame: Option<Arc<I420Frame>>,
}

/// True when `bytes` are nothing but SGR sequences (`ESC [ ... m`): no text, no moves.
fn only_colour_changes(mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        let Some(rest) = bytes.strip_prefix(b"\x1b[") else {
            return false;
        };
        let Some(end) = rest
            .iter()
            .position(|&b| !(b.is_ascii_digit() || b == b';' || b == b':'))
        else {
            return false;
        };
        if rest[end] != b'm' {
            return false;
        }
        bytes = &rest[end + 1..];
    }
    true
}

/// A writer whose bytes another handle takes (the chrome's backend owns its writer; tests
/// and `play` read what the writer thread wrote).
#[derive(Debug, Clone, Default)]
pub struct SharedBytes(Arc<Mutex<Vec<u8>>>);

impl SharedBytes {
    /// Everything written so far, emptied.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Write for SharedBytes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// ratatui drawing the chrome into `bytes`, for a screen of `cols x rows`.
fn chrome_terminal(
    bytes: &SharedBytes,
    cols: u16,
    rows: u16,
) -> io::Result<Terminal<CrosstermBackend<SharedBytes>>> {
    Terminal::with_options(
        CrosstermBackend::new(bytes.clone()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, cols, rows)),
        },
    )
}

/// Totals for `--stats` and the status bar.
#[derive(Debug, Clone, Default)]
pub struct OutputStats {
    /// Bytes written to the terminal.
    pub bytes: u64,
    /// Frames written (chrome, video or both).
    pub frames: u64,
    /// New video pictures put on screen (a frame counts once however many tiles it has).
    pub video_frames: u64,
    /// Picture cells covered by frames that drew video, for bytes per cell.
    pub video_cells: u64,
    /// Bytes of video (the painters' share).
    pub video_bytes: u64,
    /// Sum and count of the mean displayed error per drawn frame (0-255 per channel),
    /// with [`OutputConfig::measure_error`].
    pub error_sum: f64,
    pub error_frames: u64,
}

/// The screen's writer: chrome through ratatui, video through the painters, one write per
/// frame, within the caps.
pub struct ScreenOutput {
    chrome: Terminal<CrosstermBackend<SharedBytes>>,
    /// Where `chrome` writes.
    chrome_bytes: SharedBytes,
    size: (u16, u16),
    /// The next frame starts by clearing the screen (after a resize).
    clear: bool,
    config: OutputConfig,
    tiles: HashMap<String, Tile>,
    pacer: Pacer,
    link: Option<LinkMeter>,
    writer: FrameWriter,
    stats: OutputStats,
    /// (when, bytes, new video frames) of recent writes, for the rates shown.
    recent: VecDeque<(Instant, usize, u64)>,
    /// Bytes per redrawn video cell, across painters (a moving average).
    cost_per_cell: f32,
    /// True when the last frame left video undrawn (more was wanted than allowed).
    held_back: bool,
    /// Video bytes the per-cell cap still allows (see [`FRAME_BURST`]).
    frame_tokens: f64,
    /// True when the rate (not the per-frame cap) is what held video back lately: only
    /// then is a higher rate worth trying on a followed link.
    rate_limited: bool,
    distances: Vec<u32>,
    scratch: Vec<u32>,
    started: Instant,
    /// `--record`: the writer thread records every byte; resizes are recorded here.
    recorder: Option<Recorder>,
}

impl ScreenOutput {
    /// An output of `cols x rows` cells writing to `sink` (the terminal's stdout, or any
    /// writer for tests and benchmarks).
    pub fn new(
        sink: Box<dyn Write + Send>,
        cols: u16,
        rows: u16,
        config: OutputConfig,
    ) -> io::Result<ScreenOutput> {
        let chrome_bytes = SharedBytes::default();
        let chrome = chrome_terminal(&chrome_bytes, cols, rows)?;
        let now = Instant::now();
        let link = (config.max_rate == MaxRate::Follow).then(LinkMeter::new);
        let rate = match config.max_rate {
            MaxRate::Fixed(bits) => Some(bits as f64 / 8.0),
            MaxRate::Unlimited => None,
            MaxRate::Follow => link.as_ref().map(LinkMeter::rate),
        };
        Ok(ScreenOutput {
            chrome,
            chrome_bytes,
            size: (cols, rows),
            clear: false,
            config,
            tiles: HashMap::new(),
            pacer: Pacer::new(rate, now),
            link,
            writer: FrameWriter::spawn(sink)?,
            stats: OutputStats::default(),
            recent: VecDeque::new(),
            cost_per_cell: 24.0,
            held_back: false,
            frame_tokens: 0.0,
            rate_limited: false,
            distances: Vec::new(),
            scratch: Vec::new(),
            started: now,
            recorder: None,
        })
    }

    /// The same, with every byte the terminal takes also going to `recorder`, at the
    /// moment it takes it, and the terminal's resizes with them.
    pub fn recorded(
        sink: Box<dyn Write + Send>,
        cols: u16,
        rows: u16,
        config: OutputConfig,
        recorder: Recorder,
    ) -> io::Result<ScreenOutput> {
        let mut output = ScreenOutput::new(recorder.tee(sink), cols, rows, config)?;
        output.recorder = Some(recorder);
        Ok(output)
    }

    /// The screen's size in cells.
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    /// Follows a new terminal size: the next frame clears the screen and draws everything.
    pub fn resize(&mut self, cols: u16, rows: u16) -> io::Result<()> {
        if (cols, rows) == self.size {
            return Ok(());
        }
        // A fresh ratatui terminal: its diff starts from the blank screen the clear leaves
        // (ratatui's own clear would ask the real terminal its size, which tests lack).
        self.chrome_bytes.take();
        self.chrome = chrome_terminal(&self.chrome_bytes, cols, rows)?;
        self.size = (cols, rows);
        self.clear = true;
        self.tiles.clear();
        Ok(())
    }

    /// True when a frame drawn now would still have video to refine (the caps held some
    /// back), so the caller should draw again at the next tick even if nothing changed.
    pub fn pending(&self) -> bool {
        self.held_back
    }

    /// The terminal answered a status request (`ESC[0n`).
    pub fn status_answered(&mut self, now: Instant) {
        let wanted_more = self.rate_limited;
        if let Some(link) = &mut self.link {
            link.answered(now, wanted_more);
            self.pacer.set_rate(Some(link.rate()));
        }
    }

    /// Composes and hands over one frame, unless the last one is still being written.
    /// `render` draws the chrome into the ratatui frame and returns the pictures to paint.
    /// An error means the terminal is gone.
    pub fn draw<F>(&mut self, now: Instant, render: F) -> io::Result<Drawn>
    where
        F: FnOnce(&mut Frame) -> Vec<VideoSlot>,
    {
        self.collect(now)?;
        if self.writer.busy() {
            return Ok(Drawn::Busy);
        }
        let mut out = self.writer.buffer();
        out.extend_from_slice(SYNC_BEGIN);
        let body = out.len();
        let resized = std::mem::take(&mut self.clear);
        if resized {
            out.extend_from_slice(CLEAR);
        }

        // Chrome: ratatui's diff, with the picture cells marked skip.
        let mut slots = Vec::new();
        let covered: Vec<Vec<bool>> = {
            let completed = self.chrome.draw(|f| slots = render(f))?;
            let buffer = completed.buffer;
            slots
                .iter()
                .map(|slot| {
                    let mut covered = Vec::with_capacity(slot.area.area() as usize);
                    for y in slot.area.top()..slot.area.bottom() {
                        for x in slot.area.left()..slot.area.right() {
                            covered.push(!buffer.cell((x, y)).is_some_and(is_reserved));
                        }
                    }
                    covered
                })
                .collect()
        };
        {
            let chrome = self.chrome_bytes.take();
            let bytes = chrome.strip_suffix(HIDE_CURSOR).unwrap_or(&chrome);
            // With nothing to update, ratatui still resets its colours: skip that.
            if !only_colour_changes(bytes) {
                out.extend_from_slice(bytes);
            }
        }
        let chrome_len = out.len() - body;

        // Video: what the caps leave after the chrome.
        let video_cells: usize = slots.iter().map(|s| s.area.area() as usize).sum();
        // Bytes per picture cell per frame, held on average over everything the frame
        // writes (chrome and framing too): what a frame leaves unspent (the painter's cost
        // estimate is only an estimate) goes to the next, up to twice the per-frame share
        // in any one frame; a large chrome change (a popup) holds video back for at most
        // one frame's share.
        let per_frame = f64::from(self.config.bytes_per_cell) * video_cells as f64;
        let frame_cap = if per_frame > 0.0 {
            self.frame_tokens = (self.frame_tokens + per_frame).min(per_frame * FRAME_BURST);
            (self.frame_tokens.max(0.0) as usize).saturating_sub(chrome_len)
        } else {
            usize::MAX
        };
        let room = self.link.as_ref().map_or(usize::MAX, LinkMeter::room);
        let allowance = self.pacer.allowance(now).min(room);
        let budget = frame_cap.min(allowance.saturating_sub(chrome_len));
        let video_start = out.len();
        let bucket_full = self.pacer.full(now);
        let new_frames = self.paint_video(&slots, covered, budget, bucket_full, &mut out);
        self.rate_limited = self.held_back && budget < frame_cap;
        let video_len = out.len() - video_start;
        if per_frame > 0.0 && out.len() > body {
            let written = out.len() - body + SYNC_BEGIN.len() + SYNC_END.len();
            self.frame_tokens = (self.frame_tokens - written as f64).max(-per_frame);
        }

        if out.len() == body {
            self.writer.keep(out);
            return Ok(Drawn::Nothing);
        }
        out.extend_from_slice(SYNC_END);
        let request = self.link.as_ref().is_some_and(LinkMeter::wants_request);
        if request {
            out.extend_from_slice(STATUS_REQUEST);
        }
        let bytes = out.len();
        self.pacer.spend(bytes, now);
        if let Some(link) = &mut self.link {
            link.wrote(bytes, request, now);
        }
        self.stats.frames += 1;
        self.stats.video_bytes += video_len as u64;
        if video_len > 0 {
            self.stats.video_cells += video_cells as u64;
        }
        self.stats.video_frames += u64::from(new_frames);
        self.recent.push_back((now, bytes, u64::from(new_frames)));
        // The writer is idle (else this frame would not have been composed): the last
        // frame at the old size is recorded already, and this one, which clears the
        // screen, comes after the resize, as a player needs them.
        if resized && let Some(recorder) = &self.recorder {
            recorder.resize(self.size.0, self.size.1);
        }
        self.writer.send(out)?;
        Ok(Drawn::Wrote(bytes))
    }

    /// Paints the slots within `budget` bytes; returns whether a new picture went up.
    fn paint_video(
        &mut self,
        slots: &[VideoSlot],
        covered: Vec<Vec<bool>>,
        budget: usize,
        bucket_full: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        self.tiles
            .retain(|key, _| slots.iter().any(|slot| &slot.key == key));
        let mut work = Vec::new();
        for (slot, covered) in slots.iter().zip(covered) {
            let tile = self.tiles.entry(slot.key.clone()).or_insert_with(|| Tile {
                painter: AnsiPainter::new(self.config.mode).with_threshold(self.config.threshold),
                area: Rect::default(),
                frame: None,
                grid: CellGrid::default(),
                covered: Vec::new(),
                shown_frame: None,
            });
            let moved = tile.area != slot.area;
            if moved {
                tile.area = slot.area;
                tile.painter
                    .place(slot.area.x, slot.area.y, slot.area.width, slot.area.height);
            }
            let new_frame = !tile
                .frame
                .as_ref()
                .is_some_and(|f| Arc::ptr_eq(f, &slot.frame));
            if new_frame || moved {
                tile.grid = cells_from_i420(&slot.frame, slot.area.width, slot.area.height).0;
                tile.frame = Some(Arc::clone(&slot.frame));
            }
            let recovered = tile.covered != covered;
            if new_frame || moved || recovered || !tile.painter.settled() {
                tile.covered = covered;
                tile.painter.prepare_covered(&tile.grid, &tile.covered);
                work.push(slot.key.clone());
            }
        }
        let limit = out.len().saturating_add(budget);
        let mut new_picture = false;
        // The cut is sized by an estimate of what a cell costs; cells that prove cheaper
        // (runs that reuse the pen, a flat picture) leave bytes over, and further passes
        // spend them on what is still off, largest first.
        for pass in 0..MAX_PASSES {
            let left = limit.saturating_sub(out.len());
            if pass > 0 && (left < budget / 8 || left < MIN_PASS_BYTES) {
                break;
            }
            self.distances.clear();
            for key in &work {
                if let Some(tile) = self.tiles.get(key) {
                    self.distances.extend_from_slice(tile.painter.distances());
                }
            }
            let mut affordable = (left as f32 / self.cost_per_cell.max(1.0)) as usize;
            // A lower frame rate instead of a thinner update: when this frame could redraw
            // less than `min_fill` of what changed, wait for the bucket to fill (the newest
            // picture then gets a fuller update).
            if pass == 0 && self.config.min_fill > 0.0 && !bucket_full {
                let wanted = self
                    .distances
                    .iter()
                    .filter(|&&d| d > self.config.threshold)
                    .count();
                if (affordable as f32) < self.config.min_fill * wanted as f32 {
                    affordable = 0;
                }
            }
            let cut: Cut = choose_cut(
                &self.distances,
                self.config.threshold,
                affordable,
                &mut self.scratch,
            );
            let mut ties = cut.ties;
            let pass_start = out.len();
            let mut pass_drawn = 0usize;
            for key in &work {
                let Some(tile) = self.tiles.get_mut(key) else {
                    continue;
                };
                let cells = tile.painter.emit(cut, &mut ties, out, limit);
                pass_drawn += cells;
                if cells > 0
                    && let Some(frame) = &tile.frame
                    && !tile
                        .shown_frame
                        .as_ref()
                        .is_some_and(|f| Arc::ptr_eq(f, frame))
                {
                    tile.shown_frame = Some(Arc::clone(frame));
                    new_picture = true;
                }
            }
            if pass_drawn == 0 {
                break;
            }
            let cost = (out.len() - pass_start) as f32 / pass_drawn as f32;
            self.cost_per_cell = 0.7 * self.cost_per_cell + 0.3 * cost;
        }
        // What is left above the threshold waits for the next frame.
        let held_back = work.iter().any(|key| {
            self.tiles
                .get(key)
                .is_some_and(|tile| !tile.painter.settled())
        });
        let mut error_sum = 0.0;
        let mut error_cells = 0usize;
        if self.config.measure_error {
            for tile in self.tiles.values() {
                let n = tile.grid.cells().len();
                error_sum += tile.painter.mean_error(&tile.grid) * n as f64;
                error_cells += n;
            }
            if error_cells > 0 {
                self.stats.error_sum += error_sum / error_cells as f64;
                self.stats.error_frames += 1;
            }
        }
        self.held_back = held_back;
        new_picture
    }

    /// Takes in finished writes; an error means the terminal is gone.
    fn collect(&mut self, now: Instant) -> io::Result<()> {
        if let Some(link) = &mut self.link {
            link.tick(now);
        }
        if let Some(written) = self.writer.poll() {
            self.account(written)?;
        }
        while self
            .recent
            .front()
            .is_some_and(|(at, _, _)| now.saturating_duration_since(*at) > Duration::from_secs(2))
        {
            self.recent.pop_front();
        }
        Ok(())
    }

    fn account(&mut self, written: writer::Written) -> io::Result<()> {
        written.result?;
        self.stats.bytes += written.bytes as u64;
        Ok(())
    }

    /// Waits up to `timeout` for the frame being written (before leaving the screen, or
    /// to show every frame); true when it is out.
    pub fn finish(&mut self, timeout: Duration) -> bool {
        match self.writer.finish(timeout) {
            Ok(Some(written)) => self.account(written).is_ok(),
            Ok(None) => true,
            Err(()) => false,
        }
    }

    pub fn stats(&self) -> &OutputStats {
        &self.stats
    }

    /// Output and video frame rates over the last second: (bits per second, frames per
    /// second).
    pub fn rates(&self, now: Instant) -> (f64, f64) {
        let window = Duration::from_secs(1);
        let (bytes, frames) = self
            .recent
            .iter()
            .filter(|(at, _, _)| now.saturating_duration_since(*at) <= window)
            .fold((0usize, 0u64), |(b, f), (_, bytes, frames)| {
                (b + bytes, f + frames)
            });
        (bytes as f64 * 8.0, frames as f64)
    }

    /// A short line for the status bar: `↑ 812 kbit/s · 12 fps`, with the link's rate when
    /// following one.
    pub fn status(&self, now: Instant) -> String {
        let (bits, fps) = self.rates(now);
        let mut text = format!("↑ {} · {fps:.0} fps", format_bits(bits));
        match (&self.link, self.config.max_rate) {
            (Some(link), _) if link.answers() == Some(false) => {
                text.push_str(" · link: no answers")
            }
            (Some(link), _) => {
                text.push_str(&format!(" · link {}", format_bits(link.rate() * 8.0)))
            }
            (None, MaxRate::Fixed(bits)) => {
                text.push_str(&format!(" · max {}", format_bits(bits as f64)))
            }
            _ => {}
        }
        text
    }

    /// The `--stats` summary printed on exit.
    pub fn summary(&self, now: Instant) -> String {
        let s = &self.stats;
        let secs = now
            .saturating_duration_since(self.started)
            .as_secs_f64()
            .max(1e-3);
        let mut text = format!(
            "output: {} bytes in {secs:.1} s, {} average, {} frames written, {:.1} video fps",
            s.bytes,
            format_bits(s.bytes as f64 * 8.0 / secs),
            s.frames,
            s.video_frames as f64 / secs
        );
        if s.video_cells > 0 {
            text.push_str(&format!(
                ", {:.2} video bytes per picture cell per frame drawn",
                s.video_bytes as f64 / s.video_cells as f64
            ));
        }
        if s.error_frames > 0 {
            text.push_str(&format!(
                ", mean error {:.2}/255",
                s.error_sum / s.error_frames as f64
            ));
        }
        if let Some(link) = &self.link {
            match link.answers() {
                Some(false) => text.push_str("; the terminal never answered a status request"),
                _ => text.push_str(&format!(
                    "; link followed at {}",
                    format_bits(link.rate() * 8.0)
                )),
            }
        }
        text
    }
}
