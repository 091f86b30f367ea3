//! The VP8 encoder our outgoing video uses: libvpx's full encoder with the `libvpx`
//! feature, else (or if libvpx refuses the picture size) the intra-only one from `vp8enc`.

use super::EncodeError;
pub use super::vp8enc::Vp8Frame;
use super::vp8enc::Vp8IntraEncoder;
use crate::render::I420Frame;

/// libwebp quality of the intra-only sender's key frames.
pub const INTRA_QUALITY: f32 = 50.0;

/// Seconds between libvpx key frames when nobody asks for one.
#[cfg(feature = "libvpx")]
const KEY_INTERVAL_SECONDS: u32 = 4;

/// Encodes our picture for VP8 receivers. Not `Send` with the `libvpx` feature: make it on
/// the thread that encodes.
pub enum Vp8Sender {
    #[cfg(feature = "libvpx")]
    Full(super::vpx::VpxEncoder),
    Intra(Vp8IntraEncoder),
}

impl Vp8Sender {
    /// The best VP8 encoder this build has for `width`x`height` at `fps` (`bits_per_second`
    /// is libvpx's target; the intra-only encoder has a fixed quality instead).
    #[cfg_attr(not(feature = "libvpx"), allow(unused_variables))]
    pub fn new(width: u32, height: u32, fps: u32, bits_per_second: u32) -> Self {
        #[cfg(feature = "libvpx")]
        {
            let interval = fps.max(1).saturating_mul(KEY_INTERVAL_SECONDS);
            match super::vpx::VpxEncoder::new(width, height, fps, bits_per_second, interval) {
                Ok(e) => {
                    tracing::info!("VP8 out: libvpx, {width}x{height} at {fps} fps");
                    return Self::Full(e);
                }
                // Odd sizes, say: key frames only is worse than inter frames but better
                // than no picture for Firefox.
                Err(e) => tracing::warn!("{e}; sending VP8 key frames only"),
            }
        }
        Self::Intra(Vp8IntraEncoder::new(INTRA_QUALITY))
    }

    /// One frame for `frame`, a key frame if `key` (the intra-only encoder makes nothing else).
    #[cfg_attr(not(feature = "libvpx"), allow(unused_variables))]
    pub fn encode(&mut self, frame: &I420Frame, key: bool) -> Result<Vp8Frame, EncodeError> {
        match self {
            #[cfg(feature = "libvpx")]
            Self::Full(e) => e.encode(frame, key),
            Self::Intra(e) => e.encode(frame).map(|data| Vp8Frame { data, key: true }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testcard::{PALETTES, TestCard};

    #[test]
    fn the_second_frame_is_an_inter_frame_only_with_libvpx() {
        let card = TestCard::new(320, 240, "send", PALETTES[0]);
        let mut sender = Vp8Sender::new(320, 240, 15, 400_000);
        let first = sender.encode(&card.frame(Default::default()).unwrap(), false);
        let second = sender.encode(
            &card.frame(std::time::Duration::from_millis(66)).unwrap(),
            false,
        );
        assert!(first.unwrap().key);
        assert_eq!(second.unwrap().key, !cfg!(feature = "libvpx"));
    }

    #[test]
    fn sizes_libvpx_refuses_fall_back_to_key_frames() {
        let card = TestCard::new(161, 121, "odd", PALETTES[0]);
        let mut sender = Vp8Sender::new(161, 121, 15, 400_000);
        assert!(matches!(sender, Vp8Sender::Intra(_)));
        for _ in 0..2 {
            assert!(
                sender
                    .encode(&card.frame(Default::default()).unwrap(), false)
                    .unwrap()
                    .key
            );
        }
    }
}
