//! How the media side reaches the session: the newest decoded frame of each picture waits
//! in a store (newest wins: a slow reader skips frames, it never queues them), and
//! everything else — who starts or stops speaking, trouble with the camera or the sound
//! devices — travels as [`MediaEvent`]s on one bounded channel. Call tasks, the camera's
//! capture thread and the sound devices each hold a [`Feed`]; the session's runner owns the
//! [`FeedReceiver`] and puts what arrives into the [`crate::model::Room`].
//!
//! A frame's way: `call::receive` decodes it and calls [`Feed::frame`]; the runner's
//! [`FeedReceiver::next`] wakes with every picture that has a new frame; the room keeps it
//! in that participant's slot, where the screen's next draw finds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, mpsc};

use crate::render::I420Frame;

/// Events queued before the oldest is refused.
pub const EVENT_CAPACITY: usize = 256;

/// Whose picture a frame is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Picture {
    /// A remote participant's video, by peer id.
    Peer(String),
    /// What we send (the self-view).
    Own,
}

/// News from the media side other than frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// `peer` started or stopped speaking.
    Speaking { peer: String, speaking: bool },
    /// `peer`'s video stopped arriving (`paused`), or came back.
    VideoPaused { peer: String, paused: bool },
    /// The camera (or clip) failed; the card goes out instead. One sentence.
    Notice(String),
    /// A sound device is missing or failed: one sentence whose part before the first colon
    /// is short enough for the status bar.
    SoundTrouble(String),
}

/// What [`FeedReceiver::next`] wakes up with.
#[derive(Debug)]
pub enum News {
    /// The newest frame of each picture that has one since the last time.
    Frames(Vec<(Picture, Arc<I420Frame>)>),
    Event(MediaEvent),
}

/// The newest frame per picture.
#[derive(Default)]
struct FrameStore {
    latest: Mutex<HashMap<Picture, Arc<I420Frame>>>,
    arrived: Notify,
}

/// The media side's end: cheap to clone, usable from tasks and plain threads alike.
#[derive(Clone)]
pub struct Feed {
    frames: Arc<FrameStore>,
    events: mpsc::Sender<MediaEvent>,
}

/// The session's end.
pub struct FeedReceiver {
    frames: Arc<FrameStore>,
    events: mpsc::Receiver<MediaEvent>,
}

/// A connected pair.
pub fn channel() -> (Feed, FeedReceiver) {
    let frames = Arc::new(FrameStore::default());
    let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
    (
        Feed {
            frames: frames.clone(),
            events: tx,
        },
        FeedReceiver { frames, events: rx },
    )
}

impl Feed {
    /// A new frame of `picture`; an older one not yet taken is dropped.
    pub fn frame(&self, picture: Picture, frame: Arc<I420Frame>) {
        self.frames
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(picture, frame);
        self.frames.arrived.notify_one();
    }

    /// `peer` started or stopped speaking. Waits for room in the channel: a lost "stopped"
    /// would leave the speaker shown as speaking.
    pub async fn speaking(&self, peer: &str, speaking: bool) {
        let event = MediaEvent::Speaking {
            peer: peer.to_string(),
            speaking,
        };
        let _ = self.events.send(event).await;
    }

    /// `peer`'s video stopped arriving or came back. Waits for room, as [`Feed::speaking`].
    pub async fn video_paused(&self, peer: &str, paused: bool) {
        let event = MediaEvent::VideoPaused {
            peer: peer.to_string(),
            paused,
        };
        let _ = self.events.send(event).await;
    }

    /// A notice about what we send (from a capture thread: never waits; with
    /// [`EVENT_CAPACITY`] events already waiting, this one is dropped and logged).
    pub fn notice(&self, text: &str) {
        self.send_now(MediaEvent::Notice(text.to_string()));
    }

