//! The camera as our picture (feature `camera`): V4L2 through nokhwa, YUYV or MJPEG at a
//! modest size, captured in its own thread where the newest frame wins, converted to the
//! I420 size we send. Only this module touches nokhwa.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use nokhwa::Camera;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};

use super::convert::{Packed, packed_to_i420};
use super::source::{CameraChoice, LiveSource};
use crate::render::I420Frame;

/// Why there is no camera picture. Messages name the camera.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    #[error("no camera found")]
    NoneFound,
    #[error("camera {index}: {message}")]
    Camera { index: u32, message: String },
    #[error("cannot list cameras: {0}")]
    List(String),
}

/// One camera, as `--list-cameras` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    pub index: u32,
    pub name: String,
}

/// The cameras V4L2 knows, by index (`/dev/videoINDEX`). Some are metadata nodes of the
/// same camera that cannot capture; opening tells.
pub fn list() -> Result<Vec<CameraInfo>, CameraError> {
    let mut cameras: Vec<CameraInfo> = nokhwa::query(ApiBackend::Video4Linux)
        .map_err(|e| CameraError::List(e.to_string()))?
        .into_iter()
        .filter_map(|info| {
            Some(CameraInfo {
                index: info.index().as_index().ok()?,
                name: crate::text::sanitize(&info.human_name(), 60),
            })
        })
        .collect();
    cameras.sort_by_key(|c| c.index);
    Ok(cameras)
}

/// Pixel formats we decode without system libraries, best first.
const FORMATS: &[FrameFormat] = &[FrameFormat::YUYV, FrameFormat::MJPEG];

/// One way a camera can deliver pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub width: u32,
    pub height: u32,
    pub mjpeg: bool,
    pub fps: u32,
}

/// The mode to capture in, for `out_width x out_height` at `fps`: the smallest picture that
/// covers the output (more pixels cost conversion time and USB bandwidth, fewer look
/// blocky), then YUYV (no decoding), then the frame rate nearest at or above `fps`.
pub fn choose_mode(modes: &[Mode], out_width: u32, out_height: u32, fps: u32) -> Option<Mode> {
    modes.iter().copied().min_by_key(|m| {
        let pixels = u64::from(m.width) * u64::from(m.height);
        let covers = m.width >= out_width && m.height >= out_height;
        let size = if covers { pixels } else { u64::MAX - pixels };
        let rate = if m.fps >= fps {
            m.fps - fps
        } else {
            1000 + fps - m.fps
        };
        (!covers, size, m.mjpeg, rate)
    })
}

/// Converts one captured buffer to the frame we send.
fn convert(mode: Mode, data: &[u8], out: (u32, u32)) -> Result<I420Frame, String> {
    if mode.mjpeg {
        let rgb = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
            .map_err(|e| format!("bad MJPEG frame: {e}"))?
            .into_rgb8();
        packed_to_i420(Packed::Rgb24, rgb.dimensions(), rgb.as_raw(), out)
    } else {
        packed_to_i420(Packed::Yuyv, (mode.width, mode.height), data, out)
    }
    .map_err(|e| e.to_string())
}

/// A camera that has not delivered a frame for this long has stopped.
const STALL: Duration = Duration::from_secs(3);

/// Bad frames in a row after which the camera counts as broken (single bad MJPEG frames
/// happen, at start especially).
const MAX_BAD_FRAMES: u32 = 30;

/// How long opening may take before we give up and send the card.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the capture thread leaves for the sender.
struct Slot {
    frame: Option<Arc<I420Frame>>,
    at: Instant,
    failed: Option<String>,
}

/// A camera capturing in its own thread; the newest converted frame wins. Dropping it
/// stops the thread after its current frame.
pub struct Feed {
    pub index: u32,
    pub name: String,
    slot: Arc<Mutex<Slot>>,
    stop: Arc<AtomicBool>,
}

