//! The test card we send when there is no camera (and what bots send): a background in
//! the participant's own colour, their name, a running clock and a bouncing square, so
//! that every browser in the space sees who we are and that the picture is live.

use std::time::Duration;

use crate::render::frame::{FrameError, I420Frame, Rgb};

/// Colours of a card: most of the picture is `background`; `accent` is the moving square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub background: Rgb,
    pub accent: Rgb,
}

/// Distinct palettes for bots and the demo, in order.
pub const PALETTES: [Palette; 6] = [
    Palette {
        background: Rgb::new(200, 40, 40),
        accent: Rgb::new(255, 230, 80),
    },
    Palette {
        background: Rgb::new(40, 150, 60),
        accent: Rgb::new(250, 250, 250),
    },
    Palette {
        background: Rgb::new(40, 70, 200),
        accent: Rgb::new(255, 160, 40),
    },
    Palette {
        background: Rgb::new(170, 60, 190),
        accent: Rgb::new(120, 255, 200),
    },
    Palette {
        background: Rgb::new(230, 150, 30),
        accent: Rgb::new(30, 30, 30),
    },
    Palette {
        background: Rgb::new(30, 160, 170),
        accent: Rgb::new(255, 90, 160),
    },
];

/// How the card's square moves, so that side-by-side cards differ in more than colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Motion {
    /// Left and right across the middle.
    #[default]
    Across,
    /// Up and down the middle, above the clock band.
    UpDown,
    /// Round a circle.
    Orbit,
}

/// The motions in the order bots use them.
pub const MOTIONS: [Motion; 3] = [Motion::Across, Motion::UpDown, Motion::Orbit];

/// Draws test card frames.
#[derive(Debug, Clone)]
pub struct TestCard {
    pub width: u32,
    pub height: u32,
    pub name: String,
    pub palette: Palette,
    pub motion: Motion,
    /// Draws the "video off" card: grey, still, saying so instead of the clock.
    pub off: bool,
}

/// The colours of the "video off" card.
pub const OFF_PALETTE: Palette = Palette {
    background: Rgb::new(60, 60, 60),
    accent: Rgb::new(60, 60, 60),
};

impl TestCard {
    pub fn new(width: u32, height: u32, name: &str, palette: Palette) -> Self {
        Self {
            width,
            height,
            // The font has upper-case letters, digits and a little punctuation.
            name: name
                .chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .take(16)
                .collect::<String>()
                .to_ascii_uppercase(),
            palette,
            motion: Motion::default(),
            off: false,
        }
    }

    /// The card to send while our video is switched off: the same name, in grey, still.
    pub fn switched_off(&self) -> Self {
        Self {
            palette: OFF_PALETTE,
            off: true,
            ..self.clone()
        }
    }

    /// The same card with its square moving another way.
    pub fn with_motion(mut self, motion: Motion) -> Self {
        self.motion = motion;
        self
    }

    /// Top-left corner of the square (of side `side`) at `elapsed`; one cycle takes 4 s.
    fn square_at(&self, elapsed: Duration, side: usize) -> (usize, usize) {
        let (w, h) = (self.width as usize, self.height as usize);
        let phase = (elapsed.as_millis() % 4000) as usize;
        // 0 -> 1000 -> 0 over the cycle, for back-and-forth motions.
        let there_and_back = if phase < 2000 {
            phase / 2
        } else {
            (4000 - phase) / 2
        };
        let x_travel = w.saturating_sub(side).max(1);
        // Up-down stays between the name and the clock band.
        let (top, bottom) = (h / 4, (h * 4 / 5).saturating_sub(side).max(h / 4));
        match self.motion {
            Motion::Across => (x_travel * there_and_back / 1000, h * 2 / 5),
            Motion::UpDown => (
                (w.saturating_sub(side)) / 2,
                top + (bottom - top) * there_and_back / 1000,
            ),
            Motion::Orbit => {
                let angle = phase as f64 / 4000.0 * std::f64::consts::TAU;
                let (cx, cy) = (w as f64 / 2.0, (top + bottom) as f64 / 2.0);
                let (rx, ry) = (w as f64 / 4.0, (bottom - top) as f64 / 2.0);
                let x = (cx + rx * angle.cos() - side as f64 / 2.0).max(0.0);
                let y = (cy + ry * angle.sin()).max(0.0);
                (x as usize, y as usize)
            }
        }
    }

