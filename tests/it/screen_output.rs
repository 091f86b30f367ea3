//! The one output path, as a terminal emulator sees it: the conferencing screen goes
//! through `ScreenOutput` (ratatui chrome + the budgeted painters, one write per frame)
//! into `vt100`, and the test reads what a user would see: tile colours, text, a help
//! popup over video and the video back after it, a resize, caps that hold, and a terminal
//! that stops reading.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::visible;
use packspaces::model::TileState;
use packspaces::output::{Drawn, MaxRate, OutputConfig, ScreenOutput, SharedBytes};
use packspaces::render::{ColorMode, I420Frame, Rgb};
use packspaces::ui::{Action, State, layout, view};
use ratatui::layout::Rect;

const RED: Rgb = Rgb::new(255, 0, 0);
const BLUE: Rgb = Rgb::new(0, 0, 255);

fn solid(c: Rgb) -> Option<Arc<I420Frame>> {
    Some(Arc::new(I420Frame::solid(64, 48, c).unwrap()))
}

fn two_people() -> State {
    let mut s = State::new("127.0.0.1:3000 CSC342", ColorMode::TrueColor);
    s.room.our_id = Some("0123456789abcdef".into());
    s.room.our_name = Some("Me".into());
    s.room.self_view = solid(BLUE);
    let ada = s.room.upsert("ada-id");
    ada.set_name("Ada");
    ada.state = TileState::Live;
    ada.frame = solid(RED);
    s.room.upsert("bob-id").state = TileState::Connecting;
    s
}

/// A screen: the real output writing into memory, and the emulator reading it.
struct Screen {
    output: ScreenOutput,
    sink: SharedBytes,
    term: vt100::Parser,
    /// The pictures' keys and cells, as the last draw placed them.
    slots: Vec<(String, Rect)>,
}

impl Screen {
    fn new(cols: u16, rows: u16, config: OutputConfig) -> Screen {
        let sink = SharedBytes::default();
        Screen {
            output: ScreenOutput::new(Box::new(sink.clone()), cols, rows, config).unwrap(),
            sink,
            term: vt100::Parser::new(rows, cols, 0),
            slots: Vec::new(),
        }
    }

    fn truecolor(cols: u16, rows: u16) -> Screen {
        Screen::new(
            cols,
            rows,
            OutputConfig::new(ColorMode::TrueColor, MaxRate::Unlimited),
        )
    }

    /// Draws the state once (waiting for the writer), feeds the emulator; the bytes written.
    fn draw(&mut self, state: &State, now: Instant) -> usize {
        assert!(self.output.finish(Duration::from_secs(10)));
        let mut slots = Vec::new();
        let drawn = self
            .output
            .draw(now, |f| {
                let drawn = view::render(f, state);
                slots = drawn.iter().map(|s| (s.key.clone(), s.area)).collect();
                drawn
            })
            .unwrap();
        if drawn != Drawn::Busy {
            self.slots = slots;
        }
        assert!(self.output.finish(Duration::from_secs(10)));
        let bytes = self.sink.take();
        if std::env::var("SHOW_BYTES").is_ok() {
            eprintln!("{:?}", String::from_utf8_lossy(&bytes));
        }
        self.term.process(&bytes);
        match drawn {
            Drawn::Wrote(n) => assert_eq!(n, bytes.len()),
            Drawn::Nothing => assert!(bytes.is_empty()),
            Drawn::Busy => panic!("the writer was idle"),
        }
        bytes.len()
    }

    /// Draws until nothing is left to refine (the caps may spread a picture over frames).
    fn settle(&mut self, state: &State, mut now: Instant) -> Instant {
        for _ in 0..200 {
            self.draw(state, now);
            if !self.output.pending() {
                return now;
            }
            now += Duration::from_millis(33);
        }
        panic!("the picture never settled");
    }

    fn text(&self) -> String {
        self.term.screen().contents()
    }

    /// Cells of `area` showing about `c` in both halves.
    fn cells_of(&self, area: Rect, c: Rgb) -> usize {
        let near = |col: vt100::Color| match col {
            vt100::Color::Rgb(r, g, b) => {
                r.abs_diff(c.r) <= 4 && g.abs_diff(c.g) <= 4 && b.abs_diff(c.b) <= 4
            }
            _ => false,
        };
        let screen = self.term.screen();
        let mut n = 0;
        for row in area.top()..area.bottom() {
            for col in area.left()..area.right() {
                if let Some((upper, lower)) = screen.cell(row, col).and_then(visible)
                    && near(upper)
                    && near(lower)
                {
                    n += 1;
                }
            }
        }
        n
    }
}

