//! libvpx's real-time VP8 encoder (the `libvpx` feature): inter frames between key frames,
//! a fraction of the bytes of the intra-only sender in `vp8enc`, through the safe
//! `vpx-encode` wrapper over the system libvpx.

use vpx_encode::{Config, Encoder, VideoCodecId};

use super::EncodeError;
use super::vp8enc::Vp8Frame;
use crate::render::I420Frame;

fn err(message: impl Into<String>) -> EncodeError {
    EncodeError {
        codec: "VP8",
        message: message.into(),
    }
}

/// Encodes a live picture as VP8 with libvpx: real-time deadline, error resilient (set by
/// `vpx-encode`), a target bitrate, a key frame first, on request and every few seconds.
///
/// `vpx-encode` neither takes per-frame flags (no `VPX_EFLAG_FORCE_KF`) nor exposes
/// `kf_max_dist`, so a key frame is forced by starting a fresh encoder: a new libvpx
/// encoder always begins with one. At 320x240 that costs well under a millisecond, and it
/// happens only on a receiver's request (PLI, a new or lagging call) or every
/// `key_interval` frames, which bounds how long a receiver that lost a key frame without
/// asking waits for the next.
///
/// `vpx-encode` also fixes libvpx's threads at 8, so on a multi-core machine a row thread
/// works beside ours and the two spin-wait for each other: about half a millisecond a frame
/// when the cores are free, but measured 5-12 ms on a busy 2-core machine and 56 ms when
/// both shared one core (`BENCHMARKS.md`). `vpx-rs` sets threads, per-frame flags and rate
/// control, but names a control added in libvpx 1.13 (Debian 12 has 1.12) and needs clang;
/// this crate ships bindings for 1.3-1.13.
///
/// Not `Send` (libvpx's context holds raw pointers): make it on the thread that encodes.
pub struct VpxEncoder {
    config: Config,
    /// `None` until the first frame and after a failure: the next frame starts afresh.
    inner: Option<Encoder>,
    /// Frames since the last key frame.
    since_key: u32,
    key_interval: u32,
    pts: i64,
    /// The frame's planes in one buffer, as `vpx_img_wrap` takes them.
    packed: Vec<u8>,
}

