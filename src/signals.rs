//! The signals that stop a command cleanly: SIGINT (Ctrl-C; in raw mode it arrives as a
//! key, so this is `kill -INT`), SIGTERM, and SIGHUP (the terminal or SSH link closed).
//! Every command that runs until stopped — the screens, `serve`, `bot`, `monitor --json` —
//! ends through here, so that it leaves its space and closes its calls.

use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The stop signals, taken over from their default (which would end the process at once).
pub struct StopSignals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    /// Takes over the three signals (inside a tokio runtime).
    pub fn new() -> io::Result<StopSignals> {
        Ok(StopSignals {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next of them to arrive, by name.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.hangup.recv() => "SIGHUP",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// Resolves when a stop signal arrives (Ctrl-C only, if the signals cannot be taken over).
/// For a single wait; a loop keeps one [`StopSignals`] instead, so that no signal falls
/// between two waits.
pub async fn stop_requested() {
    match StopSignals::new() {
        Ok(mut signals) => {
            let name = signals.next().await;
            tracing::info!("{name}: stopping");
        }
        Err(e) => {
            tracing::warn!("cannot watch for stop signals ({e}); waiting for Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
