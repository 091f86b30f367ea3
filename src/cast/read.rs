//! Reads a recording line by line, checking each: a recording is untrusted input (a file
//! someone sent), so a damaged one is an error naming the line, never a panic, and no
//! line may hold more than [`MAX_LINE`] bytes in memory. Streaming: an hour-long recording
//! plays without being loaded.

use std::fs::File;
use std::io::{BufRead, BufReader, Read as _};
use std::path::Path;

use serde_json::Value;

use super::{CastError, Event, EventKind, Header, MAX_DIMENSION, MAX_LINE, parse_size, trim_line};

/// No recording is longer than this (about 31 years): larger times are damage, and would
/// overflow the player's clock.
const MAX_TIME: f64 = 1e9;

/// A recording being read: its header, then [`CastReader::next_event`].
#[derive(Debug)]
pub struct CastReader<R> {
    input: R,
    header: Header,
    /// The line last read (1 is the header).
    line: usize,
    last_time: f64,
    buf: Vec<u8>,
}

impl CastReader<BufReader<File>> {
    /// Opens a recording and reads its header.
    pub fn open(path: &Path) -> Result<Self, CastError> {
        CastReader::new(BufReader::with_capacity(256 * 1024, File::open(path)?))
    }
}

impl<R: BufRead> CastReader<R> {
    /// Reads the header from `input`.
    pub fn new(input: R) -> Result<Self, CastError> {
        let mut reader = CastReader {
            input,
            header: Header {
                width: 0,
                height: 0,
                timestamp: None,
                title: None,
                term: None,
            },
            line: 0,
            last_time: 0.0,
            buf: Vec::new(),
        };
        if reader.read_line()?.is_none() {
            return Err(CastError::Empty);
        }
        reader.header = parse_header(1, trim_line(&reader.buf))?;
        Ok(reader)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next event, or None at the end. A last line cut short (a killed recorder)
    /// is [`CastError::CutShort`]: everything before it was good.
    pub fn next_event(&mut self) -> Result<Option<Event>, CastError> {
        loop {
            let Some(complete) = self.read_line()? else {
                return Ok(None);
            };
            let line = trim_line(&self.buf);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event = parse_event(self.line, line, complete, self.last_time)?;
            self.last_time = event.time;
            return Ok(Some(event));
        }
    }

    /// Reads the next line into `buf`: Some(true) when it ended with a newline,
    /// Some(false) when the file ended first, None when nothing was left.
    fn read_line(&mut self) -> Result<Option<bool>, CastError> {
        self.buf.clear();
        // The longest line allowed and its "\r\n": one byte more is too long.
        let limit = MAX_LINE as u64 + 3;
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if trim_line(&self.buf).len() > MAX_LINE {
            return Err(CastError::TooLong { line: self.line });
        }
        Ok(Some(self.buf.ends_with(b"\n")))
    }
}

fn bad(line: usize, what: impl Into<String>) -> CastError {
    CastError::Bad {
        line,
        what: what.into(),
    }
}

/// serde_json's message without its own position (it counts lines of one line).
fn json_problem(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(w, _)| w);
    format!("not valid JSON at column {}: {what}", e.column())
}

/// A short, printable quote of untrusted text for an error message.
fn quote(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    let more = if short.len() < text.len() { "…" } else { "" };
    format!("{short:?}{more}")
}

