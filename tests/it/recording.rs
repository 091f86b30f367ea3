//! `--record` and `play FILE.cast`: the real demo in a pseudo-terminal (resized halfway)
//! records exactly the bytes its terminal received, with their times and the resize, as an
//! asciicast v2 file that is usable while it is being written; replayed through a fresh terminal emulator it ends on the
//! screen the session ended on, and so does `play --speed 50`; q stops `play` and the
//! terminal is restored; damaged recordings give one-line errors and a failure status,
//! never a panic, and a last line cut short (a killed recorder) plays up to there.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use common::vterm::VirtualTerminal;
use serde_json::Value;

/// The demo's terminal, and what it is resized to halfway.
const COLS: u16 = 120;
const ROWS: u16 = 36;
const RESIZED: (u16, u16) = (100, 30);
const ENTER_ALTERNATE: &[u8] = b"\x1b[?1049h";
const LEAVE_ALTERNATE: &[u8] = b"\x1b[?1049l";
const BIN: &str = env!("CARGO_BIN_EXE_packspaces");

/// One recorded demo session, shared by the tests that look at it (a demo takes seconds).
struct Session {
    _dir: tempfile::TempDir,
    cast: PathBuf,
    /// Every byte the session's terminal received.
    received: Vec<u8>,
    /// Events the file already held while the session was running.
    events_while_running: usize,
    /// When the demo first took the screen, when q was pressed, and the whole run.
    screen_to_q: Duration,
    run: Duration,
}

/// Runs `demo --record` in a 120x36 pseudo-terminal until both bots are live on screen,
/// resizes it to 100x30, lets a few seconds of video go by, then quits with q.
fn recorded_session() -> &'static Session {
    static SESSION: OnceLock<Session> = OnceLock::new();
    SESSION.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let cast = dir.path().join("demo.cast");
        let started = Instant::now();
        let argv = [
            BIN,
            "demo",
            "--bots",
            "2",
            "--no-audio",
            "--color",
            "truecolor",
            "--record",
            cast.to_str().unwrap(),
        ];
        let term = VirtualTerminal::spawn_keeping_output(&argv, COLS, ROWS, &[]);
        let timeout = Duration::from_secs(60);
        let on_screen = term
            .wait_for(timeout, vt100::Screen::alternate_screen)
            .unwrap_or_else(|| panic!("no screen:\n{}", term.screen().contents()));
        let live = term.wait_for(timeout, |s| {
            s.contents().contains("Grace live") && common::coloured_cells(s, false) > 400
        });
        assert!(live.is_some(), "screen:\n{}", term.screen().contents());
        let (cols, rows) = RESIZED;
        term.resize(cols, rows);
        let reflowed = term.wait_for(timeout, |s| {
            let last = s
                .rows(0, cols)
                .nth(usize::from(rows) - 1)
                .unwrap_or_default();
            last.contains("Tab select") && is_the_live_demo(s)
        });
        assert!(reflowed.is_some(), "screen:\n{}", term.screen().contents());

        // A few seconds of video, read from the file while the session runs: it is
        // flushed as it goes, so a session killed now would leave a recording that plays.
        let deadline = Instant::now() + timeout;
        let events_while_running = loop {
            let (events, seconds) = recorded_so_far(&cast);
            if events > 30 && seconds > 3.0 {
                break events;
            }
            assert!(
                Instant::now() < deadline,
                "the recording holds {events} events, {seconds} s, after a minute"
            );
            std::thread::sleep(Duration::from_millis(100));
        };

        let q = Instant::now();
        quit_with_q(&term);
        let run = started.elapsed();
        assert!(
            !term.screen().alternate_screen(),
            "the terminal was left on the alternate screen"
        );
        Session {
            cast,
            received: term.output(),
            events_while_running,
            screen_to_q: q - on_screen,
            run,
            _dir: dir,
        }
    })
}

