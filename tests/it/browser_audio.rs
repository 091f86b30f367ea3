//! Sound with real browsers (`--features audio`): our session sends a tone to a headless
//! Chromium or Firefox ESR page (peerjs 1.5.5, on `packspaces serve`) and plays the page's
//! fake microphone. The page's own WebRTC statistics must show our audio arriving with a
//! level, our mixer must hear the browser, and after `m` the page must stop receiving us.
//! Skips without node or the browser, except under CI=true.
#![cfg(feature = "audio")]

use crate::common;

use std::time::{Duration, Instant};

use packspaces::audio::{AudioConfig, AudioInput, AudioOutput};
use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::session::{CardSpec, Session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_hears_our_tone_and_we_hear_chromium() {
    if common::node_tools_ready("playwright-core", &["/usr/bin/chromium"]) {
        let _turn = common::browser_turn().await;
        hears_our_tone_and_we_hear_it("browser-peer.mjs").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_hears_our_tone_and_we_hear_firefox() {
    if common::node_tools_ready("puppeteer-core", &["/usr/bin/firefox-esr"]) {
        let _turn = common::browser_turn().await;
        hears_our_tone_and_we_hear_it("firefox-peer.mjs").await;
    }
}

/// `driver`: the tests/node script that opens the page in its browser.
async fn hears_our_tone_and_we_hear_it(driver: &'static str) {
    let server = common::serve_with_page_libraries("peerjs").await;
    let base = server.url();
    let mut config = common::loopback_session(
        &base,
        "CSC342",
        "Terminal",
        Some(CardSpec::default()),
        &DEFAULT_PREFERENCE,
    );
    config.audio = AudioConfig {
        send: AudioInput::Tone { hz: 440.0 },
        play: AudioOutput::Clock,
    };
    let session = Session::start(config).await.unwrap();
    let our_id = session.our_id.clone();

    // The page joins after us, so we call it, as the workshop's flow has it.
    let url = format!("{base}CSC342?name=Browser");
    let (browser_id, page) = tokio::task::spawn_blocking(move || {
        let page = common::page::Page::open(driver, &url, None);
        let ready = page.wait("ready", Duration::from_secs(30), |v| v["event"] == "ready");
        let browser_id = ready["peerId"].as_str().unwrap().to_string();
        // Chromium's statistics for the audio it receives from us.
        page.wait("our audio in the page", Duration::from_secs(30), |v| {
            let ours = &v["audio"][&our_id];
            ours["packets"].as_u64().unwrap_or(0) > 50
                && ours["level"].as_f64().unwrap_or(0.0) > 0.01
        });
        (browser_id, page)
    })
    .await
    .unwrap();

    // Chromium's fake microphone beeps: our mixer must hear it at some point.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut loudest = 0.0f32;
    while loudest < 0.01 {
        assert!(
            Instant::now() < deadline,
            "we never heard the browser (loudest level {loudest})"
        );
        if let Some(mixer) = session.audio.mixer() {
            loudest = loudest.max(mixer.level(&browser_id));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // `m`: our microphone off. The page must stop receiving our audio.
    {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let key = KeyEvent::new(KeyCode::Char('m'), KeyModifiers::NONE);
        let action = packspaces::ui::action_for_key(key).unwrap();
        session.shared.update(|s| s.apply(action));
        session.apply_controls();
    }
    // PeerJS cannot renegotiate, so the page's track is never flagged muted: what a browser
    // sees is our packets stopping and the level falling to nothing.
    let our_id = session.our_id.clone();
    let page = tokio::task::spawn_blocking(move || {
        let mut last: Option<(u64, Instant)> = None;
        page.wait(
            "our audio to stop in the page",
            Duration::from_secs(20),
            |v| {
                let ours = &v["audio"][&our_id];
                let Some(n) = ours["packets"].as_u64() else {
                    return false;
                };
                match last {
                    Some((m, since)) if m == n => {
                        since.elapsed() > Duration::from_secs(2)
                            && ours["level"].as_f64().unwrap_or(1.0) < 0.001
                    }
                    _ => {
                        last = Some((n, Instant::now()));
                        false
                    }
                }
            },
        );
        page
    })
    .await
    .unwrap();
    drop(page);
    session.leave().await;
    server.stop().await;
}
