//! Runs the Node.js interop suites in `tests/node` against the real binary: socket.io
//! clients, the npm `peer` PeerServer, and headless browsers. Each suite skips with a
//! printed reason when Node.js or its packages are missing, except under `CI=true`, where
//! that is a failure (`.ci/run` installs them).

use crate::common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_suite(file: &str, limit: Duration) {
    // Suites start servers and browsers: one at a time keeps the machine responsive.
    let _turn = common::browser_turn_blocking();
    if !common::node_tools_ready("socket.io-client", &[]) {
        return;
    }
    let mut child = Command::new("node")
        // Force exit: the npm servers leave timers running after their tests end.
        .args(["--test", "--test-force-exit", "--test-reporter=spec", file])
        .current_dir(common::node_dir())
        .env("PACKSPACES_BIN", env!("CARGO_BIN_EXE_packspaces"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    println!("{output}");
    match status {
        None => panic!("{file} did not finish within {limit:?}:\n{output}"),
        Some(s) => assert!(s.success(), "{file} failed ({s}):\n{output}"),
    }
}

#[test]
fn socketio_clients_join_spaces_on_packspaces_serve() {
    run_suite("spaces.test.mjs", Duration::from_secs(120));
}

#[test]
fn peerjs_clients_see_packspaces_serve_as_npm_peer() {
    run_suite("peerserver.test.mjs", Duration::from_secs(120));
}

#[test]
fn serve_instances_behind_haproxy_share_spaces_and_peerjs_ids() {
    run_suite("cluster.test.mjs", Duration::from_secs(120));
}

#[test]
fn chromium_pages_see_each_other_through_packspaces_serve() {
    run_suite("browser.test.mjs", Duration::from_secs(240));
}

#[test]
fn the_served_page_has_names_chat_switches_and_leave() {
    run_suite("page.test.mjs", Duration::from_secs(240));
}
