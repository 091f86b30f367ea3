//! H.264 Annex B byte-stream reader: splits NAL units at start codes and groups them into
//! access units (one picture each), which is what the decoder wants per call.

use std::io::{Read, Seek, SeekFrom};

use super::MediaError;

/// No NAL unit or access unit of a sane stream is near this size.
pub const MAX_UNIT_BYTES: usize = 16 << 20;
const CHUNK: usize = 64 << 10;
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// True if `data` begins with an Annex B start code (00 00 01 or 00 00 00 01).
pub fn has_start_code(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 1]) || data.starts_with(&START_CODE)
}

/// True if the access unit `data` (Annex B) holds an IDR slice: decoding can start there.
pub fn is_keyframe(data: &[u8]) -> bool {
    nal_types(data).any(|t| t == 5)
}

/// The type of every NAL unit in `data` (Annex B), in order.
pub fn nal_types(data: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = find_start_code(data, from)?;
        from = at + 3;
        Some(data.get(at + 3).map_or(0, |b| b & 0x1f))
    })
}

/// Index of the next `00 00 01` at or after `from`.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 3 <= data.len() {
        // Skip fast over bytes that cannot be the third byte of a start code.
        match data[i + 2] {
            1 if data[i] == 0 && data[i + 1] == 0 => return Some(i),
            0 => i += 1,
            _ => i += 3,
        }
    }
    None
}

/// Does this NAL unit begin a new access unit (H.264 7.4.1.2.3, simplified)?
fn starts_access_unit(nal: &[u8]) -> bool {
    match nal.first().map(|b| b & 0x1f) {
        // SEI, SPS, PPS, access unit delimiter, and reserved types 14-18.
        Some(6..=9 | 14..=18) => true,
        // A slice whose first_mb_in_slice is 0 (ue(v) "1" bit) starts a new picture.
        Some(1 | 5) => nal.get(1).is_some_and(|b| b & 0x80 != 0),
        _ => false,
    }
}

fn is_slice(nal: &[u8]) -> bool {
    matches!(nal.first().map(|b| b & 0x1f), Some(1 | 5))
}

/// Streams access units out of an Annex B file.
pub struct AnnexBReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// Start of the first unread NAL unit's payload in `buf` (after its start code).
    pos: usize,
    eof: bool,
    /// A NAL unit read ahead that belongs to the next access unit.
    pending: Option<Vec<u8>>,
    units_read: u64,
}

