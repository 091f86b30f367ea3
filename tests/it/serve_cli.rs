//! `packspaces serve` as a user starts it: what it prints, and clear errors for bad
//! addresses.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn packspaces() -> Command {
    Command::new(env!("CARGO_BIN_EXE_packspaces"))
}

/// Kills the server when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_prints_the_browser_url_and_the_join_line() {
    let child = packspaces()
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(4)
        .map(|l| l.unwrap())
        .collect();
    let url = lines[0]
        .strip_prefix("packspaces serve: listening on ")
        .unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
        "{url}"
    );
    assert!(
        lines[1].contains(&format!("open {url}<space>, e.g. {url}CSC342")),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(&format!("terminals: packspaces join {url}CSC342")),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "Press Ctrl-C to stop.");
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = packspaces()
        .args(["serve", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port}: address already in use"
        )),
        "{stderr}"
    );
}

#[test]
fn bad_addresses_and_directories_are_refused_clearly() {
    let out = packspaces()
        .args(["serve", "--bind", "not-an-ip"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'not-an-ip' for '--bind"));
    let out = packspaces()
        .args(["serve", "--port", "0", "--static-dir", "/nonexistent/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("static directory /nonexistent/dir does not exist")
    );
}

/// Waits for the process to exit (within 15 s) and returns its status.
fn exits(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "it did not stop");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn signal(child: &std::process::Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, signal).unwrap();
}

/// The headless commands stop cleanly on the signals a closing terminal or a service
/// manager sends: a bot leaves its space on SIGHUP, the server stops on SIGTERM.
#[test]
fn a_bot_leaves_on_sighup_and_serve_stops_on_sigterm() {
    let mut server = Running(
        packspaces()
            .args(["serve", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("packspaces serve: listening on ")
        .unwrap()
        .to_string();
    let mut bot = Running(
        packspaces()
            .args(["bot", &format!("{url}CSC342"), "--peer-server"])
            .arg(format!("{url}peerjs"))
            .args([
                "--ice-server",
                "none",
                "--udp-bind",
                "127.0.0.1",
                "--no-audio",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = bot.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let joined = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the bot printed nothing");
    assert!(joined.starts_with("bot: in "), "{joined}");
    signal(&bot.0, rustix::process::Signal::HUP);
    assert!(exits(&mut bot.0).success(), "the bot after SIGHUP");
    // Its output ends (the pipe closes) once it has said everything.
    let said: Vec<String> = rx.iter().collect();
    assert!(said.iter().any(|l| l == "bot: leaving"), "{said:?}");

    std::thread::spawn(move || for _ in lines {});
    signal(&server.0, rustix::process::Signal::TERM);
    assert!(exits(&mut server.0).success(), "serve after SIGTERM");
}

/// The first lines `serve --tls self-signed --tls-dir DIR` prints, up to "Press Ctrl-C".
fn self_signed_start(dir: &std::path::Path) -> Vec<String> {
    let child = packspaces()
        .args(["serve", "--port", "0", "--tls", "self-signed", "--tls-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    BufReader::new(stdout)
        .lines()
        .map(|l| l.unwrap())
        .take_while(|l| l != "Press Ctrl-C to stop.")
        .collect()
}

#[test]
fn serve_with_a_self_signed_certificate_prints_its_fingerprint_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = self_signed_start(dir.path());
    let text = first.join("\n");
    assert!(
        first[0].contains("made a self-signed certificate in"),
        "{text}"
    );
    assert!(
        first[1].starts_with("packspaces serve: listening on https://127.0.0.1:"),
        "{text}"
    );
    let fingerprint = first
        .iter()
        .find_map(|l| l.trim().strip_prefix("certificate SHA-256: "))
        .unwrap_or_else(|| panic!("no fingerprint: {text}"))
        .to_string();
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");
    assert!(
        text.contains(&format!("--pin {fingerprint}")),
        "the join line pins it: {text}"
    );
    assert!(
        text.contains("--ignore-certificate-errors-spki-list="),
        "{text}"
    );
    // The fingerprint is the certificate file's, and a restart reuses it.
    let pem = std::fs::read_to_string(dir.path().join("self-signed-cert.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let again = self_signed_start(dir.path());
    assert!(
        again[0].contains("reusing the self-signed certificate"),
        "{again:?}"
    );
    assert!(
        again.iter().any(|l| l.ends_with(&fingerprint)),
        "the same fingerprint after a restart: {again:?}"
    );
}

#[test]
fn serve_refuses_a_certificate_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("cert.pem");
    std::fs::write(&garbage, "hello\n").unwrap();
    let out = packspaces()
        .args(["serve", "--port", "0", "--tls-cert"])
        .arg(&garbage)
        .arg("--tls-key")
        .arg(&garbage)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cert.pem holds no PEM certificate"),
        "{stderr}"
    );
    // --tls-cert without its key is a usage error.
    let out = packspaces()
        .args(["serve", "--tls-cert"])
        .arg(&garbage)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
