//! Headless browsers and our session in one space, on `packspaces serve` and on the
//! workshop's Node backend beside npm `peer`, in both call directions. Chromium (peerjs 1.3.1 and 1.5.5, H.264): the terminal's tile must show the
//! camera file's four quadrants in their places. Firefox ESR (no H.264, so VP8 both ways):
//! the tile must show the colour the page reports its own camera had at about the same time
//! (it fades round the hue circle). In every case the page must receive our test card in a
//! tile labelled as the terminal. Skips without node/the browser, except under CI=true.

use crate::common;

use std::time::{Duration, Instant};

use common::page::{Browser, Page};
use common::{BLUE, GREEN, RED, WHITE};
use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::media::testcard::PALETTES;
use packspaces::model::TileState;
use packspaces::render::Rgb;
use packspaces::session::{CardSpec, Session, SessionConfig};
use packspaces::ui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

/// False when the tools are missing (skip), a panic under CI.
fn tools_ready(browser: Browser) -> bool {
    common::node_tools_ready(browser.driver().1, &[browser.executable()])
}

fn session_config(base: &str) -> SessionConfig {
    common::loopback_session(
        base,
        "CSC342",
        "Terminal",
        Some(CardSpec::default()),
        &DEFAULT_PREFERENCE,
    )
}

fn near(col: Color, c: Rgb, tolerance: u8) -> bool {
    match col {
        Color::Rgb(r, g, b) => {
            r.abs_diff(c.r) <= tolerance
                && g.abs_diff(c.g) <= tolerance
                && b.abs_diff(c.b) <= tolerance
        }
        _ => false,
    }
}

/// Mean (x, y) of the cells showing `c` in both halves, and how many there are.
fn centroid(buf: &Buffer, c: Rgb) -> (f64, f64, usize) {
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            if cell.symbol() == "▀" && near(cell.fg, c, 40) && near(cell.bg, c, 40) {
                sx += f64::from(x);
                sy += f64::from(y);
                n += 1;
            }
        }
    }
    (sx / n.max(1) as f64, sy / n.max(1) as f64, n)
}

