//! YUV4MPEG2 (y4m) reader: raw 4:2:0 (or mono) frames behind a one-line text header.

use std::io::{BufRead, Read, Seek, SeekFrom};

use super::MediaError;
use crate::render::frame::{I420Frame, check_dimensions};

/// Header and frame lines are short; a longer one means the file is not y4m.
const MAX_LINE: usize = 1024;

/// The parsed stream header.
#[derive(Debug, Clone, PartialEq)]
pub struct Y4mHeader {
    pub width: u32,
    pub height: u32,
    /// Frames per second, when the header gives a usable `F` tag.
    pub frame_rate: Option<f64>,
    /// True for `Cmono`: no chroma planes in the file.
    pub mono: bool,
}

impl Y4mHeader {
    /// Parses the header line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Y4mHeader, MediaError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| MediaError::Format("y4m header is not text".into()))?;
        let mut tokens = line.split(' ');
        if tokens.next() != Some("YUV4MPEG2") {
            return Err(MediaError::Format(
                "not a y4m file (no YUV4MPEG2 signature)".into(),
            ));
        }
        let (mut width, mut height, mut frame_rate, mut mono) = (None, None, None, false);
        for token in tokens.filter(|t| !t.is_empty()) {
            // The tag is the first character, which need not be one byte: splitting at byte
            // 1 panicked on a header such as `YUV4MPEG2 W2 H2 ˇ` (found by fuzzing).
            let (tag, value) = token.split_at(token.chars().next().map_or(0, char::len_utf8));
            match tag {
                "W" => width = Some(parse_number(value, "width")?),
                "H" => height = Some(parse_number(value, "height")?),
                "F" => {
                    if let Some((n, d)) = value.split_once(':') {
                        let (n, d) = (
                            parse_number(n, "frame rate")?,
                            parse_number(d, "frame rate")?,
                        );
                        if n > 0 && d > 0 {
                            frame_rate = Some(f64::from(n) / f64::from(d));
                        }
                    }
                }
                "C" => match value {
                    "420" | "420jpeg" | "420paldv" | "420mpeg2" => mono = false,
                    "mono" => mono = true,
                    other => {
                        return Err(MediaError::Unsupported(format!(
                            "y4m colour space C{other} (only 4:2:0 and mono are supported)"
                        )));
                    }
                },
                "I" if value != "p" && value != "?" => {
                    return Err(MediaError::Unsupported(format!(
                        "interlaced y4m (I{value}); only progressive is supported"
                    )));
                }
                _ => {}
            }
        }
        let width =
            width.ok_or_else(|| MediaError::Format("y4m header has no width (W)".into()))?;
        let height =
            height.ok_or_else(|| MediaError::Format("y4m header has no height (H)".into()))?;
        check_dimensions(width, height)?;
        Ok(Y4mHeader {
            width,
            height,
            frame_rate,
            mono,
        })
    }

    /// Bytes of pixel data in one frame.
    pub fn frame_bytes(&self) -> usize {
        let (w, h) = (self.width as usize, self.height as usize);
        if self.mono {
            w * h
        } else {
            w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
        }
    }
}

fn parse_number(value: &str, what: &str) -> Result<u32, MediaError> {
    value
        .parse()
        .map_err(|_| MediaError::Format(format!("y4m {what} {value:?} is not a number")))
}

/// Reads a line into `buf` (without the newline). `Ok(false)` at a clean end of input.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, what: &str) -> Result<bool, MediaError> {
    buf.clear();
    let n = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if n > MAX_LINE {
            MediaError::Format(format!("y4m {what} line is longer than {MAX_LINE} bytes"))
        } else {
            MediaError::Truncated(format!("y4m {what} line has no end"))
        });
    }
    buf.pop();
    Ok(true)
}

/// Streams frames out of a y4m file.
pub struct Y4mReader<R> {
    reader: R,
    header: Y4mHeader,
    data_start: u64,
    frames_read: u64,
    line: Vec<u8>,
    pixels: Vec<u8>,
}

