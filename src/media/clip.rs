//! A video file as our outgoing picture (`join --video FILE`, `bot --video FILE`): played
//! in a loop, frame by frame by the wall clock, so that every sender of the same clip on
//! one machine shows the same frame at the same moment — which lets a benchmark know when
//! a frame (and any change in it) was sent without asking the sender.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::media::source::LiveSource;
use crate::media::{FrameSource, MediaError, Next, open_video};
use crate::render::I420Frame;

/// Frame rate when the file does not say.
const DEFAULT_FPS: f64 = 30.0;
/// Longest clip accepted (frames), so that counting it at the start stays quick.
const MAX_FRAMES: u64 = 100_000;

/// A looping clip, read sequentially (rewinding at the loop).
pub struct Clip {
    path: PathBuf,
    source: Box<dyn FrameSource + Send>,
    frames: u64,
    fps: f64,
    width: u32,
    height: u32,
    /// Index of the next frame `source` gives.
    next: u64,
    current: Option<Arc<I420Frame>>,
}

impl std::fmt::Debug for Clip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clip")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .field("fps", &self.fps)
            .finish_non_exhaustive()
    }
}

impl Clip {
    /// Opens a clip (y4m, IVF with VP8, H.264 Annex B) and counts its frames; blocks while
    /// it reads the file once.
    pub fn open(path: &Path) -> Result<Clip, MediaError> {
        let mut source = open_video(path)?;
        let fps = source
            .frame_rate()
            .filter(|r| r.is_finite() && (1.0..=240.0).contains(r))
            .unwrap_or(DEFAULT_FPS);
        let (mut frames, mut size) = (0u64, None);
        while let Some(next) = source.next()? {
            if let Next::Frame(frame) = next {
                size.get_or_insert((frame.width(), frame.height()));
            }
            frames += 1;
            if frames > MAX_FRAMES {
                return Err(MediaError::Unsupported(format!(
                    "clips of more than {MAX_FRAMES} frames"
                )));
            }
        }
        let (width, height) =
            size.ok_or_else(|| MediaError::Format("no frame could be decoded".into()))?;
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            // The encoders take 4:2:0 pictures of even sizes only.
            return Err(MediaError::Unsupported(format!(
                "a {width}x{height} picture (sizes must be even)"
            )));
        }
        source.rewind()?;
        Ok(Clip {
            path: path.to_path_buf(),
            source,
            frames,
            fps,
            width,
            height,
            next: 0,
            current: None,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn fps(&self) -> f64 {
        self.fps
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The frame index the wall clock says is showing at `unix` (since the epoch).
    pub fn index_at(&self, unix: std::time::Duration) -> u64 {
        ((unix.as_secs_f64() * self.fps) as u64) % self.frames.max(1)
    }

    /// Frame `index`, decoding forward (or from the start after the loop).
    fn seek(&mut self, index: u64) -> Result<Option<Arc<I420Frame>>, MediaError> {
        if index + 1 == self.next && self.current.is_some() {
            return Ok(self.current.clone());
        }
        if index < self.next {
            self.source.rewind()?;
            self.next = 0;
        }
        while self.next <= index {
            let got = self.source.next()?;
            self.next += 1;
            match got {
                Some(Next::Frame(frame)) => {
                    // Frames of another size (a resolution change) are skipped: every
                    // frame we send has the first one's size.
                    if (frame.width(), frame.height()) == (self.width, self.height) {
                        self.current = Some(Arc::new(frame));
                    }
                }
                Some(Next::Corrupt(_)) => {}
                None => break,
            }
        }
        Ok(self.current.clone())
    }
}

impl LiveSource for Clip {
    fn latest(&mut self) -> Result<Option<Arc<I420Frame>>, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let index = self.index_at(now);
        self.seek(index)
            .map_err(|e| format!("cannot play {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Rgb;
    use std::io::Write;
    use std::time::Duration;

    /// A y4m clip of `n` solid 16x16 frames, grey levels 0, 20, 40, …
    fn clip(n: u8) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"YUV4MPEG2 W16 H16 F10:1 C420jpeg\n")
            .unwrap();
        for i in 0..n {
            let v = i * 20;
            let f = I420Frame::solid(16, 16, Rgb::new(v, v, v)).unwrap();
            file.write_all(b"FRAME\n").unwrap();
            for plane in [f.y(), f.u(), f.v()] {
                file.write_all(plane).unwrap();
            }
        }
        file
    }

    #[test]
    fn frames_follow_the_wall_clock_and_loop() {
        let file = clip(5);
        let mut c = Clip::open(file.path()).unwrap();
        assert_eq!(
            (c.frames(), c.fps(), c.width(), c.height()),
            (5, 10.0, 16, 16)
        );
        // 10 fps: at 1.25 s frame 12 % 5 = 2; at 1.5 s frame 0 again.
        assert_eq!(c.index_at(Duration::from_millis(1250)), 2);
        assert_eq!(c.index_at(Duration::from_millis(1500)), 0);
        let lum = |f: Arc<I420Frame>| f.pixel(8, 8).r;
        let (a, b) = (
            lum(c.seek(3).unwrap().unwrap()),
            lum(c.seek(1).unwrap().unwrap()),
        );
        assert!(a.abs_diff(60) <= 2 && b.abs_diff(20) <= 2, "{a} {b}");
        assert!(
            lum(c.seek(1).unwrap().unwrap()).abs_diff(20) <= 2,
            "the same frame again"
        );
        assert!(c.latest().unwrap().is_some());
    }

    #[test]
    fn bad_files_are_errors() {
        let mut empty = tempfile::NamedTempFile::new().unwrap();
        empty
            .write_all(b"YUV4MPEG2 W16 H16 F10:1 C420jpeg\n")
            .unwrap();
        assert!(Clip::open(empty.path()).is_err());
        assert!(Clip::open(Path::new("/nonexistent.y4m")).is_err());
    }
}
