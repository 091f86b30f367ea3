//! Our outgoing video, captured and encoded once for every call: a thread draws the
//! [`Picture`] (the test card, a camera or a clip) at its frame rate, shows it to us
//! (self-view, through the [`Feed`]) and, for each codec someone listens to, encodes it once
//! (H.264 with OpenH264; VP8 with libvpx under the `libvpx` feature, else as key frames
//! with libwebp) and broadcasts the result. `call::send` writes it to each call's track.
//! Imports nothing of `call` or webrtc.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::feed::{Feed, Picture as FeedPicture};
use crate::media::h264::H264Encoder;
use crate::media::picture::Picture;
use crate::media::vp8send::Vp8Sender;

/// Peers' keyframe requests are answered at most this often, for all calls together: a
/// keyframe costs several inter frames' bytes and the encoder is shared by every call, so
/// one peer asking without pause (or thirty asking at once after a loss on our uplink) must
/// not fill everyone's link with keyframes. libwebrtc's receivers ask again after a few
/// hundred milliseconds when one is lost.
pub const PEER_KEYFRAME_INTERVAL: Duration = Duration::from_millis(300);

/// One encoded picture.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    pub data: Bytes,
    pub key: bool,
}

/// The shared outgoing video of a session.
#[derive(Clone)]
pub struct VideoSource {
    h264: broadcast::Sender<EncodedFrame>,
    vp8: broadcast::Sender<EncodedFrame>,
    want_keyframe: Arc<AtomicBool>,
    /// When a peer's request for a keyframe was last granted.
    peer_keyframe_granted: Arc<Mutex<Option<Instant>>>,
    /// Our video is switched off: send the grey "video off" card instead.
    video_off: Arc<AtomicBool>,
    pub fps: u32,
}