    /// The card at `elapsed` since the start.
    pub fn frame(&self, elapsed: Duration) -> Result<I420Frame, FrameError> {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut pixels = vec![self.palette.background; w * h];
        let bg = self.palette.background;
        // A darker band at the bottom for the clock.
        let band = h * 4 / 5;
        let dark = Rgb::new(bg.r / 3, bg.g / 3, bg.b / 3);
        pixels[band * w..].fill(dark);
        let side = h / 5;
        if !self.off {
            let (x, y) = self.square_at(elapsed, side);
            fill(&mut pixels, w, x, y, side, side, self.palette.accent);
        }
        // Glyphs are 5x7; at 240 lines the name is drawn 4x, the clock 3x.
        let name_scale = (h / 60).max(1);
        let clock_scale = (h / 80).max(1);
        text(
            &mut pixels,
            w,
            h,
            &self.name,
            name_scale,
            h / 8,
            Rgb::new(255, 255, 255),
        );
        let secs = elapsed.as_secs();
        let clock = if self.off {
            "VIDEO OFF".to_string()
        } else {
            format!(
                "{:02}:{:02}:{:02}",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            )
        };
        text(
            &mut pixels,
            w,
            h,
            &clock,
            clock_scale,
            band + (h - band) / 4,
            Rgb::new(255, 255, 255),
        );
        I420Frame::from_rgb(self.width, self.height, &pixels)
    }
}

fn fill(pixels: &mut [Rgb], w: usize, x: usize, y: usize, width: usize, height: usize, c: Rgb) {
    let h = pixels.len() / w;
    for row in y..(y + height).min(h) {
        let start = row * w + x.min(w);
        let end = row * w + (x + width).min(w);
        pixels[start..end].fill(c);
    }
}

/// Draws `s` centred horizontally at row `y`, each font pixel `scale` pixels wide.
fn text(pixels: &mut [Rgb], w: usize, h: usize, s: &str, scale: usize, y: usize, c: Rgb) {
    let advance = 6 * scale;
    let width = s.chars().count() * advance;
    let mut x = w.saturating_sub(width) / 2;
    for ch in s.chars() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    let (px, py) = (x + col * scale, y + row * scale);
                    if py < h {
                        fill(pixels, w, px, py, scale, scale, c);
                    }
                }
            }
        }
        x += advance;
    }
}

/// A 5x7 bitmap glyph: seven rows, bit 4 is the leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'B' => [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
        'C' => [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
        'D' => [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
        'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
        'F' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
        'G' => [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
        'H' => [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
        'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'P' => [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
        'Q' => [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
        'R' => [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'T' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
        'X' => [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
        'Z' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
        ':' => [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        ' ' => [0; 7],
        _ => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_of_the_card_is_the_background_and_it_moves() {
        let card = TestCard::new(320, 240, "Bot 1", PALETTES[0]);
        let a = card.frame(Duration::from_millis(0)).unwrap();
        let b = card.frame(Duration::from_millis(1000)).unwrap();
        assert_ne!(a.y(), b.y(), "the square moves");
        let bg = PALETTES[0].background;
        let mut near = 0;
        for y in (0..240).step_by(8) {
            for x in (0..320).step_by(8) {
                let p = a.pixel(x, y);
                if p.r.abs_diff(bg.r) < 8 && p.g.abs_diff(bg.g) < 8 && p.b.abs_diff(bg.b) < 8 {
                    near += 1;
                }
            }
        }
        assert!(
            near > 40 * 30 / 2,
            "only {near} of 1200 samples are the background"
        );
    }

    #[test]
    fn every_motion_stays_inside_the_card_and_moves() {
        for motion in MOTIONS {
            let card = TestCard::new(320, 240, "m", PALETTES[3]).with_motion(motion);
            let side = 240 / 5;
            let mut positions = std::collections::HashSet::new();
            for ms in (0..4000).step_by(100) {
                let (x, y) = card.square_at(Duration::from_millis(ms), side);
                assert!(
                    x + side <= 320 && y + side <= 240,
                    "{motion:?} at {ms} ms: {x},{y}"
                );
                positions.insert((x, y));
                assert!(card.frame(Duration::from_millis(ms)).is_ok());
            }
            assert!(positions.len() > 10, "{motion:?} moves");
        }
        let across = TestCard::new(320, 240, "m", PALETTES[3]);
        let up_down = across.clone().with_motion(Motion::UpDown);
        let t = Duration::from_millis(1000);
        assert_ne!(across.square_at(t, 48), up_down.square_at(t, 48));
    }

    #[test]
    fn the_off_card_is_grey_and_still() {
        let off = TestCard::new(160, 120, "me", PALETTES[0]).switched_off();
        let a = off.frame(Duration::from_millis(0)).unwrap();
        let b = off.frame(Duration::from_millis(1000)).unwrap();
        assert_eq!(a.y(), b.y(), "nothing moves");
        let p = a.pixel(8, 36);
        assert!(p.r.abs_diff(60) < 8 && p.g.abs_diff(60) < 8 && p.b.abs_diff(60) < 8);
    }

    #[test]
    fn names_are_reduced_to_what_the_font_can_draw() {
        let card = TestCard::new(64, 48, "Zoë \u{1b}[31m bot", PALETTES[1]);
        assert_eq!(card.name, "ZO [31M BOT");
        assert!(card.frame(Duration::from_secs(3725)).is_ok());
    }
}