    /// Trouble with a sound device (from a device thread: never waits, as [`Feed::notice`]).
    pub fn sound_trouble(&self, text: &str) {
        self.send_now(MediaEvent::SoundTrouble(text.to_string()));
    }

    fn send_now(&self, event: MediaEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            tracing::warn!("feed: full, dropped {event:?}");
        }
    }
}

impl FeedReceiver {
    /// Waits for news: events first, then frames. `None` once every [`Feed`] is gone and
    /// nothing is left.
    pub async fn next(&mut self) -> Option<News> {
        loop {
            if let Ok(event) = self.events.try_recv() {
                return Some(News::Event(event));
            }
            let frames = self.take_frames();
            if !frames.is_empty() {
                return Some(News::Frames(frames));
            }
            tokio::select! {
                event = self.events.recv() => match event {
                    Some(event) => return Some(News::Event(event)),
                    // Every feed is gone, but the last frames they left still count.
                    None => {
                        let frames = self.take_frames();
                        return (!frames.is_empty()).then_some(News::Frames(frames));
                    }
                },
                () = self.frames.arrived.notified() => {}
            }
        }
    }

    fn take_frames(&self) -> Vec<(Picture, Arc<I420Frame>)> {
        self.frames
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Rgb;

    fn frame(shade: u8) -> Arc<I420Frame> {
        Arc::new(I420Frame::solid(4, 4, Rgb::new(shade, shade, shade)).unwrap())
    }

    #[tokio::test]
    async fn the_newest_frame_of_each_picture_wins_and_events_keep_their_order() {
        let (feed, mut news) = channel();
        for shade in [10, 20, 30] {
            feed.frame(Picture::Peer("a".into()), frame(shade));
        }
        feed.frame(Picture::Own, frame(99));
        feed.notice("camera 0 stopped");
        feed.speaking("a", true).await;
        assert_eq!(
            news.next().await.map(|n| format!("{n:?}")),
            Some(format!(
                "{:?}",
                News::Event(MediaEvent::Notice("camera 0 stopped".into()))
            ))
        );
        assert!(matches!(
            news.next().await,
            Some(News::Event(MediaEvent::Speaking { speaking: true, .. }))
        ));
        let Some(News::Frames(mut frames)) = news.next().await else {
            panic!("frames expected");
        };
        frames.sort_by_key(|(p, _)| p == &Picture::Own);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].0, Picture::Peer("a".into()));
        assert_eq!(frames[0].1.pixel(0, 0), Rgb::new(30, 30, 30));
        assert_eq!(frames[1].0, Picture::Own);
    }

    #[tokio::test]
    async fn a_frame_from_a_thread_wakes_a_waiting_reader() {
        let (feed, mut news) = channel();
        let waiting = tokio::spawn(async move { news.next().await });
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            feed.frame(Picture::Own, frame(1));
        });
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert!(matches!(got, Some(News::Frames(f)) if f.len() == 1));
    }

    #[tokio::test]
    async fn the_last_frames_arrive_even_when_their_feed_is_gone_meanwhile() {
        // The reader waits; a frame comes and the last feed goes at once: both wake it.
        for _ in 0..20 {
            let (feed, mut news) = channel();
            let waiting = tokio::spawn(async move { news.next().await });
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            feed.frame(Picture::Own, frame(7));
            drop(feed);
            let got = waiting.await.unwrap();
            assert!(matches!(got, Some(News::Frames(f)) if f.len() == 1));
        }
    }

    #[tokio::test]
    async fn a_flood_of_notices_is_bounded_and_the_reader_ends_when_feeds_are_gone() {
        let (feed, mut news) = channel();
        for i in 0..EVENT_CAPACITY + 50 {
            feed.notice(&format!("n{i}"));
        }
        drop(feed);
        let mut count = 0;
        while let Some(n) = news.next().await {
            assert!(matches!(n, News::Event(MediaEvent::Notice(_))));
            count += 1;
        }
        assert_eq!(count, EVENT_CAPACITY);
    }
}
