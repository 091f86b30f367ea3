//! Writes a y4m test clip with camera-like heavy motion, for benchmarking terminal players.
//!
//! The clip pans a few pixels per frame (with a little vertical drift and hand shake) over a
//! large detailed synthetic picture — smooth colour gradients, hard-edged shapes, thin lines
//! and fine texture — and adds deterministic per-frame sensor noise (±3 luma levels, ±1
//! chroma). Nearly every cell changes in every frame, which is the worst case for a player
//! that only redraws what changed. Output is 4:2:0, BT.601 limited range, 30 fps.
//!
//! Usage: `cargo run --release --example make_clip -- OUT.y4m [--frames N] [--size WxH]`
//! (defaults: 150 frames, 640x480).

use std::error::Error;
use std::f32::consts::TAU;
use std::fs::File;
use std::io::{BufWriter, Write};

use packspaces::render::frame::{Rgb, rgb_to_yuv};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Horizontal pan speed in pixels per frame.
const PAN_X: f32 = 3.3;
/// Vertical drift in pixels per frame.
const PAN_Y: f32 = 0.6;

struct Options {
    out: String,
    frames: u32,
    width: usize,
    height: usize,
}

fn parse_args() -> Result<Options> {
    let usage = "usage: make_clip OUT.y4m [--frames N] [--size WxH]";
    let mut out = None;
    let mut frames = 150u32;
    let (mut width, mut height) = (640usize, 480usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--frames" => {
                let v = args.next().ok_or(usage)?;
                frames = v.parse().map_err(|_| format!("bad --frames {v:?}"))?;
            }
            "--size" => {
                let v = args.next().ok_or(usage)?;
                let (w, h) = v
                    .split_once(['x', 'X'])
                    .ok_or_else(|| format!("bad --size {v:?}, want WxH"))?;
                width = w.parse().map_err(|_| format!("bad width in {v:?}"))?;
                height = h.parse().map_err(|_| format!("bad height in {v:?}"))?;
            }
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            _ if out.is_none() && !arg.starts_with("--") => out = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}\n{usage}").into()),
        }
    }
    let out = out.ok_or(usage)?;
    if frames == 0 {
        return Err("--frames must be at least 1".into());
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

fn main() -> Result<()> {
    let o = parse_args()?;
    let (w, h) = (o.width, o.height);
    let frames = o.frames as f32;
    let span_x = (PAN_X * frames + 16.0).clamp(64.0, 2.0 * w as f32).ceil();
    let span_y = (PAN_Y * frames + 16.0).clamp(32.0, h as f32).ceil();
    let (sw, sh) = (w + span_x as usize + 1, h + span_y as usize + 1);
    let mut rng = Rng(0x5eed_c1a5_9a5c_0de5);
    let scene = make_scene(sw, sh, &mut rng);

    let mut out = BufWriter::with_capacity(1 << 20, File::create(&o.out)?);
    writeln!(out, "YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg")?;
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
        out.write_all(b"FRAME\n")?;
        out.write_all(&y_plane)?;
        out.write_all(&u_plane)?;
        out.write_all(&v_plane)?;
    }
    out.flush()?;
    eprintln!(
        "wrote {}: {} frames of {w}x{h} at 30 fps, panning over a {sw}x{sh} scene",
        o.out, o.frames
    );
    Ok(())
}