/// Waits until the session shows the browser live.
async fn wait_live(session: &Session) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = session
            .shared
            .state()
            .room
            .participants
            .iter()
            .any(|p| p.state == TileState::Live && p.frame.is_some());
        if live {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the browser never went live in the terminal"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls what the terminal shows until `check` accepts it (`Ok`), or fails with its last
/// complaint after `within`: a browser's encoder starts with a few low-quality frames.
async fn until_screen<T>(
    session: &Session,
    within: Duration,
    mut check: impl FnMut(&Buffer) -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match check(&screen(session)) {
            Ok(v) => return v,
            Err(why) => assert!(Instant::now() < deadline, "after {within:?}: {why}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Chromium camera file's quadrants, in their places on the terminal.
async fn assert_terminal_sees_quadrants(session: &Session) {
    wait_live(session).await;
    until_screen(session, Duration::from_secs(15), |buf| {
        let [r, g, b, w] = [RED, GREEN, BLUE, WHITE].map(|c| centroid(buf, c));
        for (name, (_, _, n)) in [("red", r), ("green", g), ("blue", b), ("white", w)] {
            if n <= 20 {
                return Err(format!("{name} quadrant on only {n} cells"));
            }
        }
        if !(r.0 < g.0 && b.0 < w.0) {
            return Err(format!(
                "left quadrants are not left: {r:?} {g:?} {b:?} {w:?}"
            ));
        }
        if !(r.1 < b.1 && g.1 < w.1) {
            return Err(format!(
                "top quadrants are not on top: {r:?} {g:?} {b:?} {w:?}"
            ));
        }
        Ok(())
    })
    .await;
}

/// The colours the page's own picture (what it sends) had in the last `ms` milliseconds.
fn own_colours(page: &mut Page, ms: u32) -> Vec<Rgb> {
    let v = tokio::task::block_in_place(|| page.eval(&format!("window.__ownColours({ms})")));
    v.as_array()
        .expect("a list of colours")
        .iter()
        .map(|c| {
            let c: Vec<u8> = c
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u8)
                .collect();
            Rgb::new(c[0], c[1], c[2])
        })
        .collect()
}

fn largest_difference(a: Rgb, b: Rgb) -> u8 {
    a.r.abs_diff(b.r)
        .max(a.g.abs_diff(b.g))
        .max(a.b.abs_diff(b.b))
}

/// Firefox's fake camera is one saturated colour that fades round the hue circle (once in
/// about 29 s): the terminal must show the colour the browser itself reports for its own
/// picture at about the same time (within the last 1.5 s, for the call's latency), at three
/// points at least 100 apart on some channel (about 2 s) of the circle. A wrong colour
/// conversion (swapped channels, say) could match at one point by chance, not at three.
async fn assert_terminal_sees_the_browsers_colour(session: &Session, page: &mut Page) {
    wait_live(session).await;
    let mut previous: Option<Rgb> = None;
    for sample in 0..3 {
        if let Some(previous) = previous {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let now = own_colours(page, 200);
                if now
                    .last()
                    .is_some_and(|c| largest_difference(*c, previous) >= 100)
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the browser's camera stayed {previous:?}: {now:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let matched = until_screen(session, Duration::from_secs(3), |buf| {
            let sent = own_colours(page, 1500);
            if sent.is_empty() {
                return Err("the browser reports no colour of its own".into());
            }
            for c in &sent {
                let (hi, lo) = (c.r.max(c.g).max(c.b), c.r.min(c.g).min(c.b));
                assert!(
                    hi - lo > 120,
                    "the browser's own colour is washed out: {c:?}"
                );
            }
            let (n, c) = sent
                .iter()
                .map(|c| (centroid(buf, *c).2, *c))
                .max_by_key(|(n, _)| *n)
                .unwrap();
            if n > 100 {
                Ok(c)
            } else {
                let shown = session
                    .shared
                    .state()
                    .room
                    .participants
                    .iter()
                    .find_map(|p| p.frame.clone())
                    .map(|f| f.pixel(f.width() / 2, f.height() / 2));
                Err(format!(
                    "sample {sample}: the browser sent {:?} … {:?}; the terminal shows the \
                     nearest, {c:?}, on only {n} cells (its picture's centre: {shown:?})",
                    sent[0],
                    sent[sent.len() - 1]
                ))
            }
        })
        .await;
        previous = Some(matched);
    }
}

/// Both browsers' fake microphones make sound: the tile must show them speaking (from the
/// audio-level header extension). (Stopping is unit-tested in `call::receive`.)
async fn assert_speaking_shows(session: &Session) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !session
        .shared
        .state()
        .room
        .participants
        .iter()
        .any(|p| p.speaking)
    {
        assert!(
            Instant::now() < deadline,
            "the speaking indicator never lit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How the page labels the terminal's tile. When the terminal calls, its call's metadata
/// names it: "Terminal · " and the first 8 characters of its peer id. A packspaces server
/// tells the page that name too (the terminal gives it with `join-space`). Only when the
/// browser calls through the workshop backend, which names nobody, does the page know
/// nothing but the peer id it called (a PeerJS answer carries no metadata the page reads).
fn terminal_label(session: &Session, terminal_called: bool, backend: Backend) -> String {
    if terminal_called || backend != Backend::Workshop {
        format!("Terminal · {}", &session.our_id[..8])
    } else {
        session.our_id.clone()
    }
}

/// Waits until the page shows our test card's background colour in a tile labelled `label`.
fn assert_page_sees_test_card(page: &Page, label: &str) {
    let bg = PALETTES[2].background;
    let what = format!("our test card in a tile labelled {label:?}");
    page.wait(&what, Duration::from_secs(30), |v| {
        v["event"] == "remotes"
            && v["remotes"].as_array().is_some_and(|list| {
                list.iter().any(|r| {
                    let rgb: Vec<u8> = r["rgb"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_u64())
                                .map(|x| x as u8)
                                .collect()
                        })
                        .unwrap_or_default();
                    r["label"] == label
                        && rgb.len() == 3
                        && rgb[0].abs_diff(bg.r) < 30
                        && rgb[1].abs_diff(bg.g) < 30
                        && rgb[2].abs_diff(bg.b) < 30
                })
            })
    });
}

/// The classroom backend a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// `packspaces serve`: spaces by path, its own PeerServer, its page.
    Serve,
    /// The workshop's Node backend (one global space, serving the same page) beside the npm
    /// `peer` PeerServer: what a class runs without packspaces.
    Workshop,
    /// Two `serve` instances sharing the test's own Redis (`--redis`): the browser's page
    /// at one, the terminal at the other.
    Cluster,
}

/// A running backend: the page URL for the browser and the session's configuration.
enum Running {
    Serve(packspaces::server::RunningServer),
    Workshop {
        _peer_server: common::NodeServer,
        backend: common::NodeServer,
    },
    Cluster {
        page_at: packspaces::server::RunningServer,
        terminal_at: packspaces::server::RunningServer,
        _redis: common::redis::RedisServer,
    },
}

impl Running {
    /// Whether the backend has processed `peer`'s `join-space`: only then is a peer that
    /// joins after it a newcomer to it, whom it calls.
    fn has_member(&self, peer: &str) -> bool {
        let member_of =
            |server: &packspaces::server::RunningServer| common::serve_has(server, peer);
        match self {
            Running::Serve(server) => member_of(server),
            // The workshop backend logs each join-space on stderr as it handles it.
            Running::Workshop { backend, .. } => backend.logged(&format!("join-space {peer}")),
            Running::Cluster {
                page_at,
                terminal_at,
                ..
            } => member_of(page_at) || member_of(terminal_at),
        }
    }

    /// Waits until [`Running::has_member`] holds for `peer`.
    async fn wait_member(&self, peer: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.has_member(peer) {
            assert!(
                Instant::now() < deadline,
                "{peer} never joined the space on the backend"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `None` when the backend's tools are missing (the scenario skips).
async fn start_backend(backend: Backend, peerjs: &str) -> Option<(Running, String, SessionConfig)> {
    Some(match backend {
        Backend::Serve => {
            let server = common::serve_with_page_libraries(peerjs).await;
            let base = server.url();
            let url = format!("{base}CSC342?name=Browser");
            (Running::Serve(server), url, session_config(&base))
        }
        Backend::Workshop => {
            let peer_server = common::NodeServer::start("peer-server.mjs");
            let backend = common::NodeServer::start_with_env(
                "workshop-backend.mjs",
                &[("PEER_URL", &peer_server.url), ("PEERJS", peerjs)],
            );
            let url = format!("{}?name=Browser", backend.url);
            let mut config = session_config(&backend.url);
            config.space = packspaces::space::SpaceUrl::parse(&backend.url).unwrap();
            config.peer_server =
                packspaces::peerjs::client::PeerServerUrl::parse(&peer_server.url, None).unwrap();
            let running = Running::Workshop {
                _peer_server: peer_server,
                backend,
            };
            (running, url, config)
        }
        Backend::Cluster => {
            let redis = common::redis::RedisServer::start()?;
            let instance = || {
                let mut options = common::page_libraries_options(peerjs);
                options.redis = Some(redis.url());
                packspaces::server::start(options)
            };
            let page_at = instance().await.unwrap();
            let terminal_at = instance().await.unwrap();
            let url = format!("{}CSC342?name=Browser", page_at.url());
            let config = session_config(&terminal_at.url());
            let running = Running::Cluster {
                page_at,
                terminal_at,
                _redis: redis,
            };
            (running, url, config)
        }
    })
}

async fn scenario(backend: Backend, browser: Browser, peerjs: &str, browser_first: bool) {
    let _turn = common::browser_turn().await;
    // A stuck scenario must fail, not hang CI.
    tokio::time::timeout(
        Duration::from_secs(120),
        run_scenario(backend, browser, peerjs, browser_first),
    )
    .await
    .expect("the scenario finished within 120 s");
}

async fn run_scenario(backend: Backend, browser: Browser, peerjs: &str, browser_first: bool) {
    // PACKSPACES_LOG=debug shows what the session does, on stderr.
    if let Ok(filter) = std::env::var("PACKSPACES_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let Some((running, url, config)) = start_backend(backend, peerjs).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let camera = common::quadrant_camera(dir.path());
    // Who is in the space first calls the other; the second joins only once the backend
    // has the first as a member.
    let (mut page, session) = if browser_first {
        let page = Page::open(browser.driver().0, &url, Some(&camera));
        let ready = page.wait("ready", Duration::from_secs(30), |v| v["event"] == "ready");
        running.wait_member(ready["peerId"].as_str().unwrap()).await;
        let session = Session::start(config).await.unwrap();
        (page, session)
    } else {
        let session = Session::start(config).await.unwrap();
        running.wait_member(&session.our_id).await;
        let page = Page::open(browser.driver().0, &url, Some(&camera));
        (page, session)
    };
    match browser {
        Browser::Chromium => assert_terminal_sees_quadrants(&session).await,
        Browser::Firefox => assert_terminal_sees_the_browsers_colour(&session, &mut page).await,
    }
    assert_speaking_shows(&session).await;
    let label = terminal_label(&session, !browser_first, backend);
    let page_sees = tokio::task::spawn_blocking(move || {
        assert_page_sees_test_card(&page, &label);
        page
    });
    let page = page_sees.await.unwrap();
    if browser_first {
        let name = session
            .shared
            .state()
            .room
            .participants
            .iter()
            .find_map(|p| p.name.clone());
        assert_eq!(
            name.as_deref(),
            Some("Browser"),
            "the caller's name arrives in the metadata"
        );
    }
    drop(page);
    session.leave().await;
    if let Running::Serve(server) = running {
        server.stop().await;
    }
}

macro_rules! scenarios {
    ($($name:ident: $backend:expr, $browser:expr, $peerjs:expr, $browser_first:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if tools_ready($browser) {
                scenario($backend, $browser, $peerjs, $browser_first).await;
            }
        }
    )*};
}

// Every backend sees both browsers, both peerjs versions and both call directions.
scenarios! {
    chromium_calls_the_terminal_peerjs_1_3_1: Backend::Serve, Browser::Chromium, "peerjs-1.3.1", true;
    the_terminal_calls_chromium_peerjs_1_3_1: Backend::Serve, Browser::Chromium, "peerjs-1.3.1", false;
    chromium_calls_the_terminal_peerjs_1_5: Backend::Serve, Browser::Chromium, "peerjs", true;
    the_terminal_calls_chromium_peerjs_1_5: Backend::Serve, Browser::Chromium, "peerjs", false;
    firefox_calls_the_terminal_peerjs_1_3_1: Backend::Serve, Browser::Firefox, "peerjs-1.3.1", true;
    the_terminal_calls_firefox_peerjs_1_5: Backend::Serve, Browser::Firefox, "peerjs", false;
    workshop_chromium_calls_the_terminal_peerjs_1_5: Backend::Workshop, Browser::Chromium, "peerjs", true;
    workshop_terminal_calls_chromium_peerjs_1_3_1: Backend::Workshop, Browser::Chromium, "peerjs-1.3.1", false;
    workshop_firefox_calls_the_terminal_peerjs_1_5: Backend::Workshop, Browser::Firefox, "peerjs", true;
    workshop_terminal_calls_firefox_peerjs_1_3_1: Backend::Workshop, Browser::Firefox, "peerjs-1.3.1", false;
    cluster_chromium_calls_a_terminal_at_another_instance: Backend::Cluster, Browser::Chromium, "peerjs-1.3.1", true;
    cluster_a_terminal_calls_chromium_at_another_instance: Backend::Cluster, Browser::Chromium, "peerjs", false;
}

/// The browser's participant in the terminal, once it satisfies `ok` (within `within`).
async fn wait_for_browser(
    session: &Session,
    what: &str,
    within: Duration,
    ok: impl Fn(&packspaces::model::Participant) -> bool,
) -> packspaces::model::Participant {
    let deadline = Instant::now() + within;
    loop {
        let found = session
            .shared
            .state()
            .room
            .participants
            .iter()
            .find(|p| ok(p))
            .cloned();
        if let Some(p) = found {
            return p;
        }
        let tiles: Vec<_> = session
            .shared
            .state()
            .room
            .participants
            .iter()
            .map(|p| (p.state, p.frame.as_ref().map(|f| (f.width(), f.height()))))
            .collect();
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; tiles {tiles:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the terminal's screen shows now.
fn screen(session: &Session) -> Buffer {
    let state = session.shared.state().clone();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal
        .draw(|f| view::render_with_video(f, &state))
        .unwrap();
    terminal.backend().buffer().clone()
}

fn screen_text(buf: &Buffer) -> String {
    buf.content().iter().map(|c| c.symbol()).collect()
}

/// Mid-call, a Chromium page's camera shrinks to 160x120 (as browsers do when their
/// network or CPU is short): the terminal decodes the new size and still shows the
/// quadrants. Then the page turns its camera off (its video sender sends nothing): the
/// tile says "video paused" instead of freezing on the last picture; on again, the
/// picture returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_changes_its_picture_size_and_pauses_its_camera_mid_call() {
    if !tools_ready(Browser::Chromium) {
        return;
    }
    let _turn = common::browser_turn().await;
    let (running, url, config) = start_backend(Backend::Serve, "peerjs")
        .await
        .expect("serve needs no tools");
    let dir = tempfile::tempdir().unwrap();
    let camera = common::quadrant_camera(dir.path());
    let mut page = Page::open(Browser::Chromium.driver().0, &url, Some(&camera));
    page.wait("ready", Duration::from_secs(30), |v| v["event"] == "ready");
    let session = Session::start(config).await.unwrap();
    assert_terminal_sees_quadrants(&session).await;

    tokio::task::block_in_place(|| {
        page.eval("window.packspaces.ownVideo().applyConstraints({width: 160, height: 120})")
    });
    wait_for_browser(
        &session,
        "a 160x120 picture",
        Duration::from_secs(20),
        |p| {
            p.frame
                .as_ref()
                .is_some_and(|f| (f.width(), f.height()) == (160, 120))
        },
    )
    .await;
    assert_terminal_sees_quadrants(&session).await;

    tokio::task::block_in_place(|| page.eval("window.packspaces.camera(false)"));
    wait_for_browser(&session, "the tile paused", Duration::from_secs(20), |p| {
        p.state == TileState::Paused
    })
    .await;
    let buf = screen(&session);
    assert!(
        screen_text(&buf).contains("video paused"),
        "no 'video paused' on the screen"
    );
    let (_, _, red) = centroid(&buf, RED);
    assert_eq!(red, 0, "a paused tile still shows the old picture");

    tokio::task::block_in_place(|| page.eval("window.packspaces.camera(true)"));
    wait_for_browser(
        &session,
        "the tile live again",
        Duration::from_secs(20),
        |p| p.state == TileState::Live,
    )
    .await;
    assert_terminal_sees_quadrants(&session).await;

    drop(page);
    session.leave().await;
    if let Running::Serve(server) = running {
        server.stop().await;
    }
}

/// Over HTTPS with a self-signed certificate: Chromium trusts it by its public key (the
/// `--ignore-certificate-errors-spki-list` value `serve --tls self-signed` prints), gets its
/// camera and calls a terminal that pinned the certificate's fingerprint; each sees the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_over_https_calls_a_terminal_that_pinned_the_certificate() {
    use packspaces::tls::certificate::{ServerCertificate, names_for};
    if !tools_ready(Browser::Chromium) {
        return;
    }
    let _turn = common::browser_turn().await;
    let dir = tempfile::tempdir().unwrap();
    let names = names_for(std::net::Ipv4Addr::LOCALHOST.into(), &[]);
    let (certificate, _) = ServerCertificate::self_signed(dir.path(), &names).unwrap();
    let (fingerprint, spki) = (
        certificate.fingerprint(),
        certificate.spki_pin().to_string(),
    );
    let server =
        common::serve_with_page_libraries_over("peerjs", Some(std::sync::Arc::new(certificate)))
            .await;
    let base = server.url();
    assert!(base.starts_with("https://"), "{base}");
    let camera = common::quadrant_camera(dir.path());
    let url = format!("{base}CSC342?name=Browser");
    let page = Page::open_with_env(
        Browser::Chromium.driver().0,
        &url,
        Some(&camera),
        &[("CHROMIUM_SPKI", &spki)],
    );
    let ready = page.wait("ready", Duration::from_secs(30), |v| v["event"] == "ready");
    let page_id = ready["peerId"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !common::serve_has(&server, page_id) {
        assert!(Instant::now() < deadline, "the page never joined the space");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let trust = packspaces::net::Trust::pinned(&fingerprint).unwrap();
    let session = Session::start(common::trusting(session_config(&base), &trust))
        .await
        .unwrap();
    assert_terminal_sees_quadrants(&session).await;
    // The browser called: the page knows the terminal by the name `serve` told it.
    let label = terminal_label(&session, false, Backend::Serve);
    let page = tokio::task::spawn_blocking(move || {
        assert_page_sees_test_card(&page, &label);
        page
    })
    .await
    .unwrap();
    drop(page);
    session.leave().await;
    server.stop().await;
}
