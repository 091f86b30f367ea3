//! Video inside a ratatui screen: [`VideoSlot`]s reserve a picture's cells for the output's
//! own painter (ratatui leaves them alone), and widgets that draw a frame or a cell grid
//! into a buffer directly (for tests and screenshots).

use std::sync::Arc;

use ratatui::buffer::{Buffer, Cell, CellDiffOption};
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::widgets::Widget;

use super::color::{ColorMode, Paint};
use super::frame::I420Frame;
use super::scale::{CellColors, CellGrid, Fit, cells_from_i420};

/// Draws a [`CellGrid`] at the top-left of the area (clipped to it): `▀` with the upper
/// colour as foreground and the lower colour as background.
#[derive(Debug, Clone, Copy)]
pub struct HalfBlocks<'a> {
    pub grid: &'a CellGrid,
    pub mode: ColorMode,
}

impl Widget for HalfBlocks<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        for row in 0..self.grid.rows().min(area.height) {
            for col in 0..self.grid.cols().min(area.width) {
                let Some(colors) = self.grid.get(col, row) else {
                    continue;
                };
                if let Some(cell) = buf.cell_mut((area.x + col, area.y + row)) {
                    set_half_block(cell, colors, self.mode);
                }
            }
        }
    }
}

/// Scales a frame into the whole area, letterboxed and centred; cells outside the picture
/// are left as they are.
#[derive(Debug, Clone, Copy)]
pub struct VideoFrame<'a> {
    pub frame: &'a I420Frame,
    pub mode: ColorMode,
}

impl Widget for VideoFrame<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (grid, fit): (CellGrid, Fit) = cells_from_i420(self.frame, area.width, area.height);
        let inner = Rect::new(area.x + fit.col, area.y + fit.row, fit.cols(), fit.rows());
        HalfBlocks {
            grid: &grid,
            mode: self.mode,
        }
        .render(inner, buf);
    }
}

/// A picture the screen's owner paints itself, with the budgeted diffing painter: the view
/// reserves its cells (marked `skip`, so ratatui's diff never writes them) and the output
/// paints the frame there (see `crate::output`).
#[derive(Debug, Clone)]
pub struct VideoSlot {
    /// Names the tile across frames (a peer id, or `you`), so that its painter keeps
    /// knowing what the screen shows there.
    pub key: String,
    /// The picture's cells: the frame fitted (aspect kept) inside its tile.
    pub area: Rect,
    pub frame: Arc<I420Frame>,
}

/// Reserves `frame`'s picture, letterboxed and centred in `area`, for the output's painter:
/// marks those cells `skip` and returns the slot (`None` when nothing of it fits). The
/// letterbox around it stays ratatui's to draw.
pub fn reserve_video(
    buf: &mut Buffer,
    key: &str,
    area: Rect,
    frame: &Arc<I420Frame>,
) -> Option<VideoSlot> {
    let fit = Fit::new(frame.width(), frame.height(), area.width, area.height);
    let picture = Rect::new(area.x + fit.col, area.y + fit.row, fit.cols(), fit.rows())
        .intersection(buf.area);
    if picture.is_empty() {
        return None;
    }
    for y in picture.top()..picture.bottom() {
        for x in picture.left()..picture.right() {
            if let Some(cell) = buf.cell_mut((x, y)) {
                cell.reset();
                cell.set_diff_option(CellDiffOption::Skip);
            }
        }
    }
    Some(VideoSlot {
        key: key.to_string(),
        area: picture,
        frame: Arc::clone(frame),
    })
}

/// Draws slots into the buffer as ratatui cells, where the output would paint them (cells
/// that something else covers since, no longer `skip`, are left alone). For tests and
/// screenshots: the terminal gets the same colours through the painter.
pub fn draw_slots(buf: &mut Buffer, slots: &[VideoSlot], mode: ColorMode) {
    for slot in slots {
        let (grid, _) = cells_from_i420(&slot.frame, slot.area.width, slot.area.height);
        for row in 0..grid.rows().min(slot.area.height) {
            for col in 0..grid.cols().min(slot.area.width) {
                let (x, y) = (slot.area.x + col, slot.area.y + row);
                let (Some(colors), Some(cell)) = (grid.get(col, row), buf.cell_mut((x, y))) else {
                    continue;
                };
                if is_reserved(cell) {
                    set_half_block(cell.set_diff_option(CellDiffOption::None), colors, mode);
                }
            }
        }
    }
}

/// Makes `cell` show `colors`: `▀`, the upper colour as foreground, the lower as background.
fn set_half_block(cell: &mut Cell, colors: CellColors, mode: ColorMode) {
    cell.set_symbol("▀")
        .set_fg(to_color(mode.paint(colors.upper)))
        .set_bg(to_color(mode.paint(colors.lower)));
}

/// True for a cell reserved for a picture (and not covered since by something else).
pub fn is_reserved(cell: &Cell) -> bool {
    cell.diff_option == CellDiffOption::Skip
}

/// The ratatui colour for a paint. The 16 ANSI colours map to ratatui's named colours so
/// that terminals without `38;5` support still understand them.
pub fn to_color(p: Paint) -> Color {
    match p {
        Paint::Rgb(c) => Color::Rgb(c.r, c.g, c.b),
        Paint::Indexed(i) => match i {
            0 => Color::Black,
            1 => Color::Red,
            2 => Color::Green,
            3 => Color::Yellow,
            4 => Color::Blue,
            5 => Color::Magenta,
            6 => Color::Cyan,
            7 => Color::Gray,
            8 => Color::DarkGray,
            9 => Color::LightRed,
            10 => Color::LightGreen,
            11 => Color::LightYellow,
            12 => Color::LightBlue,
            13 => Color::LightMagenta,
            14 => Color::LightCyan,
            15 => Color::White,
            i => Color::Indexed(i),
        },
    }
}
