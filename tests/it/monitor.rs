//! `packspaces monitor --json` (the built binary) watching a space while others come and go:
//! on `packspaces serve`, which lists the members on arrival, and on the workshop backend
//! with npm `peer`, which lists nobody (members are learned from their calls). Then Chromium
//! pages whose call the monitor declines: our page (peerjs 1.3.1 and 1.5.5) and a workshop
//! student's page must show no video for it and log no error, and still see a bot that joins
//! after it. Skips without node/Chromium, except under CI=true.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use common::monitor_json::Monitor;
use common::page::Page;
use common::{NodeServer, loopback_session_at, node_dir};
use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::model::Link;
use packspaces::server::{ServeOptions, start};
use packspaces::session::{CardSpec, Session};
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Checks one JSON line: what happened, to whom, and the count after it.
fn assert_change(
    line: &Value,
    event: &str,
    peer: &str,
    name: Option<&str>,
    count: u64,
    already: bool,
) {
    let want = serde_json::json!({"event": event, "peer": peer, "name": name,
        "count": count, "already": already});
    let mut got = line.clone();
    let time = got.as_object_mut().unwrap().remove("time").unwrap();
    assert_eq!(got, want, "line {line}");
    // RFC 3339 in UTC, to the millisecond: 2025-11-27T11:30:05.123Z
    let time = time.as_str().unwrap();
    let shape = time.len() == 24
        && time.ends_with('Z')
        && time.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == 'T',
            13 | 16 => c == ':',
            19 => c == '.',
            23 => c == 'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(shape, "time {time:?} is not RFC 3339 UTC");
}

/// A session sending our test card (`video`) or nothing, on loopback.
async fn bot(space_url: &str, peer_server: &str, name: &str, video: bool) -> Session {
    let card = video.then(CardSpec::default);
    let config = loopback_session_at(space_url, peer_server, name, card, &DEFAULT_PREFERENCE);
    Session::start(config).await.unwrap()
}

/// Waits until `done` holds, polling.
async fn eventually(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the space server has handled `peer`'s `join-space`.
type HasMember<'a> = &'a dyn Fn(&str) -> bool;

/// The workshop backend's members (it logs each `join-space` as it handles it).
fn workshop_has(backend: &NodeServer, peer: &str) -> bool {
    backend.logged(&format!("join-space {peer}"))
}

/// Ada is there first; the monitor arrives; Bob joins and leaves.
/// `told`: the monitor is given the PeerJS server (else it must find it on its own).
/// `server_names`: the space server tells the names members gave it (`serve` does, the
/// workshop backend does not).
async fn bots_come_and_go(
    space_url: &str,
    peer_server: &str,
    told: bool,
    server_names: bool,
    has: HasMember<'_>,
) {
    let ada = bot(space_url, peer_server, "Ada", false).await;
    eventually("Ada joined the space", Duration::from_secs(10), || {
        ada.shared.state().room.space_link == Link::Up
    })
    .await;
    // Ada's session sent join-space; the monitor must arrive after the server handled it.
    eventually("the server has Ada", Duration::from_secs(10), || {
        has(&ada.our_id)
    })
    .await;
    let monitor = Monitor::start(space_url, told.then_some(peer_server));
    // Ada calls every newcomer: that call names her.
    assert_change(
        &monitor.next("Ada"),
        "join",
        &ada.our_id,
        Some("Ada"),
        1,
        true,
    );
    // The monitor declined with LEAVE, so Ada's session drops it again.
    eventually(
        "Ada's session dropped the declined call",
        Duration::from_secs(10),
        || {
            !ada.shared
                .state()
                .room
                .participants
                .iter()
                .any(|p| p.peer_id == monitor.id)
        },
    )
    .await;
    let bob = bot(space_url, peer_server, "Bob", false).await;
    // Newcomers do not call the monitor: a name only from the space server.
    let bob_name = server_names.then_some("Bob");
    assert_change(
        &monitor.next("Bob's join"),
        "join",
        &bob.our_id,
        bob_name,
        2,
        false,
    );
    // Bob sees Ada, who calls him, and no tile for the monitor, which never will.
    eventually("Ada's call reached Bob", Duration::from_secs(10), || {
        bob.shared
            .state()
            .room
            .participants
            .iter()
            .any(|p| p.peer_id == ada.our_id)
    })
    .await;
    let tiles: Vec<String> = bob
        .shared
        .state()
        .room
        .participants
        .iter()
        .map(|p| p.peer_id.clone())
        .collect();
    assert!(
        !tiles.contains(&monitor.id),
        "a tile for the monitor: {tiles:?}"
    );
    let bob_id = bob.our_id.clone();
    bob.leave().await;
    assert_change(
        &monitor.next("Bob's leave"),
        "leave",
        &bob_id,
        bob_name,
        1,
        false,
    );
    assert!(monitor.stop().success(), "the monitor exits cleanly");
    ada.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_json_on_serve_reports_listed_members_joins_and_leaves() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
            .await
            .unwrap();
        let base = server.url();
        // The page URL is all the monitor is given.
        let has = |peer: &str| common::serve_has(&server, peer);
        bots_come_and_go(
            &format!("{base}CSC342"),
            &format!("{base}peerjs"),
            false,
            true,
            &has,
        )
        .await;
        server.stop().await;
    })
    .await
    .expect("finished within 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_json_on_the_workshop_backend_learns_members_from_their_calls() {
    if !common::node_tools_ready("peer", &[]) || !common::node_tools_ready("socket.io", &[]) {
        return;
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        let backend = NodeServer::start("workshop-backend.mjs");
        let peers = NodeServer::start("peer-server.mjs");
        let has = |peer: &str| workshop_has(&backend, peer);
        bots_come_and_go(&backend.url, &peers.url, true, false, &has).await;
    })
    .await
    .expect("finished within 120 s");
}

