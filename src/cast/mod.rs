//! Recordings of the screen as asciicast v2 files (the format `asciinema` plays): `join
//! --record` and `demo --record` write one ([`record`], through [`write`]), `play FILE.cast`
//! plays one back ([`play`], through [`read`]).
//!
//! A file is a header line, a JSON object (`{"version": 2, "width": 120, "height": 36,
//! …}`), then one line per event, a JSON array `[seconds, code, data]`: `"o"` carries the
//! bytes the terminal received (as UTF-8 text), `"r"` a new size (`"COLSxROWS"`). Times are
//! seconds since the recording started, with microsecond precision, never going back.

pub mod play;
pub mod read;
pub mod record;
pub mod write;

use std::io::{self, BufRead as _, Read as _};
use std::path::Path;

pub use read::CastReader;
pub use record::Recorder;

/// Longest line a recording may have. A reader refuses longer ones (a damaged or hostile
/// file must not eat memory); the writer never comes near it (see [`write::MAX_CHUNK`]).
pub const MAX_LINE: usize = 8 << 20;

/// Largest width or height a recording may claim (as `play --size` allows).
pub const MAX_DIMENSION: u16 = 4000;

/// A recording's first line.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub width: u16,
    pub height: u16,
    /// When the recording started (Unix seconds).
    pub timestamp: Option<f64>,
    pub title: Option<String>,
    /// `$TERM` where it was recorded.
    pub term: Option<String>,
}

/// One event of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the recording started.
    pub time: f64,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// Text the terminal received.
    Output(String),
    /// The terminal's new size.
    Resize { cols: u16, rows: u16 },
    /// Another kind (`"i"` input, `"m"` marker, …): nothing to show.
    Other(String),
}

/// Why a recording cannot be read. The caller names the file.
#[derive(Debug, thiserror::Error)]
pub enum CastError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the file is empty: not an asciicast recording")]
    Empty,
    #[error("line {line}: {what}")]
    Bad { line: usize, what: String },
    #[error("line {line} is longer than {} MiB", MAX_LINE >> 20)]
    TooLong { line: usize },
    /// The last line ends mid-event, as a recorder that was killed leaves it.
    #[error("line {line} is cut short (the recording was interrupted?)")]
    CutShort { line: usize },
}

/// True when `path` is a recording rather than a video: its name ends in `.cast`, or its
/// first line is an asciicast v2 header. A file that cannot be read is not one (the video
/// reader then says why it cannot be played), and neither is a pipe or device of another
/// name: reading its first line would take it from the video reader.
pub fn is_recording(path: &Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("cast"))
    {
        return true;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    // A header is short; video files start with binary or a `YUV4MPEG2` line.
    let mut first = Vec::new();
    let limited = io::BufReader::new(file)
        .take(64 * 1024)
        .read_until(b'\n', &mut first);
    limited.is_ok()
        && first.first() == Some(&b'{')
        && read::parse_header(1, trim_line(&first)).is_ok()
}

/// A line without its line ending.
fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses `COLSxROWS`, each from 1 to [`MAX_DIMENSION`].
pub fn parse_size(text: &str) -> Option<(u16, u16)> {
    let (c, r) = text.split_once('x')?;
    let (c, r): (u16, u16) = (c.parse().ok()?, r.parse().ok()?);
    let ok = |v: u16| (1..=MAX_DIMENSION).contains(&v);
    (ok(c) && ok(r)).then_some((c, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_are_told_from_videos_by_name_or_by_their_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("x.CAST");
        std::fs::write(&named, b"garbage").unwrap();
        assert!(is_recording(&named), "the name is enough");
        let unnamed = dir.path().join("x.rec");
        std::fs::write(
            &unnamed,
            b"{\"version\": 2, \"width\": 80, \"height\": 24}\n",
        )
        .unwrap();
        assert!(is_recording(&unnamed));
        let json = dir.path().join("x.json");
        std::fs::write(&json, b"{\"version\": 1, \"width\": 80, \"height\": 24}\n").unwrap();
        assert!(!is_recording(&json));
        let y4m = dir.path().join("x.y4m");
        std::fs::write(&y4m, b"YUV4MPEG2 W64 H48 F30:1\n").unwrap();
        assert!(!is_recording(&y4m));
        assert!(!is_recording(&dir.path().join("missing.ivf")));
    }

    #[test]
    fn sizes_are_checked() {
        assert_eq!(parse_size("120x36"), Some((120, 36)));
        assert_eq!(parse_size("0x36"), None);
        assert_eq!(parse_size("120x"), None);
        assert_eq!(parse_size("5000x10"), None);
        assert_eq!(parse_size("-1x10"), None);
    }
}
