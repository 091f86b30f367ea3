//! Compressed video in, I420 frames out: file containers (y4m, IVF, H.264 Annex B) and the
//! H.264 and VP8 decoders, which also take depacketized RTP from calls. Also what we send:
//! the test card, a camera (feature `camera`) or a clip, captured and encoded once for every
//! call (`outgoing`).

pub mod annexb;
#[cfg(feature = "camera")]
pub mod camera;
pub mod clip;
pub mod convert;
pub mod file;
pub mod h264;
pub mod ivf;
pub mod outgoing;
pub mod picture;
pub mod source;
pub mod testcard;
pub mod vp8;
pub mod vp8enc;
pub mod vp8send;
#[cfg(feature = "libvpx")]
pub mod vpx;
pub mod y4m;

pub use file::{FrameSource, Next, open_video};

/// Why a video could not be read. Messages name the problem; the caller adds the file.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Format(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("truncated: {0}")]
    Truncated(String),
    #[error(transparent)]
    Frame(#[from] crate::render::frame::FrameError),
}

/// Why a frame could not be encoded (a size the encoder refuses, an encoder failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{codec} encode error: {message}")]
pub struct EncodeError {
    pub codec: &'static str,
    pub message: String,
}

/// Why one compressed frame could not be decoded. The stream can go on after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{codec} decode error: {message}")]
pub struct DecodeError {
    pub codec: &'static str,
    pub message: String,
}
