//! Colour modes (truecolor, 256, 16), palette quantisation and a perceptual distance.

use super::frame::Rgb;

/// How many colours the terminal understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColorMode {
    /// 24-bit `38;2;r;g;b` colours.
    TrueColor,
    /// The xterm 256-colour palette; only the 6x6x6 cube and the grey ramp are used,
    /// since the first 16 entries differ from terminal to terminal.
    Palette256,
    /// The 16 ANSI colours (xterm's default palette is assumed when picking the nearest).
    Ansi16,
}

impl ColorMode {
    /// Picks the mode a terminal supports from its `COLORTERM` and `TERM` variables.
    pub fn detect(colorterm: Option<&str>, term: Option<&str>) -> ColorMode {
        let colorterm = colorterm.unwrap_or("").to_ascii_lowercase();
        if colorterm.contains("truecolor") || colorterm.contains("24bit") {
            return ColorMode::TrueColor;
        }
        let term = term.unwrap_or("").to_ascii_lowercase();
        if term.contains("truecolor") || term.contains("direct") {
            ColorMode::TrueColor
        } else if term.contains("256") {
            ColorMode::Palette256
        } else {
            ColorMode::Ansi16
        }
    }

    /// [`ColorMode::detect`] on this process's environment.
    pub fn from_env() -> ColorMode {
        let colorterm = std::env::var("COLORTERM").ok();
        let term = std::env::var("TERM").ok();
        Self::detect(colorterm.as_deref(), term.as_deref())
    }

    /// The colour as this mode will send it to the terminal.
    #[inline]
    pub fn paint(self, c: Rgb) -> Paint {
        match self {
            ColorMode::TrueColor => Paint::Rgb(c),
            ColorMode::Palette256 => Paint::Indexed(nearest_256(c)),
            ColorMode::Ansi16 => Paint::Indexed(nearest_16(c)),
        }
    }
}

/// A colour in the form the terminal receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Paint {
    Rgb(Rgb),
    /// An index into the terminal's palette (0-15 for 16-colour mode, 16-255 for 256).
    Indexed(u8),
}

impl Paint {
    /// The sRGB value this paint shows on an xterm-default terminal.
    pub fn to_rgb(self) -> Rgb {
        match self {
            Paint::Rgb(c) => c,
            Paint::Indexed(i) => palette_rgb(i),
        }
    }
}

/// Squared "redmean" distance: a cheap weighted Euclidean distance that tracks perceived
/// difference far better than plain RGB distance (red and blue weights follow the mean red).
/// An error of `e` in every channel gives about `9 * e * e`.
#[inline]
pub fn distance2(a: Rgb, b: Rgb) -> u32 {
    let rmean = (u32::from(a.r) + u32::from(b.r)) / 2;
    let dr = i32::from(a.r) - i32::from(b.r);
    let dg = i32::from(a.g) - i32::from(b.g);
    let db = i32::from(a.b) - i32::from(b.b);
    let (dr2, dg2, db2) = ((dr * dr) as u32, (dg * dg) as u32, (db * db) as u32);
    (((512 + rmean) * dr2) >> 8) + 4 * dg2 + (((767 - rmean) * db2) >> 8)
}

/// The levels of the 6x6x6 colour cube in the xterm palette.
const CUBE_LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// xterm's default 16 colours.
const ANSI16: [Rgb; 16] = [
    Rgb::new(0, 0, 0),
    Rgb::new(205, 0, 0),
    Rgb::new(0, 205, 0),
    Rgb::new(205, 205, 0),
    Rgb::new(0, 0, 238),
    Rgb::new(205, 0, 205),
    Rgb::new(0, 205, 205),
    Rgb::new(229, 229, 229),
    Rgb::new(127, 127, 127),
    Rgb::new(255, 0, 0),
    Rgb::new(0, 255, 0),
    Rgb::new(255, 255, 0),
    Rgb::new(92, 92, 255),
    Rgb::new(255, 0, 255),
    Rgb::new(0, 255, 255),
    Rgb::new(255, 255, 255),
];

