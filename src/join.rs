//! `packspaces join`: the session behind a full-screen terminal UI. Keys become actions on
//! the state; the screen is redrawn at most 30 times a second, and only when something
//! changed, however many videos arrive, through the one output path (`crate::output`)
//! within its byte caps. A key's answer is drawn at once. The screen closes cleanly on
//! `q`, when the terminal goes away, and on SIGHUP or SIGTERM.

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cast::Recorder;
use crate::output::{Drawn, MaxRate, OutputConfig};
use crate::render::I420Frame;
use crate::session::{Session, SessionConfig};
use crate::terminal::{Input, Screen, StopSignals, TerminalGuard};
use crate::ui::{Effect, view};

/// How the full-screen commands write the screen (`--max-rate`, `--stats`, `--record`).
#[derive(Debug, Clone)]
pub struct ScreenOptions {
    pub max_rate: MaxRate,
    /// Print the output's figures (kbit/s, video fps, bytes per cell) when leaving.
    pub stats: bool,
    /// Record everything the terminal receives (`--record`).
    pub record: Option<Recorder>,
}

impl Default for ScreenOptions {
    fn default() -> Self {
        Self {
            max_rate: MaxRate::Unlimited,
            stats: false,
            record: None,
        }
    }
}

/// Joins and runs the UI until the user quits (or the terminal goes away, or a SIGHUP or
/// SIGTERM arrives: each a clean leave). Stray stderr output goes to `log_sink` (the log
/// file) or nowhere.
pub async fn run(
    config: SessionConfig,
    screen: ScreenOptions,
    log_sink: Option<PathBuf>,
) -> anyhow::Result<()> {
    let space = config.space.label();
    // C libraries (OpenH264, ALSA) print to stderr; keep that off the UI's screen. ALSA
    // speaks as soon as the session opens the sound devices, so quiet it first.
    let quiet = crate::terminal::quiet_stderr(log_sink.as_deref());
    let session = Session::start(config)
        .await
        .with_context(|| format!("cannot join {space}"))?;
    let result = run_ui(&session, &screen).await;
    drop(quiet);
    session.leave().await;
    print_summary(result)
}

/// Prints the `--stats` summary (if any) once the screen is ours no more.
pub fn print_summary(result: anyhow::Result<Option<String>>) -> anyhow::Result<()> {
    if let Some(summary) = result? {
        // The terminal may be gone (a dropped SSH link): nothing to do if this fails.
        let _ = writeln!(io::stderr(), "{summary}");
    }
    Ok(())
}

/// Runs the full-screen UI of a started session until the user quits; the terminal is
/// restored however it ends. (Also the demo's screen.) The caller keeps stderr quiet.
/// Returns what to print once the screen is back: the `--stats` summary when asked for,
/// and why a recording stopped, if it did.
pub async fn run_ui(session: &Session, options: &ScreenOptions) -> anyhow::Result<Option<String>> {
    let guard = TerminalGuard::enter_recorded(options.record.clone())
        .context("cannot set up the terminal")?;
    let result = ui_loop(session, options).await;
    // Records the restore and closes the recording.
    drop(guard);
    let failure = options.record.as_ref().and_then(Recorder::failure);
    result.map(|summary| match (summary, failure) {
        (Some(summary), Some(failure)) => Some(format!("{summary}\npackspaces: {failure}")),
        (summary, None) => summary,
        (None, Some(failure)) => Some(format!("packspaces: {failure}")),
    })
}

