//! The page URL is all a terminal needs: a packspaces server names its PeerJS server at
//! `/packspaces.json`; another backend (the workshop's) has no such document and the
//! workshop's defaults apply; a document that is ours but garbage, or no server at all, is a
//! one-line error.
//! (`monitor` finding `serve`'s PeerJS server on its own is in `monitor`.)

use crate::common;

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::Command;

use packspaces::discover::{ServerInfo, discover};
use packspaces::net::Endpoint;
use packspaces::server::{ServeOptions, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_names_its_peerjs_server_and_ice_servers() {
    let mut options = ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    options.page.ice_servers = vec![packspaces::ice::IceServer::stun("stun:10.0.0.5:3478")];
    let server = start(options).await.unwrap();
    let origin = Endpoint::parse(&format!("{}CSC342", server.url())).unwrap();
    let about = discover(&origin).await.unwrap().expect("serve answers");
    assert_eq!(
        about,
        ServerInfo::new(
            "/peerjs",
            "peerjs",
            &[packspaces::ice::IceServer::stun("stun:10.0.0.5:3478")]
        )
    );
    server.stop().await;
}

/// The workshop's backend (serving its page for every path, as an Express app with a
/// catch-all does) is not a packspaces server: no document, so the defaults apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workshop_backend_has_no_document() {
    if !common::node_tools_ready("socket.io", &[]) {
        return;
    }
    let backend = common::NodeServer::start_with_env(
        "workshop-backend.mjs",
        &[("PEER_URL", "http://127.0.0.1:9/peerjs")],
    );
    let origin = Endpoint::parse(&backend.url).unwrap();
    assert_eq!(discover(&origin).await.unwrap(), None);
}

/// A one-connection HTTP server that answers every request with `body` (as JSON).
fn answering(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/CSC342", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// What `packspaces bot URL` says when it fails, checked to be one line.
fn bot_refused(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_packspaces"))
        .args(["bot", url, "--no-audio"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn garbage_in_our_document_is_a_one_line_error() {
    for (body, want) in [
        (
            r#"{"packspaces":1,"peerjs":{"path":"/peerjs\u001b]0;owned\u0007","key":"peerjs"}}"#,
            "bad PeerJS path",
        ),
        (r#"{"packspaces":1,"peerjs":7}"#, "invalid type"),
    ] {
        let stderr = bot_refused(&answering(body));
        assert!(
            stderr.contains("/packspaces.json is a packspaces document we cannot use")
                && stderr.contains(want),
            "{stderr}"
        );
        assert!(
            !stderr.contains('\x1b') && !stderr.contains('\x07'),
            "{stderr:?}"
        );
    }
}

/// A space URL where nothing listens: the error names that address, not the PeerJS cloud
/// the terminal would have tried next.
#[test]
fn a_server_that_is_not_there_is_named_in_the_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stderr = bot_refused(&format!("http://127.0.0.1:{port}/CSC342"));
    assert!(
        stderr.contains(&format!(
            "cannot connect to http://127.0.0.1:{port}/packspaces.json"
        )) && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("peerjs.com"), "{stderr}");
}

/// A web server that is neither packspaces nor Socket.IO (every path answered with
/// someone else's JSON, as a misplaced URL would): a one-line error naming it, not a
/// failure at the PeerJS cloud.
#[test]
fn a_web_server_that_is_no_packspaces_backend_is_named_in_the_error() {
    let url = answering(r#"{"hello":"world"}"#);
    let stderr = bot_refused(&url);
    let origin = url.trim_end_matches("CSC342");
    assert!(
        stderr.contains(&format!(
            "{origin} is not a PackSpaces backend: it has no /packspaces.json and no Socket.IO server at /socket.io/"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("peerjs.com"), "{stderr}");
}
