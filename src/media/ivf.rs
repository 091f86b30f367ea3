//! IVF reader: the minimal container libvpx and ffmpeg write VP8 streams into.

use std::io::{Read, Seek, SeekFrom};

use super::MediaError;
use crate::render::frame::check_dimensions;

/// No sane VP8 frame is anywhere near this; a larger size field means corruption.
pub const MAX_FRAME_BYTES: u32 = 16 << 20;

/// The 32-byte file header.
#[derive(Debug, Clone, PartialEq)]
pub struct IvfHeader {
    pub fourcc: [u8; 4],
    pub width: u16,
    pub height: u16,
    /// Frames per second from the header's time base, when it is usable.
    pub frame_rate: Option<f64>,
}

impl IvfHeader {
    pub fn parse(b: &[u8; 32]) -> Result<IvfHeader, MediaError> {
        if &b[0..4] != b"DKIF" {
            return Err(MediaError::Format(
                "not an IVF file (no DKIF signature)".into(),
            ));
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let header_len = u16_at(6);
        if header_len != 32 {
            return Err(MediaError::Format(format!(
                "IVF header length {header_len}, expected 32"
            )));
        }
        let fourcc = [b[8], b[9], b[10], b[11]];
        let (width, height) = (u16_at(12), u16_at(14));
        check_dimensions(u32::from(width), u32::from(height))?;
        let (rate, scale) = (u32_at(16), u32_at(20));
        let frame_rate = (rate > 0 && scale > 0).then(|| f64::from(rate) / f64::from(scale));
        Ok(IvfHeader {
            fourcc,
            width,
            height,
            frame_rate,
        })
    }

    pub fn fourcc_text(&self) -> String {
        self.fourcc
            .iter()
            .map(|&c| {
                if c.is_ascii_graphic() {
                    char::from(c)
                } else {
                    '?'
                }
            })
            .collect()
    }
}

/// Streams compressed frames out of an IVF file.
pub struct IvfReader<R> {
    reader: R,
    header: IvfHeader,
    frames_read: u64,
}

impl<R: Read + Seek> IvfReader<R> {
    pub fn new(mut reader: R) -> Result<Self, MediaError> {
        let mut b = [0u8; 32];
        read_exact_or_truncated(&mut reader, &mut b, || {
            "IVF header is shorter than 32 bytes".into()
        })?;
        let header = IvfHeader::parse(&b)?;
        Ok(Self {
            reader,
            header,
            frames_read: 0,
        })
    }

    pub fn header(&self) -> &IvfHeader {
        &self.header
    }

    /// The next compressed frame into `buf`; `Ok(false)` at the end of the file.
    pub fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<bool, MediaError> {
        let mut h = [0u8; 12];
        let n = read_up_to(&mut self.reader, &mut h)?;
        if n == 0 {
            return Ok(false);
        }
        let index = self.frames_read + 1;
        if n < h.len() {
            return Err(MediaError::Truncated(format!(
                "frame {index} header has {n} of 12 bytes"
            )));
        }
        let size = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        if size > MAX_FRAME_BYTES {
            return Err(MediaError::Format(format!(
                "frame {index} claims {size} bytes (limit {MAX_FRAME_BYTES})"
            )));
        }
        buf.resize(size as usize, 0);
        read_exact_or_truncated(&mut self.reader, buf, || {
            format!("frame {index} is shorter than its {size} bytes")
        })?;
        self.frames_read += 1;
        Ok(true)
    }

    pub fn rewind(&mut self) -> Result<(), MediaError> {
        self.reader.seek(SeekFrom::Start(32))?;
        self.frames_read = 0;
        Ok(())
    }
}

/// Reads as many bytes as are there, up to `buf.len()`.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, MediaError> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn read_exact_or_truncated(
    reader: &mut impl Read,
    buf: &mut [u8],
    what: impl FnOnce() -> String,
) -> Result<(), MediaError> {
    if read_up_to(reader, buf)? < buf.len() {
        return Err(MediaError::Truncated(what()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn header(w: u16, h: u16) -> Vec<u8> {
        let mut b = b"DKIF".to_vec();
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&32u16.to_le_bytes());
        b.extend_from_slice(b"VP80");
        b.extend_from_slice(&w.to_le_bytes());
        b.extend_from_slice(&h.to_le_bytes());
        b.extend_from_slice(&30u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b
    }

    #[test]
    fn reads_frames_and_stops_cleanly() {
        let mut file = header(64, 48);
        file.extend_from_slice(&3u32.to_le_bytes());
        file.extend_from_slice(&0u64.to_le_bytes());
        file.extend_from_slice(&[1, 2, 3]);
        let mut r = IvfReader::new(Cursor::new(file)).unwrap();
        assert_eq!(r.header().frame_rate, Some(30.0));
        assert_eq!(r.header().fourcc_text(), "VP80");
        let mut buf = Vec::new();
        assert!(r.next_frame(&mut buf).unwrap());
        assert_eq!(buf, [1, 2, 3]);
        assert!(!r.next_frame(&mut buf).unwrap());
    }

    #[test]
    fn refuses_absurd_and_truncated_input() {
        let e = IvfReader::new(Cursor::new(header(0, 48))).err().unwrap();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = IvfReader::new(Cursor::new(b"DKIF".to_vec())).err().unwrap();
        assert!(e.to_string().contains("shorter than 32"), "{e}");
        let mut file = header(64, 48);
        file.extend_from_slice(&u32::MAX.to_le_bytes());
        file.extend_from_slice(&0u64.to_le_bytes());
        let mut r = IvfReader::new(Cursor::new(file)).unwrap();
        let e = r.next_frame(&mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("claims 4294967295 bytes"), "{e}");
        let mut file = header(64, 48);
        file.extend_from_slice(&10u32.to_le_bytes());
        file.extend_from_slice(&0u64.to_le_bytes());
        file.extend_from_slice(&[1, 2]);
        let mut r = IvfReader::new(Cursor::new(file)).unwrap();
        let e = r.next_frame(&mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("frame 1 is shorter than its 10 bytes"), "{e}");
    }
}
