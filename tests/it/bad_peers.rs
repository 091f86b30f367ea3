//! Hostile or broken peers cannot take a session down: garbage SDP, an offer with no codec
//! in common, stray candidates and answers, and ids with escape sequences are refused or
//! dropped, and the session goes on to show a well-behaved peer.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::media::testcard::PALETTES;
use packspaces::model::TileState;
use packspaces::peerjs::client::{
    IceCandidate, PeerClient, PeerServerUrl, SessionDescription, SignalCommand,
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

    let (tx, _events) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let attacker = PeerClient::register(
        PeerServerUrl::parse(&format!("{base}peerjs"), None).unwrap(),
        tx,
        cancel.clone(),
    )
    .await
    .unwrap();
    let to = victim.our_id.clone();
    let offer = |sdp: &str, id: &str| SignalCommand::Offer {
        peer: to.clone(),
        connection_id: id.into(),
        sdp: SessionDescription {
            kind: "offer".into(),
            sdp: sdp.into(),
        },
        metadata: Some(serde_json::json!({"name": "\u{1b}[2J\u{1b}]0;owned\u{7}"})),
    };
    attacker.send(offer("this is not SDP", "mc_bad1")).await;
    attacker.send(offer(AV1_ONLY, "mc_bad2")).await;
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
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let s = victim.shared.state();
        for p in &s.room.participants {
            assert_ne!(p.state, TileState::Live, "a broken call cannot be live");
            assert!(
                !p.label().chars().any(char::is_control),
                "label {:?}",
                p.label()
            );
        }
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
    cancel.cancel();
    good.leave().await;
    victim.leave().await;
}