fn inner(r: Rect) -> Rect {
    Rect::new(
        r.x + 1,
        r.y + 1,
        r.width.saturating_sub(2),
        r.height.saturating_sub(2),
    )
}

/// The tiles of `n` pictures on a `w x h` screen (status and bottom bars, the list).
fn tiles(w: u16, h: u16, n: usize) -> Vec<Rect> {
    layout::grid(Rect::new(0, 1, w - 30, h - 2), n)
}

#[test]
fn tiles_and_chrome_arrive_in_one_synchronized_write_and_an_unchanged_screen_costs_nothing() {
    let (w, h) = (120, 40);
    let mut screen = Screen::truecolor(w, h);
    let state = two_people();
    let now = screen.settle(&state, Instant::now());
    let t = tiles(w, h, 3);
    let red = screen.cells_of(inner(t[1]), RED);
    let blue = screen.cells_of(inner(t[0]), BLUE);
    assert!(red > 100, "Ada's tile shows {red} red cells");
    assert!(blue > 100, "our tile shows {blue} blue cells");
    assert_eq!(
        screen.cells_of(inner(t[0]), RED),
        0,
        "no red outside Ada's tile"
    );
    let text = screen.text();
    for words in ["Ada · live", "bob-id · connecting", "Me (you)", "3 here"] {
        assert!(text.contains(words), "{words:?} missing:\n{text}");
    }
    // Nothing changed: nothing is written, not even an empty synchronized update.
    assert_eq!(screen.draw(&state, now + Duration::from_secs(1)), 0);
    // A new picture for Ada (same colour, new frame): only her tile could change, and
    // since it looks the same, nothing is written either.
    let mut again = state.clone();
    again.room.participant_mut("ada-id").unwrap().frame = solid(RED);
    assert_eq!(screen.draw(&again, now + Duration::from_secs(2)), 0);
    // A new colour is one write inside synchronized output.
    again.room.participant_mut("ada-id").unwrap().frame = solid(Rgb::new(0, 255, 0));
    let before = screen.output.stats().frames;
    screen.draw(&again, now + Duration::from_secs(3));
    assert_eq!(screen.output.stats().frames, before + 1);
    assert!(screen.cells_of(inner(t[1]), Rgb::new(0, 255, 0)) > 100);
}

#[test]
fn the_help_popup_covers_video_and_the_video_comes_back_whole() {
    let (w, h) = (100, 30);
    let mut screen = Screen::truecolor(w, h);
    let mut state = two_people();
    state.apply(Action::Focus);
    let now = screen.settle(&state, Instant::now());
    let videos = inner(Rect::new(0, 1, w - 30, h - 2));
    let full = screen.cells_of(videos, RED);
    assert!(full > 500, "the focused tile shows {full} red cells");

    state.apply(Action::ToggleHelp);
    let now = screen.settle(&state, now + Duration::from_millis(33));
    let text = screen.text();
    assert!(
        text.contains("save the selected video frame as PNG"),
        "{text}"
    );
    let covered = screen.cells_of(videos, RED);
    assert!(
        covered < full - 200,
        "the popup hides part of the video: {covered} of {full} red cells left"
    );

    state.apply(Action::ToggleHelp);
    screen.settle(&state, now + Duration::from_millis(33));
    assert_eq!(
        screen.cells_of(videos, RED),
        full,
        "after the popup the whole picture is back"
    );
    assert!(!screen.text().contains("save the selected video frame"));
}

/// Checks that `screen` shows exactly what a fresh screen of its size shows for `state`.
fn assert_same_as_fresh(screen: &Screen, state: &State, cols: u16, rows: u16, now: Instant) {
    let mut fresh = Screen::truecolor(cols, rows);
    fresh.settle(state, now);
    let (a, b) = (screen.term.screen(), fresh.term.screen());
    for row in 0..rows {
        for col in 0..cols {
            let (x, y) = (a.cell(row, col).unwrap(), b.cell(row, col).unwrap());
            // Pictures compare by the colours they show (▀ and ▄ can show the same).
            let seen = |c: &vt100::Cell| match visible(c) {
                Some(halves) => (String::new(), halves.0, halves.1),
                None => (c.contents().to_string(), c.fgcolor(), c.bgcolor()),
            };
            assert_eq!(
                seen(x),
                seen(y),
                "cell ({col},{row}) after the resize to {cols}x{rows}"
            );
        }
    }
}

