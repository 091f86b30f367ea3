//! Terminal hygiene: enter the full-screen mode, and always leave it again, on return,
//! on error, and on panic, before anything is printed; keep stray stderr output off the
//! screen; read keys without blocking the async side. Shared by the full-screen commands.

use std::fs::{File, OpenOptions};
use std::io::{self, Stdout, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::{self, Event};
use crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

/// Full-screen UIs redraw at most this often, however many changes arrive.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);

/// What a full-screen loop works with: the terminal, its input events, and the redraw
/// timer (a change only marks the screen dirty; the next tick draws it).
pub struct Screen {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
    pub input: mpsc::Receiver<Event>,
    pub ticks: tokio::time::Interval,
}

impl Screen {
    /// Opens the screen on stdout (inside a [`TerminalGuard`], in a tokio runtime).
    pub fn open() -> io::Result<Screen> {
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        let (tx, input) = mpsc::channel(64);
        spawn_input_reader(tx)?;
        let mut ticks = tokio::time::interval(FRAME_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Ok(Screen {
            terminal,
            input,
            ticks,
        })
    }
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
/// panic hook; does nothing if we never changed the terminal.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    // End synchronized output and reset colours in case a frame was cut short.
    let _ = out.write_all(b"\x1b[?2026l\x1b[0m");
    let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

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
/// C libraries (OpenH264, later ALSA) print there. Dropping the redirect restores stderr.
pub fn quiet_stderr(log_file: Option<&Path>) -> Option<gag::Redirect<File>> {
    log_file
        .and_then(|path| OpenOptions::new().append(true).create(true).open(path).ok())
        .or_else(|| OpenOptions::new().write(true).open("/dev/null").ok())
        .and_then(|file| gag::Redirect::stderr(file).ok())
}

/// Terminal input blocks, so it is read on its own thread into `events`; the thread ends
/// when the receiver is dropped (checked every 100 ms) or input fails.
fn spawn_input_reader(events: mpsc::Sender<Event>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("packspaces-input".into())
        .spawn(move || {
            while !events.is_closed() {
                match event::poll(Duration::from_millis(100)) {
                    Ok(true) => match event::read() {
                        Ok(e) => {
                            if events.blocking_send(e).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        })?;
    Ok(())
}
