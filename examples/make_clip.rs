//! Writes a y4m test clip with heavy motion, for benchmarking terminal players.
//!
//! Both modes film a large detailed synthetic picture — smooth colour gradients, hard-edged
//! shapes, thin lines and fine texture — and add deterministic per-frame sensor noise, so
//! nearly every cell changes in every frame: the worst case for a player that only redraws
//! what changed. Output is 4:2:0, BT.601 limited range, 30 fps.
//!
//! `--motion pan` (the default) pans a few pixels per frame, with a little vertical drift and
//! hand shake, in whole scene pixels, and adds uniform noise of ±3 luma levels and ±1 chroma.
//!
//! `--motion camera` is what a webcam sends in a video call, the hardest realistic case. A
//! virtual camera crops a sensor with 1.6 times the output's resolution (downscaled, with
//! a little blur against aliasing, when it sees all of it); its zoom breathes between 1.0x
//! and 1.6x every 4.5 s, and every 9 s (first at 3.6 s) it zooms in by up to 1.4x more and
//! back within 1.2 s, as auto-framing does when someone leans in. It drifts slowly, shakes
//! by a few pixels per frame at irregular frequencies, rolls by up to about a degree, and
//! samples the sensor bilinearly. In front of the scene a head-and-shoulders figure in a
//! checked shirt sways, nods, tilts its head, talks and blinks; it follows the camera's drift
//! only part of the way, so it moves differently from the background. On top: lens
//! vignetting, exposure flicker of about ±1.5% (mains lighting aliased to 10 Hz plus
//! auto-exposure wander) and Gaussian sensor noise, sigma 2.5 luma and 1 chroma level.
//!
//! `--marker` adds what a benchmark reads back off a screen to know which frame it shows:
//! a solid block in the bottom-right corner whose colour switches between [`MARKER_A`] and
//! [`MARKER_B`] every 30 frames (1 s), and above it a column of black or white squares: the
//! frame's index in Gray code ([`MARKER_BITS`] squares, most significant first), then the
//! same bits inverted. A screen caught halfway through an update then never reads as a
//! valid index other than the old or the new one, whether it is drawn top to bottom or the
//! other way: a square changed in one half and not yet in the other breaks the pairing.
//! Both sit on the right so that a help window in the middle of a screen does not cover
//! them; they are drawn over the noise, exactly solid. The frame count must be a multiple
//! of 60 (the colours keep alternating across the loop) and at most 512.
//!
//! Usage: `cargo run --release --example make_clip -- OUT.y4m [--frames N] [--size WxH]
//! [--motion pan|camera] [--marker]` (defaults: 150 frames, or 360 with `--marker`, 640x480,
//! pan). The summary on stderr gives the mean absolute luma change between consecutive
//! frames, per pixel and per 4x4 block mean, as a measure of how hard the clip is for a
//! player that redraws only what changed.

use std::error::Error;
use std::f32::consts::{PI, TAU};
use std::fs::File;
use std::io::{BufWriter, Write};

use packspaces::render::frame::{Rgb, rgb_to_yuv};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Horizontal pan speed in pixels per frame.
const PAN_X: f32 = 3.3;
/// Vertical drift in pixels per frame.
const PAN_Y: f32 = 0.6;
/// Output frame rate; the camera's motion is timed in seconds.
const FPS: f32 = 30.0;

const USAGE: &str =
    "usage: make_clip OUT.y4m [--frames N] [--size WxH] [--motion pan|camera] [--marker]";

const HELP: &str = "\
Writes a y4m test clip (4:2:0, BT.601 limited range, 30 fps) with heavy motion over a
detailed synthetic scene, for benchmarking terminal players.

options:
  --frames N        number of frames (default 150)
  --size WxH        frame size, even, from 2x2 to 8192x8192 (default 640x480)
  --motion pan      steady pan with a little drift and hand shake in whole pixels, uniform
                    noise of ±3 luma and ±1 chroma levels (the default)
  --motion camera   a webcam in a video call: digital zoom on a sensor 1.6x the output size,
                    breathing 1.0-1.6x plus a quick zoom-in every 9 s, slow drift, hand shake
                    of a few pixels per frame, slight roll, bilinear sampling, a swaying,
                    nodding, talking head-and-shoulders figure in front, vignetting, ±1.5%
                    exposure flicker, Gaussian noise (sigma 2.5 luma, 1 chroma)
  --marker          add a block in the bottom-right corner that switches between magenta and
                    green every 30 frames, and above it the frame index in Gray code and
                    then inverted, as a column of 18 black or white squares (for latency
                    benchmarks; the frame count must be a multiple of 60, at most 512;
                    default 360 frames)";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Motion {
    Pan,
    Camera,
}

struct Options {
    out: String,
    frames: u32,
    width: usize,
    height: usize,
    motion: Motion,
    marker: bool,
}

