//! How fast the screen may be written: `--max-rate` values, and the token bucket that holds
//! output to a rate (chrome first, video with what is left). Sans-I/O: fed the time.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// What `--max-rate` asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxRate {
    /// No cap: write as fast as the terminal takes it (a local terminal).
    Unlimited,
    /// At most this many bits per second.
    Fixed(u64),
    /// Measure how fast the terminal really takes output and stay below it (over SSH).
    Follow,
}

impl MaxRate {
    /// The default: follow the link when logged in over SSH, else no cap.
    pub fn default_for(ssh_connection: Option<&str>) -> MaxRate {
        match ssh_connection {
            Some(s) if !s.trim().is_empty() => MaxRate::Follow,
            _ => MaxRate::Unlimited,
        }
    }
}

impl fmt::Display for MaxRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxRate::Unlimited => f.write_str("none"),
            MaxRate::Follow => f.write_str("auto"),
            MaxRate::Fixed(bits) => write!(f, "{}", format_bits(*bits as f64)),
        }
    }
}

/// A `--max-rate` value that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a rate: use auto, none, or bits per second such as 2mbit, 300k, 1.5M or 64kB (bytes)"
)]
pub struct BadRate(pub String);

/// The slowest fixed rate accepted: below it not even the chrome of one screen gets through.
pub const MIN_RATE_BITS: u64 = 9_600;

impl FromStr for MaxRate {
    type Err = BadRate;

    /// `auto`, `none` (or `off`, `unlimited`), or a number with an optional SI prefix
    /// (`k`, `m`, `g`, any case) and unit: bits by default (`bit`, `bps`, `b`), bytes with
    /// a capital `B` (`kB`, `MB`).
    fn from_str(text: &str) -> Result<MaxRate, BadRate> {
        let bad = || BadRate(text.chars().take(40).collect());
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "auto" => return Ok(MaxRate::Follow),
            "none" | "off" | "unlimited" => return Ok(MaxRate::Unlimited),
            _ => {}
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let value: f64 = number.parse().map_err(|_| bad())?;
        let unit = unit.trim();
        let (prefix, rest) = match unit.chars().next() {
            Some(c @ ('k' | 'K' | 'm' | 'M' | 'g' | 'G')) => (Some(c), &unit[1..]),
            _ => (None, unit),
        };
        let scale = match prefix.map(|c| c.to_ascii_lowercase()) {
            Some('k') => 1e3,
            Some('m') => 1e6,
            Some('g') => 1e9,
            _ => 1.0,
        };
        let per_unit = match rest {
            "" | "bit" | "bits" | "bps" | "b" | "bit/s" | "b/s" => 1.0,
            "B" | "Bps" | "B/s" | "byte" | "bytes" => 8.0,
            _ => return Err(bad()),
        };
        let bits = value * scale * per_unit;
        if !bits.is_finite() || bits < MIN_RATE_BITS as f64 || bits > 1e12 {
            return Err(bad());
        }
        Ok(MaxRate::Fixed(bits as u64))
    }
}

/// `812 kbit/s`, `2.0 Mbit/s`.
pub fn format_bits(bits_per_s: f64) -> String {
    if bits_per_s >= 1e6 {
        format!("{:.1} Mbit/s", bits_per_s / 1e6)
    } else {
        format!("{:.0} kbit/s", bits_per_s / 1e3)
    }
}

/// How much of a second's rate one frame may burst: a frame never holds the link longer
/// than this, so a key's answer never waits long behind video.
const BURST: Duration = Duration::from_millis(100);

/// A token bucket over output bytes. The rate may change as the link is measured.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Bytes per second; `None` = unlimited.
    rate: Option<f64>,
    /// Bytes that may be written now (negative after chrome overdrew it).
    tokens: f64,
    last: Instant,
}

