//! Sample-rate conversion between our 48 kHz and a sound device's rate (44.1 kHz, 16 kHz,
//! …) with rubato's FFT resampler, whose anti-aliasing filter removes what lies above the
//! lower Nyquist limit. The linear interpolation it replaced folded that back as audible
//! aliases (measured in BENCHMARKS.md, "Resampling": `examples/resample_alias.rs`).
//! Streaming: input of any length is gathered into the resampler's fixed chunks, which
//! delays the sound by about one chunk (10 ms at 48 kHz).

use rubato::{FftFixedIn, Resampler as _};

/// Input samples per resampler call.
const CHUNK: usize = 480;
/// rubato splits each chunk in this many for its FFTs (more: less delay, a shorter filter).
const SUB_CHUNKS: usize = 2;

/// Converts a stream of mono samples from one rate to another.
pub struct Resampler {
    /// `None` when both rates are the same.
    fft: Option<FftFixedIn<f32>>,
    /// Input waiting for a whole chunk.
    pending: Vec<f32>,
    /// rubato's output buffer (one channel).
    output: Vec<Vec<f32>>,
}

impl Resampler {
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Resampler, String> {
        let fft = if from_hz == to_hz {
            None
        } else {
            let fft = FftFixedIn::new(from_hz as usize, to_hz as usize, CHUNK, SUB_CHUNKS, 1)
                .map_err(|e| format!("cannot convert {from_hz} Hz to {to_hz} Hz: {e}"))?;
            Some(fft)
        };
        let output = fft
            .as_ref()
            .map(|f| f.output_buffer_allocate(true))
            .unwrap_or_default();
        Ok(Resampler {
            fft,
            pending: Vec::with_capacity(2 * CHUNK),
            output,
        })
    }

    /// True when input and output rates are the same (samples pass unchanged).
    pub fn is_identity(&self) -> bool {
        self.fft.is_none()
    }

    /// Converts `input`, appending the output samples it yields to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(fft) = &mut self.fft else {
            out.extend_from_slice(input);
            return;
        };
        self.pending.extend_from_slice(input);
        loop {
            let needed = fft.input_frames_next();
            if self.pending.len() < needed {
                return;
            }
            match fft.process_into_buffer(&[&self.pending[..needed]], &mut self.output, None) {
                Ok((used, made)) => {
                    out.extend_from_slice(&self.output[0][..made]);
                    self.pending.drain(..used.max(1));
                }
                Err(e) => {
                    // Cannot happen with the buffers made for it; drop the chunk, not the call.
                    tracing::warn!("resampler: {e}");
                    self.pending.drain(..needed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::level::{dominant_frequency, rms};
    use crate::audio::tone::Tone;

    /// One second of a sine at `hz` made at 48 kHz, converted to `to` in chunks of `chunk`.
    fn convert(hz: f64, to: u32, chunk: usize) -> Vec<f32> {
        let mut tone = Tone::sine(hz, 0.5);
        let mut r = Resampler::new(48_000, to).unwrap();
        let mut out = Vec::new();
        let mut input = vec![0.0; chunk];
        for _ in 0..(48_000 / chunk) {
            tone.fill(&mut input);
            r.process(&input, &mut out);
        }
        out
    }

    #[test]
    fn pitch_level_and_length_survive_common_rates() {
        for (to, chunk) in [(44_100, 960), (16_000, 960), (96_000, 480), (48_000, 100)] {
            let out = convert(440.0, to, chunk);
            // All of it, less what waits for a whole chunk and the filter's delay.
            let expected = to as usize;
            assert!(
                out.len() <= expected && out.len() + 3 * to as usize / 100 >= expected,
                "{to}: {} samples",
                out.len()
            );
            // After the start, where the filter's delay shows as near-silence.
            let steady = &out[out.len() / 4..];
            let hz = dominant_frequency(steady, to);
            assert!((hz - 440.0).abs() < 2.0, "{to}: {hz} Hz");
            let level = rms(steady);
            assert!(
                (level - 0.5 / 2f32.sqrt()).abs() < 0.01,
                "{to}: rms {level}"
            );
        }
    }

    #[test]
    fn what_the_lower_rate_cannot_hold_is_removed_not_folded_back() {
        // 23 kHz fits 48 kHz but not 44.1 kHz; linear interpolation turned it into a
        // 21.1 kHz tone at about a third of its level.
        let out = convert(23_000.0, 44_100, 960);
        let level = rms(&out[out.len() / 4..]);
        assert!(level < 0.005, "alias left at rms {level}");
        // And a tone the lower rate holds passes at its level.
        let out = convert(15_000.0, 44_100, 960);
        let level = rms(&out[out.len() / 4..]);
        assert!((level - 0.5 / 2f32.sqrt()).abs() < 0.02, "rms {level}");
    }

    #[test]
    fn equal_rates_pass_samples_through() {
        let mut r = Resampler::new(48_000, 48_000).unwrap();
        assert!(r.is_identity());
        let mut out = Vec::new();
        r.process(&[0.1, 0.2, 0.3], &mut out);
        assert_eq!(out, [0.1, 0.2, 0.3]);
        assert!(Resampler::new(0, 48_000).is_err());
    }
}
