//! Rust-only end to end: `packspaces serve`, two sessions sending test cards like bots, and
//! a third whose terminal UI (on a TestBackend) must show each bot's colours in its tile.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use packspaces::call::VideoCodec;
use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::media::testcard::PALETTES;
use packspaces::model::TileState;
use packspaces::server::{ServeOptions, start};
use packspaces::session::{CardSpec, Session, SessionConfig};
use packspaces::ui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

fn config(base: &str, name: &str, palette: usize, send: bool) -> SessionConfig {
    config_with(base, name, palette, send, &DEFAULT_PREFERENCE)
}

fn config_with(
    base: &str,
    name: &str,
    palette: usize,
    send: bool,
    codecs: &[VideoCodec],
) -> SessionConfig {
    let card = send.then(|| CardSpec {
        palette: PALETTES[palette],
        ..CardSpec::default()
    });
    common::loopback_session(base, "CSC342", name, card, codecs)
}

/// Cells on screen whose both halves are within 24 of `c` per channel.
fn cells_near(buf: &ratatui::buffer::Buffer, c: packspaces::render::Rgb) -> usize {
    let near = |col: Color| match col {
        Color::Rgb(r, g, b) => r.abs_diff(c.r) < 24 && g.abs_diff(c.g) < 24 && b.abs_diff(c.b) < 24,
        _ => false,
    };
    buf.content()
        .iter()
        .filter(|cell| cell.symbol() == "▀" && near(cell.fg) && near(cell.bg))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_sees_two_bots_in_their_colours() {
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let base = server.url();
    let red = Session::start(config(&base, "Red", 0, true)).await.unwrap();
    let blue = Session::start(config(&base, "Blue", 2, true))
        .await
        .unwrap();
    let viewer = Session::start(config(&base, "Viewer", 1, false))
        .await
        .unwrap();

    // Both bots call the newcomer; its tiles must go live with their pictures.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = {
            let s = viewer.shared.state();
            s.room
                .participants
                .iter()
                .filter(|p| p.state == TileState::Live && p.frame.is_some())
                .count()
        };
        if live == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {live} live tiles: {:#?}",
            viewer
                .shared
                .state()
                .room
                .participants
                .iter()
                .map(|p| (p.label().to_string(), p.state))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = viewer.shared.state().clone();
    let names: Vec<&str> = state.room.participants.iter().map(|p| p.label()).collect();
    assert!(
        names.contains(&"Red") && names.contains(&"Blue"),
        "names from metadata: {names:?}"
    );
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal
        .draw(|f| view::render_with_video(f, &state))
        .unwrap();
    let buf = terminal.backend().buffer();
    let red_cells = cells_near(buf, PALETTES[0].background);
    let blue_cells = cells_near(buf, PALETTES[2].background);
    assert!(red_cells > 150, "Red's colour on {red_cells} cells");
    assert!(blue_cells > 150, "Blue's colour on {blue_cells} cells");

    // The bots see each other by name too: Red was there first and called Blue (its name
    // in the offer's metadata), Blue answered (its name in our answer's metadata).
    for (who, other) in [(&red, "Blue"), (&blue, "Red")] {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !who
            .shared
            .state()
            .room
            .participants
            .iter()
            .any(|p| p.label() == other && p.state == TileState::Live)
        {
            assert!(
                Instant::now() < deadline,
                "{other} never went live for the other bot"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Leaving removes the tile on the other side.
    red.leave().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while viewer
        .shared
        .state()
        .room
        .participants
        .iter()
        .any(|p| p.label() == "Red")
    {
        assert!(Instant::now() < deadline, "Red's tile stayed after it left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    blue.leave().await;
    viewer.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_takes_only_vp8_sees_a_bot_over_vp8() {
    // The bot offers H.264 and VP8; the viewer answers VP8 only, so the bot's VP8 sender
    // (intra-only, or libvpx with the `libvpx` feature) and our pure-Rust VP8 decoder carry
    // the picture.
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let base = server.url();
    let bot = Session::start(config(&base, "Green", 1, true))
        .await
        .unwrap();
    let viewer = Session::start(config_with(&base, "Viewer", 0, false, &[VideoCodec::Vp8]))
        .await
        .unwrap();
    common::assert_first_frame_is_card(&viewer, &PALETTES[1]).await;
    bot.leave().await;
    viewer.leave().await;
}

/// The card background `who`'s newest frame shows.
fn background_of(viewer: &Session, who: &str) -> Option<packspaces::render::Rgb> {
    let state = viewer.shared.state();
    let p = state.room.participants.iter().find(|p| p.label() == who)?;
    p.frame.as_deref().map(common::card_background)
}

async fn wait_for_background(viewer: &Session, who: &str, want: packspaces::render::Rgb) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = background_of(viewer, who);
        if got.is_some_and(|p| common::near(p, want)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{who} never showed {want:?} (last {got:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_off_sends_the_grey_card_and_on_brings_the_picture_back() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use packspaces::media::testcard::OFF_PALETTE;
    use packspaces::ui::{Effect, action_for_key};

    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let base = server.url();
    let sender = Session::start(config(&base, "Sender", 3, true))
        .await
        .unwrap();
    let viewer = Session::start(config(&base, "Viewer", 0, false))
        .await
        .unwrap();
    wait_for_background(&viewer, "Sender", PALETTES[3].background).await;

    // `v` on the sender's screen, as its UI loop would handle it.
    let press_v = || {
        let action = action_for_key(KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE));
        let effect = sender.shared.update(|s| s.apply(action.unwrap()));
        assert_eq!(effect, Some(Effect::MediaChanged));
        sender.apply_controls();
    };
    press_v();
    assert_eq!(sender.shared.state().room.controls.summary(), "video off");
    wait_for_background(&viewer, "Sender", OFF_PALETTE.background).await;
    press_v();
    wait_for_background(&viewer, "Sender", PALETTES[3].background).await;

    sender.leave().await;
    viewer.leave().await;
    server.stop().await;
}

/// A class arriving at once: 30 participants (no video, as bots that show nothing) join
/// within a second, and every one of them ends up connected on the terminal, none
/// unreachable or still connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_peers_joining_within_a_second_are_all_answered() {
    let _turn = common::crowd_turn().await;
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let base = server.url();
    let viewer = Session::start(config(&base, "Viewer", 1, false))
        .await
        .unwrap();
    viewer.shared.update(|s| s.set_screen(160, 48));
    let started = Instant::now();
    let joining: Vec<_> = (0..30)
        .map(|i| {
            let mut quiet = config(&base, &format!("Student {i:02}"), 0, false);
            quiet.watched = false;
            tokio::spawn(Session::start(quiet))
        })
        .collect();
    let mut class = Vec::new();
    for join in joining {
        class.push(join.await.unwrap().unwrap());
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the class took {:?} to register",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let states: Vec<TileState> = viewer
            .shared
            .state()
            .room
            .participants
            .iter()
            .map(|p| p.state)
            .collect();
        // A call that connected shows live (waiting for a picture); one that ended would
        // show "no video" or "unreachable".
        let connected = states.iter().filter(|s| **s == TileState::Live).count();
        if connected == 30 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 90 s, {connected} of 30 are connected: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for student in class {
        student.leave().await;
    }
    viewer.leave().await;
    server.stop().await;
}

/// A peer that ignores what we ask for and sends 1920x1080 (our bots do not follow REMB or
/// b=AS) costs decoding, but on the decoder threads: the small bot's pictures keep coming,
/// with no gap longer than a second, while the big one's arrive at full size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_1080p_regardless_does_not_hold_up_another() {
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let base = server.url();
    let mut big = config(&base, "Big", 0, true);
    big.card = Some(CardSpec {
        width: 1920,
        height: 1080,
        palette: PALETTES[0],
        ..CardSpec::default()
    });
    let big = Session::start(big).await.unwrap();
    let small = Session::start(config(&base, "Small", 2, true))
        .await
        .unwrap();
    let viewer = Session::start(config(&base, "Viewer", 1, false))
        .await
        .unwrap();
    let newest = |who: &str| {
        let state = viewer.shared.state();
        let p = state.room.participants.iter().find(|p| p.label() == who)?;
        p.frame.clone()
    };
    // Both show first: the big one at its full size.
    let deadline = Instant::now() + Duration::from_secs(40);
    while !(newest("Big").is_some_and(|f| f.width() == 1920 && f.height() == 1080)
        && newest("Small").is_some())
    {
        assert!(
            Instant::now() < deadline,
            "both bots never showed (big {:?}, small {:?})",
            newest("Big").map(|f| (f.width(), f.height())),
            newest("Small").map(|f| (f.width(), f.height())),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Then for 8 s: every new small picture, and the longest wait between two.
    let (mut last_small, mut last_change) = (newest("Small").unwrap(), Instant::now());
    let (mut small_frames, mut big_frames, mut longest_gap) = (0, 0, Duration::ZERO);
    let mut last_big = newest("Big").unwrap();
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = newest("Small").unwrap();
        if !std::sync::Arc::ptr_eq(&now, &last_small) {
            longest_gap = longest_gap.max(last_change.elapsed());
            (last_small, last_change) = (now, Instant::now());
            small_frames += 1;
        }
        let now = newest("Big").unwrap();
        if !std::sync::Arc::ptr_eq(&now, &last_big) {
            last_big = now;
            big_frames += 1;
        }
    }
    longest_gap = longest_gap.max(last_change.elapsed());
    eprintln!(
        "in 8 s: {small_frames} small pictures (longest gap {longest_gap:?}), {big_frames} big"
    );
    assert!(big_frames > 0, "the big bot's pictures stopped");
    assert!(
        small_frames >= 40,
        "only {small_frames} small pictures in 8 s at 15 fps"
    );
    assert!(
        longest_gap < Duration::from_secs(1),
        "the small bot's picture froze for {longest_gap:?}"
    );
    assert!(
        common::near(common::card_background(&last_small), PALETTES[2].background),
        "the small bot's colours"
    );
    big.leave().await;
    small.leave().await;
    viewer.leave().await;
}
