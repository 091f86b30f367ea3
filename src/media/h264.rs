//! H.264 decoding and encoding with OpenH264, built from bundled source by the `openh264`
//! crate (no system library).

use openh264::OpenH264API;
use openh264::decoder::Decoder;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, Profile, UsageType,
};
use openh264::formats::{YUVSlices, YUVSource};

use super::{DecodeError, EncodeError};
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

fn encode_err(message: impl Into<String>) -> EncodeError {
    EncodeError {
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

/// Encodes I420 frames to H.264 constrained baseline (Annex B), as browsers decode for
/// WebRTC (`profile-level-id=42e01f`, packetization-mode 1).
pub struct H264Encoder {
    inner: Encoder,
    width: u32,
    height: u32,
}

impl H264Encoder {
    /// `fps` caps the frame rate the rate control plans for; a key frame every 2 s lets a
    /// receiver that missed one recover without asking.
    pub fn new(
        width: u32,
        height: u32,
        fps: f32,
        bits_per_second: u32,
    ) -> Result<Self, EncodeError> {
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) || width == 0 || height == 0 {
            return Err(encode_err(format!(
                "cannot encode {width}x{height}: sizes must be even"
            )));
        }
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(bits_per_second))
            .max_frame_rate(FrameRate::from_hz(fps))
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .intra_frame_period(IntraFramePeriod::from_num_frames((fps * 2.0) as u32))
            // Bitrate control needs frame skipping (OpenH264 warns on stderr otherwise).
            .skip_frames(true);
        let inner = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| encode_err(e.to_string()))?;
        Ok(Self {
            inner,
            width,
            height,
        })
    }

    /// Encodes one frame (which must have the encoder's size); `key_frame` forces an IDR,
    /// e.g. when a receiver sent a PLI.
    pub fn encode(&mut self, frame: &I420Frame, key_frame: bool) -> Result<Vec<u8>, EncodeError> {
        if (frame.width(), frame.height()) != (self.width, self.height) {
            return Err(encode_err(format!(
                "frame is {}x{}, the encoder {}x{}",
                frame.width(),
                frame.height(),
                self.width,
                self.height
            )));
        }
        if key_frame {
            self.inner.force_intra_frame();
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let source = YUVSlices::new((frame.y(), frame.u(), frame.v()), (w, h), (w, w / 2, w / 2));
        let encoded = self
            .inner
            .encode(&source)
            .map_err(|e| encode_err(e.to_string()))?;
        Ok(encoded.to_vec())
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
    fn encoded_frames_decode_to_the_same_picture() {
        use crate::media::testcard::{PALETTES, TestCard};
        let card = TestCard::new(320, 240, "enc", PALETTES[2]);
        let mut enc = H264Encoder::new(320, 240, 30.0, 600_000).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut decoded = None;
        for i in 0..5u64 {
            let frame = card
                .frame(std::time::Duration::from_millis(i * 33))
                .unwrap();
            let bits = enc.encode(&frame, i == 0).unwrap();
            assert!(!bits.is_empty());
            decoded = dec.decode(&bits).unwrap().or(decoded);
        }
        let out = decoded.expect("a decoded picture");
        assert_eq!((out.width(), out.height()), (320, 240));
        let bg = PALETTES[2].background;
        let p = out.pixel(10, 60);
        assert!(
            p.r.abs_diff(bg.r) < 16 && p.g.abs_diff(bg.g) < 16 && p.b.abs_diff(bg.b) < 16,
            "{p:?}"
        );
        assert!(H264Encoder::new(321, 240, 30.0, 1).is_err());
        let wrong = I420Frame::solid(64, 48, crate::render::Rgb::BLACK).unwrap();
        assert!(enc.encode(&wrong, false).is_err());
    }

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
