//! ratatui widgets that draw a video frame (or a ready cell grid) as half-block cells.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::widgets::Widget;

use super::color::{ColorMode, Paint};
use super::frame::I420Frame;
use super::scale::{CellGrid, Fit, cells_from_i420};

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
                    cell.set_symbol("▀")
                        .set_fg(to_color(self.mode.paint(colors.upper)))
                        .set_bg(to_color(self.mode.paint(colors.lower)));
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
