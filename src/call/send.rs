//! Our outgoing video on the wire: the tracks of our one stream, and for each call the
//! encoded pictures of the shared [`VideoSource`] (`media::outgoing`), packetized for the
//! codec that call negotiated and written as RTP; the browser's keyframe requests reach the
//! source's encoder.

use std::sync::Arc;
use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp::packetizer::Packetizer as _;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::rtp_transceiver::RtpSender;

use super::codecs::VideoCodec;
use super::keyframe_requests::is_keyframe_request;
use crate::media::outgoing::VideoSource;

/// The stream id of everything we send: PeerJS shows one remote stream per stream id.
const STREAM_ID: &str = "packspaces";

/// Our outgoing video track (when we send video), in the shared stream.
pub fn video_track(codec: VideoCodec) -> Result<Arc<TrackLocalStaticSample>, String> {
    stream_track(RtpCodecKind::Video, codec.rtp_codec())
}

/// Makes our video track, as the sender knows it, one for `codec` (same ids, same SSRC)
/// before their answer is applied. webrtc-rs binds a sending stream to its interceptors
/// (the NACK responder that resends lost packets, [`super::keyframe_requests`]) only when
/// the track's codec is the negotiated one, and an offer's track is made for our first
/// choice: when the browser answered with another (Firefox: VP8 to our H.264 first), our
/// stream was never bound, a lost packet was never resent and a keyframe request never
/// heard, and Firefox's picture froze for seconds at 5 % loss. The track we write RTP
/// through stays the one that was added (the only one webrtc-rs binds).
pub async fn retarget(
    track: &TrackLocalStaticSample,
    sender: &dyn RtpSender,
    codec: VideoCodec,
) -> Result<(), String> {
    let ssrc = track.ssrcs().await.first().copied();
    let replacement = stream_track_with(RtpCodecKind::Video, codec.rtp_codec(), ssrc)?;
    sender
        .replace_track(replacement as Arc<dyn TrackLocal>)
        .await
        .map_err(|e| e.to_string())
}

/// A track of `kind` in our one stream (PeerJS shows one stream per peer, so audio and
/// video share its id), with a random SSRC.
pub(super) fn stream_track(
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
) -> Result<Arc<TrackLocalStaticSample>, String> {
    stream_track_with(kind, codec, None)
}

/// [`stream_track`] with a given SSRC (or a random one).
fn stream_track_with(
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    ssrc: Option<u32>,
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
                ssrc: Some(ssrc.unwrap_or_else(random_u32)),
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
    let mut frames = match codec {
        VideoCodec::H264 => source.subscribe_h264(),
        VideoCodec::Vp8 => source.subscribe_vp8(),
    };
    source.request_keyframe();
    let mut started = false;
    // The browser's keyframe requests (`keyframe_requests`), until the track stops
    // delivering them; the source limits how often any peer's are granted.
    let mut requests_open = true;
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => return,
            frame = frames.recv() => frame,
            event = track.poll(), if requests_open => {
                match event {
                    Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                        if is_keyframe_request(&packets) {
                            let granted = source.peer_asks_keyframe(Instant::now());
                            tracing::debug!("call {peer}: asked for a keyframe (granted: {granted})");
                        }
                    }
                    Some(_) => {}
                    None => requests_open = false,
                }
                continue;
            }
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
