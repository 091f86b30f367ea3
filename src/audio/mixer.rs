//! Everyone's audio into one signal: per participant, packets go through a jitter buffer
//! and a decoder into a queue of samples; each pull of the playback clock takes one frame
//! from every queue, applies that participant's gain (or mute), sums, applies the master
//! volume and soft-clips, so many loud voices saturate gently instead of wrapping.
//!
//! The decoder is a trait so that the mixer is tested without Opus; `codec::OpusDecoder`
//! is the real one.

use std::collections::{HashMap, VecDeque};

use super::AudioPacket;
use super::jitter::{JitterBuffer, JitterStats, Slot};
use super::level::rms;

/// Turns one participant's packets into 48 kHz mono samples.
pub trait FrameDecoder: Send {
    /// Decodes one packet, appending its samples.
    fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<(), String>;
    /// Appends `samples` of sound to stand in for a lost packet.
    fn conceal(&mut self, samples: usize, out: &mut Vec<f32>);
}

/// Makes a decoder for each new participant (or restarted stream).
pub type DecoderFactory = Box<dyn Fn() -> Result<Box<dyn FrameDecoder>, String> + Send>;

/// Packets the jitter buffer waits for before playing (60 ms of 20 ms frames).
const JITTER_TARGET: usize = 3;
/// Packets it holds at most (200 ms).
const JITTER_MAX: usize = 10;
/// Samples kept of each participant's recent sound, for levels (100 ms).
const RECENT: usize = 4800;
/// Decoded samples queued at most per participant (one second): beyond that the oldest go.
const MAX_QUEUED: usize = 48_000;
/// A stream that gave nothing for this many pulls (5 s of 20 ms) is forgotten: they left,
/// or stay muted (a new decoder is cheap when they come back).
const IDLE_PULLS: u32 = 250;
/// A pull quieter than this (RMS; -60 dBFS) counts as silent.
const QUIET: f32 = 0.001;

/// Volume settings of one participant; kept when their stream restarts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerVolume {
    pub gain: f32,
    pub muted: bool,
}

impl Default for PeerVolume {
    fn default() -> Self {
        PeerVolume {
            gain: 1.0,
            muted: false,
        }
    }
}

struct Stream {
    ssrc: u32,
    jitter: JitterBuffer,
    decoder: Option<Box<dyn FrameDecoder>>,
    queued: VecDeque<f32>,
    recent: VecDeque<f32>,
    scratch: Vec<f32>,
    /// Samples in their last decoded packet: a lost packet is concealed with as many.
    packet_samples: usize,
    /// Pulls in a row that found nothing to play.
    idle: u32,
    /// Pulls whose sound came out near silent (see [`Mixer::quiet_pulls`]).
    quiet: u64,
}

impl Stream {
    /// Takes `n` samples, decoding (or concealing) packets as needed; silence when none.
    fn take(&mut self, n: usize, out: &mut Vec<f32>) {
        while self.queued.len() < n {
            self.scratch.clear();
            match self.jitter.pop() {
                Slot::Silence => break,
                Slot::Packet(payload) => {
                    let decoded = match &mut self.decoder {
                        Some(d) => d.decode(&payload, &mut self.scratch),
                        None => Err("no decoder".into()),
                    };
                    match decoded {
                        Ok(()) if !self.scratch.is_empty() => {
                            self.packet_samples = self.scratch.len();
                        }
                        Ok(()) => self.conceal(),
                        Err(e) => {
                            tracing::debug!("audio: undecodable packet: {e}");
                            self.scratch.clear();
                            self.conceal();
                        }
                    }
                }
                Slot::Lost => self.conceal(),
            }
            if self.scratch.is_empty() {
                // A decoder that produced nothing must not spin this loop.
                break;
            }
            self.queued.extend(self.scratch.iter());
        }
        if self.queued.is_empty() {
            self.idle += 1;
        } else {
            self.idle = 0;
        }
        while self.queued.len() > MAX_QUEUED {
            self.queued.pop_front();
        }
        out.clear();
        out.extend(self.queued.drain(..n.min(self.queued.len())));
        out.resize(n, 0.0);
        if rms(out) < QUIET {
            self.quiet += 1;
        }
        self.recent.extend(out.iter());
        while self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    fn conceal(&mut self) {
        match &mut self.decoder {
            Some(d) => d.conceal(self.packet_samples, &mut self.scratch),
            None => self.scratch.resize(self.packet_samples, 0.0),
        }
    }
}

/// The mix of everyone we hear.
pub struct Mixer {
    new_decoder: DecoderFactory,
    streams: HashMap<String, Stream>,
    volumes: HashMap<String, PeerVolume>,
    master: f32,
    frame: Vec<f32>,
}

impl Mixer {
    pub fn new(new_decoder: DecoderFactory) -> Mixer {
        Mixer {
            new_decoder,
            streams: HashMap::new(),
            volumes: HashMap::new(),
            master: 1.0,
            frame: Vec::new(),
        }
    }

