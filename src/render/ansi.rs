//! Writes cell grids to a terminal as ANSI escape sequences, sending only what changed.
//!
//! The painter remembers what it last *wrote* to each cell. A cell whose new colours are
//! within a small perceptual threshold of what the screen already shows is skipped, so the
//! error on screen is bounded by the threshold and never accumulates. The same threshold
//! lets a cell reuse the current pen colour instead of sending a new one. SGR sequences
//! carry only the colours that change (fg and bg together in one sequence), skipped runs
//! become cursor jumps, and each frame is one buffer wrapped in synchronized output
//! (DEC mode 2026) so the terminal never shows half a frame.

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
/// The largest threshold a byte budget may raise the threshold to; about 11/255 per channel.
pub const MAX_THRESHOLD: u32 = 1400;
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

    /// Limits output to about `bytes_per_cell` per cell per frame by raising the threshold
    /// (up to [`MAX_THRESHOLD`]) in frames with much change. Truecolor only.
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

    /// This frame's threshold, and how many cells exactly at it are still redrawn: the
    /// configured threshold, or with a budget, the distance that leaves only as many
    /// cells above it as the budget affords (ties at it fill the rest of the budget,
    /// in raster order, so equal errors cannot stall the refinement).
    fn choose_threshold(&mut self) -> (u32, usize) {
        let Some(budget) = self.budget else {
            return (self.threshold, 0);
        };
        let cells = self.distances.len() as f32;
        let affordable = ((budget * cells) / self.cost_per_cell.max(1.0)) as usize;
        let changed = self
            .distances
            .iter()
            .filter(|&&d| d > self.threshold)
            .count();
        if changed <= affordable {
            return (self.threshold, 0);
        }
        self.ranked.clear();
        self.ranked.extend_from_slice(&self.distances);
        let (_, &mut nth, _) = self
            .ranked
            .select_nth_unstable_by(affordable, |a, b| b.cmp(a));
        if nth == u32::MAX {
            // More cells are blank than the budget affords: they must all be drawn
            // anyway, so draw them exactly.
            return (self.threshold, 0);
        }
        if nth > MAX_THRESHOLD {
            return (MAX_THRESHOLD, 0);
        }
        let above = self.distances.iter().filter(|&&d| d > nth).count();
        (nth, affordable.saturating_sub(above))
    }

    /// Appends the bytes that turn the screen into `grid` to `out`. The grid must have the
    /// size given to [`AnsiPainter::place`]; a grid of another size is placed at the same
    /// origin first. Appends nothing when nothing visibly changed.
    pub fn paint(&mut self, grid: &CellGrid, out: &mut Vec<u8>) {
        if grid.cols() != self.cols || grid.rows() != self.rows {
            self.place(self.origin.0, self.origin.1, grid.cols(), grid.rows());
        }
        self.wants.clear();
        self.wants.extend(grid.cells().iter().map(|cell| Shown {
            upper: self.mode.paint(cell.upper),
            lower: self.mode.paint(cell.lower),
        }));
        self.distances.clear();
        self.distances
            .extend(
                self.shown
                    .iter()
                    .zip(&self.wants)
                    .map(|(shown, want)| match shown {
                        Some(s) => paint_distance(s.upper, want.upper)
                            .max(paint_distance(s.lower, want.lower)),
                        None => u32::MAX,
                    }),
            );
        let (threshold, mut ties) = self.choose_threshold();
        self.last_threshold = threshold;
        // Redrawn cells reuse a close pen colour only within a quarter of a raised
        // threshold, so that they land well inside it and a still picture converges.
        let pen_tolerance = (threshold / 4).max(self.threshold);

        let start = out.len();
        out.extend_from_slice(SYNC_BEGIN);
        let body = out.len();
        let mut pen = Pen::default();
        // Where the cursor is, in grid coordinates, when known.
        let mut cursor: Option<(u16, u16)> = None;
        let cols = usize::from(self.cols);
        self.selected.clear();
        self.selected.extend(self.distances.iter().map(|&d| {
            let redraw = d > threshold || (d == threshold && ties > 0);
            if d == threshold && redraw {
                ties -= 1;
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
                    cursor = Some((col + 1, row));
                }
                continue;
            }
            self.move_to(cursor, col, row, out);
            self.shown[i] = Some(draw_cell(self.wants[i], pen_tolerance, &mut pen, out));
            redrawn += 1;
            // After the last column the cursor may sit in the terminal's pending-wrap
            // state, so its position is only trusted inside the row.
            cursor = (col + 1 < self.cols).then_some((col + 1, row));
        }
        if out.len() == body {
            out.truncate(start);
        } else {
            out.extend_from_slice(b"\x1b[0m");
            out.extend_from_slice(SYNC_END);
            let cost = (out.len() - start) as f32 / redrawn.max(1) as f32;
            self.cost_per_cell = 0.7 * self.cost_per_cell + 0.3 * cost;
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

/// Draws one cell with whichever glyph needs the fewest colour changes, and returns
/// the colours it actually shows (pen colours reused within the threshold).
fn draw_cell(want: Shown, threshold: u32, pen: &mut Pen, out: &mut Vec<u8>) -> Shown {
    let close = |a: Paint, b: Paint| paint_distance(a, b) <= threshold;
    let has = |p: Option<Paint>, c: Paint| p.is_some_and(|p| close(p, c));
    let same_halves = close(want.upper, want.lower);
    // Candidates: (glyph, fg, bg); None means "any colour will do".
    let mut best: Option<(usize, &str, Option<Paint>, Option<Paint>)> = None;
    let mut consider = |glyph: &'static str, fg: Option<Paint>, bg: Option<Paint>| {
        let changes = usize::from(fg.is_some_and(|c| !has(pen.fg, c)))
            + usize::from(bg.is_some_and(|c| !has(pen.bg, c)));
        let cost = changes * 16 + glyph.len();
        if best.is_none_or(|b| cost < b.0) {
            best = Some((cost, glyph, fg, bg));
        }
    };
    consider(UPPER_HALF, Some(want.upper), Some(want.lower));
    consider(LOWER_HALF, Some(want.lower), Some(want.upper));
    if same_halves {
        consider(" ", None, Some(want.upper));
        consider("█", Some(want.upper), None);
    }
    let Some((_, glyph, fg, bg)) = best else {
        return want;
    };
    let new_fg = fg.filter(|&c| !has(pen.fg, c));
    let new_bg = bg.filter(|&c| !has(pen.bg, c));
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
        let first = paint(&mut p, &ramp(40, 10, 0));
        // The first frame has nothing on screen to keep: everything is drawn.
        assert!(first.len() > 400 * 10, "{}", first.len());
        // Every cell moves a little, a few cells a lot.
        let mut g = ramp(40, 10, 6);
        for col in [3u16, 17, 29] {
            g.set(col, 4, cell(WHITE, WHITE));
        }
        let second = paint(&mut p, &g);
        assert!(
            second.len() < 40 * 10 * 6,
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
        // The picture holds still: leftover errors are refined away, within the cap.
        for _ in 0..20 {
            paint(&mut p, &g);
        }
        assert!(p.mean_error(&g) < error_after_second / 2.0);
        assert_eq!(p.last_threshold(), DEFAULT_THRESHOLD);
    }

    #[test]
    fn a_budget_never_leaves_errors_above_the_cap() {
        let mut p = AnsiPainter::new(ColorMode::TrueColor).with_budget(0.5);
        paint(&mut p, &ramp(20, 5, 0));
        let g = ramp(20, 5, 40);
        paint(&mut p, &g);
        assert!(p.last_threshold() <= MAX_THRESHOLD);
        for (shown, want) in p.shown.iter().zip(g.cells()) {
            let s = shown.unwrap();
            assert!(distance2(s.upper.to_rgb(), want.upper) <= MAX_THRESHOLD);
            assert!(distance2(s.lower.to_rgb(), want.lower) <= MAX_THRESHOLD);
        }
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
