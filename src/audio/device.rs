//! The sound card, through cpal (ALSA on Linux): the mix played on the default output, the
//! default input captured as our microphone. Each stream lives on its own thread (cpal
//! streams may not move between threads). A missing or failing device is reported through
//! a callback and never stops the call: without an output, a clock pulls the mix instead
//! so that jitter buffers, levels and the speaking indicator keep working.
//!
//! ALSA prints its own complaints to stderr; `join` points stderr at the log file before
//! any device is opened.

use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, Stream, StreamConfig};
use tokio_util::sync::CancellationToken;

use super::mixer::Mixer;
use super::resample::Resampler;
use super::{FRAME, FRAME_SAMPLES, SAMPLE_RATE};
use crate::feed::Feed;

/// How long to wait for a device to open before giving up on it.
const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// Calls the generic stream builder `f::<T>(args)` for a device's sample format.
macro_rules! by_format {
    ($format:expr, $f:ident($($arg:expr),*)) => {
        match $format {
            SampleFormat::F32 => $f::<f32>($($arg),*),
            SampleFormat::I16 => $f::<i16>($($arg),*),
            SampleFormat::I32 => $f::<i32>($($arg),*),
            SampleFormat::U16 => $f::<u16>($($arg),*),
            other => Err(format!("{other} samples are not supported")),
        }
    };
}

