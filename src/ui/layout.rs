//! Where the video tiles go: a grid that re-flows with the number of tiles and the area,
//! choosing the column count that gives every 4:3 picture the most room.

use ratatui::layout::Rect;

/// Width over height of a terminal cell's pixel pair: a cell is about twice as tall as
/// wide, and holds two pixels, so a w x h cell area shows w x 2h square pixels.
const PICTURE_ASPECT: f64 = 4.0 / 3.0;

/// The smallest tile, borders included, whose picture and title stay legible.
pub const MIN_TILE: (u16, u16) = (24, 8);

/// How many tiles of at least [`MIN_TILE`] fit in `area` (at least one).
pub fn tiles_per_page(area: Rect) -> usize {
    let cols = (area.width / MIN_TILE.0).max(1);
    let rows = (area.height / MIN_TILE.1).max(1);
    usize::from(cols) * usize::from(rows)
}

/// Splits `area` into `count` equal tiles (row-major), as large as a 4:3 picture allows.
pub fn grid(area: Rect, count: usize) -> Vec<Rect> {
    if count == 0 || area.width == 0 || area.height == 0 {
        return Vec::new();
    }
    let mut best = (0.0f64, 1usize);
    for cols in 1..=count {
        let rows = count.div_ceil(cols);
        let tile_w = f64::from(area.width) / cols as f64;
        let tile_h = f64::from(area.height) / rows as f64;
        // Picture size in pixels that fits the tile (2 pixels per cell row, minus borders).
        let (w, h) = ((tile_w - 2.0).max(0.0), ((tile_h - 2.0) * 2.0).max(0.0));
        let scale = (w / PICTURE_ASPECT).min(h);
        if scale > best.0 {
            best = (scale, cols);
        }
    }
    let cols = best.1;
    let rows = count.div_ceil(cols);
    let mut tiles = Vec::with_capacity(count);
    for i in 0..count {
        let (c, r) = (i % cols, i / cols);
        let x0 = area.x + (usize::from(area.width) * c / cols) as u16;
        let x1 = area.x + (usize::from(area.width) * (c + 1) / cols) as u16;
        let y0 = area.y + (usize::from(area.height) * r / rows) as u16;
        let y1 = area.y + (usize::from(area.height) * (r + 1) / rows) as u16;
        tiles.push(Rect::new(x0, y0, x1 - x0, y1 - y0));
    }
    tiles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_overlap_and_inside(area: Rect, tiles: &[Rect]) {
        for (i, a) in tiles.iter().enumerate() {
            assert!(
                area.contains(a.as_position()) || a.area() == 0,
                "{a:?} outside {area:?}"
            );
            assert!(a.right() <= area.right() && a.bottom() <= area.bottom());
            for b in &tiles[i + 1..] {
                assert!(!a.intersects(*b), "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn tiles_reflow_with_count_and_shape() {
        let wide = Rect::new(0, 1, 160, 45);
        for n in 1..=9 {
            let tiles = grid(wide, n);
            assert_eq!(tiles.len(), n);
            no_overlap_and_inside(wide, &tiles);
        }
        // Two people on a wide terminal: side by side, not stacked.
        let two = grid(wide, 2);
        assert_eq!(two[0].y, two[1].y);
        // Two people on a tall terminal: stacked.
        let tall = grid(Rect::new(0, 0, 60, 80), 2);
        assert_eq!(tall[0].x, tall[1].x);
        // Four on a wide terminal: a 2x2 or 4x1 grid, whichever gives larger pictures.
        let four = grid(Rect::new(0, 0, 200, 60), 4);
        assert!(four[0].width >= 50 && four[0].height >= 15, "{four:?}");
    }

    #[test]
    fn empty_areas_and_counts_give_no_tiles() {
        assert!(grid(Rect::new(0, 0, 0, 10), 3).is_empty());
        assert!(grid(Rect::new(0, 0, 10, 10), 0).is_empty());
        assert_eq!(grid(Rect::new(0, 0, 1, 1), 5).len(), 5);
    }
}
