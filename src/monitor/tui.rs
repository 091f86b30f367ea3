//! `packspaces monitor` with its terminal UI: redraws when the roster or a connection
//! changes (at most 30 times a second), through the same output path as `join`, and quits
//! on q, Esc or Ctrl-C, when the terminal goes away, and on SIGHUP or SIGTERM. The terminal
//! guard restores the screen on every way out, errors included.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;

use super::{Monitor, MonitorConfig, view};
use crate::join::{ScreenOptions, print_summary};
use crate::output::{Drawn, OutputConfig};
use crate::render::ColorMode;
use crate::terminal::input::is_quit_key;
use crate::terminal::{Input, Screen, StopSignals, TerminalGuard, quiet_stderr};

/// Watches and shows the space until the user quits. Stray stderr output goes to
/// `log_sink` (the log file) or nowhere.
pub async fn run(
    config: MonitorConfig,
    screen: ScreenOptions,
    log_sink: Option<PathBuf>,
) -> anyhow::Result<()> {
    let space = config.space.label();
    let monitor = Monitor::start(config, None)
        .await
        .with_context(|| format!("cannot watch {space}"))?;
    let result = match TerminalGuard::enter().context("cannot set up the terminal") {
        Ok(guard) => {
            let quiet = quiet_stderr(log_sink.as_deref());
            let result = ui_loop(&monitor, &screen).await;
            drop(quiet);
            drop(guard);
            result
        }
        Err(e) => Err(e),
    };
    monitor.stop().await;
    print_summary(result)
}

async fn ui_loop(monitor: &Monitor, options: &ScreenOptions) -> anyhow::Result<Option<String>> {
    // No video: the colour mode only matters to the painters.
    let mut screen = Screen::open(OutputConfig::new(ColorMode::TrueColor, options.max_rate))?;
    let mut signals = StopSignals::new()?;
    let mut state = monitor.state.clone();
    let mut dirty = true;
    loop {
        tokio::select! {
            _ = screen.ticks.tick() => {
                match screen.follow_size() {
                    Ok(true) => dirty = true,
                    Ok(false) => {}
                    Err(_) => break,
                }
                if dirty {
                    // A copy, so that the runner never waits on a slow terminal.
                    let snapshot = state.borrow_and_update().clone();
                    match screen.output.draw(Instant::now(), |f| {
                        view::render(f, &snapshot);
                        Vec::new()
                    }) {
                        Ok(drawn) => dirty = drawn == Drawn::Busy,
                        Err(_) => break,
                    }
                }
            }
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                dirty = true;
            }
            input = screen.input.recv() => match input {
                None | Some(Input::Closed) => break,
                Some(Input::Key(key)) if is_quit_key(key) => break,
                Some(Input::StatusReport) => screen.output.status_answered(Instant::now()),
                Some(Input::Key(_)) => dirty = true,
            },
            _ = signals.next() => break,
        }
    }
    Ok(screen.close(options.stats))
}
