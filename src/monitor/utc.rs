//! Wall-clock timestamps for the monitor's timeline: milliseconds since the Unix epoch,
//! written as RFC 3339 in UTC (by the `time` crate, already in the tree through webrtc's
//! certificate parsing).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A moment in UTC, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Utc(u64);

impl Utc {
    pub fn now() -> Utc {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Utc(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    pub const fn from_millis(millis: u64) -> Utc {
        Utc(millis)
    }

    pub fn plus(self, d: Duration) -> Utc {
        Utc(self
            .0
            .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }

    /// `2025-11-27T11:30:05.123Z` (always three fraction digits, as JSON consumers expect;
    /// moments past year 9999 are written as the last representable one).
    pub fn rfc3339(self) -> String {
        const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
            .format(FORMAT)
            .unwrap_or_else(|_| "9999-12-31T23:59:59.999Z".to_string())
    }

    /// `11:30:05` (UTC), for the screen.
    pub fn clock(self) -> String {
        let secs = (self.0 / 1000) % 86_400;
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_moments() {
        assert_eq!(Utc::from_millis(0).rfc3339(), "1970-01-01T00:00:00.000Z");
        // `date -u -d @1764243005` → Thu Nov 27 11:30:05 UTC 2025
        assert_eq!(
            Utc::from_millis(1_764_243_005_123).rfc3339(),
            "2025-11-27T11:30:05.123Z"
        );
        // Leap days, and the day after the 2000 leap day.
        assert_eq!(
            Utc::from_millis(951_782_400_000).rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            Utc::from_millis(951_868_799_999).rfc3339(),
            "2000-02-29T23:59:59.999Z"
        );
        assert_eq!(
            Utc::from_millis(4_107_542_400_000).rfc3339(),
            "2100-03-01T00:00:00.000Z"
        );
        assert_eq!(Utc::from_millis(1_764_243_005_123).clock(), "11:30:05");
        // Out of range: no panic, the last representable moment.
        assert_eq!(
            Utc::from_millis(u64::MAX).rfc3339(),
            "9999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn now_is_after_2025_and_adds() {
        let now = Utc::now();
        assert!(now.rfc3339().as_str() > "2025");
        assert_eq!(
            Utc::from_millis(1).plus(Duration::from_secs(2)),
            Utc::from_millis(2001)
        );
    }
}
