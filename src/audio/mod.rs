//! Sound: everyone's Opus audio mixed and played, and ours (microphone or a bot's tone)
//! encoded and sent on every call.
//!
//! Everything inside is 48 kHz mono in 20 ms frames (Opus's and WebRTC's native rate); the
//! device side resamples. The pure pieces (jitter buffer, mixer, resampler, tone, levels,
//! the outgoing frame fan-out) are always compiled and tested; Opus and the sound devices
//! come with the `audio` feature.

pub mod jitter;
pub mod level;
pub mod mixer;
pub mod resample;
pub mod source;
pub mod tone;

#[cfg(feature = "audio")]
pub mod codec;

/// Samples per second everywhere inside.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame at [`SAMPLE_RATE`]: what we encode and mix at a time.
pub const FRAME_SAMPLES: usize = 960;
/// One frame's duration.
pub const FRAME: std::time::Duration = std::time::Duration::from_millis(20);

/// One received RTP packet of someone's audio.
#[derive(Debug, Clone)]
pub struct AudioPacket {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
    pub payload: bytes::Bytes,
}