impl VideoSource {
    /// Starts a thread that draws `card` at `fps` until `cancel`, encoding while anyone
    /// subscribes (`bits_per_second` for the H.264 and libvpx encoders); every picture
    /// also goes to `self_view`, if given, as our own.
    pub fn start(
        mut card: Picture,
        fps: u32,
        bits_per_second: u32,
        self_view: Option<Feed>,
        cancel: CancellationToken,
    ) -> Result<VideoSource, String> {
        let mut h264 = H264Encoder::new(card.width, card.height, fps as f32, bits_per_second)
            .map_err(|e| e.to_string())?;
        let source = VideoSource::without_pictures(fps);
        let off_card = card.switched_off();
        let out = source.clone();
        let interval = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
        std::thread::Builder::new()
            .name("packspaces-video-out".into())
            .spawn(move || {
                // Made here, at the first VP8 subscriber: libvpx's encoder is not `Send`.
                let mut vp8: Option<Vp8Sender> = None;
                let start = Instant::now();
                let mut next = start;
                while !cancel.is_cancelled() {
                    next += interval;
                    // One request serves both codecs: a PLI from either kind of receiver
                    // costs the other a key frame too, which is rare and cheap.
                    let key = out.want_keyframe.swap(false, Ordering::Relaxed);
                    let frame = if out.video_off.load(Ordering::Relaxed) {
                        off_card.frame(start.elapsed())
                    } else {
                        card.frame(start.elapsed())
                    };
                    let frame = match frame {
                        Ok(f) => Arc::new(f),
                        Err(e) => {
                            tracing::error!("test card: {e}");
                            return;
                        }
                    };
                    if let Some(feed) = &self_view {
                        feed.frame(FeedPicture::Own, frame.clone());
                    }
                    if out.h264.receiver_count() > 0 {
                        match h264.encode(&frame, key) {
                            Ok(data) if !data.is_empty() => {
                                let key = key || contains_idr(&data);
                                let _ = out.h264.send(EncodedFrame {
                                    data: Bytes::from(data),
                                    key,
                                });
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!("H.264 encoder: {e}"),
                        }
                    }
                    if out.vp8.receiver_count() > 0 {
                        let vp8 = vp8.get_or_insert_with(|| {
                            Vp8Sender::new(card.width, card.height, fps, bits_per_second)
                        });
                        match vp8.encode(&frame, key) {
                            Ok(f) => {
                                let _ = out.vp8.send(EncodedFrame {
                                    data: Bytes::from(f.data),
                                    key: f.key,
                                });
                            }
                            Err(e) => tracing::warn!("VP8 encoder: {e}"),
                        }
                    }
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    } else {
                        next = Instant::now();
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(source)
    }

    /// The channels and flags, before the thread that draws and encodes has started.
    fn without_pictures(fps: u32) -> VideoSource {
        VideoSource {
            h264: broadcast::channel(8).0,
            vp8: broadcast::channel(8).0,
            want_keyframe: Arc::new(AtomicBool::new(true)),
            peer_keyframe_granted: Arc::new(Mutex::new(None)),
            video_off: Arc::new(AtomicBool::new(false)),
            fps,
        }
    }

    /// The pictures as H.264 Annex B access units (encoded while anyone subscribes).
    pub fn subscribe_h264(&self) -> broadcast::Receiver<EncodedFrame> {
        self.h264.subscribe()
    }

    /// The pictures as VP8 frames (encoded while anyone subscribes).
    pub fn subscribe_vp8(&self) -> broadcast::Receiver<EncodedFrame> {
        self.vp8.subscribe()
    }

    /// The next picture is encoded as a keyframe, for whoever needs one to start (a new
    /// call, a sender that fell behind).
    pub fn request_keyframe(&self) {
        self.want_keyframe.store(true, Ordering::Relaxed);
    }

    /// A peer asks for a keyframe (PLI/FIR): granted unless one was granted to any peer
    /// within [`PEER_KEYFRAME_INTERVAL`] before `now`. Whether it was granted.
    pub fn peer_asks_keyframe(&self, now: Instant) -> bool {
        let mut granted = self
            .peer_keyframe_granted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if granted.is_some_and(|t| now.saturating_duration_since(t) < PEER_KEYFRAME_INTERVAL) {
            return false;
        }
        *granted = Some(now);
        self.request_keyframe();
        true
    }

    /// Switches our video off (the "video off" card is sent) or back on.
    pub fn set_video_on(&self, on: bool) {
        self.video_off.store(!on, Ordering::Relaxed);
    }
}

/// Does an Annex B access unit contain an IDR slice (NAL type 5)?
pub fn contains_idr(annex_b: &[u8]) -> bool {
    annex_b
        .windows(4)
        .any(|w| w[0] == 0 && w[1] == 0 && w[2] == 1 && w[3] & 0x1f == 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_keyframe_requests_are_granted_once_per_interval_across_calls() {
        let source = VideoSource::without_pictures(30);
        let other_call = source.clone();
        let t0 = Instant::now();
        assert!(source.peer_asks_keyframe(t0));
        // Another call's peer, within the interval: the encoder is the same.
        assert!(!other_call.peer_asks_keyframe(t0 + PEER_KEYFRAME_INTERVAL / 2));
        assert!(!source.peer_asks_keyframe(t0 + PEER_KEYFRAME_INTERVAL - Duration::from_millis(1)));
        assert!(other_call.peer_asks_keyframe(t0 + PEER_KEYFRAME_INTERVAL));
        // A new call's own first keyframe is never held back.
        source.want_keyframe.store(false, Ordering::Relaxed);
        source.request_keyframe();
        assert!(source.want_keyframe.load(Ordering::Relaxed));
    }

    #[test]
    fn idr_slices_are_found_in_annex_b() {
        // An SPS (7) and an IDR slice (5), then a non-IDR slice (1) alone.
        assert!(contains_idr(&[0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x65, 9]));
        assert!(!contains_idr(&[0, 0, 0, 1, 0x41, 1, 2, 3]));
        assert!(!contains_idr(&[]));
    }
}
