//! The PeerJS client (`packspaces::peerjs::client`) against real PeerServers: ours
//! (`packspaces serve`, in process) and the npm `peer` server when Node.js is there.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use packspaces::peerjs::client::{
    IceCandidate, PeerClient, PeerServerUrl, SessionDescription, SignalCommand, SignalEvent,
};
use packspaces::server::{ServeOptions, start};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Client {
    peer: PeerClient,
    events: mpsc::Receiver<SignalEvent>,
    _cancel: tokio_util::sync::DropGuard,
}

async fn register(url: &str) -> Client {
    let (tx, mut events) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let peer = PeerClient::register(PeerServerUrl::parse(url, None).unwrap(), tx, cancel.clone())
        .await
        .unwrap();
    assert_eq!(
        events.recv().await,
        Some(SignalEvent::Open {
            id: peer.id.clone()
        })
    );
    Client {
        peer,
        events,
        _cancel: cancel.drop_guard(),
    }
}

async fn next(c: &mut Client, within: Duration) -> SignalEvent {
    tokio::time::timeout(within, c.events.recv())
        .await
        .expect("an event in time")
        .expect("client alive")
}

/// Two clients exchange a call's worth of signaling through the server at `url`.
async fn exchange_through(url: &str) {
    let mut a = register(url).await;
    let mut b = register(url).await;
    assert_ne!(a.peer.id, b.peer.id);
    let offer = SessionDescription {
        kind: "offer".into(),
        sdp: "v=0\r\n".into(),
    };
    a.peer
        .send(SignalCommand::Offer {
            peer: b.peer.id.clone(),
            connection_id: "mc_test1".into(),
            sdp: offer.clone(),
            metadata: Some(json!({"name": "Ada"})),
        })
        .await;
    assert_eq!(
        next(&mut b, Duration::from_secs(5)).await,
        SignalEvent::Offer {
            peer: a.peer.id.clone(),
            connection_id: "mc_test1".into(),
            sdp: offer,
            metadata: Some(json!({"name": "Ada"})),
        }
    );
    let candidate = IceCandidate {
        candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
        username_fragment: None,
    };
    b.peer
        .send(SignalCommand::Candidate {
            peer: a.peer.id.clone(),
            connection_id: "mc_test1".into(),
            candidate: candidate.clone(),
        })
        .await;
    b.peer
        .send(SignalCommand::Leave {
            peer: a.peer.id.clone(),
        })
        .await;
    assert_eq!(
        next(&mut a, Duration::from_secs(5)).await,
        SignalEvent::Candidate {
            peer: b.peer.id.clone(),
            connection_id: "mc_test1".into(),
            candidate,
        }
    );
    assert_eq!(
        next(&mut a, Duration::from_secs(5)).await,
        SignalEvent::Leave {
            peer: b.peer.id.clone()
        }
    );
    // An offer to nobody comes back as EXPIRE after about 5 s; heartbeats keep us meanwhile.
    a.peer
        .send(SignalCommand::Offer {
            peer: "nobody-home".into(),
            connection_id: "mc_test2".into(),
            sdp: SessionDescription {
                kind: "offer".into(),
                sdp: "v=0".into(),
            },
            metadata: None,
        })
        .await;
    assert_eq!(
        next(&mut a, Duration::from_secs(9)).await,
        SignalEvent::Expire {
            peer: "nobody-home".into()
        }
    );
}

#[tokio::test]
async fn signaling_through_packspaces_serve() {
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    exchange_through(&format!("{}peerjs", server.url())).await;
}

#[tokio::test]
async fn signaling_through_npm_peer() {
    if !common::node_tools_ready("peer", &[]) {
        return;
    }
    let peer_server = common::NodeServer::start("peer-server.mjs");
    exchange_through(&peer_server.url).await;
}

#[tokio::test]
async fn a_dropped_server_connection_is_retried_with_the_same_id() {
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let port = server.addr.port();
    let url = format!("{}peerjs", server.url());
    let mut a = register(&url).await;
    server.stop().await;
    assert!(matches!(
        next(&mut a, Duration::from_secs(5)).await,
        SignalEvent::Disconnected { .. }
    ));
    let _again = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        .await
        .unwrap();
    loop {
        match next(&mut a, Duration::from_secs(15)).await {
            SignalEvent::Open { id } => {
                assert_eq!(id, a.peer.id);
                break;
            }
            SignalEvent::Disconnected { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Reachable under the same id again.
    let b = register(&url).await;
    b.peer
        .send(SignalCommand::Leave {
            peer: a.peer.id.clone(),
        })
        .await;
    assert_eq!(
        next(&mut a, Duration::from_secs(5)).await,
        SignalEvent::Leave {
            peer: b.peer.id.clone()
        }
    );
}

#[tokio::test]
async fn a_wrong_key_is_a_clear_error() {
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let (tx, _rx) = mpsc::channel(8);
    let url = PeerServerUrl::parse(&format!("{}peerjs", server.url()), Some("wrong")).unwrap();
    let err = PeerClient::register(url, tx, CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "the PeerServer refused us: Invalid key provided"
    );
}
