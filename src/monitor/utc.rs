//! Wall-clock timestamps for the monitor's timeline: milliseconds since the Unix epoch,
//! written as RFC 3339 in UTC. The civil-date arithmetic is a few lines (H. Hinnant's
//! `civil_from_days`), cheaper than a date crate for one format.

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

    /// `2025-11-27T11:30:05.123Z`
    pub fn rfc3339(self) -> String {
        let (y, mo, d) = civil_from_days(self.0 / 86_400_000);
        format!(
            "{y:04}-{mo:02}-{d:02}T{}.{:03}Z",
            self.clock(),
            self.0 % 1000
        )
    }

    /// `11:30:05` (UTC), for the screen.
    pub fn clock(self) -> String {
        let secs = (self.0 / 1000) % 86_400;
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    }
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days end each 400-year era's years.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
