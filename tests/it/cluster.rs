//! `serve --redis`: instances sharing spaces and PeerJS ids through a real `redis-server`
//! started by the test. Members on different instances see each other come and go,
//! terminals on different instances call each other, a killed instance's members are
//! announced as gone within 10 s, and a Redis restart is survived and caught up with.

use crate::common;
use crate::common::redis::RedisServer;
use crate::common::space_member::Member;

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::media::testcard::PALETTES;
use packspaces::server::{RunningServer, ServeOptions, start};
use packspaces::session::{CardSpec, Session};
use packspaces::space::SpaceEvent;

/// An instance in this process. Its log (and every other server's in this test binary)
/// goes to the captured output, shown when a test fails.
async fn instance(redis: &RedisServer) -> RunningServer {
    let filter = std::env::var("PACKSPACES_LOG").unwrap_or("packspaces::server=debug".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
    let mut options = ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    options.redis = Some(redis.url());
    start(options).await.unwrap()
}

/// An instance as its own process (to be killed); returns it and its URL.
fn instance_process(redis: &RedisServer) -> (Child, String) {
    common::serve_process(&["--redis", &redis.url()])
}

/// The member list a member gets on joining.
async fn members_seen(member: &mut Member) -> Vec<String> {
    member.expect(SpaceEvent::Joined).await;
    match member.next().await {
        SpaceEvent::Members(mut list) => {
            list.sort();
            list
        }
        other => panic!("wanted the member list, got {other:?}"),
    }
}

/// Waits for `want` among whatever else `member` hears, within 5 s.
async fn hears(member: &mut Member, want: SpaceEvent) {
    let heard = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(event) = member.events.recv().await {
            if event == want {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(heard, Ok(true), "never heard {want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_at_three_instances_see_each_other_come_and_go() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b, c) = (
        instance(&redis).await,
        instance(&redis).await,
        instance(&redis).await,
    );
    let mut alice = Member::join(&format!("{}CSC342", a.url()), "alice");
    assert_eq!(members_seen(&mut alice).await, Vec::<String>::new());
    let mut eve = Member::join(&format!("{}CSC100", b.url()), "eve");
    assert_eq!(members_seen(&mut eve).await, Vec::<String>::new());

    let mut bob = Member::join(&format!("{}CSC342", b.url()), "bob");
    assert_eq!(members_seen(&mut bob).await, vec!["alice".to_string()]);
    alice.expect(SpaceEvent::UserConnected("bob".into())).await;
    let mut carol = Member::join(&format!("{}CSC342", c.url()), "carol");
    assert_eq!(
        members_seen(&mut carol).await,
        vec!["alice".to_string(), "bob".to_string()]
    );
    bob.expect(SpaceEvent::UserConnected("carol".into())).await;
    alice
        .expect(SpaceEvent::UserConnected("carol".into()))
        .await;

    drop(bob);
    alice
        .expect(SpaceEvent::UserDisconnected("bob".into()))
        .await;
    carol
        .expect(SpaceEvent::UserDisconnected("bob".into()))
        .await;
    let mut dave = Member::join(&format!("{}CSC342", b.url()), "dave");
    assert_eq!(
        members_seen(&mut dave).await,
        vec!["alice".to_string(), "carol".to_string()],
        "bob is gone from the cluster's record too"
    );
    assert!(eve.events.try_recv().is_err(), "nothing crossed spaces");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_at_two_instances_call_each_other() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let card = |palette: usize| {
        Some(CardSpec {
            palette: PALETTES[palette],
            ..CardSpec::default()
        })
    };
    let red = Session::start(common::loopback_session(
        &a.url(),
        "CSC342",
        "Red",
        card(0),
        &DEFAULT_PREFERENCE,
    ))
    .await
    .unwrap();
    let blue = Session::start(common::loopback_session(
        &b.url(),
        "CSC342",
        "Blue",
        card(2),
        &DEFAULT_PREFERENCE,
    ))
    .await
    .unwrap();
    // Each sees the other's card: offers, answers and candidates crossed instances.
    common::assert_first_frame_is_card(&red, &PALETTES[2]).await;
    common::assert_first_frame_is_card(&blue, &PALETTES[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_members_are_announced_gone_within_10_s() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = instance(&redis).await;
    let (mut b, b_url) = instance_process(&redis);
    let mut alice = Member::join(&format!("{}CSC342", a.url()), "alice");
    members_seen(&mut alice).await;
    let mut bob = Member::join(&format!("{b_url}CSC342"), "bob");
    assert_eq!(members_seen(&mut bob).await, vec!["alice".to_string()]);
    alice.expect(SpaceEvent::UserConnected("bob".into())).await;

    // SIGKILL: no goodbye from B, only its lease running out.
    b.kill().unwrap();
    b.wait().unwrap();
    let killed = Instant::now();
    let gone = tokio::time::timeout(Duration::from_secs(12), async {
        loop {
            match alice.events.recv().await {
                Some(SpaceEvent::UserDisconnected(p)) if p == "bob" => return,
                Some(_) => continue,
                None => panic!("alice's client stopped"),
            }
        }
    })
    .await;
    let after = killed.elapsed();
    assert!(gone.is_ok(), "bob never announced as gone");
    assert!(after < Duration::from_secs(10), "announced after {after:?}");
    drop(bob);

    // And the record is clean: a newcomer is told only of alice.
    let mut carol = Member::join(&format!("{}CSC342", a.url()), "carol");
    assert_eq!(members_seen(&mut carol).await, vec!["alice".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_serve_their_members_while_redis_restarts_and_catch_up_after() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut alice = Member::join(&format!("{}CSC342", a.url()), "alice");
    members_seen(&mut alice).await;
    let mut bob = Member::join(&format!("{}CSC342", b.url()), "bob");
    assert_eq!(members_seen(&mut bob).await, vec!["alice".to_string()]);
    alice.expect(SpaceEvent::UserConnected("bob".into())).await;

    redis.stop();
    // Local members still meet.
    let mut carol = Member::join(&format!("{}CSC342", a.url()), "carol");
    assert!(
        members_seen(&mut carol)
            .await
            .contains(&"alice".to_string())
    );
    alice
        .expect(SpaceEvent::UserConnected("carol".into()))
        .await;

    // Back, empty: the instances write their members again and listen again.
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        n += 1;
        let name = format!("dave{n}");
        let mut dave = Member::join(&format!("{}CSC342", b.url()), &name);
        let seen = members_seen(&mut dave).await;
        let everyone = ["alice", "bob", "carol"]
            .iter()
            .all(|m| seen.contains(&m.to_string()));
        if everyone {
            // A new join at B reaches A's members again (after the earlier daves' comings
            // and goings, which may or may not have reached A).
            hears(&mut alice, SpaceEvent::UserConnected(name)).await;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after Redis came back, a newcomer at B still sees only {seen:?}"
        );
        drop(dave);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn serve_says_when_redis_cannot_be_reached() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let url = format!("redis://{closed}");
    let out = Command::new(env!("CARGO_BIN_EXE_packspaces"))
        .args(["serve", "--port", "0", "--redis", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("cannot reach Redis at {url}")),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_packspaces"))
        .args(["serve", "--port", "0", "--redis", "http://h:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not a Redis URL"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_chat_cross_instances() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let mut alice = Member::join_as(&format!("{}CSC342", a.url()), "alice", Some("Ada"));
    assert_eq!(members_seen(&mut alice).await, Vec::<String>::new());
    let mut bob = Member::join_as(&format!("{}CSC342", b.url()), "bob", Some("Bob"));
    bob.expect(SpaceEvent::Joined).await;
    // Alice's name comes from the cluster's record: she is at the other instance.
    assert_eq!(
        bob.next().await,
        SpaceEvent::Names(vec![("alice".into(), "Ada".into())])
    );
    assert_eq!(bob.next().await, SpaceEvent::Members(vec!["alice".into()]));
    hears(
        &mut alice,
        SpaceEvent::Names(vec![("bob".into(), "Bob".into())]),
    )
    .await;
    bob.say("across").await;
    for member in [&mut alice, &mut bob] {
        let heard = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(SpaceEvent::Chat(line)) = member.events.recv().await {
                    return line;
                }
            }
        })
        .await
        .expect("the line within 5 s");
        assert_eq!(
            (
                heard.from.as_str(),
                heard.name.as_deref(),
                heard.text.as_str()
            ),
            ("bob", Some("Bob"), "across")
        );
    }
    // A member gone is a name gone: a newcomer is not told of it.
    drop(alice);
    hears(&mut bob, SpaceEvent::UserDisconnected("alice".into())).await;
    let mut carol = Member::join(&format!("{}CSC342", a.url()), "carol");
    carol.expect(SpaceEvent::Joined).await;
    assert_eq!(
        carol.next().await,
        SpaceEvent::Names(vec![("bob".into(), "Bob".into())])
    );
}