    /// Queues one of `peer`'s packets; a new SSRC starts their stream afresh.
    pub fn push(&mut self, peer: &str, packet: AudioPacket) {
        let fresh = self.streams.get(peer).is_none_or(|s| s.ssrc != packet.ssrc);
        if fresh {
            let decoder = match (self.new_decoder)() {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!("audio {peer}: no decoder: {e}");
                    None
                }
            };
            let stream = Stream {
                ssrc: packet.ssrc,
                jitter: JitterBuffer::new(JITTER_TARGET, JITTER_MAX),
                decoder,
                queued: VecDeque::new(),
                recent: VecDeque::new(),
                scratch: Vec::new(),
                packet_samples: super::FRAME_SAMPLES,
                idle: 0,
                quiet: 0,
            };
            self.streams.insert(peer.to_string(), stream);
        }
        if let Some(stream) = self.streams.get_mut(peer) {
            stream.jitter.push(packet.sequence, packet.payload);
        }
    }

    /// Forgets `peer`'s stream (they left); their volume settings stay.
    pub fn remove(&mut self, peer: &str) {
        self.streams.remove(peer);
    }

    pub fn volume(&self, peer: &str) -> PeerVolume {
        self.volumes.get(peer).copied().unwrap_or_default()
    }

    /// Sets `peer`'s gain (1.0 unchanged, 0 silent); may come before their audio does.
    pub fn set_gain(&mut self, peer: &str, gain: f32) {
        self.volumes.entry(peer.to_string()).or_default().gain = gain.max(0.0);
    }

    pub fn set_muted(&mut self, peer: &str, muted: bool) {
        self.volumes.entry(peer.to_string()).or_default().muted = muted;
    }

    pub fn master(&self) -> f32 {
        self.master
    }

    pub fn set_master(&mut self, volume: f32) {
        self.master = volume.max(0.0);
    }

    /// The next `out.len()` samples of the mix (the playback clock's pull).
    pub fn mix(&mut self, out: &mut [f32]) {
        out.fill(0.0);
        let mut frame = std::mem::take(&mut self.frame);
        for (peer, stream) in &mut self.streams {
            stream.take(out.len(), &mut frame);
            let v = self.volumes.get(peer).copied().unwrap_or_default();
            if v.muted {
                continue;
            }
            for (o, s) in out.iter_mut().zip(&frame) {
                *o += s * v.gain;
            }
        }
        self.frame = frame;
        self.streams.retain(|_, s| s.idle < IDLE_PULLS);
        for o in out.iter_mut() {
            *o = soft_clip(*o * self.master);
        }
    }

    /// `peer`'s sound over the last 100 ms as played (before their gain), for meters and
    /// tests; empty when we have none.
    pub fn recent(&self, peer: &str) -> Vec<f32> {
        self.streams
            .get(peer)
            .map(|s| s.recent.iter().copied().collect())
            .unwrap_or_default()
    }

    /// RMS of `peer`'s last 100 ms (0 when silent or unknown).
    pub fn level(&self, peer: &str) -> f32 {
        rms(&self.recent(peer))
    }

    /// How many pulls gave `peer`'s sound near silent (below -60 dBFS RMS), whether nothing
    /// came, a lost packet was not made up, or they were quiet. With a sender that never
    /// pauses (a tone), what a listener hears as dropouts.
    pub fn quiet_pulls(&self, peer: &str) -> Option<u64> {
        self.streams.get(peer).map(|s| s.quiet)
    }