impl Pacer {
    pub fn new(rate_bytes_per_s: Option<f64>, now: Instant) -> Pacer {
        let mut pacer = Pacer {
            rate: None,
            tokens: 0.0,
            last: now,
        };
        pacer.set_rate(rate_bytes_per_s);
        pacer.tokens = pacer.burst();
        pacer
    }

    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    pub fn set_rate(&mut self, rate_bytes_per_s: Option<f64>) {
        self.rate = rate_bytes_per_s.map(|r| r.max(MIN_RATE_BITS as f64 / 8.0));
        self.tokens = self.tokens.min(self.burst());
    }

    fn burst(&self) -> f64 {
        self.rate.map_or(f64::INFINITY, |r| r * BURST.as_secs_f64())
    }

    fn refill(&mut self, now: Instant) {
        if let Some(rate) = self.rate {
            let dt = now.saturating_duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + rate * dt).min(self.burst());
        }
        self.last = self.last.max(now);
    }

    /// Bytes a frame may write now (`usize::MAX` when unlimited).
    pub fn allowance(&mut self, now: Instant) -> usize {
        self.refill(now);
        if self.rate.is_none() {
            return usize::MAX;
        }
        self.tokens.max(0.0) as usize
    }

    /// Counts bytes written (chrome may overdraw: the debt delays the next video).
    pub fn spend(&mut self, bytes: usize, now: Instant) {
        self.refill(now);
        if self.rate.is_some() {
            self.tokens -= bytes as f64;
        }
    }

    /// True when the bucket is full: waiting longer would not buy a bigger frame.
    pub fn full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.rate.is_none() || self.tokens >= self.burst() * 0.999
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_bits_unless_bytes_are_said() {
        let ok = |t: &str| t.parse::<MaxRate>().unwrap();
        assert_eq!(ok("2mbit"), MaxRate::Fixed(2_000_000));
        assert_eq!(ok("300k"), MaxRate::Fixed(300_000));
        assert_eq!(ok("1.5M"), MaxRate::Fixed(1_500_000));
        assert_eq!(ok("64kB"), MaxRate::Fixed(512_000));
        assert_eq!(ok(" 10Mbps "), MaxRate::Fixed(10_000_000));
        assert_eq!(ok("AUTO"), MaxRate::Follow);
        assert_eq!(ok("none"), MaxRate::Unlimited);
        for bad in [
            "",
            "fast",
            "2 mbits/hour",
            "-3k",
            "1e9",
            "0",
            "100",
            "2mbit\u{1b}[2J",
            "k",
        ] {
            let err = bad.parse::<MaxRate>().unwrap_err().to_string();
            assert!(err.contains("is not a rate"), "{bad:?}: {err}");
            assert!(
                !err.contains('\u{1b}'),
                "control characters are escaped: {err}"
            );
        }
    }

    #[test]
    fn ssh_logins_follow_the_link_by_default() {
        assert_eq!(
            MaxRate::default_for(Some("10.0.0.1 5555 10.0.0.2 22")),
            MaxRate::Follow
        );
        assert_eq!(MaxRate::default_for(None), MaxRate::Unlimited);
        assert_eq!(MaxRate::default_for(Some("")), MaxRate::Unlimited);
    }

    #[test]
    fn the_bucket_holds_the_rate_and_bursts_at_most_a_tenth_of_a_second() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Some(250_000.0), t0);
        assert_eq!(p.allowance(t0), 25_000);
        p.spend(25_000, t0);
        assert_eq!(p.allowance(t0), 0);
        let t1 = t0 + Duration::from_millis(40);
        assert_eq!(p.allowance(t1), 10_000);
        // Chrome overdraws; video waits until the debt is paid.
        p.spend(20_000, t1);
        assert_eq!(p.allowance(t1 + Duration::from_millis(39)), 0);
        assert!(p.allowance(t1 + Duration::from_millis(60)) > 0);
        assert!(!p.full(t1 + Duration::from_millis(60)));
        assert!(p.full(t1 + Duration::from_secs(5)));
        assert_eq!(p.allowance(t1 + Duration::from_secs(5)), 25_000);
        let mut unlimited = Pacer::new(None, t0);
        unlimited.spend(1 << 30, t0);
        assert_eq!(unlimited.allowance(t0), usize::MAX);
    }
}
