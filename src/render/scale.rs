//! Fit a picture into a cell area and area-average it down to half-block cells.
//!
//! A terminal cell is about twice as tall as it is wide, so a half-block (▀) cell holds
//! two square-ish pixels: its foreground is the upper pixel, its background the lower.
//! An area of `cols x rows` cells is therefore a `cols x 2*rows` pixel canvas.

use super::frame::{I420Frame, Rgb, yuv_to_rgb};

/// The two visible colours of one half-block cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CellColors {
    pub upper: Rgb,
    pub lower: Rgb,
}

/// Where a picture lands inside an area: the picture's size in canvas pixels and the
/// cell rectangle that holds it (relative to the area's top-left corner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// Picture width in pixels, which is also its width in cells.
    pub pixel_width: u16,
    /// Picture height in pixels (two per cell row; may be odd).
    pub pixel_height: u16,
    /// Column offset of the picture inside the area.
    pub col: u16,
    /// Row offset of the picture inside the area.
    pub row: u16,
}

impl Fit {
    /// Fits a `src_w x src_h` picture into `cols x rows` cells keeping its aspect ratio,
    /// centred (letterboxed). Empty sources or areas give an empty fit.
    pub fn new(src_w: u32, src_h: u32, cols: u16, rows: u16) -> Fit {
        let empty = Fit {
            pixel_width: 0,
            pixel_height: 0,
            col: 0,
            row: 0,
        };
        if src_w == 0 || src_h == 0 || cols == 0 || rows == 0 {
            return empty;
        }
        let canvas_w = u64::from(cols);
        let canvas_h = 2 * u64::from(rows);
        let (sw, sh) = (u64::from(src_w), u64::from(src_h));
        // Compare sw/sh with canvas_w/canvas_h without floating point.
        let (w, h) = if sw * canvas_h >= canvas_w * sh {
            // Width-limited.
            (canvas_w, (sh * canvas_w + sw / 2) / sw)
        } else {
            ((sw * canvas_h + sh / 2) / sh, canvas_h)
        };
        let (w, h) = (w.clamp(1, canvas_w), h.clamp(1, canvas_h));
        let cell_rows = h.div_ceil(2);
        Fit {
            pixel_width: w as u16,
            pixel_height: h as u16,
            col: ((canvas_w - w) / 2) as u16,
            row: ((u64::from(rows) - cell_rows) / 2) as u16,
        }
    }

    /// Width of the picture in cells.
    pub fn cols(&self) -> u16 {
        self.pixel_width
    }

    /// Height of the picture in cells (the last row's lower half is black when the
    /// pixel height is odd).
    pub fn rows(&self) -> u16 {
        self.pixel_height.div_ceil(2)
    }
}

/// A picture scaled to cells: `cols x rows` cells in row-major order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CellGrid {
    cols: u16,
    rows: u16,
    cells: Vec<CellColors>,
}

impl CellGrid {
    /// A grid of one colour, mostly for tests.
    pub fn filled(cols: u16, rows: u16, colors: CellColors) -> CellGrid {
        CellGrid {
            cols,
            rows,
            cells: vec![colors; usize::from(cols) * usize::from(rows)],
        }
    }

    pub fn cols(&self) -> u16 {
        self.cols
    }

    pub fn rows(&self) -> u16 {
        self.rows
    }

