//! Writes cell grids to a terminal as ANSI escape sequences, sending only what changed.
//!
//! The painter remembers what it last *wrote* to each cell. A cell whose new colours are
//! within a small perceptual threshold of what the screen already shows is skipped, so the
//! error on screen is bounded by the threshold and never accumulates. The same threshold
//! lets a cell reuse the current pen colour instead of sending a new one. SGR sequences
//! carry only the colours that change (fg and bg together in one sequence), skipped runs
//! become cursor jumps, and each frame is one buffer wrapped in synchronized output
//! (DEC mode 2026) so the terminal never shows half a frame.
//!
//! A byte cap is hard: when a frame changes more than the cap affords, the cells that
//! changed most are drawn first ([`choose_cut`]) and the rest wait for later frames, which
//! refine a still picture until it is within the threshold again.

use std::io::Write as _;

use super::color::{ColorMode, Paint, distance2};
use super::frame::Rgb;
use super::scale::CellGrid;

/// Begin and end of synchronized output.
const SYNC_BEGIN: &[u8] = b"\x1b[?2026h";
const SYNC_END: &[u8] = b"\x1b[?2026l";
const UPPER_HALF: &str = "▀";
const LOWER_HALF: &str = "▄";

/// Default skip threshold (squared redmean distance); about 2/255 per channel.
pub const DEFAULT_THRESHOLD: u32 = 36;
/// The most bytes one cell can cost: a full cursor move, both truecolor SGRs, the glyph.
const MAX_CELL_BYTES: usize = 56;
/// Ends every painted run: the chrome drawn after it must not inherit our colours.
const RESET: &[u8] = b"\x1b[0m";
/// Starting guess of the bytes one redrawn cell costs, before any were measured.
const INITIAL_COST_PER_CELL: f32 = 24.0;

/// What one cell shows: its upper and lower colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shown {
    upper: Paint,
    lower: Paint,
}

/// The terminal's current SGR colours, as far as we know them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pen {
    fg: Option<Paint>,
    bg: Option<Paint>,
}

/// Which cells a frame redraws: those further than `threshold` from what the screen shows,
/// plus `ties` more exactly at it (the first in raster order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub threshold: u32,
    pub ties: usize,
}

/// The cut that redraws at most `affordable` of the cells whose `distances` are given, the
/// largest first, and never a cell at or below `floor`. `scratch` is reused between calls.
/// Several painters can share one cut (their distances concatenated), so that the budget
/// goes to the largest changes on the whole screen.
pub fn choose_cut(distances: &[u32], floor: u32, affordable: usize, scratch: &mut Vec<u32>) -> Cut {
    let changed = distances.iter().filter(|&&d| d > floor).count();
    if changed <= affordable {
        return Cut {
            threshold: floor,
            ties: 0,
        };
    }
    if affordable == 0 {
        return Cut {
            threshold: u32::MAX,
            ties: 0,
        };
    }
    scratch.clear();
    scratch.extend_from_slice(distances);
    let (_, &mut nth, _) = scratch.select_nth_unstable_by(affordable - 1, |a, b| b.cmp(a));
    let above = distances.iter().filter(|&&d| d > nth).count();
    Cut {
        threshold: nth,
        ties: affordable.saturating_sub(above),
    }
}

/// Turns successive [`CellGrid`]s into the bytes that update a terminal region.
#[derive(Debug)]
pub struct AnsiPainter {
    mode: ColorMode,
    threshold: u32,
    /// Bytes per cell per frame to aim for, if limited.
    budget: Option<f32>,
    /// Recent bytes per redrawn cell (moving average), for the budget.
    cost_per_cell: f32,
    /// The threshold the last frame used.
    last_threshold: u32,
    cols: u16,
    rows: u16,
    /// Zero-based terminal column and row of the grid's top-left cell.
    origin: (u16, u16),
    shown: Vec<Option<Shown>>,
    /// Per-frame scratch: wanted colours, and their distance from what is shown.
    wants: Vec<Shown>,
    distances: Vec<u32>,
    ranked: Vec<u32>,
    selected: Vec<bool>,
}