#[test]
fn a_resize_reflows_the_tiles_and_leaves_nothing_half_drawn() {
    let mut screen = Screen::truecolor(120, 40);
    let mut state = two_people();
    let now = screen.settle(&state, Instant::now());
    screen.output.resize(90, 26).unwrap();
    screen.term.screen_mut().set_size(26, 90);
    let now = screen.settle(&state, now + Duration::from_millis(33));
    assert_same_as_fresh(&screen, &state, 90, 26, now);

    // One row taller: the zoomed picture keeps its place, but the screen was cleared.
    state.apply(Action::Focus);
    screen.output.resize(100, 60).unwrap();
    screen.term.screen_mut().set_size(60, 100);
    let now = screen.settle(&state, now + Duration::from_millis(33));
    screen.output.resize(100, 61).unwrap();
    screen.term.screen_mut().set_size(61, 100);
    let now = screen.settle(&state, now + Duration::from_millis(33));
    assert_same_as_fresh(&screen, &state, 100, 61, now);
}

#[test]
fn byte_caps_hold_per_frame_and_per_second_and_the_picture_still_completes() {
    let (w, h) = (160, 48);
    // 200 kbit/s: 25 kB/s, a frame at most a tenth of a second's worth.
    let config = OutputConfig::new(ColorMode::TrueColor, MaxRate::Fixed(200_000));
    let mut screen = Screen::new(w, h, config);
    let mut state = two_people();
    let t0 = Instant::now();
    let mut now = t0;
    let mut total = 0usize;
    let mut frames = 0;
    // Pictures that change everywhere, every frame, for 3 s.
    for i in 0..90u32 {
        let c = Rgb::new(
            (i * 37 % 256) as u8,
            (i * 91 % 256) as u8,
            (i * 13 % 256) as u8,
        );
        state.room.participant_mut("ada-id").unwrap().frame = solid(c);
        state.room.self_view = solid(Rgb::new(c.b, c.r, c.g));
        let video_before = screen.output.stats().video_bytes;
        let bytes = screen.draw(&state, now);
        let video = screen.output.stats().video_bytes - video_before;
        // Chrome always goes; video gets at most a tenth of a second's worth.
        assert!(
            video <= 2_500,
            "frame {i}: {video} video bytes over the cap"
        );
        if i > 0 {
            total += bytes;
        }
        frames += 1;
        now += Duration::from_millis(33);
    }
    let seconds = now.duration_since(t0).as_secs_f64() - 0.033;
    let rate = total as f64 * 8.0 / seconds;
    assert!(rate < 200_000.0 * 1.2, "{rate} bit/s over {frames} frames");
    // Once the pictures hold still, they complete within the cap.
    let end = screen.settle(&state, now);
    assert!(end.duration_since(now) < Duration::from_secs(5));
    let t = tiles(w, h, 3);
    assert!(
        screen.cells_of(
            inner(t[1]),
            state.room.participants[0]
                .frame
                .as_ref()
                .unwrap()
                .pixel(0, 0)
        ) > 100
    );
}

/// A terminal that stops reading until released.
#[derive(Clone, Default)]
struct Stalled {
    open: Arc<(Mutex<bool>, Condvar)>,
    bytes: SharedBytes,
}

