//! H.264 decoding with OpenH264, built from bundled source by the `openh264` crate.

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use super::DecodeError;
use crate::contain::contain;
use crate::render::frame::{I420Frame, I420Planes};

/// Decodes H.264 access units (Annex B byte stream with start codes).
pub struct H264Decoder {
    inner: Decoder,
}

fn err(message: impl Into<String>) -> DecodeError {
    DecodeError {
        codec: "H.264",
        message: message.into(),
    }
}

impl H264Decoder {
    pub fn new() -> Result<Self, DecodeError> {
        Ok(Self {
            inner: Decoder::new().map_err(|e| err(e.to_string()))?,
        })
    }

    /// Decodes one access unit; `Ok(None)` when it completes no picture (e.g. only SPS/PPS).
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<I420Frame>, DecodeError> {
        let inner = &mut self.inner;
        let result = contain(|| match inner.decode(access_unit) {
            Ok(Some(yuv)) => copy_out(&yuv).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(err(e.to_string())),
        });
        match result {
            Ok(r) => r,
            Err(panic) => {
                self.inner = Decoder::new().map_err(|e| err(e.to_string()))?;
                Err(err(format!("decoder panicked: {panic}")))
            }
        }
    }

    /// Pictures still held by the decoder at the end of a stream.
    pub fn flush(&mut self) -> Vec<I420Frame> {
        let inner = &mut self.inner;
        contain(|| {
            inner
                .flush_remaining()
                .map(|frames| frames.iter().filter_map(|f| copy_out(f).ok()).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default()
    }
}

fn copy_out(yuv: &impl YUVSource) -> Result<I420Frame, DecodeError> {
    let (w, h) = yuv.dimensions();
    let (ys, us, vs) = yuv.strides();
    I420Frame::from_planes(I420Planes {
        width: u32::try_from(w).map_err(|_| err("width out of range"))?,
        height: u32::try_from(h).map_err(|_| err("height out of range"))?,
        y: yuv.y(),
        y_stride: ys,
        u: yuv.u(),
        u_stride: us,
        v: yuv.v(),
        v_stride: vs,
    })
    .map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_gives_an_error_or_nothing_never_a_panic() {
        let mut d = H264Decoder::new().unwrap();
        for data in [
            &[][..],
            &[0, 0, 0, 1, 0x67, 0xff, 0xff, 0xff],
            &[0, 0, 1, 0x65, 1, 2, 3, 4, 5, 6],
            &[0xff; 64],
        ] {
            assert!(matches!(d.decode(data), Ok(None) | Err(_)));
        }
        assert!(d.flush().is_empty());
    }
}