impl VpxEncoder {
    /// An encoder for `width`x`height` frames at `fps`, aiming at `bits_per_second`, with a
    /// key frame at least every `key_interval` frames.
    pub fn new(
        width: u32,
        height: u32,
        fps: u32,
        bits_per_second: u32,
        key_interval: u32,
    ) -> Result<Self, EncodeError> {
        // libvpx wants even sizes for 4:2:0 (and `vpx-encode` checks it); VP8 stores 14 bits.
        if width == 0 || height == 0 || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(err(format!(
                "{width}x{height}: libvpx needs a non-zero, even width and height"
            )));
        }
        if width > 16383 || height > 16383 {
            return Err(err(format!("{width}x{height} is larger than VP8 allows")));
        }
        let fps = i32::try_from(fps.max(1)).map_err(|_| err(format!("{fps} fps")))?;
        let mut encoder = Self {
            config: Config {
                width,
                height,
                // One tick per frame: `vpx-encode` gives every frame a duration of 1.
                timebase: [1, fps],
                bitrate: (bits_per_second / 1000).max(1),
                codec: VideoCodecId::VP8,
            },
            inner: None,
            since_key: 0,
            key_interval: key_interval.max(1),
            pts: 0,
            packed: Vec::new(),
        };
        // Fail here, not on the first frame, if libvpx refuses the configuration.
        encoder.inner = Some(encoder.fresh()?);
        Ok(encoder)
    }

    fn fresh(&self) -> Result<Encoder, EncodeError> {
        Encoder::new(self.config).map_err(|e| err(format!("libvpx encoder setup: {e}")))
    }

    /// One VP8 frame for `frame`; a key frame when `key` is set, when the interval is up,
    /// or when libvpx decides so itself (the result says which).
    pub fn encode(&mut self, frame: &I420Frame, key: bool) -> Result<Vp8Frame, EncodeError> {
        let (w, h) = (frame.width(), frame.height());
        if (w, h) != (self.config.width, self.config.height) {
            return Err(err(format!(
                "a {w}x{h} frame for an encoder set up for {}x{}",
                self.config.width, self.config.height
            )));
        }
        self.packed.clear();
        self.packed.extend_from_slice(frame.y());
        self.packed.extend_from_slice(frame.u());
        self.packed.extend_from_slice(frame.v());
        if key || self.since_key + 1 >= self.key_interval {
            // Free the old encoder (and its threads) before making the new one.
            self.inner = None;
        }
        let mut inner = match self.inner.take() {
            Some(inner) => inner,
            None => self.fresh()?,
        };
        self.pts += 1;
        let mut out: Option<Vp8Frame> = None;
        let mut extra = 0;
        for packet in inner
            .encode(self.pts, &self.packed)
            .map_err(|e| err(format!("libvpx: {e}")))?
        {
            if out.is_some() {
                extra += 1;
                continue;
            }
            out = Some(Vp8Frame {
                data: packet.data.to_vec(),
                key: packet.key,
            });
        }
        // Kept only after a good frame: after an error the next frame starts afresh.
        self.inner = Some(inner);
        // Without lag or frame dropping (libvpx's VP8 defaults, which `vpx-encode` keeps)
        // every input gives exactly one frame; anything else would desynchronise the stream.
        let out = match out {
            Some(out) if extra == 0 => out,
            Some(_) => return Err(err(format!("libvpx gave {} frames for one", extra + 1))),
            None => return Err(err("libvpx gave no frame")),
        };
        self.since_key = if out.key { 0 } else { self.since_key + 1 };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::media::testcard::{PALETTES, TestCard};
    use crate::media::vp8::Vp8Decoder;
    use crate::media::vp8enc::Vp8IntraEncoder;
    use crate::media::vp8send::INTRA_QUALITY;

    fn card_frames(n: u32) -> Vec<I420Frame> {
        let card = TestCard::new(320, 240, "vpx", PALETTES[1]);
        (0..n)
            .map(|i| card.frame(Duration::from_secs(1) + Duration::from_secs(i.into()) / 15))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn inter_frames_decode_to_the_card_and_cost_far_less_than_key_frames() {
        let frames = card_frames(30);
        let mut vpx = VpxEncoder::new(320, 240, 15, 400_000, 1000).unwrap();
        let mut intra = Vp8IntraEncoder::new(INTRA_QUALITY);
        let mut dec = Vp8Decoder::new().unwrap();
        let bg = PALETTES[1].background;
        let (mut vpx_bytes, mut intra_bytes, mut keys) = (0, 0, Vec::new());
        for (i, frame) in frames.iter().enumerate() {
            let out = vpx.encode(frame, i == 20).unwrap();
            assert_eq!(
                out.key,
                out.data[0] & 1 == 0,
                "frame {i}: flag and bitstream agree"
            );
            if out.key {
                keys.push(i);
            }
            vpx_bytes += out.data.len();
            intra_bytes += intra.encode(frame).unwrap().len();
            let picture = dec
                .decode(&out.data)
                .unwrap_or_else(|e| panic!("frame {i}: {e}"))
                .expect("a shown frame");
            assert_eq!((picture.width(), picture.height()), (320, 240));
            // The whole picture, not only the background: inter frames carry the motion.
            let error: u64 = (picture.y().iter().zip(frame.y()))
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            let mean = error as f64 / frame.y().len() as f64;
            assert!(mean < 3.0, "frame {i}: mean luma error {mean:.2}");
            let p = picture.pixel(10, 60);
            assert!(
                p.r.abs_diff(bg.r) < 16 && p.g.abs_diff(bg.g) < 16 && p.b.abs_diff(bg.b) < 16,
                "frame {i}: {p:?} vs {bg:?}"
            );
        }
        assert_eq!(
            keys,
            [0, 20],
            "key frames first and when asked, inter frames otherwise"
        );
        assert!(
            // About a third, two key frames included; libvpx's real-time speed adapts to
            // the clock, so sizes vary from run to run.
            vpx_bytes * 2 < intra_bytes,
            "libvpx {vpx_bytes} bytes, intra-only {intra_bytes}"
        );
    }

    #[test]
    fn a_key_frame_comes_every_interval() {
        let frames = card_frames(12);
        let mut vpx = VpxEncoder::new(320, 240, 15, 400_000, 5).unwrap();
        let keys: Vec<usize> = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| vpx.encode(f, false).unwrap().key)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(keys, [0, 5, 10]);
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert!(VpxEncoder::new(321, 240, 15, 400_000, 60).is_err());
        assert!(VpxEncoder::new(0, 240, 15, 400_000, 60).is_err());
        assert!(VpxEncoder::new(20000, 240, 15, 400_000, 60).is_err());
        let mut vpx = VpxEncoder::new(320, 240, 15, 400_000, 60).unwrap();
        let small = I420Frame::solid(160, 120, PALETTES[0].background).unwrap();
        let e = vpx.encode(&small, false).unwrap_err();
        assert!(e.message.contains("160x120"), "{e}");
        // The encoder goes on after a refused frame.
        assert!(vpx.encode(&card_frames(1)[0], false).unwrap().key);
    }
}