impl Write for Stalled {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (lock, released) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = released.wait(open).unwrap();
        }
        self.bytes.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_terminal_that_stops_reading_holds_one_frame_and_resumes_at_the_newest() {
    let (w, h) = (120, 40);
    let stalled = Stalled::default();
    let config = OutputConfig::new(ColorMode::TrueColor, MaxRate::Unlimited);
    let mut output = ScreenOutput::new(Box::new(stalled.clone()), w, h, config).unwrap();
    let mut state = two_people();
    let mut now = Instant::now();
    assert!(matches!(
        output.draw(now, |f| view::render(f, &state)).unwrap(),
        Drawn::Wrote(_)
    ));
    // While the terminal reads nothing, every draw is refused at once: nothing piles up.
    for i in 0..300u32 {
        now += Duration::from_millis(33);
        let c = Rgb::new((i % 200) as u8, 50, 50);
        state.room.participant_mut("ada-id").unwrap().frame = solid(c);
        let started = Instant::now();
        assert_eq!(
            output.draw(now, |f| view::render(f, &state)).unwrap(),
            Drawn::Busy
        );
        assert!(started.elapsed() < Duration::from_secs(1), "draw blocked");
    }
    let newest = Rgb::new(0, 255, 0);
    state.room.participant_mut("ada-id").unwrap().frame = solid(newest);
    {
        let (lock, released) = &*stalled.open;
        *lock.lock().unwrap() = true;
        released.notify_all();
    }
    assert!(output.finish(Duration::from_secs(10)));
    let mut term = vt100::Parser::new(h, w, 0);
    for _ in 0..100 {
        now += Duration::from_millis(33);
        output.draw(now, |f| view::render(f, &state)).unwrap();
        assert!(output.finish(Duration::from_secs(10)));
        if !output.pending() {
            break;
        }
    }
    term.process(&stalled.bytes.take());
    let screen = Screen {
        output,
        sink: SharedBytes::default(),
        slots: Vec::new(),
        term,
    };
    let t = tiles(w, h, 3);
    assert!(
        screen.cells_of(inner(t[1]), newest) > 100,
        "the newest picture is shown after the stall"
    );
    assert!(
        screen.output.stats().frames < 20,
        "{} frames written: stalled ones were not queued",
        screen.output.stats().frames
    );
}

/// The real `demo` in a real pseudo-terminal: resizing re-flows the tiles over the whole
/// new screen, and SIGTERM ends it cleanly with the terminal restored and `--stats`
/// printed.
#[test]
fn the_demo_follows_resizes_and_ends_cleanly_on_sigterm() {
    use common::vterm::VirtualTerminal;
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let script = format!(
        "echo $$ > {}; exec {} demo --bots 2 --no-audio --color truecolor --stats",
        pid_file.path().display(),
        env!("CARGO_BIN_EXE_packspaces")
    );
    let term = VirtualTerminal::spawn(&["bash", "-c", &script], 120, 36, &[]);
    let timeout = Duration::from_secs(60);
    // The participant list says "Grace live" (with ♪ after it while she speaks, when sound
    // is built in: the demo's bots speak).
    let live = term.wait_for(timeout, |s| {
        s.contents().contains("Grace live") && common::coloured_cells(s, false) > 400
    });
    assert!(live.is_some(), "screen:\n{}", term.screen().contents());

    // Smaller, then larger than at first: the new rows and columns get tiles and bars.
    term.resize(90, 26);
    let small = term.wait_for(timeout, |s| {
        let last = s.rows(0, 90).nth(25).unwrap_or_default();
        last.contains("Tab select") && s.contents().contains("Grace live")
    });
    assert!(small.is_some(), "screen:\n{}", term.screen().contents());
    term.resize(150, 44);
    let large = term.wait_for(timeout, |s| {
        let last = s.rows(0, 150).nth(43).unwrap_or_default();
        // Pictures reach into the rows the first size did not have.
        let lower = (36..43)
            .flat_map(|row| (0..120).map(move |col| (row, col)))
            .filter_map(|(row, col)| s.cell(row, col))
            .filter_map(common::visible)
            .filter(|&(u, l)| u != vt100::Color::Default || l != vt100::Color::Default)
            .count();
        last.contains("q quit") && lower > 50
    });
    assert!(large.is_some(), "screen:\n{}", term.screen().contents());

    let pid: i32 = std::fs::read_to_string(pid_file.path())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = term.wait_exit(Duration::from_secs(15));
    assert!(
        status.as_ref().is_some_and(|s| s.success()),
        "demo after SIGTERM: {status:?}"
    );
    assert!(term.wait_eof(Duration::from_secs(5)));
    assert!(
        !term.screen().alternate_screen(),
        "the terminal was left on the alternate screen"
    );
    // --stats: what the output cost, printed once the screen is back.
    let text = term.screen().contents();
    assert!(
        text.contains("output: ")
            && text.contains("video fps")
            && text.contains("bytes per picture cell"),
        "no --stats summary:\n{text}"
    );
}

