//! Cell-by-cell colour tests of the half-block renderer: the ratatui widget and the ANSI
//! painter (read back through an independent terminal emulator) show a four-quadrant
//! picture with the right colours in the right places, in every colour mode and size.

use crate::common;

use common::*;
use packspaces::render::widget::to_color;
use packspaces::render::{AnsiPainter, ColorMode, Fit, VideoFrame, cells_from_i420};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::widgets::Widget;

/// Area sizes to try: odd and even, tiny and wide, plus empty ones.
fn areas() -> Vec<(u16, u16)> {
    let mut v = vec![
        (0, 0),
        (0, 5),
        (5, 0),
        (1, 1),
        (2, 1),
        (1, 2),
        (3, 3),
        (160, 48),
    ];
    for cols in [4u16, 7, 13, 20, 33] {
        for rows in [2u16, 5, 9, 12] {
            v.push((cols, rows));
        }
    }
    v
}

fn ratatui_colour(mode: ColorMode, c: packspaces::render::Rgb) -> Color {
    match mode {
        ColorMode::TrueColor => Color::Rgb(c.r, c.g, c.b),
        _ => to_color(packspaces::render::Paint::Indexed(expected_index(mode, c))),
    }
}

fn assert_widget_colour(mode: ColorMode, got: Color, want: packspaces::render::Rgb, ctx: &str) {
    match (mode, got) {
        (ColorMode::TrueColor, Color::Rgb(r, g, b)) => assert!(
            r.abs_diff(want.r) <= 4 && g.abs_diff(want.g) <= 4 && b.abs_diff(want.b) <= 4,
            "{ctx}: got ({r},{g},{b}), want {want:?}"
        ),
        _ => assert_eq!(got, ratatui_colour(mode, want), "{ctx}"),
    }
}

#[test]
fn widget_draws_quadrants_in_every_mode_and_size() {
    for (fw, fh) in [(64u32, 48u32), (640, 480), (36, 52)] {
        let frame = quadrants(fw, fh);
        for mode in MODES {
            for (cols, rows) in areas() {
                // Draw inside a larger buffer to catch writes outside the area.
                let area = Rect::new(2, 1, cols, rows);
                let mut buf = Buffer::empty(Rect::new(0, 0, cols + 4, rows + 2));
                VideoFrame {
                    frame: &frame,
                    mode,
                }
                .render(area, &mut buf);
                let fit = Fit::new(fw, fh, cols, rows);
                let mut checked = 0;
                for y in 0..buf.area.height {
                    for x in 0..buf.area.width {
                        let cell = &buf[(x, y)];
                        let inside = x >= area.x + fit.col
                            && x < area.x + fit.col + fit.cols()
                            && y >= area.y + fit.row
                            && y < area.y + fit.row + fit.rows();
                        if !inside {
                            assert_eq!(
                                cell.symbol(),
                                " ",
                                "{mode:?} {cols}x{rows}: ({x},{y}) outside the picture was drawn"
                            );
                            continue;
                        }
                        assert_eq!(cell.symbol(), "▀");
                        let (px, cy) = (
                            u32::from(x - area.x - fit.col),
                            u32::from(y - area.y - fit.row),
                        );
                        for (py, colour) in [(2 * cy, cell.fg), (2 * cy + 1, cell.bg)] {
                            let ctx = format!(
                                "{fw}x{fh} {mode:?} in {cols}x{rows}: cell ({x},{y}) pixel row {py}"
                            );
                            if py >= u32::from(fit.pixel_height) {
                                assert_widget_colour(
                                    mode,
                                    colour,
                                    packspaces::render::Rgb::BLACK,
                                    &ctx,
                                );
                                continue;
                            }
                            let (Some(left), Some(top)) = (
                                side(px, u32::from(fit.pixel_width), fw),
                                side(py, u32::from(fit.pixel_height), fh),
                            ) else {
                                continue;
                            };
                            assert_widget_colour(mode, colour, quadrant_colour(left, top), &ctx);
                            checked += 1;
                        }
                    }
                }
                if cols >= 4 && rows >= 2 {
                    assert!(
                        checked >= 4,
                        "{mode:?} {cols}x{rows}: only {checked} pixels checked"
                    );
                }
            }
        }
    }
}