impl AnsiPainter {
    pub fn new(mode: ColorMode) -> Self {
        Self {
            mode,
            threshold: DEFAULT_THRESHOLD,
            budget: None,
            cost_per_cell: INITIAL_COST_PER_CELL,
            last_threshold: DEFAULT_THRESHOLD,
            cols: 0,
            rows: 0,
            origin: (0, 0),
            shown: Vec::new(),
            wants: Vec::new(),
            distances: Vec::new(),
            ranked: Vec::new(),
            selected: Vec::new(),
        }
    }

    /// Sets the skip threshold (squared redmean distance; 0 = exact diffing).
    /// It only applies in truecolor mode: palette modes compare palette indices.
    pub fn with_threshold(mut self, threshold: u32) -> Self {
        self.threshold = threshold;
        self
    }

    /// Limits [`AnsiPainter::paint`] to `bytes_per_cell` per cell per frame: in frames with
    /// much change the largest changes are drawn first and the rest wait (0 = no limit).
    pub fn with_budget(mut self, bytes_per_cell: f32) -> Self {
        self.budget = (bytes_per_cell > 0.0).then_some(bytes_per_cell);
        self
    }

    /// The threshold the last painted frame used.
    pub fn last_threshold(&self) -> u32 {
        self.last_threshold
    }

    pub fn mode(&self) -> ColorMode {
        self.mode
    }

    /// Places the grid at a zero-based terminal position and size. A change forgets what
    /// the screen shows, so the next frame is written in full.
    pub fn place(&mut self, col: u16, row: u16, cols: u16, rows: u16) {
        if (col, row, cols, rows) != (self.origin.0, self.origin.1, self.cols, self.rows) {
            self.origin = (col, row);
            self.cols = cols;
            self.rows = rows;
            self.invalidate();
        }
    }

    /// Forgets what the screen shows (after a clear or resize), so everything is redrawn.
    pub fn invalidate(&mut self) {
        self.shown.clear();
        self.shown
            .resize(usize::from(self.cols) * usize::from(self.rows), None);
    }

    /// Mean absolute error per channel (0-255) between what the screen shows and `exact`,
    /// over the cells the painter has written. For measuring the cost of the threshold.
    pub fn mean_error(&self, exact: &CellGrid) -> f64 {
        let mut total = 0u64;
        let mut samples = 0u64;
        for (shown, cell) in self.shown.iter().zip(exact.cells()) {
            if let Some(s) = shown {
                for (paint, want) in [(s.upper, cell.upper), (s.lower, cell.lower)] {
                    let got = paint.to_rgb();
                    total += u64::from(got.r.abs_diff(want.r))
                        + u64::from(got.g.abs_diff(want.g))
                        + u64::from(got.b.abs_diff(want.b));
                    samples += 3;
                }
            }
        }
        if samples == 0 {
            0.0
        } else {
            total as f64 / samples as f64
        }
    }

    /// Works out what `grid` wants of every cell and how far each is from what the screen
    /// shows ([`AnsiPainter::distances`]), ready for [`AnsiPainter::emit`]. The grid must
    /// have the placed size; a grid of another size is placed at the same origin first.
    pub fn prepare(&mut self, grid: &CellGrid) {
        self.prepare_covered(grid, &[]);
    }