/// A 320x240 picture whose every 2x2 block has its own colour, new for every `seed`: each
/// cell costs a full colour change, as on a noisy camera.
fn speckled(seed: u32) -> I420Frame {
    let mut pixels = Vec::with_capacity(320 * 240);
    for y in 0..240u32 {
        for x in 0..320u32 {
            let h = (x / 2).wrapping_mul(2_654_435_761)
                ^ (y / 2).wrapping_mul(40_503)
                ^ seed.wrapping_mul(97_531);
            let h = h ^ (h >> 13);
            pixels.push(Rgb::new(h as u8, (h >> 8) as u8, (h >> 16) as u8));
        }
    }
    I420Frame::from_rgb(320, 240, &pixels).unwrap()
}

/// Under a tight rate, frames whose update would be too thin are skipped so the newest
/// picture gets a fuller one (a lower video frame rate); with `min_fill` 0 every frame
/// gets whatever the caps allow. (examples/rate_policy.rs measures which keeps the
/// displayed error lower.)
#[test]
fn a_tight_rate_lowers_the_video_frame_rate_instead_of_thinning_every_frame() {
    let updates = |min_fill: f32| {
        let mut config = OutputConfig::new(ColorMode::TrueColor, MaxRate::Fixed(500_000));
        config.min_fill = min_fill;
        let mut screen = Screen::new(160, 48, config);
        let mut state = State::new("x", ColorMode::TrueColor);
        let p = state.room.upsert("cam");
        p.state = TileState::Live;
        state.focused = true;
        let t0 = Instant::now();
        let mut drawn_with_video = 0;
        for i in 0..90u32 {
            state.room.participants[0].frame = Some(Arc::new(speckled(i)));
            let before = screen.output.stats().video_bytes;
            screen.draw(&state, t0 + Duration::from_millis(33) * i);
            if screen.output.stats().video_bytes > before {
                drawn_with_video += 1;
            }
        }
        drawn_with_video
    };
    let (thin, skipping) = (updates(0.0), updates(0.25));
    assert!(thin >= 85, "without skipping every frame draws: {thin}");
    assert!(
        skipping < thin / 2,
        "with min_fill 0.25 frames are skipped: {skipping} of 90 drew video"
    );
    assert!(skipping >= 9, "but video still moves: {skipping}");
}

/// The per-cell cap is sized by an estimate of what a cell costs; a picture whose cells
/// prove cheaper (flat areas reuse the pen) is not left half-drawn for that: the first
/// frame of two flat pictures shows both whole.
#[test]
fn a_flat_picture_is_whole_in_its_first_frame() {
    let mut screen = Screen::new(
        160,
        48,
        OutputConfig::new(ColorMode::TrueColor, MaxRate::Unlimited),
    );
    let state = two_people();
    screen.draw(&state, Instant::now());
    assert_eq!(screen.slots.len(), 2, "{:?}", screen.slots);
    for (key, picture) in &screen.slots {
        let colour = if key == view::OWN_TILE { BLUE } else { RED };
        assert_eq!(
            screen.cells_of(*picture, colour),
            picture.area() as usize,
            "{key}'s picture at {picture:?} is not whole after one frame"
        );
    }
}

/// Bytes per picture cell hold on average over everything written, the chrome (status
/// figures, names) included, not only over the pictures.
#[test]
fn the_per_cell_cap_counts_the_chrome_too() {
    let mut screen = Screen::truecolor(160, 48);
    let mut state = State::new("127.0.0.1:3000 CSC342", ColorMode::TrueColor);
    let p = state.room.upsert("cam");
    p.state = TileState::Live;
    let t0 = Instant::now();
    let (mut written, mut frames) = (0usize, 0usize);
    for i in 0..60u32 {
        let now = t0 + Duration::from_millis(33) * i;
        state.room.participants[0].frame = Some(Arc::new(speckled(i)));
        // New figures in the status bar now and then, and a new name, as in a call.
        if i % 10 == 0 {
            state.output = Some(screen.output.status(now));
            state.room.participants[0].set_name(&format!("camera {i}"));
        }
        written += screen.draw(&state, now);
        frames += 1;
    }
    let cells: usize = screen.slots.iter().map(|(_, r)| r.area() as usize).sum();
    let per_cell = written as f64 / (frames * cells) as f64;
    assert!(
        per_cell <= f64::from(packspaces::output::DEFAULT_BYTES_PER_CELL),
        "{per_cell:.3} bytes per picture cell per frame, chrome included"
    );
    assert!(
        per_cell > 8.0,
        "the noise should use the cap: {per_cell:.3}"
    );
}