impl<R: BufRead + Seek> Y4mReader<R> {
    pub fn new(mut reader: R) -> Result<Self, MediaError> {
        let mut line = Vec::new();
        if !read_line(&mut reader, &mut line, "header")? {
            return Err(MediaError::Format("empty file".into()));
        }
        let header = Y4mHeader::parse(&line)?;
        let data_start = reader.stream_position()?;
        Ok(Self {
            reader,
            header,
            data_start,
            frames_read: 0,
            line,
            pixels: Vec::new(),
        })
    }

    pub fn header(&self) -> &Y4mHeader {
        &self.header
    }

    /// The next frame, or `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<I420Frame>, MediaError> {
        if !read_line(&mut self.reader, &mut self.line, "FRAME")? {
            return Ok(None);
        }
        if !self.line.starts_with(b"FRAME") {
            return Err(MediaError::Format(format!(
                "frame {} does not start with FRAME",
                self.frames_read + 1
            )));
        }
        let needed = self.header.frame_bytes();
        self.pixels.resize(needed, 0);
        let mut got = 0;
        while got < needed {
            match self.reader.read(&mut self.pixels[got..])? {
                0 => {
                    return Err(MediaError::Truncated(format!(
                        "frame {} has {got} of {needed} bytes",
                        self.frames_read + 1
                    )));
                }
                n => got += n,
            }
        }
        self.frames_read += 1;
        let (w, h) = (self.header.width, self.header.height);
        if self.header.mono {
            let chroma = 2 * (w as usize).div_ceil(2) * (h as usize).div_ceil(2);
            self.pixels.resize(needed + chroma, 128);
        }
        Ok(Some(I420Frame::from_packed(w, h, &self.pixels)?))
    }

    pub fn rewind(&mut self) -> Result<(), MediaError> {
        self.reader.seek(SeekFrom::Start(self.data_start))?;
        self.frames_read = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn parses_a_typical_ffmpeg_header() {
        let h =
            Y4mHeader::parse(b"YUV4MPEG2 W320 H240 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG")
                .unwrap();
        assert_eq!((h.width, h.height, h.mono), (320, 240, false));
        assert!((h.frame_rate.unwrap() - 29.97).abs() < 0.01);
        assert_eq!(h.frame_bytes(), 320 * 240 * 3 / 2);
    }

    #[test]
    fn rejects_bad_headers_with_reasons() {
        let cases: [(&[u8], &str); 5] = [
            (b"RIFF", "signature"),
            (b"YUV4MPEG2 W320", "height"),
            (b"YUV4MPEG2 W100000 H100000", "exceeds"),
            (b"YUV4MPEG2 W32 H32 C444", "C444"),
            (b"YUV4MPEG2 Wx H32", "not a number"),
        ];
        for (line, want) in cases {
            let e = Y4mHeader::parse(line).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn tags_that_are_not_ascii_are_ignored_not_a_panic() {
        let h = Y4mHeader::parse("YUV4MPEG2 W2 H2 ˇ20jpeg é Xé".as_bytes()).unwrap();
        assert_eq!((h.width, h.height), (2, 2));
    }

    #[test]
    fn reads_frames_then_reports_a_truncated_one() {
        let mut file = b"YUV4MPEG2 W2 H2 F25:1\nFRAME\n".to_vec();
        file.extend_from_slice(&[16, 16, 16, 16, 128, 128]);
        file.extend_from_slice(b"FRAME\n\x10\x10");
        let mut r = Y4mReader::new(Cursor::new(file)).unwrap();
        assert_eq!(r.header().frame_rate, Some(25.0));
        assert_eq!(r.next_frame().unwrap().unwrap().y(), &[16, 16, 16, 16]);
        let e = r.next_frame().unwrap_err().to_string();
        assert!(e.contains("frame 2 has 2 of 6 bytes"), "{e}");
        r.rewind().unwrap();
        assert!(r.next_frame().unwrap().is_some());
    }

    #[test]
    fn mono_frames_get_neutral_chroma() {
        let mut file = b"YUV4MPEG2 W2 H2 Cmono\nFRAME\n".to_vec();
        file.extend_from_slice(&[235, 235, 235, 235]);
        let mut r = Y4mReader::new(Cursor::new(file)).unwrap();
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(f.u(), &[128]);
        assert_eq!(r.next_frame().unwrap(), None);
    }
}