fn parse_args() -> Result<Options> {
    let mut out = None;
    let mut frames: Option<u32> = None;
    let (mut width, mut height) = (640usize, 480usize);
    let mut motion = Motion::Pan;
    let mut marker = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--frames" => {
                let v = args.next().ok_or(USAGE)?;
                frames = Some(v.parse().map_err(|_| format!("bad --frames {v:?}"))?);
            }
            "--size" => {
                let v = args.next().ok_or(USAGE)?;
                let (w, h) = v
                    .split_once(['x', 'X'])
                    .ok_or_else(|| format!("bad --size {v:?}, want WxH"))?;
                width = w.parse().map_err(|_| format!("bad width in {v:?}"))?;
                height = h.parse().map_err(|_| format!("bad height in {v:?}"))?;
            }
            "--motion" => {
                motion = match args.next().ok_or(USAGE)?.as_str() {
                    "pan" => Motion::Pan,
                    "camera" => Motion::Camera,
                    v => return Err(format!("bad --motion {v:?}, want pan or camera").into()),
                };
            }
            "--marker" => marker = true,
            "-h" | "--help" => {
                println!("{USAGE}\n\n{HELP}");
                std::process::exit(0);
            }
            _ if out.is_none() && !arg.starts_with("--") => out = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}\n{USAGE}").into()),
        }
    }
    let out = out.ok_or(USAGE)?;
    let frames = frames.unwrap_or(if marker { 360 } else { 150 });
    if frames == 0 {
        return Err("--frames must be at least 1".into());
    }
    if marker && (!frames.is_multiple_of(60) || frames > 1 << MARKER_BITS) {
        return Err(format!(
            "--marker needs a multiple of 60 frames, at most {}, so that the marker keeps \
             switching every second across the loop and every index has a code (got {frames})",
            1 << MARKER_BITS
        )
        .into());
    }
    if marker && (width < 64 || height < 48) {
        return Err("--marker needs a frame of at least 64x48".into());
    }
    if width < 2 || height < 2 || width % 2 != 0 || height % 2 != 0 || width > 8192 || height > 8192
    {
        return Err(format!("--size {width}x{height}: want even sizes from 2 to 8192").into());
    }
    Ok(Options {
        out,
        frames,
        width,
        height,
        motion,
        marker,
    })
}

