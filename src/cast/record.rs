//! A recording in progress (`join --record`, `demo --record`): one handle shared by the
//! parts that write the terminal — the terminal guard (its setup and restore bytes), the
//! output thread (every frame, as the terminal took it: see [`Recorder::tee`]) and the
//! screen (resizes) — with the recording's clock. A recording must never end a session:
//! when the file cannot be written (a full disk), recording stops and the failure waits
//! to be shown as a notice.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Header;
use super::write::CastWriter;

/// The file's buffer: a frame or two, written out at every frame (see [`Recorder::tee`]).
const BUFFER: usize = 256 * 1024;

/// `--record FILE` could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot record to {}: {cause}", path.display())]
pub struct RecordError {
    pub path: PathBuf,
    pub cause: io::Error,
}

/// A shared handle on one recording. Cloning it shares the recording.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    title: Option<String>,
    term: Option<String>,
    state: State,
    /// Why recording stopped, until the screen shows it.
    notice: Option<String>,
    /// Why recording stopped, for good.
    failure: Option<String>,
}

enum State {
    /// The file is open; nothing is written until the screen starts.
    Ready(File),
    Recording {
        writer: CastWriter<BufWriter<File>>,
        started: Instant,
    },
    /// Finished, or stopped by a failure.
    Stopped,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.lock().path)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates (or replaces) the file now, so that a bad path is an error before anything
    /// starts; the header is written by [`Recorder::begin`]. `$TERM` goes in the header.
    pub fn create(path: &Path, title: Option<String>) -> Result<Recorder, RecordError> {
        let file = File::create(path).map_err(|cause| RecordError {
            path: path.to_path_buf(),
            cause,
        })?;
        Ok(Recorder {
            inner: Arc::new(Mutex::new(Inner {
                path: path.to_path_buf(),
                title,
                term: std::env::var("TERM").ok().filter(|t| !t.is_empty()),
                state: State::Ready(file),
                notice: None,
                failure: None,
            })),
        })
    }

    /// Locks, ignoring poison: a thread that panicked while recording must not take the
    /// session down with it.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the clock and writes the header for a terminal of `cols x rows`. Only the
    /// first call does anything.
    pub fn begin(&self, cols: u16, rows: u16) {
        let mut inner = self.lock();
        if !matches!(inner.state, State::Ready(_)) {
            return;
        }
        let State::Ready(file) = std::mem::replace(&mut inner.state, State::Stopped) else {
            return;
        };
        let header = Header {
            width: cols,
            height: rows,
            timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs() as f64),
            title: inner.title.clone(),
            term: inner.term.clone(),
        };
        let started = Instant::now();
        let result = CastWriter::new(BufWriter::with_capacity(BUFFER, file), &header)
            .and_then(|mut writer| writer.flush().map(|()| writer));
        match result {
            Ok(writer) => inner.state = State::Recording { writer, started },
            Err(e) => inner.fail(Duration::ZERO, &e),
        }
    }

    /// Records bytes the terminal received just now.
    pub fn output(&self, bytes: &[u8]) {
        self.lock()
            .with_writer(|writer, time| writer.output(time, bytes));
    }

    /// Records that the terminal is now `cols x rows`.
    pub fn resize(&self, cols: u16, rows: u16) {
        self.lock()
            .with_writer(|writer, time| writer.resize(time, cols, rows));
    }

    /// Writes out what is buffered, so that a killed process leaves a file that plays up
    /// to here.
    pub fn flush(&self) {
        self.lock().with_writer(|writer, _| writer.flush());
    }

    /// Ends the recording and closes the file; later calls record nothing.
    pub fn finish(&self) {
        let mut inner = self.lock();
        if let State::Recording { writer, started } =
            std::mem::replace(&mut inner.state, State::Stopped)
        {
            let time = started.elapsed();
            if let Err(e) = writer.finish(time) {
                inner.fail(time, &e);
            }
        } else {
            // Never begun: nothing was shown, so nothing was recorded but the empty file.
            inner.state = State::Stopped;
        }
    }

    /// Why recording stopped, once (for a notice on the screen).
    pub fn take_notice(&self) -> Option<String> {
        self.lock().notice.take()
    }

    /// Why recording stopped, if it failed.
    pub fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    /// `sink` (the terminal) with every byte it accepts also recorded, at the moment it
    /// accepted it; a flush (the output thread's, after every frame) flushes the file too.
    pub fn tee(&self, sink: Box<dyn Write + Send>) -> Box<dyn Write + Send> {
        Box::new(Tee {
            sink,
            recorder: self.clone(),
        })
    }
}

