//! `packspaces monitor` with its terminal UI: redraws when the roster or a connection
//! changes (at most 30 times a second) and quits on q, Esc or Ctrl-C. The terminal guard
//! restores the screen on every way out, errors included.

use std::path::PathBuf;

use anyhow::Context as _;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{Monitor, MonitorConfig, view};
use crate::terminal::{Screen, TerminalGuard, quiet_stderr};

/// Watches and shows the space until the user quits. Stray stderr output goes to
/// `log_sink` (the log file) or nowhere.
pub async fn run(config: MonitorConfig, log_sink: Option<PathBuf>) -> anyhow::Result<()> {
    let space = config.space.label();
    let monitor = Monitor::start(config, None)
        .await
        .with_context(|| format!("cannot watch {space}"))?;
    let result = match TerminalGuard::enter().context("cannot set up the terminal") {
        Ok(guard) => {
            let quiet = quiet_stderr(log_sink.as_deref());
            let result = ui_loop(&monitor).await;
            drop(quiet);
            drop(guard);
            result
        }
        Err(e) => Err(e),
    };
    monitor.stop().await;
    result
}

async fn ui_loop(monitor: &Monitor) -> anyhow::Result<()> {
    let Screen {
        mut terminal,
        input: mut keys,
        mut ticks,
    } = Screen::open()?;
    let mut state = monitor.state.clone();
    let mut dirty = true;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if dirty {
                    // A copy, so that the runner never waits on a slow terminal.
                    let snapshot = state.borrow_and_update().clone();
                    terminal.draw(|f| view::render(f, &snapshot))?;
                    dirty = false;
                }
            }
            changed = state.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                dirty = true;
            }
            input = keys.recv() => match input {
                None => return Ok(()),
                Some(Event::Key(key)) if is_quit(key) => return Ok(()),
                Some(_) => dirty = true,
            },
        }
    }
}

fn is_quit(key: KeyEvent) -> bool {
    key.kind != KeyEventKind::Release
        && match key.code {
            KeyCode::Char('q') | KeyCode::Esc => true,
            KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_esc_and_ctrl_c_quit() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(is_quit(key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(is_quit(key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(is_quit(key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!is_quit(key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!is_quit(key(KeyCode::Tab, KeyModifiers::NONE)));
    }
}
