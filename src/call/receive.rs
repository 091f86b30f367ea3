//! Incoming media of one call: RTP → whole frames ([`FrameAssembler`]) → our H.264 or
//! VP8 decoder on a thread per stream → the session's [`Feed`] (the newest frame wins).
//! Keyframes are requested (PLI) at the start, after decode errors and when a tile comes
//! back on screen; what the tile needs goes back to the sender as REMB. Audio packets feed the speaking indicator
//! and, when we play sound, the mixer.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::assemble::FrameAssembler;
use super::bitrate::{self, WantsReceiver};
use super::codecs::VideoCodec;
use crate::audio::AudioPacket;
use crate::audio::mixer::Mixer;
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

/// No video packet for this long while the call lasts: the tile says the video paused
/// instead of showing a frozen picture. Longer than the gaps of a browser sending a hidden
/// tile at the least rate we ask for.
const PAUSED_AFTER: Duration = Duration::from_secs(4);

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

/// How often a REMB repeats what a tile needs (browsers keep the last one; a repeat
/// covers a lost packet).
const REMB_INTERVAL: Duration = Duration::from_secs(1);
/// Assembled frames waiting for the decoder thread. A hole that a retransmission fills
/// releases the frames it held up all at once (up to `MAX_WAIT` of video, 15 frames at
/// 30 per second), and they must fit: with 4, Firefox's picture at 5 % loss went back to
/// the next keyframe a few times a minute. More means the decoder cannot keep up (a peer
/// sending far more than asked): drop them and restart at a keyframe.
const DECODE_QUEUE: usize = 16;

/// Whether tiles that are not on screen are decoded anyway: only to measure what skipping
/// them saves (`PACKSPACES_DECODE_HIDDEN=1`, read once; BENCHMARKS.md), never by default.
fn decode_hidden() -> bool {
    static DECODE_HIDDEN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DECODE_HIDDEN.get_or_init(|| std::env::var("PACKSPACES_DECODE_HIDDEN").is_ok_and(|v| v == "1"))
}

/// Receives one remote video track until it ends: assembles frames here, decodes them on
/// a thread of their own (never on the async workers), and tells the sender what the tile
/// needs (`wants`, as REMB). A tile that is not on screen is not decoded; when it shows
/// again, decoding restarts at a keyframe we ask for.
pub async fn receive_track(
    track: Arc<dyn TrackRemote>,
    peer: String,
    feed: Feed,
    mut wants: WantsReceiver,
) {
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
    // Started at the first frame to decode: a bot, which shows nothing, never starts one.
    let mut decoder: Option<DecoderThread> = None;
    let mut no_decoder = false;
    let mut assembler = FrameAssembler::new(codec);
    let mut last_pli: Option<Instant> = None;
    // Decoding starts at a keyframe, and restarts at one after frames were skipped.
    let mut at_keyframe = false;
    let mut decode_failed = false;
    let mut last_remb: Option<(Instant, u32)> = None;
    let mut wants_open = true;
    // A stream that has not started is waiting for its first frame, not paused.
    let mut last_packet: Option<Instant> = None;
    let mut paused = false;
    loop {
        let want = wants.borrow_and_update().of(&peer);
        let shown = want.is_none_or(|w| w.shown) || decode_hidden();
        // Only a tile on screen pauses: one off screen asks for the least, and a browser
        // may stop sending it altogether until it shows again.
        if !paused && shown && last_packet.is_some_and(|t| t.elapsed() >= PAUSED_AFTER) {
            tracing::info!("call {peer}: no video for {PAUSED_AFTER:?}");
            paused = true;
            feed.video_paused(&peer, true).await;
        }
        if !shown {
            at_keyframe = false;
        }
        // A frame that did not decode spoils those after it until a keyframe.
        decode_failed |= decoder.as_ref().is_some_and(DecoderThread::failed);
        if shown
            && (!at_keyframe || decode_failed)
            && last_pli.is_none_or(|t| t.elapsed() >= PLI_INTERVAL)
        {
            decode_failed = false;
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            };
            if track.write_rtcp(vec![Box::new(pli)]).await.is_err() {
                tracing::debug!("call {peer}: could not send a PLI");
            }
            last_pli = Some(Instant::now());
        }
        if let Some(want) = want
            && bitrate::levers().remb
            && last_remb.is_none_or(|(t, b)| b != want.bitrate || t.elapsed() >= REMB_INTERVAL)
        {
            let remb = ReceiverEstimatedMaximumBitrate {
                sender_ssrc: 0,
                bitrate: want.bitrate as f32,
                ssrcs: vec![ssrc],
            };
            if track.write_rtcp(vec![Box::new(remb)]).await.is_err() {
                tracing::debug!("call {peer}: could not send a REMB");
            }
            last_remb = Some((Instant::now(), want.bitrate));
        }
        let event = tokio::select! {
            event = track.poll() => match event {
                Some(event) => event,
                None => break,
            },
            changed = wants.changed(), if wants_open => {
                wants_open = changed.is_ok();
                continue;
            }
            _ = tokio::time::sleep(PLI_INTERVAL.min(REMB_INTERVAL)) => continue,
        };
        let packet = match event {
            TrackRemoteEvent::OnRtpPacket(packet) => packet,
            TrackRemoteEvent::OnEnded => break,
            _ => continue,
        };
        let now = Instant::now();
        last_packet = Some(now);
        if paused {
            tracing::info!("call {peer}: video is back");
            paused = false;
            feed.video_paused(&peer, false).await;
        }
        for frame in assembler.push(packet, now) {
            let frame = match frame {
                Ok(frame) => frame,
                Err(e) => {
                    tracing::debug!("call {peer}: {e}");
                    at_keyframe = false;
                    continue;
                }
            };
            if !shown {
                continue;
            }
            if !at_keyframe {
                if !codec.is_keyframe(&frame) {
                    continue;
                }
                at_keyframe = true;
                tracing::debug!(
                    "call {peer}: decoding from a keyframe, {:?} after our last request",
                    last_pli.map(|t| t.elapsed())
                );
            }
            if decoder.is_none() && !no_decoder {
                match DecoderThread::start(codec, &peer, feed.clone()) {
                    Ok(started) => decoder = Some(started),
                    Err(e) => {
                        tracing::warn!("call {peer}: no decoder thread: {e}");
                        no_decoder = true;
                    }
                }
            }
            let Some(decoder) = &decoder else { continue };
            if !decoder.decode(frame) {
                tracing::debug!("call {peer}: the decoder is behind; waiting for a keyframe");
                at_keyframe = false;
            }
        }
    }
    tracing::info!("call {peer}: video ended");
}