impl Feed {
    /// Opens the chosen camera (`First`: the first in the list that opens) and starts
    /// capturing frames of `width x height`. Blocks while the camera opens.
    pub fn open(
        choice: CameraChoice,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<Feed, CameraError> {
        let candidates: Vec<u32> = match choice {
            CameraChoice::Off => return Err(CameraError::NoneFound),
            CameraChoice::Index(index) => vec![index],
            CameraChoice::First => list()?.into_iter().map(|c| c.index).collect(),
        };
        let mut error = CameraError::NoneFound;
        for index in candidates {
            match Feed::start(index, width, height, fps) {
                Ok(feed) => return Ok(feed),
                Err(e) => {
                    tracing::info!("{e}");
                    error = e;
                }
            }
        }
        Err(error)
    }

    fn start(index: u32, width: u32, height: u32, fps: u32) -> Result<Feed, CameraError> {
        let fail = |message: String| CameraError::Camera { index, message };
        let slot = Arc::new(Mutex::new(Slot {
            frame: None,
            at: Instant::now(),
            failed: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (opened_tx, opened_rx) = mpsc::sync_channel(1);
        let (thread_slot, thread_stop) = (slot.clone(), stop.clone());
        std::thread::Builder::new()
            .name(format!("packspaces-camera-{index}"))
            .spawn(move || {
                // nokhwa's camera is not `Send`: it lives and dies in this thread.
                let mut camera = match open_camera(index, width, height, fps) {
                    Ok((camera, mode, name)) => {
                        let _ = opened_tx.send(Ok(name));
                        (camera, mode)
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let why = capture(&mut camera, width, height, &thread_slot, &thread_stop);
                if let Some(why) = why {
                    lock(&thread_slot).failed = Some(format!("camera {index} stopped: {why}"));
                }
                let _ = camera.0.stop_stream();
            })
            .map_err(|e| fail(format!("no capture thread: {e}")))?;
        match opened_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(name)) => Ok(Feed {
                index,
                name,
                slot,
                stop,
            }),
            Ok(Err(message)) => Err(fail(message)),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                Err(fail(format!(
                    "did not open within {} s",
                    OPEN_TIMEOUT.as_secs()
                )))
            }
        }
    }
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens camera `index` in the mode [`choose_mode`] picks and starts its stream.
fn open_camera(
    index: u32,
    width: u32,
    height: u32,
    fps: u32,
) -> Result<(Camera, Mode, String), String> {
    let any = RequestedFormat::with_formats(RequestedFormatType::None, FORMATS);
    let mut camera = Camera::with_backend(CameraIndex::Index(index), any, ApiBackend::Video4Linux)
        .map_err(|e| format!("cannot open: {e}"))?;
    let modes: Vec<Mode> = camera
        .compatible_camera_formats()
        .map_err(|e| format!("cannot list its formats: {e}"))?
        .into_iter()
        .filter(|f| FORMATS.contains(&f.format()))
        .map(|f| Mode {
            width: f.width(),
            height: f.height(),
            mjpeg: f.format() == FrameFormat::MJPEG,
            fps: f.frame_rate(),
        })
        .collect();
    let mode = choose_mode(&modes, width, height, fps)
        .ok_or_else(|| "offers neither YUYV nor MJPEG".to_string())?;
    let format = CameraFormat::new(
        Resolution::new(mode.width, mode.height),
        if mode.mjpeg {
            FrameFormat::MJPEG
        } else {
            FrameFormat::YUYV
        },
        mode.fps,
    );
    camera
        .set_camera_requset(RequestedFormat::with_formats(
            RequestedFormatType::Exact(format),
            FORMATS,
        ))
        .map_err(|e| format!("cannot capture {format}: {e}"))?;
    camera
        .open_stream()
        .map_err(|e| format!("cannot start capturing: {e}"))?;
    let name = crate::text::sanitize(&camera.info().human_name(), 60);
    tracing::info!("camera {index} ({name}): capturing {format}");
    Ok((camera, mode, name))
}

/// Captures until `stop`; returns why it ended early.
fn capture(
    (camera, mode): &mut (Camera, Mode),
    width: u32,
    height: u32,
    slot: &Mutex<Slot>,
    stop: &AtomicBool,
) -> Option<String> {
    let mut bad = 0;
    while !stop.load(Ordering::Relaxed) {
        let buffer = match camera.frame() {
            Ok(b) => b,
            Err(e) => return Some(e.to_string()),
        };
        // The driver may have settled on another size than the one we asked for.
        let res = buffer.resolution();
        let actual = Mode {
            width: res.width(),
            height: res.height(),
            ..*mode
        };
        match convert(actual, buffer.buffer(), (width, height)) {
            Ok(frame) => {
                bad = 0;
                let mut slot = lock(slot);
                slot.frame = Some(Arc::new(frame));
                slot.at = Instant::now();
            }
            Err(e) => {
                bad += 1;
                tracing::debug!("camera frame skipped: {e}");
                if bad >= MAX_BAD_FRAMES {
                    return Some(e);
                }
            }
        }
    }
    None
}

impl LiveSource for Feed {
    fn latest(&mut self) -> Result<Option<Arc<I420Frame>>, String> {
        let slot = lock(&self.slot);
        if let Some(why) = &slot.failed {
            return Err(why.clone());
        }
        if slot.at.elapsed() > STALL {
            return Err(format!(
                "camera {} sent nothing for {} s",
                self.index,
                STALL.as_secs()
            ));
        }
        Ok(slot.frame.clone())
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(width: u32, height: u32, mjpeg: bool, fps: u32) -> Mode {
        Mode {
            width,
            height,
            mjpeg,
            fps,
        }
    }

    #[test]
    fn the_smallest_covering_yuyv_mode_near_our_rate_wins() {
        let modes = [
            mode(1280, 720, true, 30),
            mode(640, 480, true, 30),
            mode(640, 480, false, 30),
            mode(640, 480, false, 15),
            mode(320, 240, false, 10),
            mode(320, 240, false, 30),
            mode(160, 120, false, 30),
        ];
        assert_eq!(
            choose_mode(&modes, 320, 240, 15),
            Some(mode(320, 240, false, 30))
        );
        assert_eq!(
            choose_mode(&modes[..4], 320, 240, 15),
            Some(mode(640, 480, false, 15))
        );
        // Only MJPEG covers: MJPEG rather than a blocky picture.
        let modes = [mode(1280, 720, true, 30), mode(160, 120, false, 30)];
        assert_eq!(
            choose_mode(&modes, 320, 240, 15),
            Some(mode(1280, 720, true, 30))
        );
        // Nothing covers: the largest.
        let modes = [mode(160, 120, false, 30), mode(176, 144, false, 5)];
        assert_eq!(
            choose_mode(&modes, 320, 240, 15),
            Some(mode(176, 144, false, 5))
        );
        assert_eq!(choose_mode(&[], 320, 240, 15), None);
    }

    #[test]
    fn a_bad_mjpeg_frame_is_an_error_not_a_panic() {
        let m = mode(640, 480, true, 30);
        assert!(convert(m, b"not a jpeg", (320, 240)).is_err());
        assert!(convert(m, &[], (320, 240)).is_err());
        let y = mode(640, 480, false, 30);
        assert!(convert(y, &[0; 10], (320, 240)).is_err());
    }

    #[test]
    fn mjpeg_frames_decode_to_their_colours() {
        // A red-left, blue-right JPEG made with `image` itself.
        let (w, h) = (64u32, 48u32);
        let img = image::RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                image::Rgb([220, 30, 30])
            } else {
                image::Rgb([30, 40, 210])
            }
        });
        let mut jpeg = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        let f = convert(mode(w, h, true, 30), &jpeg, (32, 24)).unwrap();
        let (left, right) = (f.pixel(4, 12), f.pixel(28, 12));
        assert!(left.r > 180 && left.b < 80, "{left:?}");
        assert!(right.b > 170 && right.r < 80, "{right:?}");
    }

    #[test]
    fn a_missing_camera_is_an_error_naming_it() {
        // /dev/video4242 does not exist on any machine we test on.
        let e = Feed::open(CameraChoice::Index(4242), 320, 240, 15)
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("camera 4242: "), "{e}");
    }
}