    /// [`AnsiPainter::prepare`] for a grid partly covered by something else on screen (a
    /// popup): cells marked in `covered` (raster order; missing = not covered) are left
    /// alone and forgotten, so that they are drawn again once uncovered.
    pub fn prepare_covered(&mut self, grid: &CellGrid, covered: &[bool]) {
        if grid.cols() != self.cols || grid.rows() != self.rows {
            self.place(self.origin.0, self.origin.1, grid.cols(), grid.rows());
        }
        self.wants.clear();
        self.wants.extend(grid.cells().iter().map(|cell| Shown {
            upper: self.mode.paint(cell.upper),
            lower: self.mode.paint(cell.lower),
        }));
        self.distances.clear();
        self.distances.extend(
            self.shown
                .iter()
                .zip(&self.wants)
                .map(|(&shown, &want)| cell_distance(shown, want)),
        );
        for (i, _) in covered.iter().enumerate().filter(|(_, c)| **c) {
            if let (Some(shown), Some(distance)) =
                (self.shown.get_mut(i), self.distances.get_mut(i))
            {
                *shown = None;
                *distance = 0;
            }
        }
    }

    /// How far each cell of the prepared grid is from what the screen shows (squared
    /// redmean; `u32::MAX` for a cell never drawn), in raster order.
    pub fn distances(&self) -> &[u32] {
        &self.distances
    }

    /// True when nothing of the prepared grid is left to draw above the threshold (after
    /// [`AnsiPainter::emit`]: nothing left that it could not afford).
    pub fn settled(&self) -> bool {
        self.distances.iter().all(|&d| d <= self.threshold)
    }

    /// Appends the bytes that redraw the prepared cells selected by `cut` (ties taken from
    /// the shared count, in raster order) to `out`, and stops before `out` would grow past
    /// `limit` bytes: a hard cap, whatever the cells cost. Returns how many cells it drew.
    /// Appends nothing when nothing is selected. Not wrapped in synchronized output.
    pub fn emit(&mut self, cut: Cut, ties: &mut usize, out: &mut Vec<u8>, limit: usize) -> usize {
        self.last_threshold = cut.threshold;
        // Redrawn cells reuse a close pen colour only within a quarter of a raised
        // threshold, so that they land well inside it and a still picture converges.
        let pen_tolerance = (cut.threshold / 4).max(self.threshold);
        let start = out.len();
        let mut pen = Pen::default();
        // Where the cursor is, in grid coordinates, when known.
        let mut cursor: Option<(u16, u16)> = None;
        let cols = usize::from(self.cols);
        self.selected.clear();
        self.selected.extend(self.distances.iter().map(|&d| {
            let redraw = d > cut.threshold || (d == cut.threshold && *ties > 0);
            if d == cut.threshold && redraw {
                *ties -= 1;
            }
            redraw
        }));
        let mut redrawn = 0usize;
        for i in 0..self.wants.len() {
            let (col, row) = ((i % cols) as u16, (i / cols) as u16);
            if !self.selected[i] {
                // The cursor is here and the next cell gets drawn: a jump over this cell
                // costs 3 bytes, drawing it with the pen as it is costs no more (1 for a
                // space), and brings it closer to the picture.
                let next_drawn = col + 1 < self.cols && self.selected[i + 1];
                if cursor == Some((col, row))
                    && next_drawn
                    && let Some(shown) = self.shown[i]
                    && let Some((glyph, drawn)) = reuse_pen(self.wants[i], pen_tolerance, pen)
                    && error(drawn, self.wants[i]) < error(shown, self.wants[i])
                {
                    out.extend_from_slice(glyph.as_bytes());
                    self.shown[i] = Some(drawn);
                    self.distances[i] = cell_distance(Some(drawn), self.wants[i]);
                    cursor = Some((col + 1, row));
                }
                continue;
            }
            if out.len() + MAX_CELL_BYTES + RESET.len() > limit {
                break;
            }
            self.move_to(cursor, col, row, out);
            let drawn = draw_cell(
                self.wants[i],
                self.shown[i],
                cut.threshold,
                pen_tolerance,
                &mut pen,
                out,
            );
            self.shown[i] = Some(drawn);
            // Kept current, so that `settled` tells what is left without preparing again.
            self.distances[i] = cell_distance(Some(drawn), self.wants[i]);
            redrawn += 1;
            // After the last column the cursor may sit in the terminal's pending-wrap
            // state, so its position is only trusted inside the row.
            cursor = (col + 1 < self.cols).then_some((col + 1, row));
        }
        if out.len() > start {
            out.extend_from_slice(RESET);
            let cost = (out.len() - start) as f32 / redrawn.max(1) as f32;
            self.cost_per_cell = 0.7 * self.cost_per_cell + 0.3 * cost;
        }
        redrawn
    }

