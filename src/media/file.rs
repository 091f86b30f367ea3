//! Opens a video file by its magic bytes and yields decoded frames: y4m, IVF/VP8, or an
//! H.264 Annex B stream.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::annexb::{AnnexBReader, has_start_code};
use super::h264::H264Decoder;
use super::ivf::IvfReader;
use super::vp8::Vp8Decoder;
use super::y4m::Y4mReader;
use super::{DecodeError, MediaError};
use crate::render::frame::I420Frame;

/// What a source yields next.
#[derive(Debug)]
pub enum Next {
    Frame(I420Frame),
    /// A compressed frame that could not be decoded; it was skipped.
    Corrupt(DecodeError),
}

/// A stream of decoded frames from a file.
pub trait FrameSource {
    /// The next frame, a skipped corrupt frame, or `None` at the end. Errors are fatal
    /// (unreadable or truncated container).
    fn next(&mut self) -> Result<Option<Next>, MediaError>;
    /// Starts again from the first frame.
    fn rewind(&mut self) -> Result<(), MediaError>;
    /// Frames per second, when the container says.
    fn frame_rate(&self) -> Option<f64>;
    /// A short description such as "VP8 in IVF, 640x480".
    fn describe(&self) -> String;
}

/// Opens `path` and picks the reader from its first bytes.
pub fn open_video(path: &Path) -> Result<Box<dyn FrameSource + Send>, MediaError> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 10];
    let n = file.read(&mut magic)?;
    let magic = &magic[..n];
    let reader = BufReader::new(File::open(path)?);
    if magic.starts_with(b"YUV4MPEG2") {
        Ok(Box::new(Y4mSource(Y4mReader::new(reader)?)))
    } else if magic.starts_with(b"DKIF") {
        let ivf = IvfReader::new(reader)?;
        if &ivf.header().fourcc != b"VP80" {
            return Err(MediaError::Unsupported(format!(
                "IVF with codec {} (only VP8 is supported)",
                ivf.header().fourcc_text()
            )));
        }
        Ok(Box::new(IvfVp8Source {
            ivf,
            decoder: Vp8Decoder::new().map_err(to_media)?,
            buf: Vec::new(),
        }))
    } else if has_start_code(magic) {
        Ok(Box::new(AnnexBSource {
            stream: AnnexBReader::new(reader),
            decoder: H264Decoder::new().map_err(to_media)?,
            flushed: Vec::new(),
            ended: false,
            size: None,
        }))
    } else if n == 0 {
        Err(MediaError::Format("empty file".into()))
    } else {
        Err(MediaError::Format(
            "unrecognised format (expected y4m, IVF with VP8, or H.264 Annex B)".into(),
        ))
    }
}

fn to_media(e: DecodeError) -> MediaError {
    MediaError::Unsupported(e.to_string())
}

struct Y4mSource(Y4mReader<BufReader<File>>);

impl FrameSource for Y4mSource {
    fn next(&mut self) -> Result<Option<Next>, MediaError> {
        Ok(self.0.next_frame()?.map(Next::Frame))
    }

    fn rewind(&mut self) -> Result<(), MediaError> {
        self.0.rewind()
    }

    fn frame_rate(&self) -> Option<f64> {
        self.0.header().frame_rate
    }

    fn describe(&self) -> String {
        let h = self.0.header();
        format!("raw 4:2:0 in y4m, {}x{}", h.width, h.height)
    }
}

struct IvfVp8Source {
    ivf: IvfReader<BufReader<File>>,
    decoder: Vp8Decoder,
    buf: Vec<u8>,
}

impl FrameSource for IvfVp8Source {
    fn next(&mut self) -> Result<Option<Next>, MediaError> {
        loop {
            if !self.ivf.next_frame(&mut self.buf)? {
                return Ok(None);
            }
            match self.decoder.decode(&self.buf) {
                Ok(Some(frame)) => return Ok(Some(Next::Frame(frame))),
                Ok(None) => continue,
                Err(e) => return Ok(Some(Next::Corrupt(e))),
            }
        }
    }

    fn rewind(&mut self) -> Result<(), MediaError> {
        self.decoder = Vp8Decoder::new().map_err(to_media)?;
        self.ivf.rewind()
    }

    fn frame_rate(&self) -> Option<f64> {
        self.ivf.header().frame_rate
    }

    fn describe(&self) -> String {
        let h = self.ivf.header();
        format!("VP8 in IVF, {}x{}", h.width, h.height)
    }
}

struct AnnexBSource {
    stream: AnnexBReader<BufReader<File>>,
    decoder: H264Decoder,
    /// Pictures the decoder still held when the stream ended.
    flushed: Vec<I420Frame>,
    ended: bool,
    size: Option<(u32, u32)>,
}

impl FrameSource for AnnexBSource {
    fn next(&mut self) -> Result<Option<Next>, MediaError> {
        loop {
            if self.ended {
                return Ok(self.flushed.pop().map(Next::Frame));
            }
            let Some(unit) = self.stream.next_access_unit()? else {
                self.ended = true;
                self.flushed = self.decoder.flush();
                self.flushed.reverse();
                continue;
            };
            match self.decoder.decode(&unit) {
                Ok(Some(frame)) => {
                    self.size = Some((frame.width(), frame.height()));
                    return Ok(Some(Next::Frame(frame)));
                }
                Ok(None) => continue,
                Err(e) => return Ok(Some(Next::Corrupt(e))),
            }
        }
    }

    fn rewind(&mut self) -> Result<(), MediaError> {
        self.decoder = H264Decoder::new().map_err(to_media)?;
        self.flushed.clear();
        self.ended = false;
        self.stream.rewind()
    }

    fn frame_rate(&self) -> Option<f64> {
        None
    }

    fn describe(&self) -> String {
        match self.size {
            Some((w, h)) => format!("H.264 Annex B, {w}x{h}"),
            None => "H.264 Annex B".to_string(),
        }
    }
}
