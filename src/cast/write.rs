//! Encodes a recording: the header line, then one line per event. Sans-I/O as far as time
//! goes (the caller says when each event happened), so the format is tested exactly.
//!
//! asciicast stores output as JSON strings, which are UTF-8 text, while a terminal receives
//! bytes: a write may end in the middle of a character (`▀` is three bytes), so the start
//! of a split character waits for the next write and goes out whole with it. Bytes that
//! can never be UTF-8 become U+FFFD, as `asciinema rec` does; everything packspaces writes
//! is UTF-8, so its recordings hold exactly the bytes the terminal received.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::Header;

/// Most bytes of output one event carries; a longer write becomes several events. Even
/// when every byte needs a six-character JSON escape (`\u001b`), a line stays well under
/// [`super::MAX_LINE`], so a reader never refuses what we wrote.
pub const MAX_CHUNK: usize = 1 << 20;

/// The header as written: `version` first, as asciinema writes it.
#[derive(Serialize)]
struct HeaderLine<'a> {
    version: u8,
    width: u16,
    height: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
}

/// Writes a recording's lines to `out`.
#[derive(Debug)]
pub struct CastWriter<W: Write> {
    out: W,
    /// The start of a character the last write split, completed by the next one.
    pending: Vec<u8>,
    /// The last event's time: times never go back, whatever the caller's clock did.
    last: Duration,
}

