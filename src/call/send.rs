//! Our outgoing video: one encoder per codec feeds every call. A source draws frames (the
//! test card, a camera or a clip), shows them to us (self view) and, for each codec someone
//! listens to, encodes them once (H.264 with OpenH264; VP8 with libvpx under the `libvpx`
//! feature, else as key frames with libwebp) and broadcasts the result; each call writes it
//! to its own track.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp::packetizer::Packetizer as _;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::rtp_transceiver::RtpSender;

use super::codecs::VideoCodec;
use crate::feed::{Feed, Picture as FeedPicture};
use crate::media::h264::H264Encoder;
use crate::media::picture::Picture;
use crate::media::vp8send::Vp8Sender;

/// The stream id of everything we send: PeerJS shows one remote stream per stream id.
const STREAM_ID: &str = "packspaces";

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
    /// Our video is switched off: send the grey "video off" card instead.
    video_off: Arc<AtomicBool>,
    pub fps: u32,
}

impl VideoSource {
    /// Starts a thread that draws `card` at `fps` until `cancel`, encoding while anyone
    /// subscribes (`bits_per_second` for the H.264 and libvpx encoders); every picture
    /// also goes to `self_view`, if given, as our own.
    pub fn test_card(
        mut card: Picture,
        fps: u32,
        bits_per_second: u32,
        self_view: Option<Feed>,
        cancel: CancellationToken,
    ) -> Result<VideoSource, String> {
        let mut h264 = H264Encoder::new(card.width, card.height, fps as f32, bits_per_second)
            .map_err(|e| e.to_string())?;
        let source = VideoSource {
            h264: broadcast::channel(8).0,
            vp8: broadcast::channel(8).0,
            want_keyframe: Arc::new(AtomicBool::new(true)),
            video_off: Arc::new(AtomicBool::new(false)),
            fps,
        };
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

    pub fn subscribe(&self, codec: VideoCodec) -> broadcast::Receiver<EncodedFrame> {
        match codec {
            VideoCodec::H264 => self.h264.subscribe(),
            VideoCodec::Vp8 => self.vp8.subscribe(),
        }
    }

    pub fn request_keyframe(&self) {
        self.want_keyframe.store(true, Ordering::Relaxed);
    }

    /// Switches our video off (the "video off" card is sent) or back on.
    pub fn set_video_on(&self, on: bool) {
        self.video_off.store(!on, Ordering::Relaxed);
    }
}

/// Our outgoing video track (when we send video), in the shared stream.
pub fn video_track(codec: VideoCodec) -> Result<Arc<TrackLocalStaticSample>, String> {
    stream_track(RtpCodecKind::Video, codec.rtp_codec())
}

/// A track of `kind` in our one stream (PeerJS shows one stream per peer, so audio and
/// video share its id), with a random SSRC.
pub(super) fn stream_track(
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
) -> Result<Arc<TrackLocalStaticSample>, String> {
    let kind_name = match kind {
        RtpCodecKind::Audio => "audio",
        _ => "video",
    };
    let track = MediaStreamTrack::new(
        STREAM_ID.to_string(),
        format!("{STREAM_ID}-{kind_name}"),
        kind_name.to_string(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(random_u32()),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    );
    TrackLocalStaticSample::new(Instant::now(), track)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// A random SSRC, sequence or timestamp start (RFC 3550 wants them unpredictable).
pub(super) fn random_u32() -> u32 {
    u32::from_le_bytes(
        uuid::Uuid::new_v4().as_bytes()[..4]
            .try_into()
            .unwrap_or([1; 4]),
    )
}

/// Does an Annex B access unit contain an IDR slice (NAL type 5)?
pub fn contains_idr(annex_b: &[u8]) -> bool {
    annex_b
        .windows(4)
        .any(|w| w[0] == 0 && w[1] == 0 && w[2] == 1 && w[3] & 0x1f == 5)
}

/// Writes the source's frames to one call's track until the call ends, in the codec the
/// call negotiated (the payload type must be the negotiated one: the track does not check).
pub async fn send_video(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    source: VideoSource,
    peer: String,
    cancel: CancellationToken,
) {
    let negotiated = match sender.get_parameters().await {
        Ok(p) => p.rtp_parameters.codecs.iter().find_map(|c| {
            VideoCodec::from_mime(&c.rtp_codec.mime_type).map(|v| (c.payload_type, v))
        }),
        Err(e) => {
            tracing::warn!("call {peer}: no sender parameters: {e}");
            None
        }
    };
    let Some((payload_type, codec)) = negotiated else {
        tracing::info!("call {peer}: no video codec in common; not sending video");
        return;
    };
    tracing::info!("call {peer}: sending {codec:?}");
    let Some(ssrc) = track.ssrcs().await.first().copied() else {
        return;
    };
    // The track's own sample writer packetizes for the codec the track was made with, and
    // a replacement track is never bound: so packetize for the negotiated codec here and
    // write RTP through the (bound) track.
    let payloader = match codec.rtp_codec().payloader() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("call {peer}: no packetizer for {codec:?}: {e}");
            return;
        }
    };
    let mut packetizer = rtc::rtp::packetizer::new_packetizer(
        Instant::now(),
        1200,
        payload_type,
        ssrc,
        payloader,
        Box::new(rtc::rtp::sequence::new_random_sequencer()),
        90_000,
    );
    let samples = 90_000 / source.fps.max(1);
    let mut frames = source.subscribe(codec);
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
                let packets = match packetizer.packetize(Instant::now(), &frame.data, samples) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!("call {peer}: packetizing failed: {e}");
                        continue;
                    }
                };
                for packet in packets {
                    if let Err(e) = track.write_rtp(packet).await {
                        tracing::info!("call {peer}: sending stopped: {e}");
                        return;
                    }
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
