//! `packspaces play FILE.cast`: plays a recording back at its pace (or `--speed` times
//! faster). Each event's text goes to the terminal at its time exactly as recorded —
//! sending a recording's bytes to the terminal is what playing it means (asciinema does
//! the same); they were made by a terminal program and only reach the terminal. Around
//! them the terminal is in our own full-screen mode, so that q, Esc or Ctrl-C stop it and
//! the terminal is restored however playback ends. A recording's resizes cannot resize
//! the terminal, and are skipped.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::mpsc::Receiver;

use super::{CastError, CastReader, EventKind};
use crate::terminal::input::is_quit_key;
use crate::terminal::{Input, TerminalGuard, input, stdout_file};

/// How often keys are looked at while waiting for an event's time.
const INPUT_POLL: Duration = Duration::from_millis(5);

/// What the user asked for.
#[derive(Debug, Clone, Copy)]
pub struct CastOptions {
    /// 2 plays twice as fast.
    pub speed: f64,
    /// Start again at the end, until the user quits.
    pub looping: bool,
}

/// How one pass over the recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The last event was played.
    Finished { events: u64 },
    /// Played up to this line, which a killed recorder left cut short.
    CutShort { line: usize, events: u64 },
    /// The user quit (or whoever read our output went away).
    Quit,
}

/// Plays the recording at `path` on standard output. A bad header is an error before the
/// screen is touched; a damaged line later stops playback there with an error naming it.
pub fn run(path: &Path, options: &CastOptions) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let open = || CastReader::open(path);
    let mut reader = open().with_context(|| format!("cannot play {name}"))?;
    let header = reader.header().clone();
    tracing::info!(
        "playing {name}: a recording of {}x{}",
        header.width,
        header.height
    );
    let interactive = io::stdout().is_terminal();
    let mut out = stdout_file().context("cannot write to standard output")?;
    let mut keys = None;
    let mut guard = None;
    let mut size = None;
    if interactive {
        size = crossterm::terminal::size().ok();
        guard = Some(TerminalGuard::enter().context("cannot set up the terminal")?);
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        input::spawn_reader(tx)?;
        keys = Some(rx);
    }
    let result = (|| -> anyhow::Result<Ended> {
        loop {
            match replay(&mut reader, options.speed, &mut out, &mut keys)? {
                Ended::Finished { events } if options.looping && events > 0 => reader = open()?,
                ended => return Ok(ended),
            }
        }
    })();
    drop(guard);
    let ended = result.with_context(|| format!("cannot play {name}"))?;
    if let Ended::CutShort { line, .. } = ended {
        eprintln!(
            "packspaces: warning: {name}: {}; played what came before it",
            CastError::CutShort { line }
        );
    }
    if let Some((cols, rows)) = size
        && (cols < header.width || rows < header.height)
    {
        eprintln!(
            "packspaces: note: {name} was recorded at {}x{}, larger than this terminal ({cols}x{rows}): some of it did not fit",
            header.width, header.height
        );
    }
    Ok(())
}

/// Plays the events left in `reader` into `out`, each at its time divided by `speed`
/// after the call.
fn replay<R: BufRead>(
    reader: &mut CastReader<R>,
    speed: f64,
    out: &mut dyn Write,
    keys: &mut Option<Receiver<Input>>,
) -> anyhow::Result<Ended> {
    let start = Instant::now();
    let mut events = 0;
    loop {
        let event = match reader.next_event() {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(Ended::Finished { events }),
            Err(CastError::CutShort { line }) => return Ok(Ended::CutShort { line, events }),
            Err(e) => return Err(e.into()),
        };
        events += 1;
        let EventKind::Output(text) = event.kind else {
            continue;
        };
        // Times are at most 1e9 s and speed at least 0.01: this fits an Instant; if it
        // did not, the event would be played now rather than never.
        let due = Duration::try_from_secs_f64(event.time / speed)
            .ok()
            .and_then(|d| start.checked_add(d));
        if wait_until(due, keys) {
            return Ok(Ended::Quit);
        }
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            // Whoever read our output is gone (`play … | head`): the end, not an error.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Ended::Quit),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits for `due`, watching the keys; true when the user quits.
fn wait_until(due: Option<Instant>, keys: &mut Option<Receiver<Input>>) -> bool {
    loop {
        if let Some(keys) = keys {
            while let Ok(input) = keys.try_recv() {
                match input {
                    Input::Closed => return true,
                    Input::Key(key) if is_quit_key(key) => return true,
                    // The terminal answering status requests the recording holds.
                    Input::StatusReport | Input::Key(_) => {}
                }
            }
        }
        let Some(left) = due.and_then(|due| due.checked_duration_since(Instant::now())) else {
            return false;
        };
        let nap = if keys.is_some() {
            left.min(INPUT_POLL)
        } else {
            left
        };
        std::thread::sleep(nap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_played_in_order_at_its_pace_and_other_events_are_skipped() {
        let text = "{\"version\": 2, \"width\": 80, \"height\": 24}\n\
                    [0, \"o\", \"\\u001b[2Ja\"]\n[0.1, \"r\", \"90x30\"]\n[0.2, \"i\", \"q\"]\n\
                    [0.3, \"o\", \"b▀\"]\n";
        let mut reader = CastReader::new(text.as_bytes()).unwrap();
        let mut out = Vec::new();
        let started = Instant::now();
        let ended = replay(&mut reader, 3.0, &mut out, &mut None).unwrap();
        let took = started.elapsed();
        assert_eq!(ended, Ended::Finished { events: 4 });
        assert_eq!(out, "\x1b[2Jab▀".as_bytes());
        // 0.3 s at three times the speed.
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn a_last_line_cut_short_ends_playback_after_what_came_before() {
        let text =
            "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0, \"o\", \"a\"]\n[0, \"o\", \"b";
        let mut reader = CastReader::new(text.as_bytes()).unwrap();
        let mut out = Vec::new();
        let ended = replay(&mut reader, 1.0, &mut out, &mut None).unwrap();
        assert_eq!(ended, Ended::CutShort { line: 3, events: 1 });
        assert_eq!(out, b"a");
    }

    #[test]
    fn q_stops_playback_while_waiting() {
        let text = "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0, \"o\", \"a\"]\n[600, \"o\", \"b\"]\n";
        let mut reader = CastReader::new(text.as_bytes()).unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.try_send(Input::StatusReport).unwrap();
        let q = crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('q'),
            crossterm::event::KeyModifiers::NONE,
        );
        tx.try_send(Input::Key(q)).unwrap();
        let mut out = Vec::new();
        let started = Instant::now();
        let ended = replay(&mut reader, 1.0, &mut out, &mut Some(rx)).unwrap();
        assert_eq!(ended, Ended::Quit);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