/// The sRGB value of an xterm palette entry.
pub fn palette_rgb(index: u8) -> Rgb {
    match index {
        0..=15 => ANSI16[usize::from(index)],
        16..=231 => {
            let i = index - 16;
            Rgb::new(
                CUBE_LEVELS[usize::from(i / 36)],
                CUBE_LEVELS[usize::from((i / 6) % 6)],
                CUBE_LEVELS[usize::from(i % 6)],
            )
        }
        _ => {
            let v = 8 + 10 * (index - 232);
            Rgb::new(v, v, v)
        }
    }
}

#[inline]
fn nearest_cube_level(v: u8) -> u8 {
    // Midpoints between the cube levels 0, 95, 135, 175, 215, 255.
    match v {
        0..=47 => 0,
        48..=114 => 1,
        115..=154 => 2,
        155..=194 => 3,
        195..=234 => 4,
        _ => 5,
    }
}

/// Nearest 256-palette entry: the per-channel nearest cube colour or the nearest grey,
/// whichever is perceptually closer.
pub fn nearest_256(c: Rgb) -> u8 {
    let (ri, gi, bi) = (
        nearest_cube_level(c.r),
        nearest_cube_level(c.g),
        nearest_cube_level(c.b),
    );
    let cube_index = 16 + 36 * ri + 6 * gi + bi;
    let mean = (u32::from(c.r) + u32::from(c.g) + u32::from(c.b)) / 3;
    // Grey ramp: 8, 18, ..., 238 at indices 232..=255.
    let grey_step = (mean.saturating_sub(3) / 10).min(23) as u8;
    let grey_index = 232 + grey_step;
    if distance2(c, palette_rgb(grey_index)) < distance2(c, palette_rgb(cube_index)) {
        grey_index
    } else {
        cube_index
    }
}

/// Nearest of the 16 ANSI colours (xterm defaults) by perceptual distance.
pub fn nearest_16(c: Rgb) -> u8 {
    let mut best = (u32::MAX, 0u8);
    for (i, &p) in ANSI16.iter().enumerate() {
        let d = distance2(c, p);
        if d < best.0 {
            best = (d, i as u8);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_mode_from_environment_values() {
        assert_eq!(
            ColorMode::detect(Some("truecolor"), Some("xterm")),
            ColorMode::TrueColor
        );
        assert_eq!(ColorMode::detect(Some("24bit"), None), ColorMode::TrueColor);
        assert_eq!(
            ColorMode::detect(None, Some("tmux-256color")),
            ColorMode::Palette256
        );
        assert_eq!(
            ColorMode::detect(None, Some("xterm-direct")),
            ColorMode::TrueColor
        );
        assert_eq!(ColorMode::detect(None, Some("linux")), ColorMode::Ansi16);
        assert_eq!(ColorMode::detect(None, None), ColorMode::Ansi16);
    }

    #[test]
    fn palette_entries_map_back_to_themselves() {
        for i in 16..=255u8 {
            assert_eq!(nearest_256(palette_rgb(i)), i, "entry {i}");
        }
        for i in 0..16u8 {
            assert_eq!(nearest_16(palette_rgb(i)), i, "entry {i}");
        }
    }

    #[test]
    fn primaries_pick_the_expected_entries() {
        assert_eq!(nearest_256(Rgb::new(255, 0, 0)), 196);
        assert_eq!(nearest_256(Rgb::new(0, 255, 0)), 46);
        assert_eq!(nearest_256(Rgb::new(0, 0, 255)), 21);
        assert_eq!(nearest_256(Rgb::new(255, 255, 255)), 231);
        assert_eq!(nearest_256(Rgb::new(128, 128, 128)), 244);
        assert_eq!(nearest_16(Rgb::new(250, 5, 5)), 9);
        assert_eq!(nearest_16(Rgb::new(0, 0, 250)), 4);
        assert_eq!(nearest_16(Rgb::new(10, 10, 10)), 0);
    }

    #[test]
    fn distance_is_zero_for_equal_and_grows_with_error() {
        let a = Rgb::new(100, 150, 200);
        assert_eq!(distance2(a, a), 0);
        let near = distance2(a, Rgb::new(102, 152, 202));
        let far = distance2(a, Rgb::new(110, 160, 210));
        assert!(near > 0 && far > near * 10);
    }
}
