//! VP8 decoding with the pure-Rust `oximedia-codec` decoder (no system library needed).

use oximedia_codec::VideoFrame;
use oximedia_codec::traits::{DecoderConfig, VideoDecoder};
use oximedia_codec::vp8::Vp8Decoder as Inner;

use super::DecodeError;
use crate::contain::contain;
use crate::render::frame::{I420Frame, I420Planes, check_dimensions};

/// Decodes VP8 frames (one compressed frame per call, as IVF and RTP deliver them).
pub struct Vp8Decoder {
    inner: Inner,
}

fn new_inner() -> Result<Inner, DecodeError> {
    // The VP8 decoder ignores the config's codec field (its default names AV1).
    Inner::new(DecoderConfig {
        low_latency: true,
        ..DecoderConfig::default()
    })
    .map_err(|e| err(e.to_string()))
}

fn err(message: impl Into<String>) -> DecodeError {
    DecodeError {
        codec: "VP8",
        message: message.into(),
    }
}

impl Vp8Decoder {
    pub fn new() -> Result<Self, DecodeError> {
        Ok(Self {
            inner: new_inner()?,
        })
    }

    /// Decodes one compressed frame. `Ok(None)` for frames that are not shown.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, DecodeError> {
        // Refuse absurd sizes before the decoder allocates for them. A key frame carries
        // its size at bytes 6..10 after the 3-byte tag and start code 9d 01 2a.
        if data.len() >= 10 && data[0] & 1 == 0 && data[3..6] == [0x9d, 0x01, 0x2a] {
            let w = u32::from(u16::from_le_bytes([data[6], data[7]]) & 0x3fff);
            let h = u32::from(u16::from_le_bytes([data[8], data[9]]) & 0x3fff);
            check_dimensions(w, h).map_err(|e| err(e.to_string()))?;
        }
        let inner = &mut self.inner;
        let result = contain(|| -> Result<Option<VideoFrame>, DecodeError> {
            inner.send_packet(data, 0).map_err(|e| err(e.to_string()))?;
            let mut last = None;
            while let Some(frame) = inner.receive_frame().map_err(|e| err(e.to_string()))? {
                last = Some(frame);
            }
            Ok(last)
        });
        let frame = match result {
            Ok(r) => r?,
            Err(panic) => {
                // The decoder's state is unknown after a panic: start afresh.
                self.inner = new_inner()?;
                return Err(err(format!("decoder panicked: {panic}")));
            }
        };
        frame.map(|f| to_i420(&f)).transpose()
    }
}

fn to_i420(f: &VideoFrame) -> Result<I420Frame, DecodeError> {
    let [y, u, v] = &f.planes[..] else {
        return Err(err(format!("expected 3 planes, got {}", f.planes.len())));
    };
    I420Frame::from_planes(I420Planes {
        width: f.width,
        height: f.height,
        y: &y.data,
        y_stride: y.stride,
        u: &u.data,
        u_stride: u.stride,
        v: &v.data,
        v_stride: v.stride,
    })
    .map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_gives_an_error_not_a_panic() {
        let mut d = Vp8Decoder::new().unwrap();
        for data in [
            &[][..],
            &[0xff; 3],
            &[0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00],
            &[
                0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0xff, 0x3f, 0xff, 0x3f, 1, 2, 3,
            ],
        ] {
            assert!(d.decode(data).is_err(), "{data:?}");
        }
        let mut noise = vec![0u8; 4000];
        let mut x = 12345u32;
        for b in &mut noise {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        noise[0] &= 0xfe;
        noise[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        noise[6..10].copy_from_slice(&[64, 0, 48, 0]);
        // Whatever the decoder makes of noise, it must answer.
        let _ = d.decode(&noise);
        let _ = d.decode(&noise[..100]);
    }
}
