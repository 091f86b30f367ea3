//! Measuring sound: RMS level, the RFC 6464 audio level sent in RTP header extensions, and
//! a signal's main frequency (for tests and meters).

/// Root mean square of `samples` (0 for none).
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt() as f32
}

/// A level in dB relative to full scale (an RMS of 1.0); silence is -127.
pub fn dbfs(rms: f32) -> f32 {
    if rms <= 0.0 {
        -127.0
    } else {
        (20.0 * rms.log10()).max(-127.0)
    }
}

/// The RFC 6464 level of a frame: -dBov, 0 (loudest) to 127 (silence). The overload point
/// is a full-scale sine, whose RMS is 1/√2.
pub fn dbov(samples: &[f32]) -> u8 {
    let db = dbfs(rms(samples) * std::f32::consts::SQRT_2);
    (-db).round().clamp(0.0, 127.0) as u8
}

/// The frequency of a periodic signal, from its rising zero crossings (interpolated
/// between samples). Good for a tone; 0 when there are fewer than two crossings.
pub fn dominant_frequency(samples: &[f32], rate: u32) -> f32 {
    let mut first: Option<f64> = None;
    let mut last = 0.0;
    let mut count = 0u32;
    for (i, pair) in samples.windows(2).enumerate() {
        let (a, b) = (f64::from(pair[0]), f64::from(pair[1]));
        if a < 0.0 && b >= 0.0 {
            let at = i as f64 + a / (a - b);
            if first.is_none() {
                first = Some(at);
            } else {
                count += 1;
            }
            last = at;
        }
    }
    match first {
        Some(start) if count > 0 => (f64::from(count) * f64::from(rate) / (last - start)) as f32,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_silence_and_full_scale() {
        assert_eq!(rms(&[]), 0.0);
        assert_eq!(dbov(&[0.0; 960]), 127);
        let full: Vec<f32> = (0..960).map(|i| (i as f32 * 0.1).sin()).collect::<Vec<_>>();
        assert!(dbov(&full) <= 1);
        let quiet: Vec<f32> = full.iter().map(|s| s * 0.01).collect();
        assert_eq!(dbov(&quiet), 40);
        assert!((dbfs(0.1) + 20.0).abs() < 0.01);
    }
}
