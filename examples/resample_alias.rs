//! How much of a tone the sample-rate conversion to and from a sound device folds back as
//! an alias (or an image), for our resampler (rubato's FFT resampler, `audio::resample`)
//! beside the linear interpolation it replaced (kept here as the reference). Each case
//! converts two seconds of a sine and measures, on the second second, the level of the
//! tone itself and of the alias at its folded frequency (Goertzel), in dB relative to the
//! input tone. Prints a Markdown table.
//!
//! `cargo run --release --features audio --example resample_alias`

// A measurement fails loudly: a broken rig must not print figures.
#![allow(clippy::expect_used)]

use packspaces::audio::resample::Resampler;

/// The linear interpolator `audio::resample` used before rubato (streaming, as it was).
struct Linear {
    step: f64,
    position: f64,
    last: f32,
}

impl Linear {
    fn new(from: u32, to: u32) -> Linear {
        Linear {
            step: f64::from(from) / f64::from(to),
            position: 1.0,
            last: 0.0,
        }
    }

    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let at = |i: usize| if i == 0 { self.last } else { input[i - 1] };
        let n = input.len();
        while self.position <= n as f64 {
            let i = self.position.floor() as usize;
            let frac = (self.position - i as f64) as f32;
            let a = at(i);
            let b = if i < n { at(i + 1) } else { a };
            out.push(a + (b - a) * frac);
            self.position += self.step;
        }
        self.position -= n as f64;
        self.last = input[n - 1];
    }
}

/// The amplitude of the `hz` component of `samples` at `rate` (Goertzel).
fn amplitude(samples: &[f32], rate: u32, hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}

fn db(ratio: f64) -> f64 {
    20.0 * ratio.max(1e-9).log10()
}

/// Two seconds of a sine at `hz` made at `from`, in 10 ms pieces, through `convert`; the
/// second second of the output.
fn run(from: u32, to: u32, hz: f64, mut convert: impl FnMut(&[f32], &mut Vec<f32>)) -> Vec<f32> {
    let amplitude = 0.5;
    let piece = (from / 100) as usize;
    let mut out = Vec::new();
    let mut n = 0u64;
    for _ in 0..200 {
        let input: Vec<f32> = (0..piece)
            .map(|_| {
                let t = n as f64 / f64::from(from);
                n += 1;
                (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32
            })
            .collect();
        convert(&input, &mut out);
    }
    let second = to as usize;
    out[out.len() - second..].to_vec()
}

/// Where a tone at `hz` lands at `rate` when it is folded back: itself below Nyquist.
fn folded(hz: f64, rate: u32) -> f64 {
    let rate = f64::from(rate);
    let f = hz.rem_euclid(rate);
    if f > rate / 2.0 { rate - f } else { f }
}

fn main() {
    println!("| from → to Hz | tone Hz | what is measured | linear | rubato FFT (ours) |");
    println!("|---|---:|---|---:|---:|");
    // (from, to, tone, what): a tone the new rate holds (its level), and tones it cannot
    // hold (their alias), and for upsampling the image above the old Nyquist limit.
    let cases: [(u32, u32, f64, &str); 7] = [
        (48_000, 44_100, 1_000.0, "tone level (passband)"),
        (48_000, 44_100, 20_000.0, "tone level (passband edge)"),
        (48_000, 44_100, 23_000.0, "alias at 21.1 kHz"),
        (48_000, 16_000, 3_000.0, "tone level (passband)"),
        (48_000, 16_000, 10_000.0, "alias at 6 kHz (speech band)"),
        (
            44_100,
            48_000,
            1_000.0,
            "image at 43.1 kHz, folded to 4.9 kHz",
        ),
        (
            44_100,
            48_000,
            20_000.0,
            "image at 24.1 kHz, folded to 23.9 kHz",
        ),
    ];
    for (from, to, hz, what) in cases {
        let measure = |out: &[f32]| -> f64 {
            let target = if what.starts_with("tone") {
                hz
            } else if what.starts_with("image") {
                folded(f64::from(from) - hz, to)
            } else {
                folded(hz, to)
            };
            db(amplitude(out, to, target) / 0.5)
        };
        let mut linear = Linear::new(from, to);
        let lin = measure(&run(from, to, hz, |i, o| linear.process(i, o)));
        let mut ours = Resampler::new(from, to).expect("resampler");
        let fft = measure(&run(from, to, hz, |i, o| ours.process(i, o)));
        println!("| {from} → {to} | {hz:.0} | {what} | {lin:.1} dB | {fft:.1} dB |");
    }
}
