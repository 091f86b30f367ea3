//! Browsers send a terminal what its tile shows: read off the browser's own `getStats`
//! (outbound-rtp bytes to our peer id), a Chromium or Firefox page whose camera is a noisy
//! moving 640x480 clip falls to at most 200 kbit/s toward a 64x24-cell tile within 20 s
//! of the call, and sends more within 5 s of a zoom. With two Chromium pages, they keep
//! sending each other their full rate (we change only our leg). Skips without node/the
//! browser, except under CI=true.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::page::Page;
use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::session::{CardSpec, Session};
use packspaces::ui::{Action, view};

/// A tile of 64x24 cells: a terminal of 158x50 shows four tiles (ours, the browser's and
/// two listeners') two by two, each 64x24, beside the 30-column participant list.
const SCREEN: (u16, u16) = (158, 50);
const TILE_CEILING_KBPS: f64 = 200.0;

/// A 640x480 camera-like clip: a picture that moves a few pixels a frame under sensor
/// noise, so that an encoder left alone spends what it is allowed.
fn noisy_camera(dir: &Path) -> PathBuf {
    let (w, h, frames) = (640usize, 480usize, 60usize);
    let mut data = format!("YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n").into_bytes();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 41) as i32 - 20
    };
    for f in 0..frames {
        data.extend_from_slice(b"FRAME\n");
        let shift = f * 6;
        for y in 0..h {
            for x in 0..w {
                let base = (((x + shift) / 40 + y / 40) % 2) as i32 * 140 + 50;
                data.push((base + noise()).clamp(16, 235) as u8);
            }
        }
        for _ in 0..2 {
            for y in 0..h / 2 {
                for x in 0..w / 2 {
                    data.push((128 + ((x + shift / 2 + y) % 64) as i32 - 32 + noise() / 4) as u8);
                }
            }
        }
    }
    let path = dir.join("noisy.y4m");
    std::fs::write(&path, data).unwrap();
    path
}

/// What one page sends to each peer over time, from its `videoOut` reports.
struct SendRates<'a> {
    page: &'a Page,
    /// Per peer: (ms timestamp, bytes sent so far, picture width).
    samples: std::collections::HashMap<String, Vec<(f64, f64, u64)>>,
}

