//! Chat between the built binaries in one `serve` space: a `bot --say` line reaches a
//! terminal running `join` (an unread count, then the pane, as inert text), a line typed in
//! that terminal reaches the bot and `monitor --json` with the terminal's name; and against
//! the workshop backend, which relays nothing, the pane says chat is unavailable.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::NodeServer;
use common::monitor_json::Monitor;
use common::vterm::VirtualTerminal;
use packspaces::server::{ServeOptions, start};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(30);

/// What a bot says: markup, an escape sequence that would clear a terminal, a bell.
const HOSTILE: &str = "<b>hi</b> <img src=x onerror=alert(1)> \u{1b}[2J\u{7}done";

/// `packspaces join` in a terminal of its own.
fn join_in_terminal(url: &str, extra: &[&str]) -> VirtualTerminal {
    let mut argv = vec![
        env!("CARGO_BIN_EXE_packspaces"),
        "join",
        url,
        "--name",
        "Tess",
        "--no-video",
        "--no-audio",
        "--udp-bind",
        "127.0.0.1",
    ];
    argv.extend_from_slice(extra);
    VirtualTerminal::spawn_keeping_output(&argv, 120, 36, &[])
}

/// `packspaces bot` with its stdout lines to wait for.
struct Bot {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Bot {
    fn start(url: &str, name: &str, say: &str, extra: &[&str]) -> Bot {
        let mut child = Command::new(env!("CARGO_BIN_EXE_packspaces"))
            .args([
                "bot",
                url,
                "--name",
                name,
                "--say",
                say,
                "--udp-bind",
                "127.0.0.1",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("bot: {line}");
                    let _ = tx.send(line);
                }
            });
        }
        Bot { child, lines }
    }

    /// Waits for a line holding `text`.
    fn wait_line(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(_) => panic!("the bot printed no line with {text:?} within {WAIT:?}"),
            }
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screen_has(term: &VirtualTerminal, text: &str) -> bool {
    term.wait_for(WAIT, |s| s.contents().contains(text))
        .is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_a_bot_and_a_monitor_chat_in_a_space() {
    let server = start(ServeOptions::new(LOCALHOST, 0)).await.unwrap();
    let url = format!("{}CSC342", server.url());
    tokio::task::spawn_blocking(move || {
        let monitor = Monitor::start(&url, None);
        let term = join_in_terminal(&url, &[]);
        assert!(
            screen_has(&term, "space: connected"),
            "the terminal joined:\n{}",
            term.screen().contents()
        );
        let bot = Bot::start(&url, "Ada", HOSTILE, &[]);

        // The terminal: an unread count while the pane is closed, then the line, inert.
        assert!(
            screen_has(&term, "chat: 1 unread (c)"),
            "no unread count:\n{}",
            term.screen().contents()
        );
        term.send(b"c");
        // The pane is narrow: the line wraps, so its pieces are looked for.
        let pieces = ["Ada: <b>hi</b> <img src", "=x onerror=alert(1)>", "[2J"];
        assert!(
            term.wait_for(WAIT, |s| pieces.iter().all(|p| s.contents().contains(p)))
                .is_some(),
            "the line is not in the pane as text:\n{}",
            term.screen().contents()
        );
        assert!(
            term.wait_for(WAIT, |s| !s.contents().contains("unread"))
                .is_some(),
            "the unread count stays with the pane open"
        );
        // The message's escape and bell never reached the terminal as such.
        let output = term.output();
        let raw = |needle: &[u8]| output.windows(needle.len()).any(|w| w == needle);
        assert!(!raw(b"\x1b[2J\x07") && !raw(b"\x07don") && raw(b"\xef\xbf\xbd[2J"));

        // The monitor logged it with the bytes as sent (JSON-escaped on its line).
        let said = wait_chat(&monitor, "Ada");
        assert_eq!(said["text"], HOSTILE);

        // Typing in the terminal: keys go to the line, not to the grid (`q` stays).
        term.send(b"quite right");
        assert!(screen_has(&term, "> quite right"));
        term.send(b"\r");
        assert!(
            screen_has(&term, "you: quite right"),
            "our line came back from the server:\n{}",
            term.screen().contents()
        );
        let heard = bot.wait_line("Tess: quite right");
        assert!(heard.starts_with("bot: chat "), "{heard}");
        let logged = wait_chat(&monitor, "Tess");
        assert_eq!(logged["text"], "quite right");

        // Esc leaves the pane; `q` quits again.
        term.send(b"\x1b");
        assert!(
            screen_has(&term, "c chat ·"),
            "the grid's key hints are back"
        );
        term.send(b"q");
        assert!(
            term.wait_exit(WAIT).is_some(),
            "q quits once the pane is closed"
        );
        monitor.stop();
    })
    .await
    .unwrap();
}

/// The monitor's next chat line from `name`, skipping joins and leaves.
fn wait_chat(monitor: &Monitor, name: &str) -> serde_json::Value {
    loop {
        let line = monitor.next(&format!("a chat line from {name}"));
        if line["event"] == "chat" && line["name"] == name {
            return line;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn against_the_workshop_backend_chat_is_unavailable() {
    if !common::node_tools_ready("socket.io", &[]) || !common::node_tools_ready("peer", &[]) {
        return;
    }
    tokio::task::spawn_blocking(|| {
        let backend = NodeServer::start("workshop-backend.mjs");
        let peers = NodeServer::start("peer-server.mjs");
        let term = join_in_terminal(&backend.url, &["--peer-server", &peers.url]);
        assert!(
            screen_has(&term, "space: connected"),
            "the terminal joined:\n{}",
            term.screen().contents()
        );
        let bot = Bot::start(
            &backend.url,
            "Ada",
            "anyone?",
            &["--peer-server", &peers.url],
        );
        let said = bot.wait_line("chat unavailable");
        assert!(said.contains("workshop backend"), "{said}");
        term.send(b"chello\r");
        assert!(
            screen_has(&term, "chat unavailable: this server relays no chat"),
            "{}",
            term.screen().contents()
        );
        // Esc alone (with `q` in the same read it would be Alt-q), then `q`.
        term.send(b"\x1b");
        assert!(
            screen_has(&term, "c chat ·"),
            "the grid's key hints are back"
        );
        term.send(b"q");
        assert!(term.wait_exit(WAIT).is_some());
    })
    .await
    .unwrap();
}

/// What a Chromium page says: markup and an escape sequence.
const FROM_THE_PAGE: &str = "<i>x</i> \u{1b}[31mred";

/// The texts of the page's chat messages, as a user reads them, and how many elements
/// the messages hold beyond what the page builds (none may come from a message).
fn page_chat(page: &mut common::page::Page) -> (Vec<String>, u64) {
    let v = page.eval(
        "({ lines: [...document.querySelectorAll('#messages li')].map((li) => li.textContent), markup: document.querySelectorAll('#messages i, #messages img, #messages script').length })",
    );
    let lines = v["lines"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (lines, v["markup"].as_u64().unwrap_or(u64::MAX))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chromium_page_and_a_terminal_chat_both_ways() {
    if !common::node_tools_ready("playwright-core", &["/usr/bin/chromium"]) {
        return;
    }
    let _turn = common::browser_turn().await;
    let server = common::serve_with_page_libraries("peerjs").await;
    let url = format!("{}CSC342", server.url());
    tokio::task::spawn_blocking(move || {
        let term = join_in_terminal(&url, &[]);
        assert!(screen_has(&term, "space: connected"));
        let mut page = common::page::Page::open(
            "browser-peer.mjs",
            &format!("{url}?name=Pat"),
            None,
        );
        page.wait("ready", WAIT, |v| v["event"] == "ready");

        // Typed in the page, read in the terminal.
        let literal = serde_json::to_string(FROM_THE_PAGE).unwrap();
        page.eval(&format!(
            "(() => {{ const i = document.getElementById('chat-input'); i.value = {literal}; document.getElementById('chat-form').requestSubmit(); return true; }})()"
        ));
        assert!(
            screen_has(&term, "chat: 1 unread (c)"),
            "{}",
            term.screen().contents()
        );
        term.send(b"c");
        assert!(
            screen_has(&term, "Pat: <i>x</i>") && screen_has(&term, "[31mred"),
            "the page's line is not in the pane as text:\n{}",
            term.screen().contents()
        );
        let output = term.output();
        assert!(
            !output.windows(6).any(|w| w == b"\x1b[31mr"),
            "the page's escape sequence reached the terminal"
        );

        // Typed in the terminal, read in the page's DOM.
        term.send(b"hello page\r");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let (lines, markup) = page_chat(&mut page);
            assert_eq!(markup, 0, "a message became markup: {lines:?}");
            let ours = lines.iter().any(|l| l.contains("Tess") && l.contains("hello page"));
            let theirs = lines.iter().any(|l| l.contains(FROM_THE_PAGE));
            if ours && theirs {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the page shows {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        term.send(b"\x1b");
        assert!(screen_has(&term, "c chat ·"), "the grid's key hints are back");
        term.send(b"q");
        assert!(term.wait_exit(WAIT).is_some());
    })
    .await
    .unwrap();
}