fn page_wait(page: &Page, what: &str, pred: impl FnMut(&Value) -> bool) -> Value {
    tokio::task::block_in_place(|| page.wait(what, Duration::from_secs(30), pred))
}

/// The page's lines for a while: no error or warning (console, uncaught, or our page's
/// status line), and nothing that shows `id`.
fn assert_page_ignores(page: &Page, id: &str) {
    let lines = tokio::task::block_in_place(|| page.lines_for(Duration::from_secs(3)));
    assert!(
        lines.iter().any(|v| v["event"] == "remotes"),
        "the page kept reporting"
    );
    for v in lines {
        assert!(
            !["pageerror", "console"].contains(&v["event"].as_str().unwrap_or("")),
            "the page complained: {v}"
        );
        let status = v["status"].as_str().unwrap_or("");
        assert!(!status.contains("error"), "the page's status: {status}");
        assert!(
            !v.to_string().contains(id),
            "the page shows the monitor {id}: {v}"
        );
    }
}

/// What names the monitor should report in a page scenario.
struct Names<'a> {
    /// The page's, from its call's metadata.
    page: Option<&'a str>,
    /// The space server tells the names members gave it (`serve` does).
    from_server: bool,
}

/// A page is in the space before the monitor: its call names it (`names.page`, from the
/// metadata). A bot that sends `bot_video` or nothing joins after the monitor: the page must
/// show it (`shows_bot` tells from a "remotes" line, given the bot's id) but nothing for the
/// monitor, and log nothing.
async fn page_scenario(
    space: &str,
    peers: &str,
    page_url: &str,
    names: Names<'_>,
    bot_video: bool,
    shows_bot: impl Fn(&Value, &str) -> bool,
    has: HasMember<'_>,
) {
    let page = Page::open("browser-peer.mjs", page_url, None);
    let ready = page_wait(&page, "ready", |v| v["event"] == "ready");
    let page_id = ready["peerId"].as_str().unwrap();
    eventually("the server has the page", Duration::from_secs(10), || {
        has(page_id)
    })
    .await;
    let monitor = Monitor::start(space, Some(peers));
    assert_change(
        &monitor.next("the page"),
        "join",
        page_id,
        names.page,
        1,
        true,
    );
    let bot = bot(space, peers, "Bot", bot_video).await;
    let bot_id = bot.our_id.clone();
    let bot_name = names.from_server.then_some("Bot");
    assert_change(
        &monitor.next("the bot"),
        "join",
        &bot_id,
        bot_name,
        2,
        false,
    );
    page_wait(&page, "the bot on the page", |v| {
        v["event"] == "remotes" && shows_bot(v, &bot_id)
    });
    assert_page_ignores(&page, &monitor.id);
    bot.leave().await;
    assert_change(
        &monitor.next("the bot leaving"),
        "leave",
        &bot_id,
        bot_name,
        1,
        false,
    );
    assert!(monitor.stop().success());
}