/// Plays `mixer` until `cancel`: on the default output device when `use_device`, else (or
/// when the device is missing or fails) by pulling the mix on a 20 ms clock.
pub fn start_playback(
    mixer: Arc<Mutex<Mixer>>,
    use_device: bool,
    trouble: Feed,
    cancel: CancellationToken,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name("packspaces-audio-play".into())
        .spawn(move || {
            if use_device {
                match play_on_device(&mixer, &cancel) {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!("audio: {e}");
                        trouble.sound_trouble(&e);
                    }
                }
            }
            pull_on_clock(&mixer, &cancel);
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the playback thread: {e}"))
}

/// Mixes and discards a frame every 20 ms: the playback clock when nothing plays.
fn pull_on_clock(mixer: &Mutex<Mixer>, cancel: &CancellationToken) {
    let mut frame = vec![0.0; FRAME_SAMPLES];
    let mut due = Instant::now();
    while !cancel.is_cancelled() {
        lock(mixer).mix(&mut frame);
        due += FRAME;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > FRAME * 10 {
            due = now;
        }
    }
}

fn lock(mixer: &Mutex<Mixer>) -> std::sync::MutexGuard<'_, Mixer> {
    mixer.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Plays until `cancel` (Ok) or until the device fails (Err, also when it cannot open).
fn play_on_device(mixer: &Arc<Mutex<Mixer>>, cancel: &CancellationToken) -> Result<(), String> {
    let device = cpal::default_host()
        .default_output_device()
        .ok_or("no sound output: no output device found")?;
    let supported = device
        .default_output_config()
        .map_err(|e| format!("no sound output: {e}"))?;
    let config = supported.config();
    let (failed_tx, failed) = std_mpsc::channel::<String>();
    let on_error = move |e: cpal::Error| {
        let _ = failed_tx.send(format!("sound output failed: {e}"));
    };
    let pull = Puller::new(mixer.clone(), config.sample_rate)
        .map_err(|e| format!("no sound output: {e}"))?;
    let stream = by_format!(
        supported.sample_format(),
        output(&device, &config, pull, on_error)
    )
    .map_err(|e| format!("no sound output: cannot open it: {e}"))?;
    stream
        .play()
        .map_err(|e| format!("no sound output: cannot start it: {e}"))?;
    tracing::info!(
        "audio: playing at {} Hz, {} channels",
        config.sample_rate,
        config.channels
    );
    // Keep `stream` alive (it plays while it exists) until we stop or it fails.
    let result = match until_failure(&failed, cancel) {
        Some(e) => Err(e),
        None => Ok(()),
    };
    drop(stream);
    result
}

/// Waits while a device stream runs: its failure, or `None` once `cancel` fires (or the
/// stream's error callback is gone).
fn until_failure(
    failed: &std_mpsc::Receiver<String>,
    cancel: &CancellationToken,
) -> Option<String> {
    while !cancel.is_cancelled() {
        match failed.recv_timeout(Duration::from_millis(100)) {
            Ok(e) => return Some(e),
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
    None
}

fn output<T: SizedSample + FromSample<f32>>(
    device: &cpal::Device,
    config: &StreamConfig,
    mut pull: Puller,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<Stream, String> {
    let channels = usize::from(config.channels.max(1));
    device
        .build_output_stream::<T, _, _>(
            *config,
            move |data: &mut [T], _| {
                for frame in data.chunks_mut(channels) {
                    let sample = T::from_sample(pull.next());
                    frame.fill(sample);
                }
            },
            on_error,
            Some(OPEN_TIMEOUT),
        )
        .map_err(|e| e.to_string())
}

/// Hands out the mix one sample at a time at the device's rate.
struct Puller {
    mixer: Arc<Mutex<Mixer>>,
    resampler: Resampler,
    frame: Vec<f32>,
    ready: VecDeque<f32>,
    scratch: Vec<f32>,
}

impl Puller {
    fn new(mixer: Arc<Mutex<Mixer>>, rate: u32) -> Result<Puller, String> {
        Ok(Puller {
            mixer,
            resampler: Resampler::new(SAMPLE_RATE, rate)?,
            frame: vec![0.0; FRAME_SAMPLES],
            ready: VecDeque::new(),
            scratch: Vec::new(),
        })
    }

    fn next(&mut self) -> f32 {
        while self.ready.is_empty() {
            lock(&self.mixer).mix(&mut self.frame);
            self.scratch.clear();
            self.resampler.process(&self.frame, &mut self.scratch);
            self.ready.extend(self.scratch.iter());
        }
        self.ready.pop_front().unwrap_or(0.0)
    }
}

/// Opens the default input device on its own thread until `cancel`; returns an input for
/// [`super::source::AudioSource::start`] that yields 48 kHz mono 20 ms frames as they are
/// captured. A failure to open is returned; a later failure ends the input (and is told
/// to `trouble`).
pub fn open_microphone(
    trouble: Feed,
    cancel: CancellationToken,
) -> Result<impl FnMut(&mut [f32]) -> bool + Send + 'static, String> {
    // Chunks of 48 kHz mono samples; bounded: if the encoder stalls, capture drops.
    let (chunks_tx, chunks) = std_mpsc::sync_channel::<Vec<f32>>(50);
    let (opened_tx, opened) = std_mpsc::channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name("packspaces-audio-mic".into())
        .spawn(move || {
            let (failed_tx, failed) = std_mpsc::channel::<String>();
            let stream = match capture(chunks_tx, failed_tx) {
                Ok(s) => s,
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            let _ = opened_tx.send(Ok(()));
            if let Some(e) = until_failure(&failed, &cancel) {
                tracing::warn!("audio: {e}");
                trouble.sound_trouble(&e);
            }
            drop(stream);
        })
        .map_err(|e| format!("cannot start the microphone thread: {e}"))?;
    match opened.recv_timeout(OPEN_TIMEOUT) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err("no microphone: it did not open in time".into()),
    }
    let mut pending: VecDeque<f32> = VecDeque::new();
    Ok(move |frame: &mut [f32]| {
        while pending.len() < frame.len() {
            match chunks.recv() {
                Ok(chunk) => pending.extend(chunk),
                // The capture thread ended (cancelled, or the device failed).
                Err(_) => return false,
            }
        }
        let n = frame.len();
        for (out, sample) in frame.iter_mut().zip(pending.drain(..n)) {
            *out = sample;
        }
        true
    })
}

fn capture(
    chunks: std_mpsc::SyncSender<Vec<f32>>,
    failed: std_mpsc::Sender<String>,
) -> Result<Stream, String> {
    let device = cpal::default_host()
        .default_input_device()
        .ok_or("no microphone: no input device found")?;
    let supported = device
        .default_input_config()
        .map_err(|e| format!("no microphone: {e}"))?;
    let config = supported.config();
    let on_error = move |e: cpal::Error| {
        let _ = failed.send(format!("microphone failed: {e}"));
    };
    let stream = by_format!(
        supported.sample_format(),
        input(&device, &config, chunks, on_error)
    )
    .map_err(|e| format!("no microphone: cannot open it: {e}"))?;
    stream
        .play()
        .map_err(|e| format!("no microphone: cannot start it: {e}"))?;
    tracing::info!(
        "audio: recording at {} Hz, {} channels",
        config.sample_rate,
        config.channels
    );
    Ok(stream)
}

fn input<T: SizedSample>(
    device: &cpal::Device,
    config: &StreamConfig,
    chunks: std_mpsc::SyncSender<Vec<f32>>,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<Stream, String>
where
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let mut resampler = Resampler::new(config.sample_rate, SAMPLE_RATE)?;
    let mut mono = Vec::new();
    device
        .build_input_stream::<T, _, _>(
            *config,
            move |data: &[T], _| {
                mono.clear();
                mono.extend(data.chunks(channels).map(|frame| {
                    frame
                        .iter()
                        .map(|&s| <f32 as FromSample<T>>::from_sample_(s))
                        .sum::<f32>()
                        / frame.len() as f32
                }));
                let mut out = Vec::with_capacity(mono.len() * 2);
                resampler.process(&mono, &mut out);
                // Full: the encoder is behind; dropping keeps latency down.
                let _ = chunks.try_send(out);
            },
            on_error,
            Some(OPEN_TIMEOUT),
        )
        .map_err(|e| e.to_string())
}