/// xorshift64* — small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A hash of a position, for static texture that moves with the picture.
fn hash2(x: usize, y: usize) -> u32 {
    let mut h = (x as u32).wrapping_mul(0x9e37_79b1) ^ (y as u32).wrapping_mul(0x85eb_ca77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h
}

/// The large picture the camera pans over, as full-resolution Y, U and V planes.
struct Scene {
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

fn make_scene(width: usize, height: usize, rng: &mut Rng) -> Scene {
    let mut px = vec![[0f32; 3]; width * height];
    // Smooth colour gradients, the "sky and walls".
    for (i, p) in px.iter_mut().enumerate() {
        let (x, y) = ((i % width) as f32, (i / width) as f32);
        let a = TAU * x / 900.0;
        let b = TAU * y / 700.0;
        *p = [
            128.0 + 90.0 * (a + 0.3 * b).sin(),
            128.0 + 80.0 * (0.7 * a - b + 2.0).sin(),
            128.0 + 90.0 * (1.3 * a + 0.5 * b + 4.0).cos(),
        ];
    }
    // Hard-edged shapes: discs, rings and rectangles in random colours.
    let shapes = (width * height / 9000).max(12);
    for n in 0..shapes {
        let colour = [rng.unit() * 255.0, rng.unit() * 255.0, rng.unit() * 255.0];
        let cx = rng.unit() * width as f32;
        let cy = rng.unit() * height as f32;
        let r = 8.0 + rng.unit() * 70.0;
        let (x0, x1) = (((cx - r).max(0.0)) as usize, ((cx + r) as usize).min(width));
        let (y0, y1) = (
            ((cy - r).max(0.0)) as usize,
            ((cy + r) as usize).min(height),
        );
        let kind = n % 3;
        let hw = r * (0.4 + 0.6 * rng.unit());
        for yy in y0..y1 {
            for xx in x0..x1 {
                let (dx, dy) = (xx as f32 - cx, yy as f32 - cy);
                let d = (dx * dx + dy * dy).sqrt();
                let inside = match kind {
                    0 => d < r,
                    1 => d < r && d > r * 0.7,
                    _ => dx.abs() < r && dy.abs() < hw,
                };
                if inside {
                    let p = &mut px[yy * width + xx];
                    // A little shading so shapes are not flat.
                    let shade = 0.8 + 0.2 * (dx / r);
                    *p = [colour[0] * shade, colour[1] * shade, colour[2] * shade];
                }
            }
        }
    }
    // Fine texture: stripes, a checkerboard band, thin grid lines and static grain.
    for (i, p) in px.iter_mut().enumerate() {
        let (xi, yi) = (i % width, i / width);
        let (x, y) = (xi as f32, yi as f32);
        let region = (x / 160.0).floor() as i32 + (y / 120.0).floor() as i32;
        let mut t = match region.rem_euclid(4) {
            0 => 22.0 * (x * 2.2 + y * 0.9).sin(),
            1 if (xi / 2 + yi / 2) % 2 == 0 => 24.0,
            1 => -24.0,
            2 => 18.0 * (x * 0.8).sin() * (y * 1.7).cos(),
            _ => 0.0,
        };
        if xi % 37 == 0 || yi % 29 == 0 {
            t -= 60.0;
        }
        t += (hash2(xi, yi) & 31) as f32 - 15.5;
        for c in p.iter_mut() {
            *c += t;
        }
    }
    let mut scene = Scene {
        y: Vec::with_capacity(width * height),
        u: Vec::with_capacity(width * height),
        v: Vec::with_capacity(width * height),
    };
    for p in &px {
        let q = |c: f32| c.round().clamp(0.0, 255.0) as u8;
        let (y, u, v) = rgb_to_yuv(Rgb::new(q(p[0]), q(p[1]), q(p[2])));
        scene.y.push(y);
        scene.u.push(u);
        scene.v.push(v);
    }
    scene
}

/// A triangle wave over `[0, span]`, so long clips pan back and forth.
fn bounce(pos: f32, span: f32) -> f32 {
    let p = pos.rem_euclid(2.0 * span);
    if p > span { 2.0 * span - p } else { p }
}

/// The marker's colour in frames 0-29, 60-89, … (even seconds of a looping clip) and in
/// frames 30-59, 90-119, …: far apart in every channel, and rare in the scene. The
/// benchmark (benches/ssh_link.rs) reads them back with the same values.
const MARKER_A: Rgb = Rgb::new(230, 30, 190);
const MARKER_B: Rgb = Rgb::new(30, 200, 70);
/// Bits of the frame index in the marker: indices up to 511.
const MARKER_BITS: usize = 9;
const WHITE: Rgb = Rgb::new(255, 255, 255);

/// `--marker`: where the block and the code's squares are, in pixels of the frame (even
/// bounds, so that 4:2:0 chroma covers each exactly). At 640x480 the block is 96x72 at
/// (536, 400) and the squares 64x22 each from (568, 4) down to y = 400 (the 9 bits, then
/// the 9 inverted); other sizes scale.
struct Marker {
    block: [usize; 4],
    bits: Vec<[usize; 4]>,
}

impl Marker {
    fn new(width: usize, height: usize) -> Marker {
        // Positions at 640x480, scaled and rounded to even pixels.
        let x = |v: usize| 2 * ((v * width) as f64 / 1280.0).round() as usize;
        let y = |v: usize| 2 * ((v * height) as f64 / 960.0).round() as usize;
        let block = [x(536), y(400), x(632), y(472)];
        let bits = (0..2 * MARKER_BITS)
            .map(|k| [x(568), y(4 + 22 * k), x(632), y(26 + 22 * k)])
            .collect();
        Marker { block, bits }
    }

    /// Draws frame `index`'s marker onto its planes (`width` luma pixels a row).
    fn paint(&self, index: u32, width: usize, y: &mut [u8], u: &mut [u8], v: &mut [u8]) {
        let colour = if (index / 30).is_multiple_of(2) {
            MARKER_A
        } else {
            MARKER_B
        };
        fill(self.block, colour, width, y, u, v);
        let gray = index ^ (index >> 1);
        for (k, &square) in self.bits.iter().enumerate() {
            // The bits, most significant first, then each inverted in the same order.
            let bit =
                (gray >> (MARKER_BITS - 1 - k % MARKER_BITS) & 1) ^ u32::from(k >= MARKER_BITS);
            let c = if bit == 1 { WHITE } else { Rgb::BLACK };
            fill(square, c, width, y, u, v);
        }
    }
}

/// Fills the pixels `[x0, y0, x1, y1)` (even bounds) with one colour.
fn fill(
    [x0, y0, x1, y1]: [usize; 4],
    c: Rgb,
    width: usize,
    y: &mut [u8],
    u: &mut [u8],
    v: &mut [u8],
) {
    let (cy, cu, cv) = rgb_to_yuv(c);
    for row in y0..y1 {
        y[row * width + x0..row * width + x1].fill(cy);
    }
    let cw = width / 2;
    for row in y0 / 2..y1 / 2 {
        u[row * cw + x0 / 2..row * cw + x1 / 2].fill(cu);
        v[row * cw + x0 / 2..row * cw + x1 / 2].fill(cv);
    }
}

/// Side of the pixel blocks whose mean luma the summary compares: about what one half-block
/// cell covers when a 640x480 picture fills a 160-column terminal.
const BLOCK: usize = 4;

/// Writes frames and measures how much each one's luma differs from the previous one's,
/// per pixel and per block: a player averages pixels into cells, so pixel-sized detail
/// overstates what it has to redraw.
struct ClipWriter<W: Write> {
    out: W,
    width: usize,
    /// With `--marker`: what to draw over every frame, the next frame's index, and the
    /// planes it is drawn on (the motions' own planes stay untouched).
    marker: Option<Marker>,
    index: u32,
    marked: [Vec<u8>; 3],
    prev_y: Vec<u8>,
    prev_blocks: Vec<u32>,
    blocks: Vec<u32>,
    pixel_diff: u64,
    block_diff: u64,
    diffs: u64,
}

impl<W: Write> ClipWriter<W> {
    fn new(out: W, width: usize, marker: Option<Marker>) -> Self {
        Self {
            out,
            width,
            marker,
            index: 0,
            marked: Default::default(),
            prev_y: Vec::new(),
            prev_blocks: Vec::new(),
            blocks: Vec::new(),
            pixel_diff: 0,
            block_diff: 0,
            diffs: 0,
        }
    }

    fn frame(&mut self, y: &[u8], u: &[u8], v: &[u8]) -> Result<()> {
        let index = self.index;
        self.index += 1;
        let Some(marker) = &self.marker else {
            return self.write(y, u, v);
        };
        let [mut my, mut mu, mut mv] = std::mem::take(&mut self.marked);
        for (dst, src) in [(&mut my, y), (&mut mu, u), (&mut mv, v)] {
            dst.clear();
            dst.extend_from_slice(src);
        }
        marker.paint(index, self.width, &mut my, &mut mu, &mut mv);
        let written = self.write(&my, &mu, &mv);
        self.marked = [my, mu, mv];
        written
    }

    fn write(&mut self, y: &[u8], u: &[u8], v: &[u8]) -> Result<()> {
        let (bw, bh) = (self.width / BLOCK, y.len() / self.width / BLOCK);
        self.blocks.clear();
        self.blocks.resize(bw * bh, 0);
        for (row, line) in y.chunks_exact(self.width).take(bh * BLOCK).enumerate() {
            let sums = &mut self.blocks[row / BLOCK * bw..][..bw];
            for (sum, px) in sums.iter_mut().zip(line.chunks_exact(BLOCK)) {
                *sum += px.iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        if self.prev_y.len() == y.len() {
            let pixels = self.prev_y.iter().zip(y);
            self.pixel_diff += pixels.map(|(&a, &b)| u64::from(a.abs_diff(b))).sum::<u64>();
            let blocks = self.prev_blocks.iter().zip(&self.blocks);
            self.block_diff += blocks.map(|(&a, &b)| u64::from(a.abs_diff(b))).sum::<u64>();
            self.diffs += 1;
        }
        self.prev_y.clear();
        self.prev_y.extend_from_slice(y);
        std::mem::swap(&mut self.prev_blocks, &mut self.blocks);
        self.out.write_all(b"FRAME\n")?;
        self.out.write_all(y)?;
        self.out.write_all(u)?;
        self.out.write_all(v)?;
        Ok(())
    }

    /// Mean absolute luma change between consecutive frames, in levels, of pixels and of
    /// block means (none when the frame is smaller than a block).
    fn mean_diffs(&self) -> (f64, Option<f64>) {
        let frames = self.diffs.max(1) as f64;
        let pixels = self.prev_y.len().max(1) as f64;
        let blocks = (self.prev_blocks.len() * BLOCK * BLOCK) as f64;
        (
            self.pixel_diff as f64 / frames / pixels,
            (blocks > 0.0).then(|| self.block_diff as f64 / frames / blocks),
        )
    }
}

/// The steady pan. It copies whole scene pixels, so keep its arithmetic and its use of the
/// random number generator unchanged: clips made before must stay byte-for-byte the same.
fn write_pan<W: Write>(o: &Options, out: &mut ClipWriter<W>) -> Result<String> {
    let (w, h) = (o.width, o.height);
    let frames = o.frames as f32;
    // The `max` only matters for frames too small to pan over, where the bounds would cross.
    let span_x = (PAN_X * frames + 16.0)
        .clamp(64.0, (2.0 * w as f32).max(64.0))
        .ceil();
    let span_y = (PAN_Y * frames + 16.0)
        .clamp(32.0, (h as f32).max(32.0))
        .ceil();
    let (sw, sh) = (w + span_x as usize + 1, h + span_y as usize + 1);
    let mut rng = Rng(0x5eed_c1a5_9a5c_0de5);
    let scene = make_scene(sw, sh, &mut rng);

    let (cw, ch) = (w / 2, h / 2);
    let mut y_plane = vec![0u8; w * h];
    let mut u_plane = vec![0u8; cw * ch];
    let mut v_plane = vec![0u8; cw * ch];
    // Noise in -3..=3 from one byte; `(b * 7) >> 8` is uniform enough.
    let noise = |b: u64, range: u64| (((b & 0xff) * (2 * range + 1)) >> 8) as i32 - range as i32;
    for f in 0..o.frames {
        let t = f as f32;
        let shake_x = 1.5 * (t * 0.37).sin() + 0.8 * (t * 1.3).sin();
        let shake_y = 1.2 * (t * 0.23).cos() + 0.6 * (t * 1.7).sin();
        let x0 = bounce(PAN_X * t + 4.0 + shake_x, span_x - 8.0).round() as usize;
        let y0 = bounce(PAN_Y * t + 4.0 + shake_y, span_y - 8.0).round() as usize;
        for row in 0..h {
            let src = &scene.y[(y0 + row) * sw + x0..][..w];
            let dst = &mut y_plane[row * w..][..w];
            for (chunk_d, chunk_s) in dst.chunks_mut(8).zip(src.chunks(8)) {
                let mut r = rng.next();
                for (d, &s) in chunk_d.iter_mut().zip(chunk_s) {
                    *d = (i32::from(s) + noise(r, 3)).clamp(16, 235) as u8;
                    r >>= 8;
                }
            }
        }
        for (plane, full) in [(&mut u_plane, &scene.u), (&mut v_plane, &scene.v)] {
            for cy in 0..ch {
                let top = (y0 + 2 * cy) * sw + x0;
                let bottom = top + sw;
                let dst = &mut plane[cy * cw..][..cw];
                for (cx, d) in dst.iter_mut().enumerate() {
                    let sum = u32::from(full[top + 2 * cx])
                        + u32::from(full[top + 2 * cx + 1])
                        + u32::from(full[bottom + 2 * cx])
                        + u32::from(full[bottom + 2 * cx + 1]);
                    let avg = ((sum + 2) / 4) as i32;
                    *d = (avg + noise(rng.next(), 1)).clamp(16, 240) as u8;
                }
            }
        }
        out.frame(&y_plane, &u_plane, &v_plane)?;
    }
    Ok(format!("panning over a {sw}x{sh} scene"))
}

/// Approximately standard normal: the sum of 12 uniforms minus 6 (Irwin-Hall), close enough
/// for sensor noise and free of platform-dependent maths.
fn gaussian(rng: &mut Rng) -> f32 {
    (0..12).map(|_| rng.unit()).sum::<f32>() - 6.0
}

/// First-order autoregressive noise. Sums of sines alone repeat visibly; this adds a wander
/// whose steps are correlated from frame to frame, like a hand or an auto-exposure loop.
struct Wander {
    state: f32,
    keep: f32,
    step: f32,
}

impl Wander {
    const fn new(keep: f32, step: f32) -> Self {
        Self {
            state: 0.0,
            keep,
            step,
        }
    }

    fn next(&mut self, rng: &mut Rng) -> f32 {
        self.state = self.keep * self.state + self.step * gaussian(rng);
        self.state
    }
}

/// A smooth pulse: 1 at `t == 0`, 0 for `|t| >= half`, with zero slope at both ends so a zoom
/// driven by it starts and stops without a jerk.
fn bump(t: f32, half: f32) -> f32 {
    if t.abs() >= half {
        0.0
    } else {
        0.5 + 0.5 * (PI * t / half).cos()
    }
}

/// `t` wrapped into `[-period / 2, period / 2)` around `centre`, for events that repeat.
fn wrap(t: f32, centre: f32, period: f32) -> f32 {
    (t - centre + period / 2.0).rem_euclid(period) - period / 2.0
}

/// How far the camera is zoomed in at `t` seconds, relative to its widest view.
fn camera_zoom(t: f32) -> f32 {
    let breath = 0.5 - 0.5 * (TAU * t / 4.5).cos();
    // Slightly uneven breathing, but never below 1.0x: the scene's margin only covers drift.
    let breath = breath * (1.0 + 0.08 * (TAU * t / 1.7).sin());
    // Placed where the breathing is near 1.2x so the peak stays near 1.7x.
    let event = bump(wrap(t, 3.6, 9.0), 0.6);
    (1.0 + 0.6 * breath) * (1.0 + 0.4 * event)
}

/// The head-and-shoulders figure in one frame. Its unit is the frame height at 1.0x in scene
/// pixels, so it fills a call-like share of the frame at any `--size`.
struct Figure {
    /// Base of the neck, in scene pixels.
    x: f32,
    y: f32,
    unit: f32,
    /// Head drop while nodding, in units.
    nod: f32,
    tilt_sin: f32,
    tilt_cos: f32,
    /// Head turn, -1 to 1: the face features slide sideways.
    turn: f32,
    /// Mouth opening, in units.
    mouth: f32,
    /// 1 with the eyes shut.
    blink: f32,
}

const SKIN: [f32; 3] = [222.0, 172.0, 140.0];
const HAIR: [f32; 3] = [58.0, 40.0, 30.0];
const BROW: [f32; 3] = [72.0, 50.0, 38.0];
const EYE: [f32; 3] = [35.0, 28.0, 28.0];
const LIPS: [f32; 3] = [176.0, 96.0, 92.0];
const MOUTH: [f32; 3] = [90.0, 30.0, 35.0];
const SHIRT: [f32; 3] = [48.0, 88.0, 158.0];

/// Approximate signed distance to an axis-aligned ellipse, negative inside. It is first-order
/// exact at the edge, which is all antialiasing needs, without an iterative solve per pixel.
fn ellipse(x: f32, y: f32, a: f32, b: f32) -> f32 {
    let (u, v) = (x / a, y / b);
    let r = (u * u + v * v).sqrt();
    let g = ((u / a) * (u / a) + (v / b) * (v / b)).sqrt();
    if g < 1e-9 {
        -a.min(b)
    } else {
        (r - 1.0) * r / g
    }
}

fn shade(c: [f32; 3], k: f32) -> [f32; 3] {
    c.map(|v| v * k)
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

impl Figure {
    /// Half-width and top of the figure's bounding box, in units around the base of the neck.
    const HALF_WIDTH: f32 = 0.46;
    const TOP: f32 = -0.4;

    /// The figure's colour and coverage at a scene point, or `None` where it is absent. `px`
    /// is output pixels per unit, so edges blend over about one output pixel whatever the zoom;
    /// hard edges would shimmer as the camera moves by fractions of a pixel.
    fn sample(&self, sx: f32, sy: f32, px: f32) -> Option<([f32; 3], f32)> {
        let x = (sx - self.x) / self.unit;
        let y = (sy - self.y) / self.unit;
        if x.abs() > Self::HALF_WIDTH || y < Self::TOP {
            return None;
        }
        let cover = |d: f32| (0.5 - d * px).clamp(0.0, 1.0);
        let d_body = if y < 0.15 {
            ellipse(x, y - 0.15, 0.34, 0.15)
        } else {
            x.abs() - 0.34 - 0.1 * (y - 0.15)
        };
        let d_neck = (x.abs() - 0.045).max(-0.11 - y);
        // The head tilts about the top of the neck.
        let (dx, dy) = (x, y + 0.07);
        let hx = dx * self.tilt_cos + dy * self.tilt_sin;
        let hy = -dx * self.tilt_sin + dy * self.tilt_cos + 0.1 - self.nod;
        let d_skin = ellipse(hx, hy, 0.095, 0.125);
        let hairline = hy + 0.06 - 6.0 * hx * hx;
        // The hair's outline meets the face's just below the eyes, so it tapers into it.
        let d_hair = ellipse(hx, hy + 0.03, 0.104, 0.125).max(hairline.min(-d_skin));
        let (a_neck, a_body) = (cover(d_neck), cover(d_body));
        let (a_skin, a_hair) = (cover(d_skin), cover(d_hair));
        if a_neck + a_body + a_skin + a_hair == 0.0 {
            return None;
        }
        let neck = shade(SKIN, 0.72);
        // Composited back to front with premultiplied colour, so that where parts meet
        // their edges blend with each other and only the outline blends with the scene.
        let mut acc = [0.0f32; 3];
        let mut alpha = 0.0f32;
        let mut over = |c: [f32; 3], a: f32| {
            if a > 0.0 {
                for (s, v) in acc.iter_mut().zip(c) {
                    *s = *s * (1.0 - a) + v * a;
                }
                alpha = alpha * (1.0 - a) + a;
            }
        };
        over(neck, a_neck);
        if a_body > 0.0 {
            let fold = 0.07 * (x * 60.0 + y * 20.0).sin();
            let weave = 0.04 * (x * 900.0).sin() * (y * 900.0).sin();
            // Checked cloth, a common and demanding pattern for anything that follows motion.
            let check = 0.12 * ((x * 105.0).sin().max(0.0) + (y * 105.0).sin().max(0.0));
            let light = 0.95 - 0.3 * (x / 0.4) * (x / 0.4) + fold + weave - check;
            let c = shade(SHIRT, light);
            // A V-neck, its sides at a slope of 1/2.
            let d_v = (x.abs() - 0.06 + 0.5 * y) * 0.894;
            over(mix(c, neck, cover(d_v)), a_body);
        }
        if a_skin > 0.0 {
            let (nx, ny) = (hx / 0.095, hy / 0.125);
            let mut c = shade(SKIN, 1.05 - 0.22 * (nx * nx + ny * ny) - 0.1 * nx);
            let fx = hx - 0.02 * self.turn;
            let fy = hy - 0.6 * self.nod;
            let brow = ellipse(fx.abs() - 0.037, fy + 0.042, 0.021, 0.0045);
            c = mix(c, BROW, cover(brow));
            let eye_h = 0.0075 * (1.0 - self.blink) + 0.0008;
            c = mix(
                c,
                EYE,
                cover(ellipse(fx.abs() - 0.036, fy + 0.015, 0.014, eye_h)),
            );
            let nose = ellipse(fx - 0.004, fy - 0.03, 0.011, 0.014);
            c = mix(c, shade(c, 0.82), cover(nose));
            let lips = ellipse(fx, fy - 0.068, 0.032, 0.006 + 0.5 * self.mouth);
            c = mix(c, LIPS, cover(lips));
            let mouth = ellipse(fx, fy - 0.068, 0.026, 0.0015 + 0.5 * self.mouth);
            c = mix(c, MOUTH, cover(mouth));
            over(c, a_skin);
        }
        if a_hair > 0.0 {
            over(
                shade(HAIR, 0.9 + 0.12 * (hx * 300.0 + hy * 60.0).sin()),
                a_hair,
            );
        }
        (alpha > 0.0).then(|| (acc.map(|v| v / alpha), alpha))
    }
}

/// BT.601 limited range like `rgb_to_yuv`, in sixteenths of a level so blends stay smooth.
fn yuv16(c: [f32; 3]) -> [f32; 3] {
    let [r, g, b] = c.map(|v| v.clamp(0.0, 255.0));
    [
        (66.0 * r + 129.0 * g + 25.0 * b) / 16.0 + 256.0,
        (-38.0 * r - 74.0 * g + 112.0 * b) / 16.0 + 2048.0,
        (112.0 * r - 94.0 * g - 18.0 * b) / 16.0 + 2048.0,
    ]
}

/// A plane sampled bilinearly at 16.16 fixed-point positions of the pixel grid (0 is the
/// centre of the first pixel); the result is in sixteenths of a level.
struct Plane<'a> {
    px: &'a [u8],
    width: usize,
    max_x: i64,
    max_y: i64,
}

impl<'a> Plane<'a> {
    fn new(px: &'a [u8], width: usize, height: usize) -> Self {
        // One pixel short of the edge so that `i + width + 1` stays in the plane.
        Self {
            px,
            width,
            max_x: ((width.max(2) - 2) as i64) << 16,
            max_y: ((height.max(2) - 2) as i64) << 16,
        }
    }

    #[inline]
    fn sample(&self, x: i64, y: i64) -> i32 {
        let (x, y) = (x.clamp(0, self.max_x), y.clamp(0, self.max_y));
        let i = (y >> 16) as usize * self.width + (x >> 16) as usize;
        let (fx, fy) = (((x >> 8) & 0xff) as u32, ((y >> 8) & 0xff) as u32);
        let p = |i: usize| u32::from(self.px[i]);
        let top = p(i) * (256 - fx) + p(i + 1) * fx;
        let bottom = p(i + self.width) * (256 - fx) + p(i + self.width + 1) * fx;
        ((top * (256 - fy) + bottom * fy + (1 << 11)) >> 12) as i32
    }
}

/// 4096 samples of a normal distribution with standard deviation `sigma` levels, in
/// sixteenths of a level: a table lookup per pixel is far cheaper than generating Gaussians.
fn noise_table(sigma: f32, rng: &mut Rng) -> Vec<i32> {
    (0..4096)
        .map(|_| (gaussian(rng) * sigma * 16.0).round() as i32)
        .collect()
}

/// Sensor pixels per output pixel at 1.0x. Webcams crop a sensor larger than the picture
/// they send to zoom digitally, so zooming in reveals detail rather than blurring it.
const SENSOR: f32 = 1.6;

/// `plane` smoothed by a separable [1 2 1] / 4 kernel, to sample instead of the sharp one
/// when the camera shrinks the scene: skipping sensor pixels would alias its fine texture.
fn blur(plane: &[u8], width: usize, height: usize) -> Vec<u8> {
    let at = |i: usize, n: usize| i.min(n - 1);
    let mut across = vec![0u16; plane.len()];
    for y in 0..height {
        let row = &plane[y * width..][..width];
        for x in 0..width {
            let l = row[x.saturating_sub(1)];
            let r = row[at(x + 1, width)];
            across[y * width + x] = u16::from(l) + 2 * u16::from(row[x]) + u16::from(r);
        }
    }
    let mut out = vec![0u8; plane.len()];
    for y in 0..height {
        let (up, down) = (y.saturating_sub(1), at(y + 1, height));
        for x in 0..width {
            let sum = across[up * width + x] + 2 * across[y * width + x] + across[down * width + x];
            out[y * width + x] = ((sum + 8) / 16) as u8;
        }
    }
    out
}

fn write_camera<W: Write>(o: &Options, out: &mut ClipWriter<W>) -> Result<String> {
    let (w, h) = (o.width, o.height);
    let (wf, hf) = (w as f32, h as f32);
    // Room for drift at 1.0x and for the corners of the rolled frame; zooming in adds more.
    let margin = (0.12 * SENSOR * w.max(h) as f32).round() as usize + 16;
    let sensor_w = 2 * (SENSOR * wf / 2.0).round() as usize;
    let sensor_h = 2 * (SENSOR * hf / 2.0).round() as usize;
    let (sw, sh) = (sensor_w + 2 * margin, sensor_h + 2 * margin);
    let mut rng = Rng(0x5eed_c1a5_9a5c_0de5);
    let scene = make_scene(sw, sh, &mut rng);
    // Chroma is pre-averaged to half resolution, as the pan does, and is too smooth to need
    // more filtering than that.
    let (csw, csh) = (sw / 2, sh / 2);
    let half = |full: &[u8]| -> Vec<u8> {
        let mut plane = Vec::with_capacity(csw * csh);
        for cy in 0..csh {
            for cx in 0..csw {
                let i = 2 * cy * sw + 2 * cx;
                let sum = u32::from(full[i])
                    + u32::from(full[i + 1])
                    + u32::from(full[i + sw])
                    + u32::from(full[i + sw + 1]);
                plane.push(((sum + 2) / 4) as u8);
            }
        }
        plane
    };
    let (scene_u, scene_v) = (half(&scene.u), half(&scene.v));
    let soft_y = blur(&scene.y, sw, sh);
    let luma = Plane::new(&scene.y, sw, sh);
    let soft_luma = Plane::new(&soft_y, sw, sh);
    let chroma_u = Plane::new(&scene_u, csw, csh);
    let chroma_v = Plane::new(&scene_v, csw, csh);

    // Separate streams, so that the motion does not depend on how much noise was drawn.
    let mut motion_rng = Rng(0xca3e_7a11_d21f_7001);
    let mut noise_rng = Rng(0x0015_e5ee_d5e2_50a1);
    let luma_noise = noise_table(2.5, &mut noise_rng);
    let chroma_noise = noise_table(1.0, &mut noise_rng);
    // Lens vignetting, as a Q12 gain on luma above black: 18% darker in the corners.
    let vignette: Vec<i32> = (0..w * h)
        .map(|i| {
            let dx = (i % w) as f32 + 0.5 - wf / 2.0;
            let dy = (i / w) as f32 + 0.5 - hf / 2.0;
            let r2 = (dx * dx + dy * dy) / (wf * wf / 4.0 + hf * hf / 4.0);
            ((1.0 - 0.18 * r2) * 4096.0).round() as i32
        })
        .collect();
    let mut shake_x = Wander::new(0.5, 1.5);
    let mut shake_y = Wander::new(0.5, 1.5);
    let mut shake_roll = Wander::new(0.6, 0.0015);
    let mut exposure_wander = Wander::new(0.85, 0.003);

    let (cw, ch) = (w / 2, h / 2);
    let mut y_plane = vec![0u8; w * h];
    let mut u_plane = vec![0u8; cw * ch];
    let mut v_plane = vec![0u8; cw * ch];
    let (mut zoom_min, mut zoom_max) = (f32::MAX, 0.0f32);
    for f in 0..o.frames {
        let t = f as f32 / FPS;
        let zoom = camera_zoom(t);
        (zoom_min, zoom_max) = (zoom_min.min(zoom), zoom_max.max(zoom));
        // Sensor pixels per output pixel.
        let scale = SENSOR / zoom;
        let roll = 0.012 * (TAU * t / 6.3).sin() + shake_roll.next(&mut motion_rng);
        let (sin, cos) = roll.sin_cos();
        // Hand shake moves the sensor, so zooming in magnifies it as digital zoom does; the
        // amplitudes are output pixels at 1.0x.
        let jitter_x = 1.8 * (TAU * 2.3 * t + 0.4).sin()
            + 1.2 * (TAU * 3.7 * t + 2.1).sin()
            + 0.8 * (TAU * 6.1 * t + 4.0).sin()
            + shake_x.next(&mut motion_rng);
        let jitter_y = 1.5 * (TAU * 2.9 * t + 1.3).sin()
            + 1.0 * (TAU * 4.3 * t + 0.2).sin()
            + 0.6 * (TAU * 7.3 * t + 5.1).sin()
            + shake_y.next(&mut motion_rng);
        let (jitter_x, jitter_y) = (SENSOR * jitter_x, SENSOR * jitter_y);
        // Drift as a fraction of the room left around the view, which grows as it zooms in.
        let drift_x = 0.7 * (TAU * t / 10.0 + 0.4).sin() + 0.25 * (TAU * t / 5.3 + 1.1).sin();
        let drift_y = 0.5 * (TAU * t / 9.7 + 2.0).sin() + 0.3 * (TAU * t / 4.1 + 0.3).sin();
        let reach_x = (wf / 2.0 * cos.abs() + hf / 2.0 * sin.abs()) * scale;
        let reach_y = (wf / 2.0 * sin.abs() + hf / 2.0 * cos.abs()) * scale;
        let room_x = (sw as f32 / 2.0 - reach_x - 8.0 * SENSOR).max(0.0);
        let room_y = (sh as f32 / 2.0 - reach_y - 8.0 * SENSOR).max(0.0);
        let (drift_x, drift_y) = (drift_x * room_x, drift_y * room_y);
        // `max` then `min` rather than `clamp`: the bounds cross in tiny frames.
        let centre_x = (sw as f32 / 2.0 + drift_x + jitter_x)
            .max(reach_x + 1.0)
            .min(sw as f32 - reach_x - 1.0);
        let centre_y = (sh as f32 / 2.0 + drift_y + jitter_y)
            .max(reach_y + 1.0)
            .min(sh as f32 - reach_y - 1.0);

        // The figure follows 60% of the drift, like auto-framing keeping a face in shot, and
        // sways on its own.
        let unit = SENSOR * hf;
        let nod_env = bump(wrap(t, 1.2, 4.3), 0.9);
        let tilt = 0.06 * (TAU * t / 3.9).sin() + 0.025 * (TAU * t / 1.7 + 0.5).sin();
        let sway = 0.07 * (TAU * t / 4.3).sin() + 0.015 * (TAU * t / 2.3 + 1.0).sin();
        let figure = Figure {
            x: sw as f32 / 2.0 + 0.6 * drift_x + unit * sway,
            y: sh as f32 / 2.0 + 0.6 * drift_y + unit * (0.1 + 0.008 * (TAU * t / 3.1).sin()),
            unit,
            nod: 0.012 * nod_env * (TAU * 2.2 * t).sin(),
            tilt_sin: tilt.sin(),
            tilt_cos: tilt.cos(),
            turn: (TAU * t / 6.7 + 0.8).sin(),
            mouth: 0.01 * (TAU * 4.7 * t).sin().abs() * (0.5 + 0.5 * (TAU * t / 2.9).sin()),
            blink: bump(wrap(t, 2.0, 3.4), 0.08),
        };
        // The figure's box on the luma sampling grid (scene pixel centres at whole numbers).
        let fix = |v: f32| (f64::from(v) * 65536.0).round() as i64;
        let fig_x0 = fix(figure.x - Figure::HALF_WIDTH * unit - 0.5);
        let fig_x1 = fix(figure.x + Figure::HALF_WIDTH * unit - 0.5);
        let fig_y0 = fix(figure.y + Figure::TOP * unit - 0.5);
        let fig_px = zoom * hf;

        // Mains lighting at 100 Hz aliases to 10 Hz at 30 fps, plus auto-exposure hunting.
        let exposure =
            1.0 + 0.009 * (TAU * 10.0 * t + 0.3).sin() + exposure_wander.next(&mut motion_rng);
        let exposure = (exposure * 4096.0).round() as i32;
        // How much of the blurred scene to use, in 256ths: all of it from 1.6 sensor pixels
        // per output pixel, none at 1:1 and closer.
        let softness = (((scale - 1.0) / 0.6).clamp(0.0, 1.0) * 256.0).round() as i32;

        // Scene position of an output point, and the scene step per output pixel.
        let (ax, ay) = (cos * scale, sin * scale);
        let (bx, by) = (-sin * scale, cos * scale);
        let to_scene = |ox: f32, oy: f32| {
            (
                centre_x + ax * (ox - wf / 2.0) + bx * (oy - hf / 2.0),
                centre_y + ay * (ox - wf / 2.0) + by * (oy - hf / 2.0),
            )
        };
        let (step_x, step_y) = (fix(ax), fix(ay));
        for row in 0..h {
            let (sx, sy) = to_scene(0.5, row as f32 + 0.5);
            let (mut gx, mut gy) = (fix(sx - 0.5), fix(sy - 0.5));
            let dst = &mut y_plane[row * w..][..w];
            let gains = &vignette[row * w..][..w];
            let mut r = 0;
            for (x, (d, &gain)) in dst.iter_mut().zip(gains).enumerate() {
                if x % 4 == 0 {
                    r = noise_rng.next();
                }
                let mut v = match softness {
                    0 => luma.sample(gx, gy),
                    256 => soft_luma.sample(gx, gy),
                    k => {
                        let sharp = luma.sample(gx, gy);
                        sharp + (((soft_luma.sample(gx, gy) - sharp) * k) >> 8)
                    }
                };
                if gy >= fig_y0 && (fig_x0..=fig_x1).contains(&gx) {
                    let (px, py) = (gx as f32 / 65536.0 + 0.5, gy as f32 / 65536.0 + 0.5);
                    if let Some((c, a)) = figure.sample(px, py, fig_px) {
                        v += ((yuv16(c)[0] - v as f32) * a).round() as i32;
                    }
                }
                let gain = (gain * exposure) >> 12;
                let v = 256 + (((v - 256) * gain) >> 12) + luma_noise[(r & 0xfff) as usize];
                *d = ((v + 8) >> 4).clamp(16, 235) as u8;
                r >>= 16;
                gx += step_x;
                gy += step_y;
            }
        }
        // Chroma samples sit at the centre of each 2x2 block of output pixels (C420jpeg);
        // on the half-resolution grid one step is the same scene distance as a luma step.
        for row in 0..ch {
            let (sx, sy) = to_scene(1.0, 2.0 * row as f32 + 1.0);
            let (mut gx, mut gy) = (fix(sx / 2.0 - 0.5), fix(sy / 2.0 - 0.5));
            let du = &mut u_plane[row * cw..][..cw];
            let dv = &mut v_plane[row * cw..][..cw];
            for (col, (du, dv)) in du.iter_mut().zip(dv.iter_mut()).enumerate() {
                let r = noise_rng.next();
                let (mut u, mut v) = (chroma_u.sample(gx, gy), chroma_v.sample(gx, gy));
                let (px, py) = to_scene(2.0 * col as f32 + 1.0, 2.0 * row as f32 + 1.0);
                if let Some((c, a)) = figure.sample(px, py, fig_px / 2.0) {
                    let [_, cu, cv] = yuv16(c);
                    u += ((cu - u as f32) * a).round() as i32;
                    v += ((cv - v as f32) * a).round() as i32;
                }
                let u = u + chroma_noise[(r & 0xfff) as usize];
                let v = v + chroma_noise[((r >> 16) & 0xfff) as usize];
                *du = ((u + 8) >> 4).clamp(16, 240) as u8;
                *dv = ((v + 8) >> 4).clamp(16, 240) as u8;
                gx += step_x;
                gy += step_y;
            }
        }
        out.frame(&y_plane, &u_plane, &v_plane)?;
    }
    Ok(format!(
        "a webcam cropping a {sw}x{sh} sensor, zoom {zoom_min:.2}x to {zoom_max:.2}x"
    ))
}

fn main() -> Result<()> {
    let o = parse_args()?;
    let (w, h) = (o.width, o.height);
    let marker = o.marker.then(|| Marker::new(w, h));
    let file = BufWriter::with_capacity(1 << 20, File::create(&o.out)?);
    let mut out = ClipWriter::new(file, w, marker);
    writeln!(out.out, "YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg")?;
    let what = match o.motion {
        Motion::Pan => write_pan(&o, &mut out)?,
        Motion::Camera => write_camera(&o, &mut out)?,
    };
    out.out.flush()?;
    let (pixel, block) = out.mean_diffs();
    let block = block.map_or(String::new(), |b| {
        format!(", {b:.2} per {BLOCK}x{BLOCK} block mean")
    });
    let what = if o.marker {
        format!("{what}, with the marker")
    } else {
        what
    };
    eprintln!(
        "wrote {}: {} frames of {w}x{h} at 30 fps, {what}\n\
         mean luma change between frames: {pixel:.2} levels per pixel{block}",
        o.out, o.frames
    );
    Ok(())
}