/// Checks an asciicast v2 header line.
pub(super) fn parse_header(line: usize, bytes: &[u8]) -> Result<Header, CastError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        bad(
            line,
            format!("not an asciicast v2 header ({})", json_problem(&e)),
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err(bad(
            line,
            "not an asciicast v2 header (a JSON object was expected)",
        ));
    };
    match object.get("version").and_then(Value::as_u64) {
        Some(2) => {}
        Some(version) => {
            return Err(bad(
                line,
                format!("asciicast version {version} is not supported, only version 2"),
            ));
        }
        None => {
            return Err(bad(
                line,
                "not an asciicast v2 header (it has no \"version\": 2)",
            ));
        }
    }
    let dimension = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_u64)
            .and_then(|v| u16::try_from(v).ok())
            .filter(|v| (1..=MAX_DIMENSION).contains(v))
            .ok_or_else(|| {
                bad(
                    line,
                    format!(
                        "the header's \"{name}\" must be a whole number from 1 to {MAX_DIMENSION}"
                    ),
                )
            })
    };
    Ok(Header {
        width: dimension("width")?,
        height: dimension("height")?,
        timestamp: object.get("timestamp").and_then(Value::as_f64),
        title: object
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_string),
        term: object
            .get("env")
            .and_then(|env| env.get("TERM"))
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Checks an event line: `[time, code, data]`, its time not before `last_time`.
/// `complete`: the line ended with a newline (else it is the file's last).
fn parse_event(
    line: usize,
    bytes: &[u8],
    complete: bool,
    last_time: f64,
) -> Result<Event, CastError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() && !complete {
            CastError::CutShort { line }
        } else {
            bad(line, json_problem(&e))
        }
    })?;
    let Some(fields) = value.as_array() else {
        return Err(bad(
            line,
            "an event must be a JSON array [time, code, data]",
        ));
    };
    let [time, code, data] = fields.as_slice() else {
        return Err(bad(
            line,
            format!(
                "an event is [time, code, data]: 3 elements, not {}",
                fields.len()
            ),
        ));
    };
    let time = time
        .as_f64()
        .filter(|t| (0.0..=MAX_TIME).contains(t))
        .ok_or_else(|| bad(line, "the event's time must be a number of seconds from 0"))?;
    if time < last_time {
        return Err(bad(
            line,
            format!("the time {time} s is before the previous event's {last_time} s"),
        ));
    }
    let (Some(code), Some(data)) = (code.as_str(), data.as_str()) else {
        return Err(bad(
            line,
            "an event's code and data must be strings, e.g. [0.5, \"o\", \"text\"]",
        ));
    };
    let kind = match code {
        "o" => EventKind::Output(data.to_string()),
        "r" => {
            let (cols, rows) = parse_size(data).ok_or_else(|| {
                bad(
                    line,
                    format!(
                        "a resize must be COLSxROWS, e.g. \"80x24\", not {}",
                        quote(data)
                    ),
                )
            })?;
            EventKind::Resize { cols, rows }
        }
        other => EventKind::Other(other.to_string()),
    };
    Ok(Event { time, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "{\"version\": 2, \"width\": 80, \"height\": 24}\n";

    fn read_all(text: &str) -> Result<Vec<Event>, CastError> {
        let mut reader = CastReader::new(text.as_bytes())?;
        let mut events = Vec::new();
        while let Some(e) = reader.next_event()? {
            events.push(e);
        }
        Ok(events)
    }

    fn error(text: &str) -> String {
        read_all(text).expect_err("an error").to_string()
    }

    #[test]
    fn a_good_recording_reads_back() {
        let text = format!(
            "{HEADER}[0.5, \"o\", \"\\u001b[2Jhi\"]\n\n[1, \"r\", \"100x30\"]\r\n[1.5, \"m\", \"\"]\n[2, \"o\", \"end\"]"
        );
        let events = read_all(&text).unwrap();
        assert_eq!(
            events,
            [
                Event {
                    time: 0.5,
                    kind: EventKind::Output("\x1b[2Jhi".into())
                },
                Event {
                    time: 1.0,
                    kind: EventKind::Resize {
                        cols: 100,
                        rows: 30
                    }
                },
                Event {
                    time: 1.5,
                    kind: EventKind::Other("m".into())
                },
                Event {
                    time: 2.0,
                    kind: EventKind::Output("end".into())
                },
            ],
            "blank lines and CRLF are fine, and so is a last line without a newline"
        );
    }

    #[test]
    fn bad_headers_say_what_is_wrong_on_line_1() {
        assert_eq!(
            read_all("").err().unwrap().to_string(),
            "the file is empty: not an asciicast recording"
        );
        for (text, want) in [
            (
                "hello\n",
                "line 1: not an asciicast v2 header (not valid JSON at column 1",
            ),
            (
                "[1, 2]\n",
                "line 1: not an asciicast v2 header (a JSON object",
            ),
            ("{\"width\": 80}\n", "no \"version\": 2"),
            (
                "{\"version\": 1, \"width\": 80, \"height\": 24}\n",
                "line 1: asciicast version 1 is not supported, only version 2",
            ),
            (
                "{\"version\": 2, \"width\": 0, \"height\": 24}\n",
                "\"width\" must be",
            ),
            (
                "{\"version\": 2, \"width\": 80, \"height\": 99999}\n",
                "\"height\" must be",
            ),
            (
                "{\"version\": 2, \"width\": 80, \"height\": \"24\"}\n",
                "\"height\" must be",
            ),
        ] {
            let got = error(text);
            assert!(got.contains(want), "{text:?}: {got}");
        }
    }

    #[test]
    fn bad_events_name_their_line() {
        for (events, want) in [
            (
                "[0.5, \"o\", \"a\"]\nnot json\n",
                "line 3: not valid JSON at column 2",
            ),
            ("{\"t\": 1}\n", "line 2: an event must be a JSON array"),
            (
                "[1, \"o\"]\n",
                "line 2: an event is [time, code, data]: 3 elements, not 2",
            ),
            ("[-1, \"o\", \"a\"]\n", "line 2: the event's time must be"),
            (
                "[\"1\", \"o\", \"a\"]\n",
                "line 2: the event's time must be",
            ),
            (
                "[1e300, \"o\", \"a\"]\n",
                "line 2: the event's time must be",
            ),
            (
                "[1, \"o\", 5]\n",
                "line 2: an event's code and data must be strings",
            ),
            (
                "[2, \"o\", \"a\"]\n[1, \"o\", \"b\"]\n",
                "line 3: the time 1 s is before the previous event's 2 s",
            ),
            (
                "[1, \"r\", \"\\u001b[2J big\"]\n",
                "line 2: a resize must be COLSxROWS, e.g. \"80x24\", not \"\\u{1b}[2J big\"",
            ),
            // Garbage at the very end is garbage, not a cut.
            ("[1, \"o\", \"a\"]\n]]", "line 3: not valid JSON"),
        ] {
            let got = error(&format!("{HEADER}{events}"));
            assert_eq!(got.lines().count(), 1, "{got}");
            assert!(got.contains(want), "{events:?}: {got}");
        }
    }

    #[test]
    fn a_last_line_cut_short_ends_the_reading_after_the_good_events() {
        let text = format!("{HEADER}[0.5, \"o\", \"a\"]\n[0.7, \"o\", \"unfini");
        let mut reader = CastReader::new(text.as_bytes()).unwrap();
        assert!(reader.next_event().unwrap().is_some());
        let e = reader.next_event().err().unwrap();
        assert!(matches!(e, CastError::CutShort { line: 3 }), "{e}");
        // The same cut in the middle of the file is damage.
        let text = format!("{HEADER}[0.7, \"o\", \"unfini\n[0.8, \"o\", \"a\"]\n");
        assert!(error(&text).starts_with("line 2: not valid JSON"));
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused_without_reading_it_all() {
        let long = format!("[1, \"o\", \"{}\"]\n", "a".repeat(MAX_LINE));
        let got = error(&format!("{HEADER}{long}"));
        assert_eq!(got, "line 2 is longer than 8 MiB");
        let fits = format!("[1, \"o\", \"{}\"]\r\n", "a".repeat(MAX_LINE - 12));
        assert_eq!(fits.len(), MAX_LINE + 2);
        assert_eq!(read_all(&format!("{HEADER}{fits}")).unwrap().len(), 1);
    }
}
