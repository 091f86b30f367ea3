//! Calls through a TURN relay when direct UDP is impossible, as on a campus network: the
//! test makes three network namespaces — a hub with `packspaces serve` and a real coturn,
//! the terminal's side and the browser's side, each joined to the hub by a veth pair and
//! with no route to the other (and no default route, so mDNS cannot work either). `serve`
//! is given the TURN server once (`--ice-server turn:… --ice-username --ice-credential`);
//! the browser gets it from its page and the terminal (`packspaces bot`, given only the
//! page URL) from `/packspaces.json`. In both call directions the call connects, the
//! browser shows the terminal's picture and sends it video, and its own statistics show a
//! relay candidate in use. And on a side with no default route (no multicast, so no
//! mDNS), a browser and a terminal call each other with plain host candidates. Needs root,
//! `ip` (iproute2), coturn, node and Chromium: skips without them, except under CI=true.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::page::Page;
use packspaces::media::testcard::PALETTES;

const HUB: &str = "10.77.0.1";
const TURN_USER: &str = "ada";
const TURN_SECRET: &str = "relay-only";

/// True when everything is there; otherwise says why and returns false (skip), or panics
/// under CI=true, where `.ci/run` installs it all and runs as root.
fn tools_ready() -> bool {
    if !common::node_tools_ready("playwright-core", &["/usr/bin/chromium"]) {
        return false;
    }
    let missing: Vec<&str> = ["/usr/bin/turnserver", "/usr/sbin/ip", "/usr/bin/ip"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    let root = rustix::process::geteuid().is_root();
    let ip_missing = missing.contains(&"/usr/sbin/ip") && missing.contains(&"/usr/bin/ip");
    let why = if !root {
        Some("network namespaces need root".to_string())
    } else if missing.contains(&"/usr/bin/turnserver") {
        Some("coturn is not installed (apt-get install coturn)".to_string())
    } else if ip_missing {
        Some("ip (iproute2) is not installed".to_string())
    } else {
        None
    };
    match why {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but {why}")
        }
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?} failed");
}

/// The three namespaces and what runs in them; all removed on drop.
struct Network {
    hub: String,
    terminal: String,
    browser: String,
    children: Vec<Child>,
}

impl Network {
    fn new(tag: &str) -> Network {
        let id = format!("{}{tag}", std::process::id());
        let net = Network {
            hub: format!("psH{id}"),
            terminal: format!("psT{id}"),
            browser: format!("psB{id}"),
            children: Vec::new(),
        };
        for ns in [&net.hub, &net.terminal, &net.browser] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // hub 10.77.1.1 — terminal 10.77.1.2; hub 10.77.2.1 — browser 10.77.2.2; the hub's
        // services on 10.77.0.1, the one address both sides have a route to.
        for (side, subnet) in [(&net.terminal, 1), (&net.browser, 2)] {
            // Names unique to this test: both tests of this file may run at once.
            let (hub_end, side_end) = (format!("h{subnet}{tag}"), format!("s{subnet}{tag}"));
            ip(&[
                "link", "add", &hub_end, "netns", &net.hub, "type", "veth", "peer", "name",
                &side_end, "netns", side,
            ]);
            ip(&[
                "-n",
                &net.hub,
                "addr",
                "add",
                &format!("10.77.{subnet}.1/24"),
                "dev",
                &hub_end,
            ]);
            ip(&[
                "-n",
                side,
                "addr",
                "add",
                &format!("10.77.{subnet}.2/24"),
                "dev",
                &side_end,
            ]);
            ip(&["-n", &net.hub, "link", "set", &hub_end, "up"]);
            ip(&["-n", side, "link", "set", &side_end, "up"]);
            let via = format!("10.77.{subnet}.1");
            ip(&[
                "-n",
                side,
                "route",
                "add",
                &format!("{HUB}/32"),
                "via",
                &via,
            ]);
        }
        ip(&[
            "-n",
            &net.hub,
            "addr",
            "add",
            &format!("{HUB}/32"),
            "dev",
            "lo",
        ]);
        net
    }

    /// `command` in namespace `ns`, stdout piped.
    fn spawn(&mut self, ns: &str, command: &[&str]) -> &mut Child {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.last_mut().unwrap()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.hub, &self.terminal, &self.browser] {
            // Whatever still runs in it (a browser's helpers) goes with it.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Lines of a child's stdout on a channel.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("| {line}");
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_line(lines: &mpsc::Receiver<String>, what: &str, pred: impl Fn(&str) -> bool) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if pred(&line) => return line,
            Ok(_) => {}
            Err(_) => panic!("no {what} within 30 s"),
        }
    }
}

/// How a scenario's call must flow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The browser on its own side: only through the relay.
    Relayed,
    /// The browser beside the terminal, on a host with no default route (no multicast,
    /// so no mDNS): plain host candidates (or peer-reflexive ones learnt from them), no TURN
    /// server at all.
    Direct,
}