/// A thread that decodes one stream's frames in order and hands each picture to the feed
/// (which keeps only the newest).
struct DecoderThread {
    frames: std::sync::mpsc::SyncSender<Bytes>,
    /// Set by the thread when a frame did not decode; taken by [`DecoderThread::failed`].
    failed: Arc<AtomicBool>,
}

impl DecoderThread {
    fn start(codec: VideoCodec, peer: &str, feed: Feed) -> std::io::Result<DecoderThread> {
        let (frames, queue) = std::sync::mpsc::sync_channel::<Bytes>(DECODE_QUEUE);
        let failed = Arc::new(AtomicBool::new(false));
        let failing = failed.clone();
        let peer = peer.to_string();
        std::thread::Builder::new()
            .name(format!("decode {}", crate::ui::view::short(&peer)))
            .spawn(move || {
                let mut decoder = VideoDecoder::new(codec);
                // Ends when the receiver drops its sender (the track ended).
                while let Ok(data) = queue.recv() {
                    match decoder.decode(&data) {
                        Ok(Some(frame)) => feed.frame(Picture::Peer(peer.clone()), Arc::new(frame)),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::debug!("call {peer}: {e}");
                            failing.store(true, Ordering::Relaxed);
                        }
                    }
                }
            })?;
        Ok(DecoderThread { frames, failed })
    }

    /// Queues a frame; false if the queue was full (the frame is dropped).
    fn decode(&self, frame: Bytes) -> bool {
        self.frames.try_send(frame).is_ok()
    }

    /// Whether a frame failed to decode since the last call.
    fn failed(&self) -> bool {
        self.failed.swap(false, Ordering::Relaxed)
    }
}

/// RTP packets in, decoded frames (or decode errors) out, on the caller's thread: a
/// [`FrameAssembler`] and a [`VideoDecoder`] in one.
pub struct VideoReceiver {
    assembler: FrameAssembler,
    decoder: VideoDecoder,
}

/// One stream's decoder: H.264 or VP8.
pub enum VideoDecoder {
    H264(Option<H264Decoder>),
    // Boxed: the VP8 decoder's state is large.
    Vp8(Option<Box<Vp8Decoder>>),
}

impl VideoDecoder {
    pub fn new(codec: VideoCodec) -> Self {
        match codec {
            VideoCodec::H264 => VideoDecoder::H264(H264Decoder::new().ok()),
            VideoCodec::Vp8 => VideoDecoder::Vp8(Vp8Decoder::new().ok().map(Box::new)),
        }
    }

    /// Decodes one whole frame (a picture, or none yet).
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, String> {
        match self {
            VideoDecoder::H264(Some(d)) => d.decode(data).map_err(|e| e.to_string()),
            VideoDecoder::Vp8(Some(d)) => d.decode(data).map_err(|e| e.to_string()),
            _ => Err("no decoder".to_string()),
        }
    }
}

impl VideoReceiver {
    pub fn new(codec: VideoCodec) -> Self {
        Self {
            assembler: FrameAssembler::new(codec),
            decoder: VideoDecoder::new(codec),
        }
    }

    /// Adds one RTP packet; returns what the frames it completed decoded to.
    pub fn push(&mut self, packet: rtc::rtp::Packet) -> Vec<Result<I420Frame, String>> {
        let mut out = Vec::new();
        for frame in self.assembler.push(packet, Instant::now()) {
            match frame.and_then(|data| self.decoder.decode(&data)) {
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
