//! Synthetic sound for bots and tests: a steady sine, or a speech-like signal (a voiced
//! buzz whose loudness rises and falls at syllable rate) that is easier on a classroom's
//! ears and exercises the speaking indicator.

use std::f64::consts::TAU;

use super::SAMPLE_RATE;

/// A generator of 48 kHz mono samples.
#[derive(Debug, Clone)]
pub struct Tone {
    hz: f64,
    amplitude: f32,
    speech: bool,
    /// Samples produced so far (the generator's clock).
    t: u64,
}

/// Syllables per second of the speech-like signal.
const SYLLABLE_HZ: f64 = 4.0;

impl Tone {
    /// A sine at `hz` with peak `amplitude` (1.0 is full scale).
    pub fn sine(hz: f64, amplitude: f32) -> Tone {
        Tone {
            hz,
            amplitude,
            speech: false,
            t: 0,
        }
    }

    /// A buzz at pitch `hz` (its first harmonics, falling off like a voice) that swells
    /// and fades four times a second, peaking near `amplitude`.
    pub fn speech_like(hz: f64, amplitude: f32) -> Tone {
        Tone {
            speech: true,
            ..Tone::sine(hz, amplitude)
        }
    }

    /// Writes the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [f32]) {
        let rate = f64::from(SAMPLE_RATE);
        for sample in out {
            let time = self.t as f64 / rate;
            let phase = TAU * self.hz * time;
            let value = if self.speech {
                // Harmonics 1..=4 at 1/k: a glottal-ish buzz; the envelope never quite
                // reaches zero, like a voice between syllables.
                let buzz: f64 = (1..=4).map(|k| (phase * k as f64).sin() / k as f64).sum();
                let envelope = 0.55 - 0.45 * (TAU * SYLLABLE_HZ * time).cos();
                buzz / 2.1 * envelope
            } else {
                phase.sin()
            };
            *sample = self.amplitude * value as f32;
            self.t += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::audio::level::{dominant_frequency, rms};

    #[test]
    fn a_sine_has_its_frequency_and_level_across_calls() {
        let mut tone = Tone::sine(440.0, 0.5);
        let mut samples = vec![0.0; 4800];
        let (a, b) = samples.split_at_mut(1000);
        tone.fill(a);
        tone.fill(b);
        let level = rms(&samples);
        assert!((level - 0.5 / 2f32.sqrt()).abs() < 0.01, "rms {level}");
        let hz = dominant_frequency(&samples, SAMPLE_RATE);
        assert!((hz - 440.0).abs() < 5.0, "{hz} Hz");
    }

    #[test]
    fn speech_like_stays_in_range_and_is_not_silent() {
        let mut tone = Tone::speech_like(140.0, 0.5);
        let mut samples = vec![0.0; 48_000];
        tone.fill(&mut samples);
        assert!(samples.iter().all(|s| s.abs() <= 0.5));
        assert!(rms(&samples) > 0.05);
    }
}