/// How many events a recording being written holds so far, and the last one's time (a
/// last line being written may be cut short).
fn recorded_so_far(path: &Path) -> (usize, f64) {
    use packspaces::cast::{CastError, CastReader};
    let Ok(mut reader) = CastReader::open(path) else {
        return (0, 0.0);
    };
    let (mut events, mut seconds) = (0, 0.0);
    loop {
        match reader.next_event() {
            Ok(Some(event)) => {
                events += 1;
                seconds = event.time;
            }
            Ok(None) | Err(CastError::CutShort { .. }) => return (events, seconds),
            Err(e) => panic!("the recording while running: {e}"),
        }
    }
}

/// A recording read on the format's own terms (not through packspaces' reader).
struct Cast {
    header: Value,
    /// (time, code, data) of every event, in file order.
    events: Vec<(f64, String, String)>,
}

fn read_cast(path: &Path) -> Cast {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.ends_with('\n'),
        "a finished recording ends its last line"
    );
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let events = lines
        .enumerate()
        .map(|(i, line)| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {}: {e}: {line:.80}", i + 2));
            let [time, code, data] = v.as_array().unwrap().as_slice() else {
                panic!("line {}: not [time, code, data]: {line:.80}", i + 2)
            };
            (
                time.as_f64().unwrap(),
                code.as_str().unwrap().to_string(),
                data.as_str().unwrap().to_string(),
            )
        })
        .collect();
    Cast { header, events }
}

impl Cast {
    /// Everything the "o" events hold, in order.
    fn output(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter(|(_, code, _)| code == "o")
            .flat_map(|(_, _, data)| data.bytes())
            .collect()
    }

