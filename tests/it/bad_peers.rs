//! Hostile or broken peers cannot take a session down: garbage SDP, an offer with no codec
//! in common, stray candidates and answers, and ids with escape sequences are refused or
//! dropped (the attacker hears nothing back), and the session goes on to show a
//! well-behaved peer. More candidates than the early cap before an offer do not stop the
//! call they precede.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::media::testcard::PALETTES;
use packspaces::model::TileState;
use packspaces::peerjs::client::{
    IceCandidate, PeerClient, PeerServerUrl, SessionDescription, SignalCommand, SignalEvent,
};
use packspaces::server::{ServeOptions, start};
use packspaces::session::{CardSpec, Session, SessionConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn config(base: &str, name: &str, send: bool) -> SessionConfig {
    let card = send.then(|| CardSpec {
        palette: PALETTES[4],
        ..CardSpec::default()
    });
    common::loopback_session(base, "lab", name, card, &DEFAULT_PREFERENCE)
}

const AV1_ONLY: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 45\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:45 AV1/90000\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_hostile_signaling_and_still_sees_a_good_peer() {
    if let Ok(filter) = std::env::var("PACKSPACES_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let base = server.url();
    let victim = Session::start(config(&base, "Victim", false))
        .await
        .unwrap();

    let (tx, mut events) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let attacker = PeerClient::register(
        PeerServerUrl::parse(&format!("{base}peerjs"), None).unwrap(),
        tx,
        cancel.clone(),
    )
    .await
    .unwrap();
    let attacker_id = attacker.id.clone();
    let to = victim.our_id.clone();
    let offer = |sdp: &str, id: &str, name: &str| SignalCommand::Offer {
        peer: to.clone(),
        connection_id: id.into(),
        sdp: SessionDescription {
            kind: "offer".into(),
            sdp: sdp.into(),
        },
        metadata: Some(serde_json::json!({ "name": name })),
    };
    attacker
        .send(offer(
            "this is not SDP",
            "mc_bad1",
            "\u{1b}[2J\u{1b}]0;owned\u{7}",
        ))
        .await;
    attacker
        .send(SignalCommand::Candidate {
            peer: to.clone(),
            connection_id: "mc_nothing".into(),
            candidate: IceCandidate {
                candidate: "candidate:garbage".into(),
                sdp_mid: Some("\u{1b}".into()),
                sdp_mline_index: Some(9),
                username_fragment: None,
            },
        })
        .await;
    attacker
        .send(SignalCommand::Answer {
            peer: to.clone(),
            connection_id: "mc_unknown".into(),
            sdp: SessionDescription {
                kind: "answer".into(),
                sdp: "v=0".into(),
            },
            metadata: None,
        })
        .await;
    // Last, an offer with no codec in common, under another hostile name: the PeerServer
    // relays one client's messages in order and the victim handles them in order, so once
    // its tile shows this name and the refused call has ended, everything before it was
    // handled too.
    attacker
        .send(offer(AV1_ONLY, "mc_bad2", "Mallory\u{1b}[31m\u{9b}0m"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tiles: Vec<(String, String, TileState)> = victim
            .shared
            .state()
            .room
            .participants
            .iter()
            .map(|p| (p.peer_id.clone(), p.label().to_string(), p.state))
            .collect();
        // The attacker's one tile, named as its last offer said (made safe), and that call
        // refused: it ended without ever connecting.
        let want = [(
            attacker_id.clone(),
            "Mallory\u{fffd}[31m\u{fffd}0m".to_string(),
            TileState::NoVideo,
        )];
        if tiles == want {
            break;
        }
        for (_, label, state) in &tiles {
            assert_ne!(*state, TileState::Live, "a broken call cannot be live");
            assert!(!label.chars().any(char::is_control), "label {label:?}");
        }
        assert!(
            Instant::now() < deadline,
            "the attacker's last offer was not handled and refused: tiles {tiles:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A good peer still gets through.
    let good = Session::start(config(&base, "Good", true)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live = victim
            .shared
            .state()
            .room
            .participants
            .iter()
            .any(|p| p.label() == "Good" && p.state == TileState::Live && p.frame.is_some());
        if live {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the good peer never showed up live"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both offers were refused: the attacker heard nothing after its own registration
    // (no answer, and none of the victim's candidates, which would tell it our addresses).
    let mut heard = Vec::new();
    while let Ok(event) = events.try_recv() {
        heard.push(event);
    }
    assert!(
        matches!(&heard[..], [SignalEvent::Open { id }] if *id == attacker_id),
        "the attacker heard {heard:?}"
    );
    let tiles: Vec<(String, TileState)> = victim
        .shared
        .state()
        .room
        .participants
        .iter()
        .map(|p| (p.label().to_string(), p.state))
        .collect();
    assert!(
        tiles.contains(&(
            "Mallory\u{fffd}[31m\u{fffd}0m".to_string(),
            TileState::NoVideo
        )),
        "the refused caller's tile changed: {tiles:?}"
    );
    cancel.cancel();
    good.leave().await;
    victim.leave().await;
}

/// A PeerServer in front of `serve`'s for one session: it hands out ids itself and relays
/// the websocket both ways, but puts `extra` candidates (for addresses nobody answers at)
/// in front of every OFFER it delivers, as if they had all overtaken it. Returns its base
/// URL and how many it put in.
#[allow(clippy::result_large_err)] // tungstenite's handshake callback type, not ours
async fn early_candidates_proxy(
    server: std::net::SocketAddr,
    extra: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use futures_util::{SinkExt, StreamExt};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/peerjs", listener.local_addr().unwrap());
    let injected = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = injected.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let (mut stream, _) = listener.accept().await.unwrap();
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let len = stream.peek(&mut head).await.unwrap();
                let head = String::from_utf8_lossy(&head[..len]).to_ascii_lowercase();
                if !head.contains("upgrade: websocket") {
                    // GET …/id: an id of ours (the server takes any well-formed one).
                    let mut request = Vec::new();
                    while !request.ends_with(b"\r\n\r\n") {
                        request.push(stream.read_u8().await.unwrap());
                    }
                    let id = format!("proxied-{n}");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{id}",
                        id.len()
                    );
                    stream.write_all(answer.as_bytes()).await.unwrap();
                    return;
                }
                let path = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
                let seen = path.clone();
                let client = tokio_tungstenite::accept_hdr_async(
                    stream,
                    move |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                          response| {
                        *seen.lock().unwrap() = request.uri().to_string();
                        Ok(response)
                    },
                )
                .await
                .unwrap();
                let url = format!("ws://{server}{}", path.lock().unwrap());
                let (upstream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
                let (mut to_client, mut from_client) = client.split();
                let (mut to_server, mut from_server) = upstream.split();
                let up = async move {
                    while let Some(Ok(m)) = from_client.next().await {
                        if to_server.send(m).await.is_err() {
                            break;
                        }
                    }
                };
                let down = async move {
                    while let Some(Ok(m)) = from_server.next().await {
                        if let Message::Text(text) = &m
                            && let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
                            && v["type"] == "OFFER"
                        {
                            for i in 0..extra {
                                let candidate = serde_json::json!({
                                    "type": "CANDIDATE", "src": v["src"], "dst": v["dst"],
                                    "payload": {"type": "media",
                                        "connectionId": v["payload"]["connectionId"],
                                        "candidate": {"candidate": format!(
                                            "candidate:{i} 1 udp 2122260223 192.0.2.{} 9 typ host",
                                            i % 250 + 1), "sdpMid": "0", "sdpMLineIndex": 0}},
                                });
                                let sent = to_client.send(Message::text(candidate.to_string()));
                                if sent.await.is_err() {
                                    return;
                                }
                                counted.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        if to_client.send(m).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::join!(up, down);
            });
        }
    });
    (base, injected)
}

/// More candidates than the early cap (`call::manager::MAX_EARLY_CANDIDATES`) arrive before
/// the offer they belong to, none of them reachable: the cap drops the excess (unit-tested
/// in `call::manager`), and the call they precede still connects and shows its picture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_past_the_early_cap_before_an_offer_do_not_stop_the_call() {
    use packspaces::call::manager::MAX_EARLY_CANDIDATES;
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let base = server.url();
    // The caller is in the space first: it calls the newcomer behind the proxy.
    let caller = Session::start(config(&base, "Caller", true)).await.unwrap();
    common::until_member(&server, &caller.our_id, Duration::from_secs(10)).await;
    let extra = MAX_EARLY_CANDIDATES + 8;
    let (proxy, injected) = early_candidates_proxy(server.addr, extra).await;
    let mut callee_config = config(&base, "Callee", false);
    callee_config.peer_server = PeerServerUrl::parse(&proxy, None).unwrap();
    let callee = Session::start(callee_config).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tiles: Vec<(String, TileState, bool)> = callee
            .shared
            .state()
            .room
            .participants
            .iter()
            .map(|p| (p.label().to_string(), p.state, p.frame.is_some()))
            .collect();
        if tiles == [("Caller".to_string(), TileState::Live, true)] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the call behind {extra} early candidates did not go live: {tiles:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        injected.load(std::sync::atomic::Ordering::SeqCst),
        extra,
        "one offer, preceded by {extra} candidates"
    );
    callee.leave().await;
    caller.leave().await;
    server.stop().await;
}