impl<R: Read + Seek> AnnexBReader<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            pending: None,
            units_read: 0,
        }
    }

    fn fill(&mut self) -> Result<(), MediaError> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        let n = self.reader.read(&mut self.buf[old..])?;
        self.buf.truncate(old + n);
        self.eof = n == 0;
        Ok(())
    }

    /// The next NAL unit's payload (no start code), or `None` at the end.
    fn next_nal(&mut self) -> Result<Option<Vec<u8>>, MediaError> {
        loop {
            // Skip to the first start code (leading garbage and zeros are dropped).
            if let Some(sc) = find_start_code(&self.buf, self.pos) {
                let begin = sc + 3;
                if let Some(next) = find_start_code(&self.buf, begin) {
                    let mut end = next;
                    while end > begin && self.buf[end - 1] == 0 {
                        end -= 1;
                    }
                    let nal = self.buf[begin..end].to_vec();
                    self.pos = next;
                    if !nal.is_empty() {
                        return Ok(Some(nal));
                    }
                    continue;
                }
                if self.eof {
                    let nal = self.buf[begin..].to_vec();
                    self.pos = self.buf.len();
                    return Ok((!nal.is_empty()).then_some(nal));
                }
                if self.buf.len() - sc > MAX_UNIT_BYTES {
                    return Err(MediaError::Format(format!(
                        "a NAL unit is longer than {MAX_UNIT_BYTES} bytes"
                    )));
                }
                self.pos = sc;
            } else if self.eof {
                self.pos = self.buf.len();
                return Ok(None);
            } else {
                // Keep the last two bytes: they may begin a start code.
                self.pos = self.buf.len().saturating_sub(2).max(self.pos);
            }
            self.fill()?;
            if self.eof && self.buf.len() == self.pos {
                return Ok(None);
            }
        }
    }

    /// The next access unit as an Annex B byte string (each NAL with a 4-byte start
    /// code), or `None` at the end of the file.
    pub fn next_access_unit(&mut self) -> Result<Option<Vec<u8>>, MediaError> {
        let mut unit = Vec::new();
        let mut has_slice = false;
        loop {
            let nal = match self.pending.take() {
                Some(nal) => nal,
                None => match self.next_nal()? {
                    Some(nal) => nal,
                    None => break,
                },
            };
            if has_slice && starts_access_unit(&nal) {
                self.pending = Some(nal);
                break;
            }
            has_slice |= is_slice(&nal);
            unit.extend_from_slice(&START_CODE);
            unit.extend_from_slice(&nal);
            if unit.len() > MAX_UNIT_BYTES {
                return Err(MediaError::Format(format!(
                    "access unit {} is longer than {MAX_UNIT_BYTES} bytes",
                    self.units_read + 1
                )));
            }
        }
        if unit.is_empty() {
            return Ok(None);
        }
        self.units_read += 1;
        Ok(Some(unit))
    }

    pub fn rewind(&mut self) -> Result<(), MediaError> {
        self.reader.seek(SeekFrom::Start(0))?;
        self.buf.clear();
        self.pos = 0;
        self.eof = false;
        self.pending = None;
        self.units_read = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn a_keyframe_is_an_access_unit_with_an_idr_slice() {
        // SPS, PPS, IDR slice.
        let idr = [
            0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88,
        ];
        assert!(is_keyframe(&idr));
        // A P slice alone, and nothing at all.
        assert!(!is_keyframe(&[0, 0, 0, 1, 0x41, 0x9a]));
        assert!(!is_keyframe(&[]));
        assert!(!is_keyframe(&[0, 0, 1]));
    }

    fn units(data: &[u8]) -> Vec<Vec<u8>> {
        let mut r = AnnexBReader::new(Cursor::new(data.to_vec()));
        let mut out = Vec::new();
        while let Some(u) = r.next_access_unit().unwrap() {
            out.push(u);
        }
        out
    }

    #[test]
    fn groups_parameter_sets_with_the_following_picture() {
        let stream = [
            &[0, 0, 0, 1, 0x67, 1, 2][..], // SPS
            &[0, 0, 1, 0x68, 3],           // PPS
            &[0, 0, 1, 0x65, 0x88, 4],     // IDR slice, first_mb 0
            &[0, 0, 1, 0x65, 0x40, 5],     // second slice of the same picture
            &[0, 0, 0, 1, 0x41, 0x9a, 6],  // next picture
        ]
        .concat();
        let u = units(&stream);
        assert_eq!(u.len(), 2);
        assert_eq!(
            u[0],
            [
                &START_CODE[..],
                &[0x67, 1, 2],
                &START_CODE,
                &[0x68, 3],
                &START_CODE,
                &[0x65, 0x88, 4],
                &START_CODE,
                &[0x65, 0x40, 5]
            ]
            .concat()
        );
        assert_eq!(u[1], [&START_CODE[..], &[0x41, 0x9a, 6]].concat());
    }

    #[test]
    fn finds_units_across_read_chunks_and_ignores_leading_garbage() {
        let mut stream = vec![0xff, 0xee];
        for i in 0..3 {
            stream.extend_from_slice(&START_CODE);
            stream.push(0x65);
            stream.push(0x80);
            stream.extend(std::iter::repeat_n(i + 1, CHUNK));
        }
        let u = units(&stream);
        assert_eq!(u.len(), 3);
        assert!(u.iter().all(|u| u.len() == CHUNK + 6));
        assert_eq!(u[2][6], 3);
    }

    #[test]
    fn empty_and_start_code_free_input_give_no_units() {
        assert!(units(&[]).is_empty());
        assert!(units(&[1, 2, 3, 4, 5]).is_empty());
        assert!(has_start_code(&[0, 0, 1, 0x67]) && !has_start_code(&[0, 1, 0x67]));
    }
}