impl SendRates<'_> {
    fn new(page: &Page) -> SendRates<'_> {
        SendRates {
            page,
            samples: Default::default(),
        }
    }

    /// Reads the page's reports for up to `during`; returns each new (peer, kbit/s over
    /// the last second, width) as it comes, to `seen`, until `seen` returns true.
    fn watch(&mut self, during: Duration, mut seen: impl FnMut(&str, f64, u64) -> bool) -> bool {
        let deadline = Instant::now() + during;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            for line in self.page.lines_for(left.min(Duration::from_millis(600))) {
                let Some(out) = line["videoOut"].as_object() else {
                    continue;
                };
                for (peer, stats) in out {
                    let (Some(at), Some(bytes)) = (stats["at"].as_f64(), stats["bytes"].as_f64())
                    else {
                        continue;
                    };
                    let width = stats["width"].as_u64().unwrap_or(0);
                    let history = self.samples.entry(peer.clone()).or_default();
                    history.push((at, bytes, width));
                    let (t1, b1, _) = history[history.len() - 1];
                    let Some(&(t0, b0, _)) = history.iter().rev().find(|s| t1 - s.0 >= 1000.0)
                    else {
                        continue;
                    };
                    if seen(peer, (b1 - b0) * 8.0 / (t1 - t0), width) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Waits until the rate to `peer` satisfies `ok`; returns it, or fails with the rates
    /// seen meanwhile.
    fn wait_for(
        &mut self,
        peer: &str,
        within: Duration,
        what: &str,
        ok: impl Fn(f64) -> bool,
    ) -> f64 {
        let mut log = Vec::new();
        let mut found = None;
        self.watch(within, |p, kbps, width| {
            if p != peer {
                return false;
            }
            log.push(format!("{kbps:.0}@{width}"));
            found = ok(kbps).then_some(kbps);
            found.is_some()
        });
        eprintln!("{what}: kbit/s@width every 0.5 s: {log:?}");
        found.unwrap_or_else(|| panic!("{what}: not within {within:?}"))
    }

    /// Every rate to `peer` for `during`.
    fn rates(&mut self, peer: &str, during: Duration) -> Vec<f64> {
        let mut rates = Vec::new();
        self.watch(during, |p, kbps, _| {
            if p == peer {
                rates.push(kbps);
            }
            false
        });
        rates
    }
}

/// Waits until the session shows the browser and both listeners; checks the browser's
/// picture area is the 64x24 tile's (62x22 inside its border) and returns its peer id.
async fn wait_for_tiles(session: &Session) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        {
            let state = session.shared.state();
            let browser = state
                .room
                .participants
                .iter()
                .find(|p| p.name.as_deref() == Some("Browser"));
            if let (3, Some(browser)) = (state.room.participants.len(), browser) {
                let areas = view::picture_areas(&state, SCREEN.0, SCREEN.1);
                let area = areas.iter().find(|(id, _)| *id == browser.peer_id);
                assert_eq!(
                    area.map(|a| a.1),
                    Some((62, 22)),
                    "the browser's tile: {areas:?}"
                );
                return browser.peer_id.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the browser and the listeners never all showed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A browser page sends the terminal's small tile no more than it needs, and more on zoom.
/// With `second_page`, a second page of the same browser is in the space (instead of one
/// of the two listeners), and the first keeps sending it its full rate.
async fn a_small_tile_is_sent_little_and_a_zoom_more(
    script: &str,
    executable: &str,
    driver: &str,
    second_page: bool,
) {
    if !common::node_tools_ready(driver, &[executable]) {
        return;
    }
    let _turn = common::browser_turn().await;
    let server = common::serve_with_page_libraries("peerjs").await;
    let dir = tempfile::tempdir().unwrap();
    // Firefox plays no camera file: its page draws a noisy camera of its own.
    let camera = match script {
        "firefox-peer.mjs" => PathBuf::from("noise"),
        _ => noisy_camera(dir.path()),
    };
    let url = |name: &str| format!("{}CSC342?name={name}", server.url());
    let page = Page::open(script, &url("Browser"), Some(&camera));
    page.wait("ready", Duration::from_secs(30), |v| v["event"] == "ready");
    let other = second_page.then(|| {
        let other = Page::open(script, &url("Other"), Some(&camera));
        let ready = other.wait("ready", Duration::from_secs(30), |v| v["event"] == "ready");
        (other, ready["peerId"].as_str().unwrap().to_string())
    });
    let config = common::loopback_session(
        &server.url(),
        "CSC342",
        "Terminal",
        Some(CardSpec::default()),
        &DEFAULT_PREFERENCE,
    );
    let session = Session::start(config).await.unwrap();
    session.shared.update(|s| s.set_screen(SCREEN.0, SCREEN.1));
    // Listeners (no video, showing nothing) fill the grid to four tiles.
    let mut listeners = Vec::new();
    for i in 0..if second_page { 1 } else { 2 } {
        let name = format!("Listener {i}");
        let mut quiet =
            common::loopback_session(&server.url(), "CSC342", &name, None, &DEFAULT_PREFERENCE);
        quiet.watched = false;
        listeners.push(Session::start(quiet).await.unwrap());
    }
    let ours = session.our_id.clone();
    let browser = wait_for_tiles(&session).await;
    let mut rates = SendRates::new(&page);
    let small = tokio::task::block_in_place(|| {
        rates.wait_for(
            &ours,
            Duration::from_secs(20),
            "the rate to a small tile falls",
            |k| k > 0.0 && k <= TILE_CEILING_KBPS,
        )
    });
    // It stays down, while a browser that shows the other full size keeps its rate.
    let steady = tokio::task::block_in_place(|| rates.rates(&ours, Duration::from_secs(5)));
    eprintln!("{script}: steady kbit/s to the tile: {steady:.0?}");
    assert!(
        !steady.is_empty() && steady.iter().all(|k| *k <= TILE_CEILING_KBPS),
        "the rate to the tile went back up: {steady:?}"
    );
    match &other {
        Some((_, other)) => {
            // Their own call ramps up as browsers' calls do.
            let full = tokio::task::block_in_place(|| {
                rates.wait_for(
                    other,
                    Duration::from_secs(20),
                    "the page sends the other its full rate",
                    |k| k > 3.0 * TILE_CEILING_KBPS,
                )
            });
            let ours_now =
                tokio::task::block_in_place(|| rates.rates(&ours, Duration::from_secs(5)));
            assert!(
                !ours_now.is_empty() && ours_now.iter().all(|k| *k <= TILE_CEILING_KBPS),
                "the rate to the tile went back up: {ours_now:?}"
            );
            eprintln!("{script}: {full:.0} kbit/s to the other page, {ours_now:?} to the tile");
        }
        None => {
            let base = steady.iter().sum::<f64>() / steady.len() as f64;
            session.shared.update(|s| {
                s.selected = s
                    .room
                    .participants
                    .iter()
                    .position(|p| p.peer_id == browser)
                    .unwrap();
                s.apply(Action::Focus)
            });
            let zoomed = tokio::task::block_in_place(|| {
                rates.wait_for(
                    &ours,
                    Duration::from_secs(5),
                    "a zoom raises the rate",
                    |k| k > base * 1.5,
                )
            });
            eprintln!(
                "{script}: {small:.0} then {base:.0} kbit/s to a 64x24 tile, {zoomed:.0} zoomed"
            );
        }
    }
    drop(rates);
    drop(page);
    drop(other);
    for listener in listeners {
        listener.leave().await;
    }
    session.leave().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_sends_a_small_tile_little_and_a_zoom_more() {
    a_small_tile_is_sent_little_and_a_zoom_more(
        "browser-peer.mjs",
        "/usr/bin/chromium",
        "playwright-core",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_sends_another_page_its_full_rate_and_the_tile_little() {
    a_small_tile_is_sent_little_and_a_zoom_more(
        "browser-peer.mjs",
        "/usr/bin/chromium",
        "playwright-core",
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_sends_a_small_tile_little_and_a_zoom_more() {
    a_small_tile_is_sent_little_and_a_zoom_more(
        "firefox-peer.mjs",
        "/usr/bin/firefox-esr",
        "puppeteer-core",
        false,
    )
    .await;
}
