//! The space client (`packspaces::space`) against real servers: `packspaces serve` in
//! process, and the workshop's own Node backend (socket.io 4) when Node.js is there.

use crate::common;
use crate::common::space_member::Member;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use packspaces::server::{ServeOptions, start};
use packspaces::space::SpaceEvent;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::test]
async fn members_of_a_space_on_packspaces_serve_see_each_other_come_and_go() {
    let server = start(ServeOptions::new(LOCALHOST, 0)).await.unwrap();
    let url = format!("{}CSC342", server.url());
    let mut a = Member::join(&url, "alice");
    a.expect(SpaceEvent::Joined).await;
    assert_eq!(a.next().await, SpaceEvent::Members(vec![]));
    let mut elsewhere = Member::join(&format!("{}CSC100", server.url()), "eve");
    elsewhere.expect(SpaceEvent::Joined).await;
    let mut b = Member::join(&url, "bob");
    b.expect(SpaceEvent::Joined).await;
    assert_eq!(b.next().await, SpaceEvent::Members(vec!["alice".into()]));
    a.expect(SpaceEvent::UserConnected("bob".into())).await;
    drop(b);
    a.expect(SpaceEvent::UserDisconnected("bob".into())).await;
    assert_eq!(elsewhere.next().await, SpaceEvent::Members(vec![]));
    assert!(
        elsewhere.events.try_recv().is_err(),
        "nothing crossed spaces"
    );
}

#[tokio::test]
async fn a_dropped_connection_is_retried_and_the_space_joined_again() {
    let server = start(ServeOptions::new(LOCALHOST, 0)).await.unwrap();
    let port = server.addr.port();
    let url = format!("{}again", server.url());
    let mut a = Member::join(&url, "alice");
    a.expect(SpaceEvent::Joined).await;
    server.stop().await;
    loop {
        match a.next().await {
            SpaceEvent::Members(_) => continue,
            SpaceEvent::Disconnected { .. } => break,
            other => panic!("expected a disconnect, got {other:?}"),
        }
    }
    // The server comes back on the same port; the client finds it and re-joins. The port
    // can be held for a moment after the stop (seen once in CI: "address in use", with
    // other suites opening connections beside this one): try again for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let _server = loop {
        match start(ServeOptions::new(LOCALHOST, port)).await {
            Ok(server) => break server,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("port {port} not free yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("port {port} never came free: {e}"),
        }
    };
    loop {
        match a.next().await {
            SpaceEvent::Joined => break,
            SpaceEvent::Disconnected { retry_in, .. } => {
                assert!(retry_in <= Duration::from_secs(10))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut b = Member::join(&url, "bob");
    b.expect(SpaceEvent::Joined).await;
    a.expect(SpaceEvent::UserConnected("bob".into())).await;
}

#[tokio::test]
async fn nothing_listening_is_reported_and_retried() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut a = Member::join(&format!("http://127.0.0.1:{port}/x"), "alice");
    match a.next().await {
        SpaceEvent::Disconnected { reason, retry_in } => {
            assert!(reason.contains("cannot connect"), "{reason}");
            assert_eq!(retry_in, Duration::from_millis(500));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn the_workshop_backend_announces_us_like_a_browser() {
    if !common::node_tools_ready("socket.io", &[]) {
        return;
    }
    let backend = common::NodeServer::start("workshop-backend.mjs");
    let url = backend.url.clone();
    let mut a = Member::join(&url, "alice");
    a.expect(SpaceEvent::Joined).await;
    // A name is an extra argument to join-space, which the workshop backend ignores.
    let mut b = Member::join_as(&url, "bob", Some("Bob"));
    b.expect(SpaceEvent::Joined).await;
    a.expect(SpaceEvent::UserConnected("bob".into())).await;
    drop(b);
    a.expect(SpaceEvent::UserDisconnected("bob".into())).await;
}

#[tokio::test]
async fn names_and_chat_reach_the_space_as_sent_and_nowhere_else() {
    let server = start(ServeOptions::new(LOCALHOST, 0)).await.unwrap();
    let url = format!("{}CSC342", server.url());
    let mut a = Member::join_as(&url, "alice", Some("  Ada\u{1b}[2J "));
    a.expect(SpaceEvent::Joined).await;
    assert_eq!(a.next().await, SpaceEvent::Members(vec![]));
    let mut elsewhere = Member::join(&format!("{}CSC100", server.url()), "eve");
    elsewhere.expect(SpaceEvent::Joined).await;
    assert_eq!(elsewhere.next().await, SpaceEvent::Members(vec![]));
    let mut b = Member::join_as(&url, "bob", Some("Bob"));
    b.expect(SpaceEvent::Joined).await;
    // The server cleaned the name it was given, and names come before whom they name.
    assert_eq!(
        b.next().await,
        SpaceEvent::Names(vec![("alice".into(), "Ada[2J".into())])
    );
    assert_eq!(b.next().await, SpaceEvent::Members(vec!["alice".into()]));
    assert_eq!(
        a.next().await,
        SpaceEvent::Names(vec![("bob".into(), "Bob".into())])
    );
    assert_eq!(a.next().await, SpaceEvent::UserConnected("bob".into()));

    let text = "<b>hi</b> \u{1b}[2J\u{7} é";
    b.say(text).await;
    for member in [&mut a, &mut b] {
        match member.next().await {
            SpaceEvent::Chat(line) => {
                assert_eq!(
                    (line.from.as_str(), line.name.as_deref()),
                    ("bob", Some("Bob"))
                );
                assert_eq!(
                    line.text, text,
                    "relayed as sent: showing it safely is the client's job"
                );
                assert!(line.time.is_some_and(|t| t.ends_with('Z')));
            }
            other => panic!("wanted bob's chat line, got {other:?}"),
        }
    }
    a.say("and back").await;
    match b.next().await {
        SpaceEvent::Chat(line) => {
            assert_eq!(
                (line.from.as_str(), line.name.as_deref(), line.text.as_str()),
                ("alice", Some("Ada[2J"), "and back")
            );
        }
        other => panic!("wanted alice's chat line, got {other:?}"),
    }
    assert!(
        elsewhere.events.try_recv().is_err(),
        "nothing crossed spaces"
    );
}