#[test]
fn a_one_cell_picture_shows_the_mean_colour_over_black() {
    let frame = quadrants(64, 48);
    let mut buf = Buffer::empty(Rect::new(0, 0, 1, 1));
    VideoFrame {
        frame: &frame,
        mode: ColorMode::TrueColor,
    }
    .render(buf.area, &mut buf);
    // The mean of red, green, blue and white is mid grey.
    assert_widget_colour(
        ColorMode::TrueColor,
        buf[(0, 0)].fg,
        packspaces::render::Rgb::new(128, 128, 128),
        "1x1",
    );
    assert_eq!(buf[(0, 0)].bg, Color::Rgb(0, 0, 0));
}

#[test]
fn painter_output_shows_quadrants_on_a_real_terminal_emulator() {
    let frame = quadrants(64, 48);
    for mode in MODES {
        for (cols, rows) in [(1u16, 1u16), (3, 2), (16, 6), (33, 9), (80, 24)] {
            let (grid, fit) = cells_from_i420(&frame, cols, rows);
            let mut painter = AnsiPainter::new(mode);
            painter.place(fit.col, fit.row, grid.cols(), grid.rows());
            let mut bytes = Vec::new();
            painter.paint(&grid, &mut bytes);
            let mut term = vt100::Parser::new(rows, cols, 0);
            term.process(&bytes);
            let screen = term.screen();
            let mut checked = 0usize;
            for cy in 0..fit.rows() {
                for cx in 0..fit.cols() {
                    let cell = screen.cell(fit.row + cy, fit.col + cx).unwrap();
                    let (upper, lower) = visible(cell).unwrap_or_else(|| {
                        panic!(
                            "{mode:?} {cols}x{rows}: cell ({cx},{cy}) shows {:?}",
                            cell.contents()
                        )
                    });
                    for (py, seen) in [(2 * u32::from(cy), upper), (2 * u32::from(cy) + 1, lower)] {
                        let (Some(left), Some(top)) = (
                            side(u32::from(cx), u32::from(fit.pixel_width), 64),
                            side(py, u32::from(fit.pixel_height), 48),
                        ) else {
                            continue;
                        };
                        let ctx =
                            format!("{mode:?} {cols}x{rows}: cell ({cx},{cy}) pixel row {py}");
                        assert_shows(mode, seen, quadrant_colour(left, top), &ctx);
                        checked += 1;
                    }
                }
            }
            // Only pixels that straddle two quadrants are skipped: from 3x2 up that is at
            // most a third of the picture (1x1 is all straddle; its mean colour is checked in
            // a_one_cell_picture_shows_the_mean_colour_over_black).
            let pixels = 2 * usize::from(fit.cols()) * usize::from(fit.rows());
            if cols >= 3 && rows >= 2 {
                assert!(
                    pixels > 0 && 3 * checked >= 2 * pixels,
                    "{mode:?} {cols}x{rows}: only {checked} of {pixels} pixels checked"
                );
            }
            // The painter leaves the terminal's colours reset.
            assert!(bytes.ends_with(b"\x1b[0m\x1b[?2026l"));
        }
    }
}

#[test]
fn zero_sized_areas_render_nothing_and_write_nothing() {
    let frame = quadrants(64, 48);
    for (cols, rows) in [(0u16, 0u16), (0, 10), (10, 0)] {
        let (grid, _) = cells_from_i420(&frame, cols, rows);
        assert!(grid.is_empty());
        let mut out = Vec::new();
        AnsiPainter::new(ColorMode::TrueColor).paint(&grid, &mut out);
        assert!(out.is_empty());
    }
}
