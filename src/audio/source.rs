//! Our outgoing audio: one thread takes 20 ms frames from an input (the microphone, or a
//! bot's tone paced by the clock), encodes each once and broadcasts it; every call writes
//! it to its own track. Muting stops the encoding at the next frame, so no packet leaves
//! while muted (a frame already broadcast is dropped by the calls' senders, which check
//! the flag too).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{FRAME, FRAME_SAMPLES};

/// One encoded 20 ms frame.
#[derive(Debug, Clone)]
pub struct EncodedAudio {
    pub data: Bytes,
    /// Which frame of the source this is: frames skipped while muted still count, so
    /// senders keep RTP timestamps in step with time.
    pub index: u64,
    /// The frame's RFC 6464 level (-dBov), for the audio-level header extension.
    pub level: u8,
}

/// The shared outgoing audio of a session.
#[derive(Clone)]
pub struct AudioSource {
    frames: broadcast::Sender<EncodedAudio>,
    muted: Arc<AtomicBool>,
}

impl AudioSource {
    /// Starts a thread that repeatedly fills a frame with `next` (which blocks until the
    /// frame is due, and returns false when its input has ended) and broadcasts what
    /// `encode` makes of it, until `cancel`.
    pub fn start(
        mut next: impl FnMut(&mut [f32]) -> bool + Send + 'static,
        mut encode: impl FnMut(&[f32]) -> Result<Bytes, String> + Send + 'static,
        cancel: CancellationToken,
    ) -> Result<AudioSource, String> {
        let source = AudioSource {
            frames: broadcast::channel(8).0,
            muted: Arc::new(AtomicBool::new(false)),
        };
        let out = source.clone();
        std::thread::Builder::new()
            .name("packspaces-audio-out".into())
            .spawn(move || {
                let mut frame = vec![0.0; FRAME_SAMPLES];
                let mut index = 0u64;
                while !cancel.is_cancelled() && next(&mut frame) {
                    index += 1;
                    if out.is_muted() || out.frames.receiver_count() == 0 {
                        continue;
                    }
                    match encode(&frame) {
                        Ok(data) => {
                            let level = super::level::dbov(&frame);
                            let _ = out.frames.send(EncodedAudio { data, index, level });
                        }
                        Err(e) => tracing::warn!("audio: cannot encode: {e}"),
                    }
                }
                tracing::debug!("audio: our source stopped");
            })
            .map_err(|e| format!("cannot start the audio thread: {e}"))?;
        Ok(source)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EncodedAudio> {
        self.frames.subscribe()
    }

    /// Stops (or resumes) sending: takes effect from the next frame.
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    pub fn is_muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }
}

/// Paces a generator to real time: the returned input sleeps until each 20 ms frame is
/// due, then lets `fill` write it. After a long stall (a suspended laptop) it restarts
/// the clock instead of sending a burst.
pub fn paced(mut fill: impl FnMut(&mut [f32]) + Send) -> impl FnMut(&mut [f32]) -> bool + Send {
    let mut due = Instant::now();
    move |frame| {
        let now = Instant::now();
        if now > due + FRAME * 10 {
            due = now;
        }
        if due > now {
            std::thread::sleep(due - now);
        }
        due += FRAME;
        fill(frame);
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::audio::tone::Tone;
    use std::time::Duration;

    fn tone_source(cancel: &CancellationToken) -> AudioSource {
        let mut tone = Tone::sine(440.0, 0.5);
        AudioSource::start(
            paced(move |f| tone.fill(f)),
            |f| Ok(Bytes::from(vec![f.len() as u8])),
            cancel.clone(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn frames_come_every_20_ms_and_stop_when_muted() {
        let cancel = CancellationToken::new();
        let source = tone_source(&cancel);
        let mut rx = source.subscribe();
        let start = Instant::now();
        let mut last = 0;
        for _ in 0..10 {
            let f = rx.recv().await.unwrap();
            assert!(f.index > last);
            last = f.index;
            assert!(f.level < 10, "a loud tone: {}", f.level);
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(160) && took < Duration::from_millis(400));
        source.set_muted(true);
        // At most the frame being encoded when we muted may still come.
        let mut after = 0;
        while tokio::time::timeout(Duration::from_millis(100), rx.recv())
            .await
            .is_ok()
        {
            after += 1;
            assert!(after <= 1, "frames kept coming while muted");
        }
        source.set_muted(false);
        let f = rx.recv().await.unwrap();
        // The frames skipped while muted were counted.
        assert!(f.index >= last + 5, "{} after {last}", f.index);
        cancel.cancel();
    }
}
