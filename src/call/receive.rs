//! Incoming media of one call: RTP → whole frames (webrtc-rs sample builder) → our H.264 or
//! VP8 decoder → the session's [`Feed`] (the newest frame wins). Keyframes are requested
//! (PLI) at the start and after decode errors. Audio packets feed the speaking indicator
//! and, when we play sound, the mixer.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rtc::media::Sample;
use rtc::media::io::sample_builder::SampleBuilder;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::codec::vp8::Vp8Packet;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::codecs::VideoCodec;
use crate::audio::AudioPacket;
use crate::audio::mixer::Mixer;
use crate::contain::contain;
use crate::feed::{Feed, Picture};
use crate::media::h264::H264Decoder;
use crate::media::vp8::Vp8Decoder;
use crate::render::I420Frame;

/// Louder than this (dBov, 0 is loudest, 127 silence) counts as speech.
const SPEECH_DBOV: u8 = 50;
/// Someone stops "speaking" this long after their last loud packet.
const SPEECH_HOLD: Duration = Duration::from_millis(400);

/// Turns audio-level header values into a steady speaking / not speaking signal.
#[derive(Debug, Default)]
pub struct SpeechDetector {
    last_loud: Option<Instant>,
    speaking: bool,
}

impl SpeechDetector {
    /// Feeds one packet's level at `now`; returns the new state when it changed.
    pub fn level(&mut self, dbov: u8, now: Instant) -> Option<bool> {
        if dbov < SPEECH_DBOV {
            self.last_loud = Some(now);
        }
        let speaking = self
            .last_loud
            .is_some_and(|t| now.duration_since(t) < SPEECH_HOLD);
        (speaking != self.speaking).then(|| {
            self.speaking = speaking;
            speaking
        })
    }
}

/// Packets the sample builder may hold while waiting for a lost one.
const REORDER_PACKETS: u16 = 256;
/// Give up on a missing packet after this long (and ask for a keyframe).
const MAX_DELAY: Duration = Duration::from_millis(500);
/// Keyframe requests at most this often.
const PLI_INTERVAL: Duration = Duration::from_secs(1);

/// Receives one remote audio track until it ends, telling `feed` when the peer starts and
/// stops speaking and handing packets to the `mixer` (when we play sound).
/// `level_id` holds the negotiated audio-level extension id (0 until known).
pub async fn receive_audio(
    track: Arc<dyn TrackRemote>,
    peer: String,
    level_id: Arc<AtomicU8>,
    feed: Feed,
    mixer: Option<Arc<Mutex<Mixer>>>,
) {
    let mut detector = SpeechDetector::default();
    let mut speaking = false;
    loop {
        let event = match tokio::time::timeout(SPEECH_HOLD, track.poll()).await {
            Ok(Some(event)) => Some(event),
            Ok(None) => break,
            Err(_) => None,
        };
        let now = Instant::now();
        // Silence (no packets: muted) counts as the quietest level.
        let mut dbov = 127;
        if let Some(TrackRemoteEvent::OnRtpPacket(packet)) = &event {
            let id = level_id.load(Ordering::Relaxed);
            if let Some(ext) = (id != 0).then(|| packet.header.get_extension(id)).flatten()
                && let Some(byte) = ext.first()
            {
                dbov = byte & 0x7f;
            }
            if let Some(mixer) = &mixer {
                let packet = AudioPacket {
                    ssrc: packet.header.ssrc,
                    sequence: packet.header.sequence_number,
                    timestamp: packet.header.timestamp,
                    payload: packet.payload.clone(),
                };
                mixer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(&peer, packet);
            }
        }
        if let Some(TrackRemoteEvent::OnEnded) = event {
            break;
        }
        if let Some(now_speaking) = detector.level(dbov, now) {
            speaking = now_speaking;
            tracing::debug!("audio {peer}: speaking {speaking}");
            feed.speaking(&peer, speaking).await;
        }
    }
    if speaking {
        feed.speaking(&peer, false).await;
    }
}

/// Receives one remote video track until it ends.
pub async fn receive_track(track: Arc<dyn TrackRemote>, peer: String, feed: Feed) {
    let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let mime = track
        .codec(ssrc)
        .await
        .map(|c| c.mime_type)
        .unwrap_or_default();
    let Some(codec) = VideoCodec::from_mime(&mime) else {
        tracing::warn!("call {peer}: cannot decode video {mime:?}");
        while track.poll().await.is_some() {}
        return;
    };
    tracing::info!("call {peer}: receiving {mime}");
    let mut video = VideoReceiver::new(codec);
    let mut last_pli: Option<Instant> = None;
    let mut want_keyframe = true;
    loop {
        if want_keyframe && last_pli.is_none_or(|t| t.elapsed() >= PLI_INTERVAL) {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            };
            if track.write_rtcp(vec![Box::new(pli)]).await.is_err() {
                tracing::debug!("call {peer}: could not send a PLI");
            }
            last_pli = Some(Instant::now());
        }
        let event = match tokio::time::timeout(PLI_INTERVAL, track.poll()).await {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(_) => continue,
        };
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(packet) => packet,
            TrackRemoteEvent::OnEnded => break,
            _ => continue,
        };
        for outcome in video.push(packet) {
            match outcome {
                Ok(frame) => {
                    want_keyframe = false;
                    feed.frame(Picture::Peer(peer.clone()), Arc::new(frame));
                }
                Err(e) => {
                    tracing::debug!("call {peer}: {e}");
                    want_keyframe = true;
                }
            }
        }
    }
    tracing::info!("call {peer}: video ended");
}