impl<W: Write> CastWriter<W> {
    /// Starts a recording on `out` with its header line.
    pub fn new(mut out: W, header: &Header) -> io::Result<CastWriter<W>> {
        let line = HeaderLine {
            version: 2,
            width: header.width,
            height: header.height,
            timestamp: header.timestamp.map(|t| t.max(0.0) as u64),
            env: header
                .term
                .as_deref()
                .map(|term| ("TERM", term))
                .into_iter()
                .collect(),
            title: header.title.as_deref(),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
        Ok(CastWriter {
            out,
            pending: Vec::new(),
            last: Duration::ZERO,
        })
    }

    /// Records `bytes` the terminal received at `time` (since the start).
    pub fn output(&mut self, time: Duration, bytes: &[u8]) -> io::Result<()> {
        for chunk in bytes.chunks(MAX_CHUNK) {
            let text = self.text(chunk);
            if !text.is_empty() {
                self.event(time, "o", &text)?;
            }
        }
        Ok(())
    }

    /// Records that the terminal became `cols x rows` at `time`.
    pub fn resize(&mut self, time: Duration, cols: u16, rows: u16) -> io::Result<()> {
        self.event(time, "r", &format!("{cols}x{rows}"))
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The writer, as it is (nothing more written).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Ends the recording at `time`: a character still waiting for its end never gets one
    /// (the terminal received it cut short too), so it goes out as U+FFFD. Returns `out`.
    pub fn finish(mut self, time: Duration) -> io::Result<W> {
        if !self.pending.is_empty() {
            self.pending.clear();
            self.event(time, "o", "\u{FFFD}")?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn event(&mut self, time: Duration, code: &str, data: &str) -> io::Result<()> {
        let time = time.max(self.last);
        self.last = time;
        write!(
            self.out,
            "[{}.{:06}, \"{code}\", ",
            time.as_secs(),
            time.subsec_micros()
        )?;
        serde_json::to_writer(&mut self.out, data)?;
        self.out.write_all(b"]\n")
    }

    /// `bytes` (after what the last write left) as text; the start of a character cut at
    /// the end is kept for the next call, and bytes that are no UTF-8 become U+FFFD.
    fn text(&mut self, bytes: &[u8]) -> String {
        let joined;
        let mut rest: &[u8] = if self.pending.is_empty() {
            bytes
        } else {
            let mut all = std::mem::take(&mut self.pending);
            all.extend_from_slice(bytes);
            joined = all;
            &joined
        };
        let mut text = String::with_capacity(rest.len());
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    return text;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // Valid by construction: borrowed, never replaced.
                    text.push_str(&String::from_utf8_lossy(valid));
                    match e.error_len() {
                        Some(bad) => {
                            text.push('\u{FFFD}');
                            rest = &after[bad..];
                        }
                        None => {
                            // At most three bytes: the start of a character.
                            self.pending = after.to_vec();
                            return text;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cast::{CastReader, EventKind, MAX_LINE};

    fn header() -> Header {
        Header {
            width: 120,
            height: 36,
            timestamp: Some(1_700_000_000.0),
            title: Some("packspaces demo".into()),
            term: Some("xterm-256color".into()),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The events of a written recording, read back.
    fn events(bytes: &[u8]) -> Vec<(f64, EventKind)> {
        let mut reader = CastReader::new(bytes).unwrap();
        let mut out = Vec::new();
        while let Some(e) = reader.next_event().unwrap() {
            out.push((e.time, e.kind));
        }
        out
    }

    fn output_of(bytes: &[u8]) -> String {
        events(bytes)
            .into_iter()
            .filter_map(|(_, k)| match k {
                EventKind::Output(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_header_and_events_are_asciicast_v2_lines() {
        let mut w = CastWriter::new(Vec::new(), &header()).unwrap();
        w.output(ms(0), b"\x1b[?1049h").unwrap();
        w.output(Duration::from_micros(1_234_567), b"hi \"there\"\\")
            .unwrap();
        w.resize(ms(2000), 80, 24).unwrap();
        let bytes = w.finish(ms(2500)).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"version":2,"width":120,"height":36,"timestamp":1700000000,"env":{"TERM":"xterm-256color"},"title":"packspaces demo"}"#,
                r#"[0.000000, "o", "\u001b[?1049h"]"#,
                r#"[1.234567, "o", "hi \"there\"\\"]"#,
                r#"[2.000000, "r", "80x24"]"#,
            ]
        );
        let reader = CastReader::new(bytes.as_slice()).unwrap();
        assert_eq!(reader.header(), &header());
    }

    #[test]
    fn every_byte_of_utf8_output_comes_back_exactly() {
        // Control bytes of every kind, DEL, quotes, and the half block.
        let mut all: Vec<u8> = (0u8..0x80).collect();
        all.extend_from_slice("▀ é 中 🦀".as_bytes());
        let mut w = CastWriter::new(Vec::new(), &header()).unwrap();
        w.output(ms(5), &all).unwrap();
        let bytes = w.finish(ms(6)).unwrap();
        assert_eq!(output_of(&bytes).as_bytes(), all.as_slice());
    }

    #[test]
    fn a_character_split_across_writes_goes_out_whole_with_the_second() {
        let half_block = "▀".as_bytes();
        let mut w = CastWriter::new(Vec::new(), &header()).unwrap();
        w.output(ms(1), &[b"ab", &half_block[..1]].concat())
            .unwrap();
        w.output(ms(2), &half_block[1..2]).unwrap();
        w.output(ms(3), &[&half_block[2..], b"cd"].concat())
            .unwrap();
        let bytes = w.finish(ms(4)).unwrap();
        let got = events(&bytes);
        assert_eq!(
            got,
            [
                (0.001, EventKind::Output("ab".into())),
                (0.003, EventKind::Output("▀cd".into())),
            ],
            "no event holds half a character, and none is empty"
        );
    }

    #[test]
    fn bytes_that_are_no_utf8_become_replacement_characters() {
        let mut w = CastWriter::new(Vec::new(), &header()).unwrap();
        w.output(ms(1), b"a\xffb\xc3(").unwrap();
        // Ends with the start of a character that never gets its end.
        w.output(ms(2), b"z\xe2\x96").unwrap();
        let bytes = w.finish(ms(3)).unwrap();
        assert_eq!(output_of(&bytes), "a\u{FFFD}b\u{FFFD}(z\u{FFFD}");
    }

    #[test]
    fn times_have_microseconds_and_never_go_back() {
        let mut w = CastWriter::new(Vec::new(), &header()).unwrap();
        w.output(Duration::from_nanos(1_000_001_999), b"a").unwrap();
        w.output(ms(500), b"b").unwrap();
        let bytes = w.finish(ms(600)).unwrap();
        let times: Vec<f64> = events(&bytes).into_iter().map(|(t, _)| t).collect();
        assert_eq!(times, [1.000001, 1.000001]);
    }

    #[test]
    fn a_huge_write_becomes_lines_a_reader_takes() {
        // The worst case for JSON: every byte a six-character escape.
        let huge = vec![0x1bu8; 3 * MAX_CHUNK + 7];
        let mut w = CastWriter::new(Vec::new(), &header()).unwrap();
        w.output(ms(1), &huge).unwrap();
        let bytes = w.finish(ms(2)).unwrap();
        let longest = bytes.split(|&b| b == b'\n').map(<[u8]>::len).max();
        assert!(longest.unwrap() < MAX_LINE, "{longest:?}");
        assert_eq!(events(&bytes).len(), 4);
        assert_eq!(output_of(&bytes).as_bytes(), huge.as_slice());
    }
}