    /// Plays the events into a fresh terminal of the header's size: the screen just before
    /// the recording leaves the alternate screen (the session's last screen), and the
    /// terminal at the end.
    fn replay(&self) -> (Option<vt100::Screen>, vt100::Screen) {
        let rows = self.header["height"].as_u64().unwrap() as u16;
        let cols = self.header["width"].as_u64().unwrap() as u16;
        let mut parser = vt100::Parser::new(rows, cols, 0);
        let mut last = None;
        for (_, code, data) in &self.events {
            match code.as_str() {
                "o" => {
                    let bytes = data.as_bytes();
                    match find(bytes, LEAVE_ALTERNATE) {
                        Some(at) if last.is_none() => {
                            parser.process(&bytes[..at]);
                            last = Some(parser.screen().clone());
                            parser.process(&bytes[at..]);
                        }
                        _ => parser.process(bytes),
                    }
                }
                "r" => {
                    let (c, r) = data.split_once('x').unwrap();
                    parser
                        .screen_mut()
                        .set_size(r.parse().unwrap(), c.parse().unwrap());
                }
                other => panic!("unexpected event code {other:?}"),
            }
        }
        (last, parser.screen().clone())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What a terminal that received `bytes` showed just before it first left the alternate
/// screen: the last screen of the full-screen program, which cleared and redrew the whole
/// screen after the resize, so that parsing everything at the final size gives it.
fn last_full_screen(bytes: &[u8]) -> vt100::Screen {
    let end = find(bytes, LEAVE_ALTERNATE).expect("the program left the alternate screen");
    let mut parser = vt100::Parser::new(RESIZED.1, RESIZED.0, 0);
    parser.process(&bytes[..end]);
    assert!(parser.screen().alternate_screen());
    parser.screen().clone()
}

/// The two screens show the same text in the same colours and attributes, cell by cell.
fn assert_same_screen(got: &vt100::Screen, want: &vt100::Screen, what: &str) {
    assert_eq!(got.size(), want.size(), "{what}: size");
    let (rows, cols) = want.size();
    for row in 0..rows {
        for col in 0..cols {
            let (g, w) = (got.cell(row, col).unwrap(), want.cell(row, col).unwrap());
            assert!(
                g == w,
                "{what}: cell ({col},{row}) shows {:?} {:?}/{:?}, the session showed {:?} {:?}/{:?}\n{}",
                g.contents(),
                g.fgcolor(),
                g.bgcolor(),
                w.contents(),
                w.fgcolor(),
                w.bgcolor(),
                got.contents()
            );
        }
    }
    assert_eq!(got.contents(), want.contents(), "{what}");
}

/// Both bots live, with pictures.
fn is_the_live_demo(screen: &vt100::Screen) -> bool {
    screen.contents().contains("Grace live") && common::coloured_cells(screen, false) > 300
}

#[test]
fn a_demo_recording_holds_exactly_what_its_terminal_received_with_their_times() {
    let session = recorded_session();
    let cast = read_cast(&session.cast);

    let h = &cast.header;
    assert_eq!(h["version"], 2, "{h}");
    assert_eq!(
        (h["width"].as_u64(), h["height"].as_u64()),
        (Some(120), Some(36))
    );
    assert_eq!(h["env"]["TERM"], "xterm-256color", "{h}");
    assert_eq!(h["title"], "packspaces demo", "{h}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stamp = h["timestamp"].as_u64().expect("a Unix time");
    assert!(now.abs_diff(stamp) < 600, "timestamp {stamp}, now {now}");

    // Byte for byte what the pseudo-terminal delivered, from the setup of the screen to
    // its restore (before it, the demo's "starting…" line, which is not the screen's).
    let output = cast.output();
    assert!(output.starts_with(ENTER_ALTERNATE));
    assert!(output.ends_with(LEAVE_ALTERNATE));
    assert!(output.len() > 10_000, "{} bytes", output.len());
    assert!(
        session.received.ends_with(&output),
        "the recording ({} bytes) is not what the terminal received ({} bytes)",
        output.len(),
        session.received.len()
    );
    assert!(
        session.events_while_running > 10,
        "the file was not flushed as it went"
    );

    // Times: microseconds, never back, from the start of the screen to its end.
    let times: Vec<f64> = cast.events.iter().map(|e| e.0).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times go back");
    assert!(times[0] < 1.0, "the screen's setup at {} s", times[0]);
    let duration = *times.last().unwrap();
    // The recording began before the terminal saw the screen, and ended after q.
    assert!(
        duration > session.screen_to_q.as_secs_f64(),
        "{duration} s recorded, {:?} from the first screen to q",
        session.screen_to_q
    );
    assert!(
        duration < session.run.as_secs_f64(),
        "{duration} s recorded in a run of {:?}",
        session.run
    );
    let frames = cast.events.iter().filter(|e| e.1 == "o").count();
    assert!(frames > 20, "{frames} output events");
    let resizes: Vec<&str> = cast
        .events
        .iter()
        .filter(|e| e.1 == "r")
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(resizes, ["100x30"]);
}

#[test]
fn the_recording_replays_to_the_screen_the_session_ended_on() {
    let session = recorded_session();
    let live = last_full_screen(&session.received);
    // Not two blank screens: the demo at its new size.
    assert!(is_the_live_demo(&live), "{}", live.contents());
    assert_eq!(live.size(), (RESIZED.1, RESIZED.0));
    let (last, end) = read_cast(&session.cast).replay();
    assert_same_screen(
        &last.expect("the recording leaves the screen"),
        &live,
        "replay",
    );
    // And it leaves the terminal as it found it.
    assert!(!end.alternate_screen() && !end.hide_cursor());
}

#[test]
fn play_at_fifty_times_the_speed_ends_on_the_same_screen() {
    let session = recorded_session();
    let cast = read_cast(&session.cast);
    let duration = cast.events.last().unwrap().0;
    let started = Instant::now();
    let argv = [BIN, "play", session.cast.to_str().unwrap(), "--speed", "50"];
    let term = VirtualTerminal::spawn_keeping_output(&argv, COLS, ROWS, &[]);
    let status = term.wait_exit(Duration::from_secs(60));
    let took = started.elapsed();
    assert!(
        status.as_ref().is_some_and(|s| s.success()),
        "play: {status:?}"
    );
    assert!(term.wait_eof(Duration::from_secs(5)));
    // Its pace: a fiftieth of the recording (seconds long), plus starting up: well under
    // the recording's own length.
    assert!(duration > 2.0, "{duration} s");
    assert!(
        took.as_secs_f64() >= duration / 50.0 && took.as_secs_f64() < duration * 0.8,
        "played {duration} s in {took:?}"
    );
    let played = term.output();
    assert!(
        find(&played, &cast.output()).is_some(),
        "play did not send the recorded bytes as they are"
    );
    let live = last_full_screen(&session.received);
    assert_same_screen(&last_full_screen(&played), &live, "play --speed 50");
    let end = term.screen();
    assert!(!end.alternate_screen() && !end.hide_cursor());
}

#[test]
fn q_stops_a_looping_play_and_restores_the_terminal() {
    let session = recorded_session();
    let argv = [BIN, "play", session.cast.to_str().unwrap(), "--loop"];
    let term = VirtualTerminal::spawn(&argv, COLS, ROWS, &[]);
    let video = term.wait_for(Duration::from_secs(60), |s| {
        s.alternate_screen() && common::coloured_cells(s, false) > 400
    });
    assert!(video.is_some(), "screen:\n{}", term.screen().contents());
    let q = Instant::now();
    term.send(b"q");
    let status = term.wait_exit(Duration::from_secs(10));
    assert!(
        status.as_ref().is_some_and(|s| s.success()),
        "play after q: {status:?}"
    );
    assert!(q.elapsed() < Duration::from_secs(5), "{:?}", q.elapsed());
    assert!(term.wait_eof(Duration::from_secs(5)));
    let end = term.screen();
    assert!(!end.alternate_screen() && !end.hide_cursor());
}

/// A recording that cannot be written (a full disk: /dev/full) stops with a notice on the
/// screen; the session goes on, and says so again once the screen is gone.
#[test]
fn a_full_disk_stops_the_recording_not_the_session() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let argv = [
        BIN,
        "demo",
        "--bots",
        "1",
        "--no-audio",
        "--record",
        "/dev/full",
    ];
    let term = VirtualTerminal::spawn(&argv, COLS, ROWS, &[]);
    let timeout = Duration::from_secs(60);
    let notice = term.wait_for(timeout, |s| {
        s.alternate_screen() && s.contents().contains("recording stopped")
    });
    assert!(notice.is_some(), "screen:\n{}", term.screen().contents());
    let live = term.wait_for(timeout, |s| {
        s.contents().contains("Ada live") && common::coloured_cells(s, false) > 300
    });
    assert!(live.is_some(), "screen:\n{}", term.screen().contents());
    quit_with_q(&term);
    let text = term.screen().contents();
    assert!(
        text.contains("packspaces: recording stopped after 0.0 s: cannot write /dev/full: No space left on device"),
        "{text}"
    );
}

// Damaged recordings, through the real binary (no terminal: output goes to a pipe).

const HEADER: &str = "{\"version\": 2, \"width\": 80, \"height\": 24}\n";

/// Runs `play` on a file holding `text` (named `name`): (success, stdout, stderr).
fn play_text(name: &str, text: &[u8], args: &[&str]) -> (bool, Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let output = Command::cargo_bin("packspaces")
        .unwrap()
        .arg("play")
        .arg(&path)
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.success(), output.stdout, stderr)
}

/// `play` fails on `text` with one line naming the file and saying `want`.
fn assert_fails_with(text: &[u8], want: &str) {
    let (ok, _, stderr) = play_text("class.cast", text, &[]);
    assert!(!ok, "expected a failure: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("packspaces: cannot play ") && stderr.contains("class.cast: "),
        "{stderr}"
    );
    assert!(stderr.contains(want), "want {want:?} in {stderr:?}");
}

#[test]
fn damaged_recordings_give_one_line_errors_naming_the_line() {
    assert_fails_with(b"", "the file is empty");
    assert_fails_with(b"\x00\xffgarbage\n", "line 1: not an asciicast v2 header");
    assert_fails_with(
        b"{\"version\": 1, \"width\": 80, \"height\": 24, \"stdout\": []}\n",
        "line 1: asciicast version 1 is not supported",
    );
    assert_fails_with(
        b"{\"version\": 2, \"width\": 80}\n",
        "line 1: the header's \"height\" must be",
    );
    let good = "[0.001, \"o\", \"a\"]\n";
    for (events, want) in [
        ("{oops\n", "line 3: not valid JSON"),
        ("[0.002, \"o\"]\n", "line 3: an event is [time, code, data]"),
        (
            "[0.0001, \"o\", \"b\"]\n",
            "line 3: the time 0.0001 s is before",
        ),
        (
            "[0.002, \"r\", \"wide\"]\n",
            "line 3: a resize must be COLSxROWS",
        ),
        (
            "[0.002, \"o\", \"cut\n[0.003, \"o\", \"b\"]\n",
            "line 3: not valid JSON",
        ),
    ] {
        assert_fails_with(format!("{HEADER}{good}{events}").as_bytes(), want);
    }
    // A line longer than any recording needs is refused without being held whole.
    let long = format!("{HEADER}[0, \"o\", \"{}\"]\n", "x".repeat(9 << 20));
    assert_fails_with(long.as_bytes(), "line 2 is longer than 8 MiB");
}

#[test]
fn a_last_line_cut_short_plays_up_to_there_with_a_warning() {
    let text =
        format!("{HEADER}[0, \"o\", \"\\u001b[2Jab\"]\n[0.01, \"o\", \"▀c\"]\n[0.02, \"o\", \"d");
    let (ok, stdout, stderr) = play_text("killed.cast", text.as_bytes(), &[]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "\x1b[2Jab▀c".as_bytes());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("packspaces: warning: ")
            && stderr.contains("killed.cast: line 4 is cut short"),
        "{stderr}"
    );
}

