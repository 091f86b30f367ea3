//! Where our outgoing picture comes from: a live source (a camera, with the `camera`
//! feature) while it works, else the test card. A live source that stops mid-call is
//! replaced by the card and a notice, so the call goes on.

use std::time::Duration;

use crate::feed::Feed;
pub use crate::media::source::{CameraChoice, LiveSource};
use crate::media::testcard::TestCard;
use crate::render::frame::{FrameError, I420Frame};

/// What a camera request says in a build without the `camera` feature.
pub const NO_CAMERA_SUPPORT: &str = "this build has no camera support (cargo feature `camera`)";

/// Opens the chosen camera (not `Off`) for frames of `width x height`; blocks while it
/// opens. The error is one line for the status bar.
pub fn open_camera(
    choice: CameraChoice,
    width: u32,
    height: u32,
    fps: u32,
) -> Result<Box<dyn LiveSource>, String> {
    #[cfg(feature = "camera")]
    {
        crate::media::camera::Feed::open(choice, width, height, fps)
            .map(|feed| Box::new(feed) as Box<dyn LiveSource>)
            .map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "camera"))]
    {
        let _ = (choice, width, height, fps);
        Err(NO_CAMERA_SUPPORT.to_string())
    }
}

/// The picture the outgoing video thread draws from; every frame is `width x height`.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    card: TestCard,
    live: Option<Box<dyn LiveSource>>,
    notice: Option<Feed>,
}

impl Picture {
    /// The test card alone.
    pub fn card(card: TestCard) -> Self {
        Self {
            width: card.width,
            height: card.height,
            card,
            live: None,
            notice: None,
        }
    }

    /// `live` while it works (its frames must be the card's size), then `card`, telling
    /// `notice` why. The card also fills in until the first live frame.
    pub fn live(card: TestCard, live: Box<dyn LiveSource>, notice: Feed) -> Self {
        Self {
            live: Some(live),
            notice: Some(notice),
            ..Self::card(card)
        }
    }

    /// The card to send while our video is switched off (see [`TestCard::switched_off`]).
    pub fn switched_off(&self) -> TestCard {
        self.card.switched_off()
    }

    /// Is a live source still in use?
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// The picture at `elapsed` since the start.
    pub fn frame(&mut self, elapsed: Duration) -> Result<I420Frame, FrameError> {
        if let Some(live) = &mut self.live {
            match live.latest() {
                Ok(Some(frame)) if frame.width() == self.width && frame.height() == self.height => {
                    return Ok(I420Frame::clone(&frame));
                }
                Ok(Some(_)) | Ok(None) => {}
                Err(why) => {
                    tracing::warn!("live picture stopped: {why}");
                    self.live = None;
                    if let Some(feed) = &self.notice {
                        feed.notice(&format!("{why}: sending the test card"));
                    }
                }
            }
        }
        self.card.frame(elapsed)
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::media::testcard::PALETTES;
    use crate::render::Rgb;
    use std::sync::Arc;

    /// Gives `frames` solid frames, then fails.
    struct Flaky {
        frames: usize,
    }

    impl LiveSource for Flaky {
        fn latest(&mut self) -> Result<Option<Arc<I420Frame>>, String> {
            if self.frames == 0 {
                return Err("camera 0 stopped".into());
            }
            self.frames -= 1;
            Ok(Some(Arc::new(
                I420Frame::solid(64, 48, Rgb::new(0, 0, 0)).map_err(|e| e.to_string())?,
            )))
        }
    }

    #[test]
    fn a_live_source_that_fails_gives_way_to_the_card_with_one_notice() {
        let card = TestCard::new(64, 48, "me", PALETTES[0]);
        let (feed, mut news) = crate::feed::channel();
        let mut picture = Picture::live(card.clone(), Box::new(Flaky { frames: 2 }), feed);
        let t = Duration::from_secs(1);
        for _ in 0..2 {
            assert_eq!(
                picture.frame(t).unwrap().y()[0],
                16,
                "the live frame (black)"
            );
        }
        for _ in 0..3 {
            assert_eq!(picture.frame(t).unwrap(), card.frame(t).unwrap());
        }
        assert!(!picture.is_live());
        drop(picture);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut notices = Vec::new();
        while let Some(news) = runtime.block_on(news.next()) {
            match news {
                crate::feed::News::Event(crate::feed::MediaEvent::Notice(n)) => notices.push(n),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("camera 0 stopped"));
        assert!(notices[0].contains("test card"));
    }

    #[test]
    fn the_card_fills_in_before_the_first_live_frame_and_for_wrong_sizes() {
        struct Waiting;
        impl LiveSource for Waiting {
            fn latest(&mut self) -> Result<Option<Arc<I420Frame>>, String> {
                Ok(None)
            }
        }
        let card = TestCard::new(64, 48, "me", PALETTES[1]);
        let t = Duration::from_millis(500);
        let (feed, _news) = crate::feed::channel();
        let mut picture = Picture::live(card.clone(), Box::new(Waiting), feed.clone());
        assert_eq!(picture.frame(t).unwrap(), card.frame(t).unwrap());
        assert!(picture.is_live());
        let mut picture = Picture::live(
            TestCard::new(32, 24, "me", PALETTES[1]),
            Box::new(Flaky { frames: 1 }),
            feed,
        );
        assert_eq!(picture.frame(t).unwrap().width(), 32);
    }

    #[test]
    fn camera_choices_parse() {
        assert_eq!("auto".parse(), Ok(CameraChoice::First));
        assert_eq!("off".parse(), Ok(CameraChoice::Off));
        assert_eq!("2".parse(), Ok(CameraChoice::Index(2)));
        assert!(
            "-1".parse::<CameraChoice>()
                .unwrap_err()
                .contains("--list-cameras")
        );
    }
}