    /// Appends the bytes that turn the screen into `grid` to `out`, in one synchronized
    /// update. With a budget, at most `budget` bytes per cell are written (the largest
    /// changes first; what is left is refined in later frames). Appends nothing when
    /// nothing visibly changed.
    pub fn paint(&mut self, grid: &CellGrid, out: &mut Vec<u8>) {
        self.prepare(grid);
        let cells = self.distances.len();
        let (cut, limit) = match self.budget {
            Some(budget) => {
                let bytes = (budget * cells as f32) as usize;
                let affordable = (bytes as f32 / self.cost_per_cell.max(1.0)) as usize;
                let cut = choose_cut(
                    &self.distances,
                    self.threshold,
                    affordable,
                    &mut self.ranked,
                );
                (cut, bytes + SYNC_BEGIN.len() + SYNC_END.len())
            }
            None => (
                Cut {
                    threshold: self.threshold,
                    ties: 0,
                },
                usize::MAX,
            ),
        };
        let start = out.len();
        out.extend_from_slice(SYNC_BEGIN);
        let mut ties = cut.ties;
        let limit = limit.saturating_add(start).saturating_sub(SYNC_END.len());
        if self.emit(cut, &mut ties, out, limit) == 0 {
            out.truncate(start);
        } else {
            out.extend_from_slice(SYNC_END);
        }
    }

    fn move_to(&self, cursor: Option<(u16, u16)>, col: u16, row: u16, out: &mut Vec<u8>) {
        match cursor {
            Some((c, r)) if r == row && c == col => {}
            Some((c, r)) if r == row && c < col => {
                let n = col - c;
                if n == 1 {
                    out.extend_from_slice(b"\x1b[C");
                } else {
                    let _ = write!(out, "\x1b[{n}C");
                }
            }
            _ => {
                let _ = write!(
                    out,
                    "\x1b[{};{}H",
                    u32::from(self.origin.1) + u32::from(row) + 1,
                    u32::from(self.origin.0) + u32::from(col) + 1
                );
            }
        }
    }
}

/// How far what a cell shows is from what it should (the larger of its halves' distances;
/// `u32::MAX` when it was never drawn): what the cut ranks.
fn cell_distance(shown: Option<Shown>, want: Shown) -> u32 {
    match shown {
        Some(s) => paint_distance(s.upper, want.upper).max(paint_distance(s.lower, want.lower)),
        None => u32::MAX,
    }
}

/// How far a cell's shown colours are from the wanted ones (sum of both halves).
fn error(shown: Shown, want: Shown) -> u64 {
    u64::from(paint_distance(shown.upper, want.upper))
        + u64::from(paint_distance(shown.lower, want.lower))
}

/// A glyph that shows `want` (within `tolerance`) with the pen as it is, if there is one;
/// the cheapest first.
fn reuse_pen(want: Shown, tolerance: u32, pen: Pen) -> Option<(&'static str, Shown)> {
    let close = |p: Option<Paint>, c: Paint| p.is_some_and(|p| paint_distance(p, c) <= tolerance);
    let (fg, bg) = (pen.fg?, pen.bg?);
    if close(pen.bg, want.upper) && close(pen.bg, want.lower) {
        Some((
            " ",
            Shown {
                upper: bg,
                lower: bg,
            },
        ))
    } else if close(pen.fg, want.upper) && close(pen.bg, want.lower) {
        Some((
            UPPER_HALF,
            Shown {
                upper: fg,
                lower: bg,
            },
        ))
    } else if close(pen.fg, want.lower) && close(pen.bg, want.upper) {
        Some((
            LOWER_HALF,
            Shown {
                upper: bg,
                lower: fg,
            },
        ))
    } else if close(pen.fg, want.upper) && close(pen.fg, want.lower) {
        Some((
            "█",
            Shown {
                upper: fg,
                lower: fg,
            },
        ))
    } else {
        None
    }
}

