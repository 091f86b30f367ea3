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
            check_first_partition(data, w, h)?;
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

/// A key frame's first partition holds every macroblock's prediction modes, which take at
/// least 3.4 bits each (the cheapest luma and chroma modes under the fixed key-frame
/// probabilities, RFC 6386 11.2-11.4). One too small for its picture is corrupt: found by
/// fuzzing, a 272-byte frame claiming 6048x6103 took `play` 0.5 s and 170 MB (7 s under
/// the fuzzer), filling the picture in from nothing. Half that minimum is required.
fn check_first_partition(data: &[u8], width: u32, height: u32) -> Result<(), DecodeError> {
    // The frame tag: key frame bit, version, shown bit, then 19 bits of partition size.
    let first = (u32::from(data[0]) | u32::from(data[1]) << 8 | u32::from(data[2]) << 16) >> 5;
    let macroblocks = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
    if u64::from(first) * 8 < macroblocks * 17 / 10 {
        return Err(err(format!(
            "a {width}x{height} key frame with a first partition of {first} bytes"
        )));
    }
    Ok(())
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
        let noise_from = |seed: u32| {
            let mut noise = vec![0u8; 4000];
            let mut x = seed;
            for b in &mut noise {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *b = (x >> 16) as u8;
            }
            noise[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
            noise[6..10].copy_from_slice(&[64, 0, 48, 0]);
            noise
        };
        // A key frame's start code and a 64x48 size, then noise: the frame tag's noise
        // names no VP8 version there is.
        let mut noise = noise_from(12345);
        noise[0] &= 0xfe;
        assert!(d.decode(&noise).is_err());
        assert!(d.decode(&noise[..100]).is_err());
        // A well-formed frame tag (key frame, version 0, shown, a first partition of 1000
        // bytes) takes the decoder into the noise: each frame is refused or decodes to the
        // size its header says, and some get that far.
        let (mut refused, mut decoded) = (0, 0);
        for seed in 0..40u32 {
            let mut noise = noise_from(seed * 7919 + 1);
            let tag = 0x10 | (1000u32 << 5);
            noise[..3].copy_from_slice(&tag.to_le_bytes()[..3]);
            match d.decode(&noise) {
                Err(_) => refused += 1,
                Ok(Some(f)) if (f.width(), f.height()) == (64, 48) => decoded += 1,
                Ok(other) => panic!("seed {seed}: {:?}", other.map(|f| (f.width(), f.height()))),
            }
            // Cut inside its first partition: refused.
            assert!(d.decode(&noise[..100]).is_err(), "seed {seed}");
        }
        assert!(
            refused > 0 && decoded > 0,
            "{refused} refused, {decoded} decoded"
        );
        // A huge picture claimed in a few bytes (found by fuzzing) is refused at once.
        let mut tiny = vec![0x90, 0x10, 0x00, 0x9d, 0x01, 0x2a, 0xa0, 0x17, 0xd7, 0x17];
        tiny.resize(272, 0xd7);
        let e = d.decode(&tiny).unwrap_err().to_string();
        assert!(
            e.contains("6048x6103 key frame with a first partition of 132"),
            "{e}"
        );
        // And after all that, a real key frame decodes to its picture.
        let colour = crate::render::Rgb::new(200, 40, 90);
        let frame = I420Frame::solid(64, 48, colour).unwrap();
        let vp8 = crate::media::vp8enc::Vp8IntraEncoder::new(80.0)
            .encode(&frame)
            .unwrap();
        let out = d.decode(&vp8).unwrap().expect("a shown frame");
        assert_eq!((out.width(), out.height()), (64, 48));
        let p = out.pixel(32, 24);
        assert!(
            p.r.abs_diff(colour.r) < 12
                && p.g.abs_diff(colour.g) < 12
                && p.b.abs_diff(colour.b) < 12,
            "{p:?}"
        );
    }
}