impl Inner {
    /// Runs `f` on the writer with the time since the start; a failure stops recording.
    fn with_writer(
        &mut self,
        f: impl FnOnce(&mut CastWriter<BufWriter<File>>, Duration) -> io::Result<()>,
    ) {
        if let State::Recording { writer, started } = &mut self.state {
            let time = started.elapsed();
            if let Err(e) = f(writer, time) {
                self.fail(time, &e);
            }
        }
    }

    fn fail(&mut self, time: Duration, e: &io::Error) {
        // Dropping the writer would try to write its buffer again: let it go unwritten.
        if let State::Recording { writer, .. } = std::mem::replace(&mut self.state, State::Stopped)
        {
            drop(writer.into_inner().into_parts());
        }
        let why = format!(
            "recording stopped after {:.1} s: cannot write {}: {e}",
            time.as_secs_f64(),
            self.path.display()
        );
        tracing::warn!("{why}");
        self.notice = Some(why.clone());
        self.failure = Some(why);
    }
}

/// The terminal's writer, recording what it writes.
struct Tee {
    sink: Box<dyn Write + Send>,
    recorder: Recorder,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.sink.write(buf)?;
        // Exactly what the terminal took: a partial write records its part only.
        self.recorder.output(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()?;
        self.recorder.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cast::{CastReader, EventKind};

    /// Gives out at most `n` bytes per write, as a busy terminal may.
    struct Dribble(Vec<u8>, usize);

    impl Write for Dribble {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn what_the_terminal_takes_is_recorded_with_the_header_and_resizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cast");
        let recorder = Recorder::create(&path, Some("packspaces demo".into())).unwrap();
        recorder.output(b"before the start: not recorded");
        recorder.begin(120, 36);
        recorder.begin(1, 1);
        let mut tee = recorder.tee(Box::new(Dribble(Vec::new(), 2)));
        // Two bytes at a time: the half block is split across writes.
        tee.write_all("\x1b[H▀▀".as_bytes()).unwrap();
        tee.flush().unwrap();
        recorder.resize(80, 24);
        recorder.finish();
        recorder.output(b"after the end: not recorded");

        let mut reader = CastReader::open(&path).unwrap();
        let header = reader.header().clone();
        assert_eq!((header.width, header.height), (120, 36));
        assert_eq!(header.title.as_deref(), Some("packspaces demo"));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as f64;
        assert!((now - header.timestamp.unwrap()).abs() < 60.0);
        let mut text = String::new();
        let mut kinds = Vec::new();
        while let Some(e) = reader.next_event().unwrap() {
            match e.kind {
                EventKind::Output(t) => text.push_str(&t),
                kind => kinds.push(kind),
            }
        }
        assert_eq!(text, "\x1b[H▀▀");
        assert_eq!(kinds, [EventKind::Resize { cols: 80, rows: 24 }]);
        assert!(recorder.failure().is_none());
    }

    #[test]
    fn a_full_disk_stops_the_recording_with_a_notice_not_an_error() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            eprintln!("skipped: no /dev/full");
            return;
        }
        let recorder = Recorder::create(full, None).unwrap();
        recorder.begin(80, 24);
        let mut tee = recorder.tee(Box::new(Dribble(Vec::new(), usize::MAX)));
        // The terminal still gets everything.
        tee.write_all(b"frame").unwrap();
        tee.flush().unwrap();
        recorder.output(&[b'x'; 2 * BUFFER]);
        recorder.finish();
        let notice = recorder.take_notice().expect("a notice");
        assert!(
            notice.starts_with("recording stopped after 0.")
                && notice.contains("cannot write /dev/full: No space left on device"),
            "{notice}"
        );
        assert!(recorder.take_notice().is_none(), "shown once");
        assert_eq!(recorder.failure(), Some(notice));
    }

    #[test]
    fn a_path_that_cannot_be_created_is_an_error_naming_it() {
        let e = Recorder::create(Path::new("/nonexistent/dir/x.cast"), None)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "cannot record to /nonexistent/dir/x.cast: No such file or directory (os error 2)"
        );
    }
}