    pub fn cells(&self) -> &[CellColors] {
        &self.cells
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cell at (col, row), if inside the grid.
    pub fn get(&self, col: u16, row: u16) -> Option<CellColors> {
        (col < self.cols && row < self.rows)
            .then(|| self.cells[usize::from(row) * usize::from(self.cols) + usize::from(col)])
    }

    pub fn set(&mut self, col: u16, row: u16, colors: CellColors) {
        if col < self.cols && row < self.rows {
            self.cells[usize::from(row) * usize::from(self.cols) + usize::from(col)] = colors;
        }
    }
}

/// Source ranges `[start, end)` that each of `out` output pixels averages over a source
/// of length `len`. Every range holds at least one source pixel, so upscaling repeats.
fn box_ranges(len: u32, out: u16) -> Vec<(u32, u32)> {
    let (len, out) = (u64::from(len), u64::from(out));
    (0..out)
        .map(|i| {
            let start = (i * len / out).min(len - 1);
            let end = ((i + 1) * len / out).clamp(start + 1, len);
            (start as u32, end as u32)
        })
        .collect()
}

/// Sums every plane row in `rows` over the column boxes into `sums`.
fn box_sums(plane: &[u8], stride: usize, rows: (u32, u32), cols: &[(u32, u32)], sums: &mut [u32]) {
    sums.iter_mut().for_each(|s| *s = 0);
    for y in rows.0..rows.1 {
        let line = &plane[y as usize * stride..];
        for (sum, &(x0, x1)) in sums.iter_mut().zip(cols) {
            *sum += line[x0 as usize..x1 as usize]
                .iter()
                .map(|&v| u32::from(v))
                .sum::<u32>();
        }
    }
}

/// Scales an I420 frame into a `cols x rows` area: area-averages the luma and chroma
/// planes straight to the fitted pixel grid, then converts each averaged pixel to RGB.
/// Returns the grid (the picture's cells only) and where it sits in the area.
pub fn cells_from_i420(frame: &I420Frame, cols: u16, rows: u16) -> (CellGrid, Fit) {
    let fit = Fit::new(frame.width(), frame.height(), cols, rows);
    let mut grid = CellGrid::filled(fit.cols(), fit.rows(), CellColors::default());
    if grid.is_empty() {
        return (grid, fit);
    }
    let (w, h) = (frame.width(), frame.height());
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (pw, ph) = (fit.pixel_width, fit.pixel_height);
    let y_cols = box_ranges(w, pw);
    let c_cols = box_ranges(cw, pw);
    let y_rows = box_ranges(h, ph);
    let c_rows = box_ranges(ch, ph);
    let n = usize::from(pw);
    let (mut ys, mut us, mut vs) = (vec![0u32; n], vec![0u32; n], vec![0u32; n]);
    for (py, (&yr, &cr)) in y_rows.iter().zip(&c_rows).enumerate() {
        box_sums(frame.y(), w as usize, yr, &y_cols, &mut ys);
        box_sums(frame.u(), cw as usize, cr, &c_cols, &mut us);
        box_sums(frame.v(), cw as usize, cr, &c_cols, &mut vs);
        let y_height = yr.1 - yr.0;
        let c_height = cr.1 - cr.0;
        let row = usize::from(pw) * (py / 2);
        for px in 0..n {
            let yn = (y_cols[px].1 - y_cols[px].0) * y_height;
            let cn = (c_cols[px].1 - c_cols[px].0) * c_height;
            let rgb = yuv_to_rgb(
                ((ys[px] + yn / 2) / yn) as u8,
                ((us[px] + cn / 2) / cn) as u8,
                ((vs[px] + cn / 2) / cn) as u8,
            );
            let cell = &mut grid.cells[row + px];
            if py % 2 == 0 {
                cell.upper = rgb;
            } else {
                cell.lower = rgb;
            }
        }
    }
    (grid, fit)
}

/// Scales a packed RGB picture (`width * height` pixels, row-major) like
/// [`cells_from_i420`] does an I420 frame.
pub fn cells_from_rgb(
    pixels: &[Rgb],
    width: u32,
    height: u32,
    cols: u16,
    rows: u16,
) -> (CellGrid, Fit) {
    let fit = if pixels.len() < width as usize * height as usize {
        Fit::new(0, 0, cols, rows)
    } else {
        Fit::new(width, height, cols, rows)
    };
    let mut grid = CellGrid::filled(fit.cols(), fit.rows(), CellColors::default());
    if grid.is_empty() {
        return (grid, fit);
    }
    let (pw, ph) = (fit.pixel_width, fit.pixel_height);
    let x_boxes = box_ranges(width, pw);
    let y_boxes = box_ranges(height, ph);
    for (py, &(y0, y1)) in y_boxes.iter().enumerate() {
        for (px, &(x0, x1)) in x_boxes.iter().enumerate() {
            let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
            for y in y0..y1 {
                let line = &pixels[(y * width) as usize..];
                for p in &line[x0 as usize..x1 as usize] {
                    r += u32::from(p.r);
                    g += u32::from(p.g);
                    b += u32::from(p.b);
                }
            }
            let n = (x1 - x0) * (y1 - y0);
            let rgb = Rgb::new(
                ((r + n / 2) / n) as u8,
                ((g + n / 2) / n) as u8,
                ((b + n / 2) / n) as u8,
            );
            let cell = &mut grid.cells[usize::from(pw) * (py / 2) + px];
            if py % 2 == 0 {
                cell.upper = rgb;
            } else {
                cell.lower = rgb;
            }
        }
    }
    (grid, fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_centres() {
        // 4:3 into 80x24 cells = 80x48 pixels: height-limited to 64x48.
        let f = Fit::new(640, 480, 80, 24);
        assert_eq!(
            (f.pixel_width, f.pixel_height, f.col, f.row),
            (64, 48, 8, 0)
        );
        // Wide picture into a tall area: width-limited, centred vertically.
        let f = Fit::new(1600, 400, 40, 40);
        assert_eq!(
            (f.pixel_width, f.pixel_height, f.col, f.row),
            (40, 10, 0, 17)
        );
    }

    #[test]
    fn fit_never_exceeds_the_area_and_never_vanishes() {
        for (w, h) in [(1, 1), (640, 480), (1, 5000), (5000, 1), (3, 7)] {
            for cols in 1..12u16 {
                for rows in 1..9u16 {
                    let f = Fit::new(w, h, cols, rows);
                    assert!(f.cols() >= 1 && f.rows() >= 1);
                    assert!(f.col + f.cols() <= cols, "{w}x{h} in {cols}x{rows}: {f:?}");
                    assert!(f.row + f.rows() <= rows, "{w}x{h} in {cols}x{rows}: {f:?}");
                }
            }
        }
        assert_eq!(Fit::new(640, 480, 0, 10).cols(), 0);
        assert_eq!(Fit::new(640, 480, 10, 0).rows(), 0);
    }

    #[test]
    fn box_ranges_cover_the_source_in_order() {
        for (len, out) in [(640u32, 160u16), (7, 3), (3, 7), (1, 1), (5, 5)] {
            let r = box_ranges(len, out);
            assert_eq!(r.len(), usize::from(out));
            assert!(r.iter().all(|&(a, b)| a < b && b <= len));
            if out as u32 <= len {
                assert_eq!(r[0].0, 0);
                assert_eq!(r[r.len() - 1].1, len);
                assert!(r.windows(2).all(|p| p[0].1 == p[1].0));
            }
        }
    }

    #[test]
    fn rgb_and_i420_scaling_agree_on_a_solid_colour() {
        let c = Rgb::new(200, 40, 90);
        let frame = I420Frame::solid(64, 48, c).unwrap();
        let (grid, _) = cells_from_i420(&frame, 10, 5);
        let pixels = vec![c; 64 * 48];
        let (rgb_grid, _) = cells_from_rgb(&pixels, 64, 48, 10, 5);
        assert_eq!(grid.cols(), rgb_grid.cols());
        for (a, b) in grid.cells().iter().zip(rgb_grid.cells()) {
            assert!(a.upper.r.abs_diff(b.upper.r) <= 3 && a.upper.g.abs_diff(b.upper.g) <= 3);
        }
    }

    #[test]
    fn odd_pixel_height_leaves_a_black_lower_half() {
        // 2x3 picture into 2x2 cells: 2x3 pixels, second row's lower half is letterbox.
        let pixels = vec![Rgb::new(255, 255, 255); 6];
        let (grid, fit) = cells_from_rgb(&pixels, 2, 3, 2, 2);
        assert_eq!((fit.pixel_width, fit.pixel_height), (2, 3));
        assert_eq!(grid.get(0, 1).unwrap().upper, Rgb::new(255, 255, 255));
        assert_eq!(grid.get(0, 1).unwrap().lower, Rgb::BLACK);
    }
}
