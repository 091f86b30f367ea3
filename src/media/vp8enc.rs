//! An intra-only VP8 encoder without system libraries: lossy WebP *is* a VP8 key frame,
//! so libwebp (built from bundled source) encodes each frame and we take the `VP8 ` chunk
//! out of its RIFF container. Every frame is a key frame: more bandwidth, but browsers
//! without H.264 (Firefox here) can see us in the default build.

use super::EncodeError;
use crate::render::I420Frame;

fn err(message: impl Into<String>) -> EncodeError {
    EncodeError {
        codec: "VP8",
        message: message.into(),
    }
}

/// One encoded VP8 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp8Frame {
    pub data: Vec<u8>,
    /// A key frame: a receiver can start here.
    pub key: bool,
}

/// Encodes frames as VP8 key frames.
pub struct Vp8IntraEncoder {
    /// libwebp quality, 0-100.
    quality: f32,
    rgb: Vec<u8>,
}

impl Vp8IntraEncoder {
    pub fn new(quality: f32) -> Self {
        Self {
            quality: quality.clamp(0.0, 100.0),
            rgb: Vec::new(),
        }
    }

    /// One VP8 key frame for `frame`.
    pub fn encode(&mut self, frame: &I420Frame) -> Result<Vec<u8>, EncodeError> {
        let (w, h) = (frame.width(), frame.height());
        if w > 16383 || h > 16383 {
            return Err(err(format!("{w}x{h} is larger than VP8 allows")));
        }
        self.rgb.clear();
        self.rgb.reserve(w as usize * h as usize * 3);
        for y in 0..h {
            for x in 0..w {
                let p = frame.pixel(x, y);
                self.rgb.extend_from_slice(&[p.r, p.g, p.b]);
            }
        }
        let webp = webp::Encoder::from_rgb(&self.rgb, w, h).encode(self.quality);
        vp8_chunk(&webp)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| err("libwebp produced no VP8 chunk"))
    }
}

/// The payload of the `VP8 ` chunk of a RIFF WebP file.
pub fn vp8_chunk(webp: &[u8]) -> Option<&[u8]> {
    if webp.len() < 12 || &webp[0..4] != b"RIFF" || &webp[8..12] != b"WEBP" {
        return None;
    }
    let mut at = 12;
    while at + 8 <= webp.len() {
        let fourcc = &webp[at..at + 4];
        let size = u32::from_le_bytes(webp[at + 4..at + 8].try_into().ok()?) as usize;
        let data = webp.get(at + 8..at + 8 + size)?;
        if fourcc == b"VP8 " {
            return Some(data);
        }
        // Chunks are padded to an even size.
        at += 8 + size + (size & 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testcard::{PALETTES, TestCard};
    use crate::media::vp8::Vp8Decoder;

    #[test]
    fn key_frames_decode_back_to_the_card() {
        let card = TestCard::new(320, 240, "vp8", PALETTES[1]);
        let mut enc = Vp8IntraEncoder::new(60.0);
        let mut dec = Vp8Decoder::new().unwrap();
        let frame = card.frame(std::time::Duration::from_secs(1)).unwrap();
        let vp8 = enc.encode(&frame).unwrap();
        assert_eq!(vp8[0] & 1, 0, "a key frame");
        assert_eq!(&vp8[3..6], &[0x9d, 0x01, 0x2a]);
        let out = dec.decode(&vp8).unwrap().expect("a shown frame");
        assert_eq!((out.width(), out.height()), (320, 240));
        let bg = PALETTES[1].background;
        let p = out.pixel(10, 60);
        assert!(
            p.r.abs_diff(bg.r) < 16 && p.g.abs_diff(bg.g) < 16 && p.b.abs_diff(bg.b) < 16,
            "{p:?}"
        );
    }

    #[test]
    fn riff_parsing_refuses_junk() {
        assert_eq!(vp8_chunk(b""), None);
        assert_eq!(vp8_chunk(b"RIFF\0\0\0\0WEBPVP8L\x02\0\0\0ab"), None);
        assert_eq!(vp8_chunk(b"RIFF\0\0\0\0WEBPVP8 \xff\0\0\0ab"), None);
        assert_eq!(
            vp8_chunk(b"RIFF\0\0\0\0WEBPXYZW\x01\0\0\0a\0VP8 \x02\0\0\0cd"),
            Some(&b"cd"[..])
        );
    }
}
