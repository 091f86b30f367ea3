//! `packspaces join`: the session behind a full-screen terminal UI. Keys become actions on
//! the state; the screen is redrawn at most 30 times a second, and only when something
//! changed, however many videos arrive.

use std::io::{self, Stdout};
use std::path::PathBuf;

use anyhow::Context as _;
use crossterm::event::Event;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::render::I420Frame;
use crate::session::{Session, SessionConfig};
use crate::terminal::{Screen, TerminalGuard};
use crate::ui::{Action, Effect, action_for_key, view};

/// Joins and runs the UI until the user quits. Stray stderr output goes to `log_sink`
/// (the log file) or nowhere.
pub async fn run(config: SessionConfig, log_sink: Option<PathBuf>) -> anyhow::Result<()> {
    let space = config.space.label();
    // C libraries (OpenH264, ALSA) print to stderr; keep that off the UI's screen. ALSA
    // speaks as soon as the session opens the sound devices, so quiet it first.
    let quiet = crate::terminal::quiet_stderr(log_sink.as_deref());
    let session = Session::start(config)
        .await
        .with_context(|| format!("cannot join {space}"))?;
    let result = run_ui(&session).await;
    drop(quiet);
    session.leave().await;
    result
}

/// Runs the full-screen UI of a started session until the user quits; the terminal is
/// restored however it ends. (Also the demo's screen.) The caller keeps stderr quiet.
pub async fn run_ui(session: &Session) -> anyhow::Result<()> {
    let guard = TerminalGuard::enter().context("cannot set up the terminal")?;
    let result = ui_loop(session).await;
    drop(guard);
    result
}

async fn ui_loop(session: &Session) -> anyhow::Result<()> {
    let Screen {
        mut terminal,
        input: mut keys,
        mut ticks,
    } = Screen::open()?;
    let mut dirty = true;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if session.shared.state().expire_notice(std::time::Instant::now()) {
                    dirty = true;
                }
                if dirty {
                    draw(&mut terminal, session)?;
                    dirty = false;
                }
            }
            _ = session.shared.changed.notified() => dirty = true,
            input = keys.recv() => {
                let Some(input) = input else { return Ok(()) };
                dirty = true;
                let Event::Key(key) = input else { continue };
                let Some(action) = action_for_key(key) else { continue };
                let effect = session.shared.state().apply(action);
                match effect {
                    Some(Effect::Quit) => return Ok(()),
                    Some(Effect::SaveFrame(peer)) => {
                        let saved = save_frame(session, &peer);
                        let mut state = session.shared.state();
                        match saved {
                            Ok(path) => state.notify(&format!("saved {}", path.display())),
                            Err(e) => state.notify(&format!("could not save: {e:#}")),
                        }
                    }
                    Some(Effect::MediaChanged) => session.apply_controls(),
                    None => {}
                }
                if action == Action::Quit {
                    return Ok(());
                }
            }
        }
    }
}

fn draw(terminal: &mut Terminal<CrosstermBackend<Stdout>>, session: &Session) -> io::Result<()> {
    let state = session.shared.state().clone();
    terminal.draw(|f| view::render(f, &state))?;
    Ok(())
}

/// Saves a participant's current frame, at full decoded resolution, as a PNG in the
/// current directory.
fn save_frame(session: &Session, peer: &str) -> anyhow::Result<PathBuf> {
    let (frame, label) = {
        let state = session.shared.state();
        let p = state
            .participants
            .iter()
            .find(|p| p.peer_id == peer)
            .context("they left")?;
        (
            p.frame.clone().context("no frame yet")?,
            p.label().to_string(),
        )
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    let path = PathBuf::from(format!("packspaces-{safe}-{stamp}.png"));
    write_png(&frame, &path)?;
    Ok(path)
}

/// Writes a frame as an RGB PNG.
pub fn write_png(frame: &I420Frame, path: &std::path::Path) -> anyhow::Result<()> {
    let (w, h) = (frame.width(), frame.height());
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let p = frame.pixel(x, y);
            rgb.extend_from_slice(&[p.r, p.g, p.b]);
        }
    }
    image::save_buffer(path, &rgb, w, h, image::ExtendedColorType::Rgb8)
        .with_context(|| format!("cannot write {}", path.display()))
}