/// Why the screen closed.
#[derive(Debug)]
enum Ending {
    Quit,
    TerminalGone(String),
    Signal(&'static str),
}

async fn ui_loop(session: &Session, options: &ScreenOptions) -> anyhow::Result<Option<String>> {
    let color = session.shared.state().color;
    let mut config = OutputConfig::new(color, options.max_rate);
    config.measure_error = options.stats;
    let mut screen = Screen::open_recorded(config, options.record.clone())?;
    let mut signals = StopSignals::new()?;
    let mut dirty = true;
    let mut status_shown: Option<Instant> = None;
    let mut changes = session.shared.watch();
    let (cols, rows) = screen.output.size();
    session.shared.update(|state| state.set_screen(cols, rows));
    let ending = loop {
        tokio::select! {
            _ = screen.ticks.tick() => {
                let now = Instant::now();
                match screen.follow_size() {
                    Ok(true) => {
                        let (cols, rows) = screen.output.size();
                        session.shared.update(|state| state.set_screen(cols, rows));
                        dirty = true;
                    }
                    Ok(false) => {}
                    Err(e) => break Ending::TerminalGone(e.to_string()),
                }
                dirty |= session.shared.update_if(|state| state.expire_notice(now));
                // A recording that stopped (a full disk) says so; the session goes on.
                if let Some(why) = options.record.as_ref().and_then(Recorder::take_notice) {
                    session.shared.update(|state| state.notify(&why));
                    dirty = true;
                }
                if status_shown.is_none_or(|at| now.saturating_duration_since(at) >= STATUS_EVERY) {
                    let status = screen.output.status(now);
                    session.shared.update(|state| state.output = Some(status));
                    status_shown = Some(now);
                    dirty = true;
                }
                if dirty || screen.output.pending() {
                    match redraw(&mut screen, session, now) {
                        Ok(drawn) => dirty &= drawn == Drawn::Busy,
                        Err(e) => break Ending::TerminalGone(e.to_string()),
                    }
                }
            }
            _ = changes.changed() => dirty = true,
            input = screen.input.recv() => {
                let key = match input {
                    None | Some(Input::Closed) => break Ending::TerminalGone("input closed".into()),
                    Some(Input::StatusReport) => {
                        screen.output.status_answered(Instant::now());
                        continue;
                    }
                    Some(Input::Key(key)) => key,
                };
                let Some(action) = session.shared.state().action_for(key) else { continue };
                let effect = session.shared.update(|state| state.apply(action));
                match effect {
                    Some(Effect::Quit) => break Ending::Quit,
                    Some(Effect::SaveFrame(peer)) => {
                        let notice = match save_frame(session, &peer) {
                            Ok(path) => format!("saved {}", path.display()),
                            Err(e) => format!("could not save: {e:#}"),
                        };
                        session.shared.update(|state| state.notify(&notice));
                    }
                    Some(Effect::MediaChanged) => session.apply_controls(),
                    Some(Effect::Say(text)) if !session.say(&text).await => {
                        session.shared.update(|state| state.notify("could not send: the session has stopped"));
                    }
                    Some(Effect::Say(_)) => {}
                    None => {}
                }
                // A key's answer goes out now, ahead of the next tick's video.
                match redraw(&mut screen, session, Instant::now()) {
                    Ok(drawn) => dirty = drawn == Drawn::Busy,
                    Err(e) => break Ending::TerminalGone(e.to_string()),
                }
            }
            signal = signals.next() => break Ending::Signal(signal),
        }
    };
    match &ending {
        Ending::Quit => {}
        Ending::TerminalGone(why) => tracing::info!("the terminal went away ({why}): leaving"),
        Ending::Signal(name) => tracing::info!("{name}: leaving"),
    }
    Ok(screen.close(options.stats))
}

/// How often the status bar's output figures are refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(1);

fn redraw(screen: &mut Screen, session: &Session, now: Instant) -> io::Result<Drawn> {
    let state = session.shared.state().clone();
    screen.output.draw(now, |f| view::render(f, &state))
}

/// Saves a participant's current frame, at full decoded resolution, as a PNG in the
/// current directory.
fn save_frame(session: &Session, peer: &str) -> anyhow::Result<PathBuf> {
    let (frame, label) = {
        let state = session.shared.state();
        let p = state
            .room
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
