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

use crossterm::{cursor, execute, terminal};
use tokio::sync::mpsc;

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
        let (cols, rows) = terminal::size()?;
        let output = ScreenOutput::new(Box::new(stdout_file()?), cols, rows, config)?;
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

/// Holds the terminal in raw mode on the alternate screen with the cursor hidden;
/// dropping it restores the terminal.
#[derive(Debug)]
pub struct TerminalGuard(());

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        if let Err(e) = execute!(
            out,
            terminal::EnterAlternateScreen,
            cursor::Hide,
            terminal::Clear(terminal::ClearType::All)
        ) {
            restore();
            return Err(e);
        }
        Ok(TerminalGuard(()))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
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
            // End synchronized output and reset colours in case a frame was cut short.
            let _ = out.write_all(b"\x1b[?2026l\x1b[0m");
            let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
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