/// RTP packets in, decoded frames (or decode errors) out.
pub struct VideoReceiver {
    codec: VideoCodec,
    /// The newest sequence number the builder holds.
    newest: Option<u16>,
    builder: Builder,
    decoder: Decoder,
}

enum Builder {
    H264(SampleBuilder<H264Packet>),
    Vp8(SampleBuilder<Vp8Packet>),
}

impl Builder {
    fn new(codec: VideoCodec) -> Self {
        match codec {
            VideoCodec::H264 => Builder::H264(
                SampleBuilder::new(REORDER_PACKETS, H264Packet::default(), 90_000)
                    .with_max_time_delay(MAX_DELAY),
            ),
            VideoCodec::Vp8 => Builder::Vp8(
                SampleBuilder::new(REORDER_PACKETS, Vp8Packet::default(), 90_000)
                    .with_max_time_delay(MAX_DELAY),
            ),
        }
    }

    /// Adds a packet and takes out every frame it completed.
    fn push(&mut self, packet: rtc::rtp::Packet) -> Vec<Sample> {
        let now = Instant::now();
        let mut samples = Vec::new();
        match self {
            Builder::H264(b) => {
                b.push(now, packet);
                while let Some(s) = b.pop(now) {
                    samples.push(s);
                }
            }
            Builder::Vp8(b) => {
                b.push(now, packet);
                while let Some(s) = b.pop(now) {
                    samples.push(s);
                }
            }
        }
        samples
    }
}

enum Decoder {
    H264(Option<H264Decoder>),
    // Boxed: the VP8 decoder's state is large.
    Vp8(Option<Box<Vp8Decoder>>),
}

impl VideoReceiver {
    pub fn new(codec: VideoCodec) -> Self {
        let decoder = match codec {
            VideoCodec::H264 => Decoder::H264(H264Decoder::new().ok()),
            VideoCodec::Vp8 => Decoder::Vp8(Vp8Decoder::new().ok().map(Box::new)),
        };
        Self {
            codec,
            newest: None,
            builder: Builder::new(codec),
            decoder,
        }
    }

    /// Drops the frames being assembled and starts from the next packet.
    fn restart_builder(&mut self) {
        self.builder = Builder::new(self.codec);
        self.newest = None;
    }

    /// Adds one RTP packet; returns what the frames it completed decoded to.
    pub fn push(&mut self, packet: rtc::rtp::Packet) -> Vec<Result<I420Frame, String>> {
        let mut out = Vec::new();
        // The sample builder scans every slot between its oldest and newest packet, per
        // packet: a sequence number far from the others would cost seconds of CPU. Such a
        // jump means a restarted (or hostile) stream anyway, so start afresh.
        let seq = packet.header.sequence_number;
        if let Some(newest) = self.newest {
            let ahead = seq.wrapping_sub(newest) as i16;
            if ahead.unsigned_abs() > REORDER_PACKETS {
                self.restart_builder();
                out.push(Err(format!("sequence jumped by {ahead}")));
            }
        }
        if self.newest.is_none_or(|n| (seq.wrapping_sub(n) as i16) > 0) {
            self.newest = Some(seq);
        }
        // The depacketizers index into payloads they have not checked (seen: an H.264
        // STAP-A that claims more than it carries; sequence arithmetic that overflows), so
        // a hostile packet must cost only the frames being assembled, not the call.
        let builder = &mut self.builder;
        let samples = match contain(|| builder.push(packet)) {
            Ok(samples) => samples,
            Err(panic) => {
                self.restart_builder();
                out.push(Err(format!("depacketizer refused a packet: {panic}")));
                return out;
            }
        };
        for sample in samples {
            if sample.prev_dropped_packets > 0 {
                out.push(Err(format!("{} packets lost", sample.prev_dropped_packets)));
            }
            let decoded = match &mut self.decoder {
                Decoder::H264(Some(d)) => d.decode(&sample.data).map_err(|e| e.to_string()),
                Decoder::Vp8(Some(d)) => d.decode(&sample.data).map_err(|e| e.to_string()),
                _ => Err("no decoder".to_string()),
            };
            match decoded {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => {}
                Err(e) => out.push(Err(e)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_starts_on_a_loud_packet_and_ends_after_a_quiet_hold() {
        let t0 = Instant::now();
        let mut d = SpeechDetector::default();
        assert_eq!(d.level(127, t0), None);
        assert_eq!(d.level(30, t0 + Duration::from_millis(20)), Some(true));
        assert_eq!(d.level(127, t0 + Duration::from_millis(200)), None);
        assert_eq!(d.level(127, t0 + Duration::from_millis(500)), Some(false));
        assert_eq!(d.level(60, t0 + Duration::from_millis(600)), None);
    }
}
