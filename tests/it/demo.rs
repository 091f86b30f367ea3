//! `packspaces demo`: three bots show up live in their own colours on the demo's screen,
//! the status bar says where browsers join, the focus keys zoom and return; and a Chromium
//! page opened at that address (the page's libraries served from the binary, no
//! internet) sees every bot's card.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use packspaces::demo::{BOT_NAMES, Demo, DemoConfig};
use packspaces::media::testcard::PALETTES;
use packspaces::model::TileState;
use packspaces::render::Rgb;
use packspaces::ui::{Effect, State, action_for_key, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

const BOTS: usize = 3;

fn config() -> DemoConfig {
    DemoConfig {
        bots: BOTS,
        udp_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        // Sound is tested on its own (tests/audio_*.rs); here its device notices would
        // cover the key hints this test reads.
        audio: packspaces::audio::AudioConfig::OFF,
        ..DemoConfig::default()
    }
}

/// Waits until every bot is live with a picture.
async fn all_bots_live(demo: &Demo) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = demo
            .session
            .shared
            .state()
            .room
            .participants
            .iter()
            .filter(|p| p.state == TileState::Live && p.frame.is_some())
            .count();
        if live == BOTS {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {live} of {BOTS} bots went live within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn screen(state: &State) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    terminal
        .draw(|f| view::render_with_video(f, state))
        .unwrap();
    terminal.backend().buffer().clone()
}

/// Cells whose both halves show `c` (within the encoders' error).
fn cells_showing(buf: &Buffer, c: Rgb) -> usize {
    let near = |col: Color| match col {
        Color::Rgb(r, g, b) => r.abs_diff(c.r) < 30 && g.abs_diff(c.g) < 30 && b.abs_diff(c.b) < 30,
        _ => false,
    };
    buf.content()
        .iter()
        .filter(|cell| cell.symbol() == "▀" && near(cell.fg) && near(cell.bg))
        .count()
}

fn row_text(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

fn press(state: &mut State, code: KeyCode) -> Option<Effect> {
    let action = action_for_key(KeyEvent::new(code, KeyModifiers::NONE)).unwrap();
    state.apply(action)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_every_bot_in_its_colours_and_zooms_on_request() {
    let demo = Demo::start(&config()).await.unwrap();
    all_bots_live(&demo).await;
    let mut state = demo.session.shared.state().clone();
    let buf = screen(&state);

    assert!(
        row_text(&buf, 0).contains(&format!("join: {}", demo.browser_url)),
        "status bar: {}",
        row_text(&buf, 0)
    );
    assert!(demo.browser_url.ends_with("/demo"), "{}", demo.browser_url);
    for (i, name) in BOT_NAMES.iter().take(BOTS).enumerate() {
        let n = cells_showing(&buf, PALETTES[i].background);
        // A 2x2 grid of 160x48 leaves each tile about 60x22 cells, most of it background.
        assert!(n > 300, "{name}'s colour shows on only {n} cells");
    }
    // Our self view, in the first colour no bot has.
    assert!(cells_showing(&buf, PALETTES[BOTS].background) > 300);

    // Tab to Grace, zoom with Enter: her colour fills the screen, nobody else's shows.
    let grace = state
        .room
        .participants
        .iter()
        .position(|p| p.label() == "Grace")
        .unwrap();
    while state.selected != grace {
        press(&mut state, KeyCode::Tab);
    }
    press(&mut state, KeyCode::Enter);
    let zoomed = screen(&state);
    let big = cells_showing(&zoomed, PALETTES[1].background);
    assert!(big > 2500, "zoomed, Grace shows on only {big} cells");
    for other in [0, 2, BOTS] {
        assert_eq!(cells_showing(&zoomed, PALETTES[other].background), 0);
    }
    assert!(row_text(&zoomed, 47).contains("Esc back to the grid"));

    // Esc: back to the grid; `f` zooms too, arrows move the selection.
    press(&mut state, KeyCode::Esc);
    let grid = screen(&state);
    for palette in &PALETTES[..=BOTS] {
        assert!(cells_showing(&grid, palette.background) > 300);
    }
    press(&mut state, KeyCode::Right);
    press(&mut state, KeyCode::Char('f'));
    assert!(state.focused);
    let shown = state.selected().unwrap().label().to_string();
    let palette = BOT_NAMES.iter().position(|n| *n == shown).unwrap();
    assert!(cells_showing(&screen(&state), PALETTES[palette].background) > 2500);
    assert_eq!(press(&mut state, KeyCode::Char('q')), Some(Effect::Quit));

    demo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_space_name_is_refused_before_anything_starts() {
    let mut config = config();
    config.space = "no spaces/here".into();
    let error = Demo::start(&config).await.err().unwrap().to_string();
    assert!(error.contains("not a space name"), "{error}");
}

/// Mean colour near the left edge of a page tile (see remoteTiles in lib.mjs).
fn tile_colour(tile: &serde_json::Value) -> Option<Rgb> {
    let rgb: Vec<u8> = tile["rgb"]
        .as_array()?
        .iter()
        .filter_map(|x| x.as_u64().map(|x| x as u8))
        .collect();
    (rgb.len() == 3).then(|| Rgb::new(rgb[0], rgb[1], rgb[2]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_at_the_demo_address_sees_every_bot_with_no_internet() {
    a_browser_sees_every_bot(false).await;
}

/// `demo --tls self-signed`: the same over HTTPS (a browser on another machine needs it for
/// its camera); the demo's own sessions pin its certificate, Chromium trusts its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_at_the_https_demo_address_sees_every_bot() {
    a_browser_sees_every_bot(true).await;
}

async fn a_browser_sees_every_bot(https: bool) {
    use packspaces::tls::certificate::{ServerCertificate, names_for};
    if !common::node_tools_ready("playwright-core", &["/usr/bin/chromium"]) {
        return;
    }
    let _turn = common::browser_turn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    let mut env = Vec::new();
    if https {
        let names = names_for(IpAddr::V4(Ipv4Addr::LOCALHOST), &[]);
        let (certificate, _) = ServerCertificate::self_signed(dir.path(), &names).unwrap();
        env.push(("CHROMIUM_SPKI", certificate.spki_pin().to_string()));
        config.tls = Some(std::sync::Arc::new(certificate));
    }
    let demo = Demo::start(&config).await.unwrap();
    assert_eq!(
        demo.browser_url.starts_with("https://"),
        https,
        "{}",
        demo.browser_url
    );
    all_bots_live(&demo).await;
    let url = format!("{}?name=Student", demo.browser_url);
    let check = tokio::task::spawn_blocking(move || {
        // The page loads peerjs and socket.io from the demo's own server (/vendor/).
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = common::page::Page::open_with_env("browser-peer.mjs", &url, None, &env);
        page.wait("every bot's card", Duration::from_secs(60), |v| {
            v["event"] == "remotes"
                && BOT_NAMES.iter().take(BOTS).enumerate().all(|(i, name)| {
                    v["remotes"].as_array().is_some_and(|tiles| {
                        tiles.iter().any(|t| {
                            let want = PALETTES[i].background;
                            t["label"].as_str().is_some_and(|l| l.starts_with(name))
                                && tile_colour(t).is_some_and(|c| {
                                    c.r.abs_diff(want.r) < 30
                                        && c.g.abs_diff(want.g) < 30
                                        && c.b.abs_diff(want.b) < 30
                                })
                        })
                    })
                })
        });
    });
    tokio::time::timeout(Duration::from_secs(90), check)
        .await
        .expect("the page check finished within 90 s")
        .unwrap();
    demo.stop().await;
}