/// Our page (served by `packspaces serve`) with a bot that sends no video: its tile shows
/// once the call connects, while the monitor's declined call leaves none.
async fn serve_page_scenario(peerjs: &str) {
    let _turn = common::browser_turn().await;
    let server = common::serve_with_page_libraries(peerjs).await;
    let base = server.url();
    let page_url = format!("{base}CSC342?name=Browser");
    // The page names the bot's tile with the name `serve` told it, and the id's start.
    let shows_bot = |v: &Value, bot: &str| {
        v["remotes"].as_array().is_some_and(|r| {
            r.len() == 1
                && r[0]["label"]
                    .as_str()
                    .is_some_and(|l| l.contains(&bot[..8]))
        })
    };
    let (space, peers) = (format!("{base}CSC342"), format!("{base}peerjs"));
    let has = |peer: &str| common::serve_has(&server, peer);
    page_scenario(
        &space,
        &peers,
        &page_url,
        Names {
            page: Some("Browser"),
            from_server: true,
        },
        false,
        shows_bot,
        &has,
    )
    .await;
    server.stop().await;
}

/// A workshop student's page (file://, peerjs 1.3.1) on the workshop backend and npm
/// `peer`: it adds a <video> per remote stream, so the bot sends our test card. Its calls
/// carry no metadata: no name.
async fn workshop_page_scenario() {
    let _turn = common::browser_turn().await;
    let backend = NodeServer::start("workshop-backend.mjs");
    let peers = NodeServer::start("peer-server.mjs");
    let page_url = format!(
        "file://{}/workshop-page.html?backend={}&peerServer={}",
        node_dir().display(),
        backend.url,
        peers.url
    );
    let shows_bot = |v: &Value, bot: &str| {
        v["videos"].as_array().is_some_and(|videos| {
            videos.len() == 2
                && videos
                    .iter()
                    .any(|x| x["id"] == bot && x["width"].as_u64() > Some(0))
        })
    };
    let has = |peer: &str| workshop_has(&backend, peer);
    page_scenario(
        &backend.url,
        &peers.url,
        &page_url,
        Names {
            page: None,
            from_server: false,
        },
        true,
        shows_bot,
        &has,
    )
    .await;
}

macro_rules! browser_tests {
    ($($name:ident: $scenario:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if !common::node_tools_ready("playwright-core", &[CHROMIUM])
                || !common::node_tools_ready("peer", &[])
            {
                return;
            }
            tokio::time::timeout(Duration::from_secs(120), $scenario)
                .await
                .expect("finished within 120 s");
        }
    )*};
}

browser_tests! {
    our_page_shows_no_tile_for_the_monitor_peerjs_1_3_1: serve_page_scenario("peerjs-1.3.1");
    our_page_shows_no_tile_for_the_monitor_peerjs_1_5: serve_page_scenario("peerjs");
    the_workshop_page_shows_no_video_for_the_monitor: workshop_page_scenario();
}

#[test]
fn a_bad_space_url_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_packspaces"))
        .args(["monitor", "--json", "http://127.0.0.1:9/a/b"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "stdout holds only events");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("packspaces: ") && err.contains("space name") && err.lines().count() == 1,
        "{err}"
    );
}