#[test]
fn a_recording_is_known_by_its_header_and_video_options_are_refused_for_it() {
    // Any name: the first line says it is a recording; the bytes go out as they are.
    let text = format!("{HEADER}[0, \"o\", \"\\u001b[31mred\"]\n[0.01, \"o\", \"\\r\\n\"]\n");
    let (ok, stdout, stderr) = play_text("lesson.rec", text.as_bytes(), &["--speed", "100"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, b"\x1b[31mred\r\n");

    let (ok, _, stderr) = play_text("lesson.cast", text.as_bytes(), &["--fps", "10"]);
    assert!(
        !ok && stderr.contains("cannot play") && stderr.contains("--fps"),
        "{stderr}"
    );
    let video = std::fs::read(common::fixture("quadrants.y4m")).unwrap();
    let (ok, _, stderr) = play_text("clip.y4m", &video, &["--speed", "2"]);
    assert!(
        !ok && stderr.contains("--speed") && stderr.contains("--fps"),
        "{stderr}"
    );
}

#[test]
fn a_recording_that_cannot_be_created_stops_the_demo_before_it_starts() {
    let output = Command::cargo_bin("packspaces")
        .unwrap()
        .args([
            "demo",
            "--no-audio",
            "--record",
            "/nonexistent/dir/class.cast",
        ])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(
        stderr.trim_end(),
        "packspaces: cannot record to /nonexistent/dir/class.cast: No such file or directory (os error 2)"
    );
}

/// Presses `q` and waits for the demo to exit cleanly and its output to end.
fn quit_with_q(term: &VirtualTerminal) {
    term.send(b"q");
    let status = term.wait_exit(Duration::from_secs(30));
    assert!(
        status.as_ref().is_some_and(|s| s.success()),
        "demo after q: {status:?}"
    );
    assert!(term.wait_eof(Duration::from_secs(5)));
}
