//! Starts a session's sound from its [`AudioConfig`]: the mixer and its playback (device
//! or clock), and our outgoing source (microphone, tone or speech-like buzz) with its Opus
//! encoder. Anything that fails is told to the session's feed ([`Feed::sound_trouble`]: one
//! sentence whose part before the first colon is short enough for the status bar, such as
//! "no microphone: …") and left out; the call goes on.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::codec::{OpusDecoder, OpusEncoder};
use super::mixer::{FrameDecoder, Mixer};
use super::source::{AudioSource, paced};
use super::tone::Tone;
use super::{AudioConfig, AudioHandle, AudioInput, AudioOutput, device};
use crate::feed::Feed;

/// Peak level of a bot's tone: -10 dBFS, clearly audible, far from clipping.
const TONE_AMPLITUDE: f32 = 0.3;

pub fn start(config: &AudioConfig, trouble: &Feed, cancel: &CancellationToken) -> AudioHandle {
    let mixer = match config.play {
        AudioOutput::Nothing => None,
        play => {
            let mixer = Arc::new(Mutex::new(Mixer::new(Box::new(|| {
                OpusDecoder::new().map(|d| Box::new(d) as Box<dyn FrameDecoder>)
            }))));
            let device = play == AudioOutput::Device;
            match device::start_playback(mixer.clone(), device, trouble.clone(), cancel.clone()) {
                Ok(()) => Some(mixer),
                Err(e) => {
                    trouble.sound_trouble(&e);
                    None
                }
            }
        }
    };
    let source = match outgoing(config.send, trouble, cancel) {
        Ok(source) => source,
        Err(e) => {
            tracing::warn!("audio: {e}");
            trouble.sound_trouble(&e);
            None
        }
    };
    AudioHandle { mixer, source }
}

fn outgoing(
    input: AudioInput,
    trouble: &Feed,
    cancel: &CancellationToken,
) -> Result<Option<AudioSource>, String> {
    let tone = match input {
        AudioInput::Nothing => return Ok(None),
        AudioInput::Tone { hz } => Some(Tone::sine(hz, TONE_AMPLITUDE)),
        AudioInput::Speech { hz } => Some(Tone::speech_like(hz, TONE_AMPLITUDE)),
        AudioInput::Microphone => None,
    };
    let mut encoder = OpusEncoder::new()?;
    let encode = move |frame: &[f32]| encoder.encode(frame);
    let source = match tone {
        Some(mut tone) => AudioSource::start(paced(move |f| tone.fill(f)), encode, cancel.clone())?,
        None => {
            let microphone = device::open_microphone(trouble.clone(), cancel.clone())?;
            AudioSource::start(microphone, encode, cancel.clone())?
        }
    };
    Ok(Some(source))
}
