//! Our outgoing video: one encoder feeds every call. A source draws frames (the test card,
//! later a camera), shows them to us (self view) and, while anyone listens, encodes them to
//! H.264 once and broadcasts the access units; each call writes them to its own track.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media::Sample;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_H264;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::rtp_transceiver::RtpSender;

use crate::media::h264::H264Encoder;
use crate::media::testcard::TestCard;
use crate::render::I420Frame;

/// One encoded picture.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    pub data: Bytes,
    pub key: bool,
}

/// Where the self view goes.
pub type Preview = Arc<dyn Fn(Arc<I420Frame>) + Send + Sync>;

/// The shared outgoing video of a session.
#[derive(Clone)]
pub struct VideoSource {
    frames: broadcast::Sender<EncodedFrame>,
    want_keyframe: Arc<AtomicBool>,
    pub fps: u32,
}

impl VideoSource {
    /// Starts a thread that draws `card` at `fps` until `cancel`, encoding while anyone
    /// subscribes (`bits_per_second` for the H.264 encoder).
    pub fn test_card(
        card: TestCard,
        fps: u32,
        bits_per_second: u32,
        preview: Option<Preview>,
        cancel: CancellationToken,
    ) -> Result<VideoSource, String> {
        let mut encoder = H264Encoder::new(card.width, card.height, fps as f32, bits_per_second)
            .map_err(|e| e.to_string())?;
        let (frames, _) = broadcast::channel(8);
        let source = VideoSource {
            frames,
            want_keyframe: Arc::new(AtomicBool::new(true)),
            fps,
        };
        let out = source.clone();
        let interval = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
        std::thread::Builder::new()
            .name("packspaces-video-out".into())
            .spawn(move || {
                let start = Instant::now();
                let mut next = start;
                while !cancel.is_cancelled() {
                    next += interval;
                    let frame = match card.frame(start.elapsed()) {
                        Ok(f) => Arc::new(f),
                        Err(e) => {
                            tracing::error!("test card: {e}");
                            return;
                        }
                    };
                    if let Some(preview) = &preview {
                        preview(frame.clone());
                    }
                    if out.frames.receiver_count() > 0 {
                        let key = out.want_keyframe.swap(false, Ordering::Relaxed);
                        match encoder.encode(&frame, key) {
                            Ok(data) if !data.is_empty() => {
                                let key = key || contains_idr(&data);
                                let _ = out.frames.send(EncodedFrame {
                                    data: Bytes::from(data),
                                    key,
                                });
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!("encoder: {e}"),
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

    pub fn subscribe(&self) -> broadcast::Receiver<EncodedFrame> {
        self.frames.subscribe()
    }

    pub fn request_keyframe(&self) {
        self.want_keyframe.store(true, Ordering::Relaxed);
    }
}

/// Does an Annex B access unit contain an IDR slice (NAL type 5)?
pub fn contains_idr(annex_b: &[u8]) -> bool {
    annex_b
        .windows(4)
        .any(|w| w[0] == 0 && w[1] == 0 && w[2] == 1 && w[3] & 0x1f == 5)
}

/// Writes the source's frames to one call's track until the call ends. Sends only when the
/// call negotiated H.264 (the payload type must be the negotiated one: the track itself
/// does not check).
pub async fn send_video(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    source: VideoSource,
    peer: String,
    cancel: CancellationToken,
) {
    let payload_type = match sender.get_parameters().await {
        Ok(p) => p
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(MIME_TYPE_H264))
            .map(|c| c.payload_type),
        Err(e) => {
            tracing::warn!("call {peer}: no sender parameters: {e}");
            None
        }
    };
    let Some(payload_type) = payload_type else {
        tracing::info!(
            "call {peer}: no H.264 negotiated; not sending video (the VP8 sender is not built yet)"
        );
        return;
    };
    let Some(ssrc) = track.ssrcs().await.first().copied() else {
        return;
    };
    let duration = Duration::from_secs_f64(1.0 / f64::from(source.fps.max(1)));
    let mut frames = source.subscribe();
    source.request_keyframe();
    let mut started = false;
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => return,
            frame = frames.recv() => frame,
        };
        match frame {
            Ok(frame) => {
                // A decoder cannot start before a keyframe.
                if !started && !frame.key {
                    continue;
                }
                started = true;
                let sample = Sample {
                    data: frame.data,
                    duration,
                    ..Sample::new(Instant::now())
                };
                if let Err(e) = track
                    .sample_writer(ssrc, payload_type)
                    .write_sample(&sample)
                    .await
                {
                    tracing::info!("call {peer}: sending stopped: {e}");
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                started = false;
                source.request_keyframe();
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
