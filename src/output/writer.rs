//! Writes finished frames to the terminal on a thread of its own, one frame at a time, so
//! that a slow or stalled terminal blocks only this thread: the UI keeps handling events,
//! and frames are composed again only once the last one is out (the newest state wins,
//! nothing queues, memory stays flat however long the terminal stops reading).

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

/// A written frame: its buffer back for reuse, and how long the write blocked.
#[derive(Debug)]
pub struct Written {
    pub buffer: Vec<u8>,
    pub bytes: usize,
    pub took: Duration,
    pub result: io::Result<()>,
}

/// The thread that writes frames, and the one frame it may hold.
#[derive(Debug)]
pub struct FrameWriter {
    frames: Option<SyncSender<Vec<u8>>>,
    done: Receiver<Written>,
    busy: bool,
    spare: Vec<u8>,
}

impl FrameWriter {
    /// Starts the thread writing to `sink` (the terminal, or anything for tests).
    pub fn spawn(mut sink: Box<dyn Write + Send>) -> io::Result<FrameWriter> {
        let (frames, inbox) = mpsc::sync_channel::<Vec<u8>>(1);
        let (finished, done) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("packspaces-output".into())
            .spawn(move || {
                for buffer in inbox {
                    let started = Instant::now();
                    let result = sink.write_all(&buffer).and_then(|()| sink.flush());
                    let failed = result.is_err();
                    let written = Written {
                        bytes: buffer.len(),
                        buffer,
                        took: started.elapsed(),
                        result,
                    };
                    if finished.send(written).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(FrameWriter {
            frames: Some(frames),
            done,
            busy: false,
            spare: Vec::new(),
        })
    }

    /// True while a frame is being written.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// An empty buffer to compose the next frame in (the last one's, reused).
    pub fn buffer(&mut self) -> Vec<u8> {
        let mut b = std::mem::take(&mut self.spare);
        b.clear();
        b
    }

    /// Takes back a buffer that was not sent, for the next frame.
    pub fn keep(&mut self, buffer: Vec<u8>) {
        self.spare = buffer;
    }

    /// Hands a frame to the thread. The caller checks [`FrameWriter::busy`] first.
    pub fn send(&mut self, frame: Vec<u8>) -> io::Result<()> {
        let frames = self.frames.as_ref().ok_or_else(gone)?;
        frames.send(frame).map_err(|_| gone())?;
        self.busy = true;
        Ok(())
    }

    /// The frame that finished writing since the last call, if one did. A write error
    /// (the terminal is gone) comes back in [`Written::result`].
    pub fn poll(&mut self) -> Option<Written> {
        match self.done.try_recv() {
            Ok(mut written) => {
                self.busy = false;
                self.spare = std::mem::take(&mut written.buffer);
                Some(written)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.busy = false;
                None
            }
        }
    }

    /// Waits up to `timeout` for the frame being written: `Ok(Some)` when it finished now,
    /// `Ok(None)` when none was being written, `Err(())` when it is still being written.
    #[allow(clippy::result_unit_err)]
    pub fn finish(&mut self, timeout: Duration) -> Result<Option<Written>, ()> {
        if !self.busy {
            return Ok(None);
        }
        match self.done.recv_timeout(timeout) {
            Ok(mut written) => {
                self.busy = false;
                self.spare = std::mem::take(&mut written.buffer);
                Ok(Some(written))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.busy = false;
                Ok(None)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(()),
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the terminal output is gone")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(5))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What [`FrameWriter::poll`] returns once the frame is out (within 5 s).
    fn polled(w: &mut FrameWriter) -> Written {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(x) = w.poll() {
                return x;
            }
            assert!(Instant::now() < deadline, "the frame never came out");
            std::thread::yield_now();
        }
    }

    #[test]
    fn frames_are_written_in_order_one_at_a_time() {
        let sink = Shared::default();
        let mut w = FrameWriter::spawn(Box::new(sink.clone())).unwrap();
        w.send(b"one ".to_vec()).unwrap();
        assert!(w.busy());
        assert_eq!(w.finish(Duration::from_secs(5)).unwrap().unwrap().bytes, 4);
        assert!(!w.busy());
        let mut b = w.buffer();
        assert!(b.capacity() >= 4, "the buffer comes back for reuse");
        b.extend_from_slice(b"two");
        w.send(b).unwrap();
        let written = polled(&mut w);
        assert_eq!(written.bytes, 3);
        assert!(written.result.is_ok());
        assert_eq!(sink.0.lock().unwrap().as_slice(), b"one two");
    }

    #[test]
    fn a_dead_terminal_is_reported_not_panicked() {
        let mut w = FrameWriter::spawn(Box::new(Broken)).unwrap();
        w.send(b"x".to_vec()).unwrap();
        let written = polled(&mut w);
        assert!(written.result.is_err());
    }
}
