//! What a live picture source is (a camera, a clip) and which camera `--camera` chose:
//! shared by the sources and the outgoing picture that draws from them.

use std::sync::Arc;

use crate::render::I420Frame;

/// Which camera to send, from `--camera`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CameraChoice {
    /// The test card.
    #[default]
    Off,
    /// The first camera that opens.
    First,
    /// The camera with this index (`/dev/videoINDEX`).
    Index(u32),
}

impl std::str::FromStr for CameraChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(CameraChoice::First),
            "off" => Ok(CameraChoice::Off),
            _ => s.parse().map(CameraChoice::Index).map_err(|_| {
                format!("{s:?} is not a camera: use an index from --list-cameras, auto or off")
            }),
        }
    }
}

/// A picture that comes and goes on its own (a camera, a clip).
pub trait LiveSource: Send {
    /// The newest picture, `Ok(None)` before the first one, or why it stopped for good.
    fn latest(&mut self) -> Result<Option<Arc<I420Frame>>, String>;
}