fn call_across(bot_first: bool, route: Route) {
    let dir = tempfile::tempdir().unwrap();
    let tag = match (route, bot_first) {
        (Route::Relayed, true) => "a",
        (Route::Relayed, false) => "b",
        (Route::Direct, _) => "c",
    };
    let mut net = Network::new(tag);
    // No way from one side to the other but through the hub's relay.
    let reach = Command::new("ip")
        .args(["-n", &net.terminal, "route", "get", "10.77.2.2"])
        .output()
        .unwrap();
    assert!(
        !reach.status.success(),
        "the terminal's side can reach the browser's"
    );

    let db = dir.path().join("turndb");
    let pid = dir.path().join("turn.pid");
    let hub = net.hub.clone();
    if route == Route::Relayed {
        net.spawn(
            &hub,
            &[
                "turnserver",
                "-n",
                "--listening-ip",
                HUB,
                "--relay-ip",
                HUB,
                "--listening-port",
                "3478",
                "--min-port",
                "49152",
                "--max-port",
                "49407",
                "--lt-cred-mech",
                "--user",
                &format!("{TURN_USER}:{TURN_SECRET}"),
                "--realm",
                "packspaces.test",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--fingerprint",
                "--log-file",
                "stdout",
                "--db",
                db.to_str().unwrap(),
                "--pidfile",
                pid.to_str().unwrap(),
            ],
        );
    }
    let bin = env!("CARGO_BIN_EXE_packspaces");
    let turn = format!("turn:{HUB}:3478?transport=udp");
    let mut serve_args = vec![bin, "serve", "--bind", HUB, "--port", "3000"];
    if route == Route::Relayed {
        serve_args.extend([
            "--ice-server",
            &turn,
            "--ice-username",
            TURN_USER,
            "--ice-credential",
            TURN_SECRET,
        ]);
    }
    let serve = net.spawn(&hub, &serve_args);
    let serve_lines = lines_of(serve);
    wait_line(&serve_lines, "serve listening", |l| {
        l.contains("listening on")
    });
    let space = format!("http://{HUB}:3000/CSC342");

    let start_bot = |net: &mut Network| {
        let terminal = net.terminal.clone();
        let bot = net.spawn(
            &terminal,
            &[
                bin,
                "bot",
                &space,
                "--name",
                "Terminal",
                "--palette",
                "1",
                "--no-audio",
            ],
        );
        let lines = lines_of(bot);
        let joined = wait_line(&lines, "the bot in the space", |l| l.starts_with("bot: in"));
        let id = joined.rsplit(" as ").next().unwrap().to_string();
        (lines, id)
    };
    let browser_ns = match route {
        Route::Relayed => net.browser.clone(),
        Route::Direct => net.terminal.clone(),
    };
    let wrapper = ["ip", "netns", "exec", browser_ns.as_str()];
    let page_url = format!("{space}?name=Browser");
    let (page, bot_lines, bot_id) = if bot_first {
        let (lines, id) = start_bot(&mut net);
        let page = Page::open_wrapped(&wrapper, "browser-peer.mjs", &page_url, None, &[]);
        (page, lines, id)
    } else {
        let page = Page::open_wrapped(&wrapper, "browser-peer.mjs", &page_url, None, &[]);
        page.wait("ready", Duration::from_secs(30), |v| v["event"] == "ready");
        let (lines, id) = start_bot(&mut net);
        (page, lines, id)
    };

    // The browser shows the terminal's card, over a path with a relay candidate in it (or
    // host candidates only), and sends it video; the terminal sees the call live.
    let want = PALETTES[1].background;
    let seen = page.wait(
        "the terminal's card on the expected path, and video sent to it",
        Duration::from_secs(60),
        |v| {
            if v["event"] != "remotes" {
                return false;
            }
            let card = v["remotes"].as_array().is_some_and(|tiles| {
                tiles.iter().any(|t| {
                    let rgb: Vec<u8> = t["rgb"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|c| c.as_u64())
                                .map(|c| c as u8)
                                .collect()
                        })
                        .unwrap_or_default();
                    t["label"]
                        .as_str()
                        .is_some_and(|l| l.contains(&bot_id[..8]))
                        && rgb.len() == 3
                        && rgb[0].abs_diff(want.r) < 30
                        && rgb[1].abs_diff(want.g) < 30
                        && rgb[2].abs_diff(want.b) < 30
                })
            });
            let flow = &v["paths"][&bot_id];
            let on_path = match route {
                Route::Relayed => flow["local"] == "relay" || flow["remote"] == "relay",
                // Host addresses, as each side learnt them (a browser may see its own as
                // peer-reflexive): anything but a relay.
                Route::Direct => {
                    flow["local"].is_string()
                        && flow["remote"].is_string()
                        && flow["local"] != "relay"
                        && flow["remote"] != "relay"
                }
            };
            // Video went the other way too, over the only path there is. (A bot asks for
            // the least, and a browser may then pause its video: bytes need not grow.)
            let sent = v["videoOut"][&bot_id]["bytes"].as_f64().unwrap_or(0.0);
            card && on_path && sent > 0.0
        },
    );
    eprintln!("paths: {}", seen["paths"]);
    wait_line(&bot_lines, "the call live at the terminal", |l| {
        l.ends_with(" live")
    });
    drop(page);
}

#[test]
fn the_terminal_calls_a_browser_through_a_turn_relay() {
    if tools_ready() {
        let _turn = common::browser_turn_blocking();
        call_across(true, Route::Relayed);
    }
}

#[test]
fn a_browser_calls_the_terminal_through_a_turn_relay() {
    if tools_ready() {
        let _turn = common::browser_turn_blocking();
        call_across(false, Route::Relayed);
    }
}

/// Issue 15's isolated classroom network: no default route, so joining the mDNS multicast
/// group fails; calls used to end at once with "No such device (os error 19)".
#[test]
fn a_call_without_a_default_route_connects_with_plain_host_candidates() {
    if tools_ready() {
        let _turn = common::browser_turn_blocking();
        call_across(true, Route::Direct);
    }
}