/// A way to draw a cell: the glyph, and the new fg and bg (`None` keeps the pen).
type Glyph = (&'static str, Option<Paint>, Option<Paint>);

/// Draws one cell with whichever glyph needs the fewest colour changes, and returns
/// the colours it actually shows. A pen colour is reused for a half when it is within that
/// half's tolerance: `tolerance` for a half that is redrawn because it is off by more than
/// `cut`; for the other half, whatever error it shows now if that is larger (it gets no
/// worse, and the colour change is saved for a cell that needs it).
fn draw_cell(
    want: Shown,
    shown: Option<Shown>,
    cut: u32,
    tolerance: u32,
    pen: &mut Pen,
    out: &mut Vec<u8>,
) -> Shown {
    let half = |shown: Option<Paint>, want: Paint| match shown {
        Some(s) if paint_distance(s, want) <= cut => tolerance.max(paint_distance(s, want)),
        _ => tolerance,
    };
    let tol_upper = half(shown.map(|s| s.upper), want.upper);
    let tol_lower = half(shown.map(|s| s.lower), want.lower);
    let fits =
        |p: Option<Paint>, c: Paint, tol: u32| p.is_some_and(|p| paint_distance(p, c) <= tol);
    // A slot's pen is kept when it fits every half it shows; else it is set exactly.
    let slot = |p: Option<Paint>, halves: &[(Paint, u32)]| -> Option<Paint> {
        if halves.iter().all(|&(c, tol)| fits(p, c, tol)) {
            None
        } else {
            Some(halves[0].0)
        }
    };
    let upper = (want.upper, tol_upper);
    let lower = (want.lower, tol_lower);
    // Candidates: (glyph, new fg, new bg) — `None` keeps the pen as it is.
    let mut candidates: [Option<Glyph>; 4] = [
        Some((UPPER_HALF, slot(pen.fg, &[upper]), slot(pen.bg, &[lower]))),
        Some((LOWER_HALF, slot(pen.fg, &[lower]), slot(pen.bg, &[upper]))),
        None,
        None,
    ];
    // Halves close enough to share one colour (their mean, within the tolerance of both)
    // cost one colour instead of two.
    if let Some(mean) = mean_paint(want.upper, want.lower)
        && paint_distance(mean, want.upper) <= tol_upper
        && paint_distance(mean, want.lower) <= tol_lower
    {
        let both = [(mean, tol_upper.min(tol_lower))];
        let shared = |p: Option<Paint>| {
            if fits(p, want.upper, tol_upper) && fits(p, want.lower, tol_lower) {
                None
            } else {
                Some(both[0].0)
            }
        };
        candidates[2] = Some((" ", None, shared(pen.bg)));
        candidates[3] = Some(("█", shared(pen.fg), None));
    }
    let cost = |(glyph, fg, bg): &Glyph| {
        (usize::from(fg.is_some()) + usize::from(bg.is_some())) * 16 + glyph.len()
    };
    let Some((glyph, new_fg, new_bg)) = candidates.into_iter().flatten().min_by_key(cost) else {
        return want;
    };
    if new_fg.is_some() || new_bg.is_some() {
        out.extend_from_slice(b"\x1b[");
        if let Some(c) = new_fg {
            push_color(out, c, true);
            pen.fg = Some(c);
        }
        if let Some(c) = new_bg {
            if new_fg.is_some() {
                out.push(b';');
            }
            push_color(out, c, false);
            pen.bg = Some(c);
        }
        out.push(b'm');
    }
    out.extend_from_slice(glyph.as_bytes());
    // What the screen now shows, from the pen (which may be a close reuse).
    let fg = pen.fg.unwrap_or(want.upper);
    let bg = pen.bg.unwrap_or(want.lower);
    match glyph {
        UPPER_HALF => Shown {
            upper: fg,
            lower: bg,
        },
        LOWER_HALF => Shown {
            upper: bg,
            lower: fg,
        },
        " " => Shown {
            upper: bg,
            lower: bg,
        },
        _ => Shown {
            upper: fg,
            lower: fg,
        },
    }
}

/// The colour halfway between two, if both are RGB (palette entries are never blended).
fn mean_paint(a: Paint, b: Paint) -> Option<Paint> {
    match (a, b) {
        (Paint::Rgb(x), Paint::Rgb(y)) => Some(Paint::Rgb(Rgb::new(
            (u16::from(x.r) + u16::from(y.r)).div_ceil(2) as u8,
            (u16::from(x.g) + u16::from(y.g)).div_ceil(2) as u8,
            (u16::from(x.b) + u16::from(y.b)).div_ceil(2) as u8,
        ))),
        _ if a == b => Some(a),
        _ => None,
    }
}

/// Perceptual distance between two paints; palette entries are equal or infinitely apart.
fn paint_distance(a: Paint, b: Paint) -> u32 {
    match (a, b) {
        (Paint::Rgb(x), Paint::Rgb(y)) => distance2(x, y),
        _ if a == b => 0,
        _ => u32::MAX,
    }
}

/// Appends one SGR colour parameter group (no `ESC [` or `m`).
fn push_color(out: &mut Vec<u8>, c: Paint, foreground: bool) {
    match c {
        Paint::Rgb(Rgb { r, g, b }) => {
            out.extend_from_slice(if foreground { b"38;2;" } else { b"48;2;" });
            push_u8(out, r);
            out.push(b';');
            push_u8(out, g);
            out.push(b';');
            push_u8(out, b);
        }
        Paint::Indexed(i) if i < 16 => {
            let base = match (foreground, i < 8) {
                (true, true) => 30,
                (true, false) => 90 - 8,
                (false, true) => 40,
                (false, false) => 100 - 8,
            };
            push_u8(out, base + i);
        }
        Paint::Indexed(i) => {
            out.extend_from_slice(if foreground { b"38;5;" } else { b"48;5;" });
            push_u8(out, i);
        }
    }
}

/// Appends a decimal number without going through `fmt` (this is the hot path).
#[inline]
fn push_u8(out: &mut Vec<u8>, v: u8) {
    if v >= 100 {
        out.push(b'0' + v / 100);
    }
    if v >= 10 {
        out.push(b'0' + (v / 10) % 10);
    }
    out.push(b'0' + v % 10);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::scale::CellColors;

    const RED: Rgb = Rgb::new(255, 0, 0);
    const BLUE: Rgb = Rgb::new(0, 0, 255);
    const WHITE: Rgb = Rgb::new(255, 255, 255);

    fn cell(upper: Rgb, lower: Rgb) -> CellColors {
        CellColors { upper, lower }
    }

    fn paint(p: &mut AnsiPainter, g: &CellGrid) -> String {
        let mut out = Vec::new();
        p.paint(g, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn first_frame_writes_every_cell_with_one_sgr_per_change() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor);
        p.place(2, 1, 2, 1);
        let g = CellGrid::filled(2, 1, cell(RED, BLUE));
        assert_eq!(
            paint(&mut p, &g),
            "\x1b[?2026h\x1b[2;3H\x1b[38;2;255;0;0;48;2;0;0;255m▀▀\x1b[0m\x1b[?2026l"
        );
    }

    #[test]
    fn an_unchanged_frame_writes_nothing() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor);
        let g = CellGrid::filled(3, 2, cell(RED, BLUE));
        assert!(!paint(&mut p, &g).is_empty());
        assert_eq!(paint(&mut p, &g), "");
    }

    #[test]
    fn skipped_cells_become_cursor_jumps() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor);
        let mut g = CellGrid::filled(5, 2, cell(RED, BLUE));
        paint(&mut p, &g);
        g.set(0, 0, cell(WHITE, BLUE));
        g.set(3, 0, cell(WHITE, BLUE));
        g.set(4, 1, cell(WHITE, BLUE));
        assert_eq!(
            paint(&mut p, &g),
            "\x1b[?2026h\x1b[1;1H\x1b[38;2;255;255;255;48;2;0;0;255m▀\x1b[2C▀\x1b[2;5H▀\x1b[0m\x1b[?2026l"
        );
    }

    #[test]
    fn swapped_colours_reuse_the_pen_with_the_lower_half_block() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor);
        let mut g = CellGrid::filled(2, 1, cell(RED, BLUE));
        g.set(1, 0, cell(BLUE, RED));
        assert_eq!(
            paint(&mut p, &g),
            "\x1b[?2026h\x1b[1;1H\x1b[38;2;255;0;0;48;2;0;0;255m▀▄\x1b[0m\x1b[?2026l"
        );
    }

    #[test]
    fn one_colour_cells_use_a_space_and_only_the_background() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor);
        let g = CellGrid::filled(2, 1, cell(WHITE, WHITE));
        assert_eq!(
            paint(&mut p, &g),
            "\x1b[?2026h\x1b[1;1H\x1b[48;2;255;255;255m  \x1b[0m\x1b[?2026l"
        );
    }

    #[test]
    fn small_changes_under_the_threshold_are_skipped_but_never_accumulate() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor).with_threshold(36);
        paint(
            &mut p,
            &CellGrid::filled(1, 1, cell(Rgb::new(100, 100, 100), BLUE)),
        );
        // 1 step per channel: distance 9, skipped.
        let g = CellGrid::filled(1, 1, cell(Rgb::new(101, 101, 101), BLUE));
        assert_eq!(paint(&mut p, &g), "");
        // 3 steps from what is shown (distance 81): redrawn, although each step was small.
        let g = CellGrid::filled(1, 1, cell(Rgb::new(103, 103, 103), BLUE));
        assert!(paint(&mut p, &g).contains("38;2;103;103;103"));
    }

    #[test]
    fn palette_modes_use_indexed_and_named_sgr_codes() {
        let g = CellGrid::filled(1, 1, cell(RED, BLUE));
        let mut p = AnsiPainter::new(ColorMode::Palette256);
        assert_eq!(
            paint(&mut p, &g),
            "\x1b[?2026h\x1b[1;1H\x1b[38;5;196;48;5;21m▀\x1b[0m\x1b[?2026l"
        );
        let mut p = AnsiPainter::new(ColorMode::Ansi16);
        assert_eq!(
            paint(&mut p, &g),
            "\x1b[?2026h\x1b[1;1H\x1b[91;44m▀\x1b[0m\x1b[?2026l"
        );
    }

    #[test]
    fn moving_or_resizing_redraws_everything() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor);
        let g = CellGrid::filled(2, 2, cell(RED, BLUE));
        paint(&mut p, &g);
        p.place(1, 0, 2, 2);
        assert!(paint(&mut p, &g).starts_with("\x1b[?2026h\x1b[1;2H"));
        assert_eq!(paint(&mut p, &CellGrid::default()), "");
    }

    /// A grid whose every cell is a distinct grey, offset by `shift`.
    fn ramp(cols: u16, rows: u16, shift: u8) -> CellGrid {
        let mut g = CellGrid::filled(cols, rows, cell(RED, BLUE));
        for row in 0..rows {
            for col in 0..cols {
                let v = ((u32::from(col) * 7 + u32::from(row) * 31) % 200) as u8 + shift;
                g.set(col, row, cell(Rgb::new(v, v, 255 - v), Rgb::new(v, 0, v)));
            }
        }
        g
    }

    #[test]
    fn a_budget_redraws_the_largest_changes_first_and_refines_later() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor).with_budget(4.0);
        let cap = 40 * 10 * 4 + 16;
        // Nothing is on screen yet: the first frames fill it in, within the cap each.
        let mut frames = 0;
        loop {
            let out = paint(&mut p, &ramp(40, 10, 0));
            assert!(out.len() <= cap, "first frames over the cap: {}", out.len());
            frames += 1;
            if p.shown.iter().all(Option::is_some) {
                break;
            }
            assert!(frames < 20, "the picture never filled in");
        }
        assert!(frames > 1, "a whole picture costs more than 4 bytes a cell");
        for _ in 0..20 {
            paint(&mut p, &ramp(40, 10, 0));
        }
        // Every cell moves a little, a few cells a lot.
        let mut g = ramp(40, 10, 6);
        for col in [3u16, 17, 29] {
            g.set(col, 4, cell(WHITE, WHITE));
        }
        let second = paint(&mut p, &g);
        assert!(
            second.len() <= cap,
            "over budget: {} bytes, threshold {}, cost {}",
            second.len(),
            p.last_threshold(),
            p.cost_per_cell
        );
        assert!(
            second.matches("48;2;255;255;255m").count() >= 1,
            "big changes first"
        );
        assert!(p.last_threshold() > DEFAULT_THRESHOLD);
        let error_after_second = p.mean_error(&g);
        // The picture holds still: leftover errors are refined away.
        for _ in 0..20 {
            paint(&mut p, &g);
        }
        assert!(p.mean_error(&g) < error_after_second / 2.0);
        assert_eq!(p.last_threshold(), DEFAULT_THRESHOLD);
    }

    #[test]
    fn the_byte_cap_holds_whatever_the_cells_cost() {
        // Every cell changes both colours to values no pen can reuse: about 40 bytes each.
        let mut p = AnsiPainter::new(ColorMode::TrueColor);
        p.prepare(&ramp(30, 8, 0));
        let mut out = Vec::new();
        let cut = Cut {
            threshold: 0,
            ties: 0,
        };
        let drawn = p.emit(cut, &mut 0, &mut out, 1000);
        assert!(out.len() <= 1000, "{} bytes", out.len());
        assert!(drawn > 10 && drawn < 240, "{drawn} cells drawn");
        // What was not drawn is still owed: the next frame continues.
        p.prepare(&ramp(30, 8, 0));
        let owed = p.distances().iter().filter(|&&d| d == u32::MAX).count();
        assert_eq!(owed, 240 - drawn);
    }

    #[test]
    fn a_shared_cut_takes_the_largest_changes_and_fills_ties_in_order() {
        let mut scratch = Vec::new();
        let d = [5, 900, 40, 900, 900, 30, u32::MAX];
        assert_eq!(
            choose_cut(&d, 36, 10, &mut scratch),
            Cut {
                threshold: 36,
                ties: 0
            },
            "everything affordable"
        );
        assert_eq!(
            choose_cut(&d, 36, 3, &mut scratch),
            Cut {
                threshold: 900,
                ties: 2
            },
            "the blank cell, then two of the three at 900"
        );
        assert_eq!(
            choose_cut(&d, 36, 0, &mut scratch).threshold,
            u32::MAX,
            "nothing affordable, nothing drawn"
        );
    }

    #[test]
    fn mean_error_reports_what_the_threshold_cost() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor).with_threshold(36);
        paint(
            &mut p,
            &CellGrid::filled(1, 1, cell(Rgb::new(100, 100, 100), BLUE)),
        );
        let g = CellGrid::filled(1, 1, cell(Rgb::new(101, 101, 101), BLUE));
        paint(&mut p, &g);
        assert!((p.mean_error(&g) - 0.5).abs() < 1e-9);
    }
}