    /// The jitter buffer's counters for `peer`.
    pub fn stats(&self, peer: &str) -> Option<JitterStats> {
        self.streams.get(peer).map(|s| s.jitter.stats)
    }
}

/// Above this the mix bends smoothly towards ±1 instead of clipping.
const KNEE: f32 = 0.8;

/// Identity below the knee; above it, a tanh curve that meets the line with the same slope
/// and approaches ±1 without passing it.
pub fn soft_clip(x: f32) -> f32 {
    let a = x.abs();
    if a <= KNEE {
        x
    } else {
        let room = 1.0 - KNEE;
        (KNEE + room * ((a - KNEE) / room).tanh()).copysign(x)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::audio::level::dominant_frequency;
    use crate::audio::tone::Tone;
    use crate::audio::{FRAME_SAMPLES, SAMPLE_RATE};
    use bytes::Bytes;

    /// Packets carry raw little-endian f32 samples; a lost one is concealed with a marker.
    struct RawDecoder;

    impl FrameDecoder for RawDecoder {
        fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<(), String> {
            if !packet.len().is_multiple_of(4) {
                return Err("ragged".into());
            }
            out.extend(
                packet
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            Ok(())
        }

        fn conceal(&mut self, samples: usize, out: &mut Vec<f32>) {
            out.extend(std::iter::repeat_n(0.25, samples));
        }
    }

    fn mixer() -> Mixer {
        Mixer::new(Box::new(|| {
            Ok(Box::new(RawDecoder) as Box<dyn FrameDecoder>)
        }))
    }

    fn raw(samples: &[f32]) -> Bytes {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    fn push(m: &mut Mixer, peer: &str, ssrc: u32, sequence: u16, payload: Bytes) {
        let timestamp = u32::from(sequence) * 960;
        let packet = AudioPacket {
            ssrc,
            sequence,
            timestamp,
            payload,
        };
        m.push(peer, packet);
    }

    fn send(m: &mut Mixer, peer: &str, tone: &mut Tone, seq: u16) {
        let mut frame = vec![0.0; FRAME_SAMPLES];
        tone.fill(&mut frame);
        push(m, peer, 7, seq, raw(&frame));
    }

    #[test]
    fn two_tones_mix_with_their_gains() {
        let mut m = mixer();
        let (mut low, mut high) = (Tone::sine(300.0, 0.2), Tone::sine(300.0, 0.2));
        for seq in 0..20 {
            send(&mut m, "a", &mut low, seq);
            send(&mut m, "b", &mut high, seq);
        }
        let mut out = vec![0.0; FRAME_SAMPLES];
        m.mix(&mut out);
        // Same tone, same phase: the sum has twice the level.
        assert!(
            (rms(&out) - 0.4 / 2f32.sqrt()).abs() < 0.01,
            "{}",
            rms(&out)
        );
        m.set_gain("b", 0.5);
        m.mix(&mut out);
        assert!((rms(&out) - 0.3 / 2f32.sqrt()).abs() < 0.01);
        m.set_muted("a", true);
        m.mix(&mut out);
        assert!((rms(&out) - 0.1 / 2f32.sqrt()).abs() < 0.01);
        // The level meter shows what they sent, whatever our gain.
        assert!((m.level("b") - 0.2 / 2f32.sqrt()).abs() < 0.01);
        m.set_master(0.0);
        m.mix(&mut out);
        assert_eq!(rms(&out), 0.0);
    }

    #[test]
    fn two_different_tones_keep_both_frequencies() {
        let mut m = mixer();
        let (mut a, mut b) = (Tone::sine(400.0, 0.3), Tone::sine(1000.0, 0.3));
        let mut got = Vec::new();
        for seq in 0..30 {
            send(&mut m, "a", &mut a, seq);
            send(&mut m, "b", &mut b, seq);
            let mut out = vec![0.0; FRAME_SAMPLES];
            m.mix(&mut out);
            got.extend(out);
        }
        assert!((dominant_frequency(&m.recent("a"), SAMPLE_RATE) - 400.0).abs() < 5.0);
        assert!((dominant_frequency(&m.recent("b"), SAMPLE_RATE) - 1000.0).abs() < 10.0);
        // Two uncorrelated tones: the powers add.
        let tail = &got[got.len() - 9600..];
        let expected = (2.0 * 0.3f32.powi(2) / 2.0).sqrt();
        assert!((rms(tail) - expected).abs() < 0.01, "{}", rms(tail));
    }

    #[test]
    fn a_lost_packet_is_concealed_and_odd_frame_sizes_are_queued() {
        let mut m = mixer();
        // 10 ms packets; number 3 never comes.
        for seq in [0u16, 1, 2, 4, 5, 6, 7] {
            push(&mut m, "a", 1, seq, raw(&[0.5; 480]));
        }
        let mut out = vec![0.0; FRAME_SAMPLES];
        m.mix(&mut out);
        assert!(out.iter().all(|&s| s == 0.5));
        m.mix(&mut out);
        // Packet 2, then 3's concealment (0.25, as long as the packet before), the rest.
        assert_eq!(out[0], 0.5);
        assert_eq!(out[480], 0.25);
        assert_eq!(m.stats("a").unwrap().lost, 1);
    }

    #[test]
    fn pulls_that_come_out_silent_are_counted_and_concealed_ones_are_not() {
        let mut m = mixer();
        for seq in 0..3 {
            push(&mut m, "a", 1, seq, raw(&[0.5; 960]));
        }
        let mut out = vec![0.0; FRAME_SAMPLES];
        for _ in 0..3 {
            m.mix(&mut out);
        }
        assert_eq!(m.quiet_pulls("a"), Some(0));
        // Nothing more comes: five pulls concealed (the buffer's patience), then silence.
        for _ in 0..8 {
            m.mix(&mut out);
        }
        assert_eq!(m.stats("a").unwrap().lost, 5);
        assert_eq!(m.quiet_pulls("a"), Some(3));
        assert_eq!(m.quiet_pulls("b"), None);
    }

    #[test]
    fn a_bad_packet_is_concealed_and_a_new_ssrc_restarts() {
        let mut m = mixer();
        for seq in 0..3 {
            let payload = if seq == 1 {
                Bytes::from_static(&[1, 2, 3])
            } else {
                raw(&[0.5; 960])
            };
            push(&mut m, "a", 1, seq, payload);
        }
        let mut out = vec![0.0; FRAME_SAMPLES];
        m.mix(&mut out);
        m.mix(&mut out);
        assert_eq!(out[0], 0.25);
        push(&mut m, "a", 2, 9, raw(&[0.5; 960]));
        let fresh = JitterStats {
            received: 1,
            ..JitterStats::default()
        };
        assert_eq!(m.stats("a").unwrap(), fresh);
        m.remove("a");
        assert_eq!(m.level("a"), 0.0);
    }

    #[test]
    fn a_stream_that_stays_silent_is_forgotten() {
        let mut m = mixer();
        let mut tone = Tone::sine(300.0, 0.2);
        for seq in 0..3 {
            send(&mut m, "a", &mut tone, seq);
        }
        let mut out = vec![0.0; FRAME_SAMPLES];
        for _ in 0..(3 + IDLE_PULLS + 10) {
            m.mix(&mut out);
        }
        assert!(m.stats("a").is_none());
        assert_eq!(m.volume("a"), PeerVolume::default());
    }

    #[test]
    fn soft_clipping_is_gentle_and_bounded() {
        assert_eq!(soft_clip(0.5), 0.5);
        assert_eq!(soft_clip(-0.8), -0.8);
        assert!(soft_clip(0.81) > 0.8 && soft_clip(0.81) < 0.811);
        assert!(soft_clip(1.0) < 0.97);
        assert!(soft_clip(10.0) <= 1.0 && soft_clip(10.0) > 0.99);
        assert!(soft_clip(-10.0) >= -1.0);
        let mut prev = -2.0;
        for i in -300..300 {
            let y = soft_clip(i as f32 / 100.0);
            assert!(y >= prev);
            prev = y;
        }
    }
}
