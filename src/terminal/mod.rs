//! Terminal hygiene: enter the full-screen mode, and always leave it again, on return,
//! on error, and on panic, before anything is printed; keep stray stderr output off the
//! screen; read keys ([`input`]) without blocking the async side. Shared by the
//! full-screen commands, which all write through one [`ScreenOutput`].

pub mod input;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::terminal;
use tokio::sync::mpsc;

use crate::cast::Recorder;
use crate::output::{OutputConfig, ScreenOutput};
pub use crate::signals::StopSignals;
pub use input::Input;

/// How long a closing screen waits for its last frame to be written.
const LAST_FRAME_WAIT: Duration = Duration::from_millis(500);

/// Full-screen UIs redraw at most this often, however many changes arrive.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);

/// What a full-screen loop works with: the output, the terminal's input, and the redraw
/// timer (a change only marks the screen dirty; the next tick draws it).
pub struct Screen {
    pub output: ScreenOutput,
    pub input: mpsc::Receiver<Input>,
    pub ticks: tokio::time::Interval,
}

impl Screen {
    /// Opens the screen on stdout (inside a [`TerminalGuard`], in a tokio runtime).
    pub fn open(config: OutputConfig) -> io::Result<Screen> {
        Screen::open_recorded(config, None)
    }

    /// The same, with everything the screen writes also going to `recorder` (`--record`).
    pub fn open_recorded(config: OutputConfig, recorder: Option<Recorder>) -> io::Result<Screen> {
        let (cols, rows) = terminal::size()?;
        let sink = Box::new(stdout_file()?);
        let output = match recorder {
            Some(recorder) => ScreenOutput::recorded(sink, cols, rows, config, recorder)?,
            None => ScreenOutput::new(sink, cols, rows, config)?,
        };
        let (tx, input) = mpsc::channel(256);
        input::spawn_reader(tx)?;
        let mut ticks = tokio::time::interval(FRAME_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Ok(Screen {
            output,
            input,
            ticks,
        })
    }

    /// Lets the last frame out, without waiting long on a terminal that stopped reading,
    /// and returns the `--stats` summary when `stats` asks for it.
    pub fn close(mut self, stats: bool) -> Option<String> {
        self.output.finish(LAST_FRAME_WAIT);
        stats.then(|| self.output.summary(std::time::Instant::now()))
    }

    /// Follows the terminal's size (checked at every tick: cheap, and no signal to miss);
    /// true when it changed.
    pub fn follow_size(&mut self) -> io::Result<bool> {
        let size = terminal::size()?;
        if size == self.output.size() {
            return Ok(false);
        }
        self.output.resize(size.0, size.1)?;
        Ok(true)
    }
}

/// Standard output as a file of its own (a duplicate descriptor): written unbuffered by the
/// output thread, without holding std's stdout lock, which the terminal guard needs.
pub fn stdout_file() -> io::Result<File> {
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

/// True while the terminal is in our full-screen mode.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// What entering the full-screen mode writes: the alternate screen, the cursor hidden, the
/// screen cleared.
const ENTER: &[u8] = b"\x1b[?1049h\x1b[?25l\x1b[2J";
/// What leaving it writes: synchronized output ended and colours reset (in case a frame
/// was cut short), the cursor shown, the main screen back.
const LEAVE: &[u8] = b"\x1b[?2026l\x1b[0m\x1b[?25h\x1b[?1049l";

/// Holds the terminal in raw mode on the alternate screen with the cursor hidden;
/// dropping it restores the terminal.
#[derive(Debug)]
pub struct TerminalGuard {
    recorder: Option<Recorder>,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        TerminalGuard::enter_recorded(None)
    }

    /// The same, starting `recorder` (`--record`) at the terminal's size with the setup
    /// bytes; dropping the guard records the restore and ends the recording, so that a
    /// recording plays back on a clean screen and leaves the terminal as it found it.
    pub fn enter_recorded(recorder: Option<Recorder>) -> io::Result<TerminalGuard> {
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        // From here on, a failure drops the guard, which restores the terminal.
        let mut guard = TerminalGuard { recorder: None };
        let mut out = io::stdout();
        out.write_all(ENTER).and_then(|()| out.flush())?;
        if let Some(recorder) = recorder {
            let (cols, rows) = terminal::size()?;
            recorder.begin(cols, rows);
            recorder.output(ENTER);
            guard.recorder = Some(recorder);
        }
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        if let Some(recorder) = self.recorder.take() {
            recorder.output(LEAVE);
            recorder.finish();
        }
    }
}

/// Puts the terminal back as we found it. Safe to call more than once, and from the
/// panic hook; does nothing if we never changed the terminal. Never hangs: a terminal that
/// stopped reading (a stalled SSH link) gets half a second, then we go without it.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = terminal::disable_raw_mode();
    let (done, finished) = std::sync::mpsc::channel();
    let writer = std::thread::Builder::new()
        .name("packspaces-restore".into())
        .spawn(move || {
            let mut out = io::stdout();
            let _ = out.write_all(LEAVE);
            let _ = out.flush();
            let _ = done.send(());
        });
    if writer.is_ok() {
        let _ = finished.recv_timeout(RESTORE_WAIT);
    }
}

/// How long [`restore`] waits for the terminal to take its last bytes.
const RESTORE_WAIT: Duration = Duration::from_millis(500);

/// Installs a panic hook that restores the terminal before the panic message is printed.
/// Panics contained around decoders (see [`crate::contain`]) are only logged.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if crate::contain::is_containing() {
            tracing::warn!("contained panic: {info}");
            return;
        }
        restore();
        tracing::error!("panic: {info}");
        previous(info);
    }));
}

/// Points stderr at `log_file` (appending), or at /dev/null, while a UI owns the screen:
/// C libraries (OpenH264, ALSA) print there. Dropping the redirect restores stderr.
pub fn quiet_stderr(log_file: Option<&Path>) -> Option<gag::Redirect<File>> {
    log_file
        .and_then(|path| OpenOptions::new().append(true).create(true).open(path).ok())
        .or_else(|| OpenOptions::new().write(true).open("/dev/null").ok())
        .and_then(|file| gag::Redirect::stderr(file).ok())
}
