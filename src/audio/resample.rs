//! Sample-rate conversion between our 48 kHz and a sound device's rate (44.1 kHz, 16 kHz,
//! …): linear interpolation, streaming (state carries across calls, so chunk boundaries
//! make no clicks). Speech needs no better: its energy lies far below the new Nyquist
//! limit at the usual device rates.

/// Converts a stream of mono samples from one rate to another.
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Where the next output sample lies, in input samples after `last`.
    position: f64,
    /// The previous call's final input sample.
    last: f32,
}

impl Resampler {
    pub fn new(from_hz: u32, to_hz: u32) -> Resampler {
        Resampler {
            step: f64::from(from_hz.max(1)) / f64::from(to_hz.max(1)),
            position: 1.0,
            last: 0.0,
        }
    }

    /// True when input and output rates are the same (samples pass unchanged).
    pub fn is_identity(&self) -> bool {
        self.step == 1.0
    }

    /// Converts `input`, appending the output samples it yields to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if input.is_empty() {
            return;
        }
        if self.is_identity() {
            out.extend_from_slice(input);
            return;
        }
        // Index 0 is `last`, 1..=n the new input.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::level::{dominant_frequency, rms};
    use crate::audio::tone::Tone;

    fn convert(from: u32, to: u32, chunk: usize) -> Vec<f32> {
        let mut tone = Tone::sine(440.0, 0.5);
        let mut r = Resampler::new(from, to);
        let mut out = Vec::new();
        let mut input = vec![0.0; chunk];
        for _ in 0..(from as usize / chunk) {
            tone.fill(&mut input);
            r.process(&input, &mut out);
        }
        out
    }

    #[test]
    fn pitch_level_and_length_survive_common_rates() {
        // The tone is made at 48 kHz, so "from" must be 48 kHz here.
        for (to, chunk) in [(44_100, 960), (16_000, 960), (96_000, 480), (48_000, 100)] {
            let out = convert(48_000, to, chunk);
            let expected_len = to as usize;
            assert!(
                out.len().abs_diff(expected_len) <= 2,
                "{to}: {} samples",
                out.len()
            );
            let hz = dominant_frequency(&out, to);
            assert!((hz - 440.0).abs() < 2.0, "{to}: {hz} Hz");
            let level = rms(&out[100..]);
            assert!(
                (level - 0.5 / 2f32.sqrt()).abs() < 0.01,
                "{to}: rms {level}"
            );
        }
    }

    #[test]
    fn there_and_back_is_close_to_the_original() {
        let mut tone = Tone::sine(300.0, 0.5);
        let mut original = vec![0.0; 9600];
        tone.fill(&mut original);
        let (mut down, mut up) = (
            Resampler::new(48_000, 44_100),
            Resampler::new(44_100, 48_000),
        );
        let (mut mid, mut back) = (Vec::new(), Vec::new());
        for chunk in original.chunks(480) {
            down.process(chunk, &mut mid);
        }
        up.process(&mid, &mut back);
        let err: f32 = back[100..9000]
            .iter()
            .zip(&original[100..9000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.05, "max error {err}");
    }
}
