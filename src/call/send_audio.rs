//! Our outgoing audio on one call: an Opus track in the same stream as our video (PeerJS
//! shows one stream per peer), fed from the session's [`AudioSource`]. As for video, we
//! packetize ourselves (one Opus frame per RTP packet) with the negotiated payload type,
//! and tag each packet with its level (RFC 6464) so receivers can show who speaks.

use std::sync::Arc;

use bytes::Bytes;
use rtc::rtp::header::Header;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::rtp_transceiver::RtpSender;

use super::codecs::opus_codec;
use super::send::{random_u32, stream_track};
use crate::audio::FRAME_SAMPLES;
use crate::audio::source::AudioSource;

/// Our outgoing audio track, in the shared stream.
pub fn audio_track() -> Result<Arc<TrackLocalStaticSample>, String> {
    stream_track(RtpCodecKind::Audio, opus_codec())
}

/// Writes the source's frames to one call's audio track until the call ends.
/// `level_id` is the negotiated audio-level extension id (0: none).
pub async fn send_audio(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    source: AudioSource,
    peer: String,
    level_id: u8,
    cancel: CancellationToken,
) {
    let payload_type = match sender.get_parameters().await {
        Ok(p) => p
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case("audio/opus"))
            .map(|c| c.payload_type),
        Err(e) => {
            tracing::warn!("call {peer}: no audio sender parameters: {e}");
            None
        }
    };
    let Some(payload_type) = payload_type else {
        tracing::info!("call {peer}: they take no Opus; not sending audio");
        return;
    };
    let Some(ssrc) = track.ssrcs().await.first().copied() else {
        return;
    };
    tracing::info!("call {peer}: sending Opus (payload type {payload_type})");
    let mut packets = Packets::new(payload_type, ssrc, level_id);
    let mut frames = source.subscribe();
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => return,
            frame = frames.recv() => frame,
        };
        match frame {
            Ok(frame) => {
                // A frame encoded just before a mute must not leave either.
                if source.is_muted() {
                    continue;
                }
                let packet = packets.next(frame.index, frame.level, frame.data);
                if let Err(e) = track.write_rtp(packet).await {
                    tracing::info!("call {peer}: audio stopped: {e}");
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!("call {peer}: {n} audio frames skipped");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Numbers Opus frames into RTP packets: sequence numbers count packets sent, timestamps
/// count the source's frames (so they jump over a mute, as RTP wants).
pub struct Packets {
    payload_type: u8,
    ssrc: u32,
    level_id: u8,
    sequence: u16,
    timestamp_base: u32,
    last_index: Option<u64>,
}

impl Packets {
    pub fn new(payload_type: u8, ssrc: u32, level_id: u8) -> Packets {
        Packets {
            payload_type,
            ssrc,
            level_id,
            sequence: random_u32() as u16,
            timestamp_base: random_u32(),
            last_index: None,
        }
    }

    /// The packet for the source's frame number `index`, of level `level` (-dBov).
    pub fn next(&mut self, index: u64, level: u8, payload: Bytes) -> rtc::rtp::Packet {
        // The first packet after a gap (a mute) starts a talk spurt.
        let marker = self.last_index.is_none_or(|last| index != last + 1);
        self.last_index = Some(index);
        let mut header = Header {
            version: 2,
            marker,
            payload_type: self.payload_type,
            sequence_number: self.sequence,
            timestamp: self
                .timestamp_base
                .wrapping_add((index as u32).wrapping_mul(FRAME_SAMPLES as u32)),
            ssrc: self.ssrc,
            ..Default::default()
        };
        if self.level_id != 0 {
            // RFC 6464: V bit (voice activity) and the level.
            let voice = if level < 60 { 0x80 } else { 0 };
            let _ = header.set_extension(self.level_id, Bytes::from(vec![voice | (level & 0x7f)]));
        }
        self.sequence = self.sequence.wrapping_add(1);
        rtc::rtp::Packet { header, payload }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_counts_packets_and_timestamps_count_frames() {
        let mut p = Packets::new(111, 5, 1);
        let a = p.next(1, 30, Bytes::from_static(b"a"));
        let b = p.next(2, 30, Bytes::from_static(b"b"));
        let c = p.next(7, 127, Bytes::from_static(b"c"));
        assert!(a.header.marker && !b.header.marker && c.header.marker);
        assert_eq!(
            b.header.sequence_number,
            a.header.sequence_number.wrapping_add(1)
        );
        assert_eq!(
            c.header.sequence_number,
            b.header.sequence_number.wrapping_add(1)
        );
        assert_eq!(b.header.timestamp.wrapping_sub(a.header.timestamp), 960);
        assert_eq!(c.header.timestamp.wrapping_sub(b.header.timestamp), 5 * 960);
        assert_eq!(a.header.get_extension(1).unwrap()[0], 0x80 | 30);
        assert_eq!(c.header.get_extension(1).unwrap()[0], 127);
        assert_eq!(a.header.payload_type, 111);
        assert_eq!(a.header.ssrc, 5);
    }
}
