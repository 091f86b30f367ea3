//! Sound: everyone's Opus audio mixed and played, and ours (microphone or a bot's tone)
//! encoded and sent on every call.
//!
//! Everything inside is 48 kHz mono in 20 ms frames (Opus's and WebRTC's native rate); the
//! device side resamples. The pure pieces (jitter buffer, mixer, tone, levels, the outgoing
//! frame fan-out) are always compiled and tested; Opus, the resampler (rubato) and the
//! sound devices come with the `audio` feature.

pub mod jitter;
pub mod level;
pub mod mixer;
#[cfg(feature = "audio")]
pub mod resample;
pub mod source;
pub mod tone;

#[cfg(feature = "audio")]
pub mod codec;
#[cfg(feature = "audio")]
pub mod device;
#[cfg(feature = "audio")]
pub mod setup;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mixer::Mixer;
use source::AudioSource;

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

/// What we send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AudioInput {
    Nothing,
    /// The default input device.
    Microphone,
    /// A sine at this frequency (tests: easy to measure).
    Tone {
        hz: f64,
    },
    /// A speech-like buzz at this pitch (bots: easier on the ears).
    Speech {
        hz: f64,
    },
}

/// What we do with what we hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioOutput {
    /// Ignore it (beyond the speaking indicator).
    Nothing,
    /// Play it on the default output device.
    Device,
    /// Decode and mix it on a clock, without a device (headless, tests).
    Clock,
}

/// A session's sound. Without the `audio` feature it is ignored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioConfig {
    pub send: AudioInput,
    pub play: AudioOutput,
}

impl AudioConfig {
    pub const OFF: AudioConfig = AudioConfig {
        send: AudioInput::Nothing,
        play: AudioOutput::Nothing,
    };

    /// `join`: the microphone out, everyone on the speakers.
    pub const TERMINAL: AudioConfig = AudioConfig {
        send: AudioInput::Microphone,
        play: AudioOutput::Device,
    };

    /// Bot number `voice` (its palette): speaks at a pitch of its own, listens to nobody.
    pub fn bot(voice: usize) -> AudioConfig {
        AudioConfig {
            send: AudioInput::Speech {
                hz: 110.0 + 25.0 * (voice % crate::media::testcard::PALETTES.len()) as f64,
            },
            play: AudioOutput::Nothing,
        }
    }
}

/// A running session's sound: the mix of what we hear and our outgoing source, for the
/// UI's controls (mute, volumes) and for tests.
#[derive(Clone, Default)]
pub struct AudioHandle {
    pub mixer: Option<Arc<Mutex<Mixer>>>,
    pub source: Option<AudioSource>,
}

impl AudioHandle {
    /// The mixer, locked (per-participant gain and mute, master volume, levels).
    pub fn mixer(&self) -> Option<MutexGuard<'_, Mixer>> {
        self.mixer
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Mutes (or unmutes) what we send; false when we send nothing anyway.
    pub fn set_muted(&self, muted: bool) -> bool {
        match &self.source {
            Some(source) => {
                source.set_muted(muted);
                true
            }
            None => false,
        }
    }
}
