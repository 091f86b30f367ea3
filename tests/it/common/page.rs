//! A browser page driven by a node script in tests/node (browser-peer.mjs for Chromium,
//! firefox-peer.mjs for Firefox): its JSON lines (see reportPage in lib.mjs) arrive on a
//! channel; dropping the page closes the browser.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Page {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Page {
    /// `node SCRIPT URL [CAMERA]` in tests/node.
    pub fn open(script: &str, url: &str, camera: Option<&Path>) -> Page {
        Page::open_with_env(script, url, camera, &[])
    }

    /// [`Page::open`] with extra environment variables (the script's header says which).
    pub fn open_with_env(
        script: &str,
        url: &str,
        camera: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Page {
        Page::open_wrapped(&[], script, url, camera, env)
    }

    /// [`Page::open_with_env`] under a wrapper command, e.g. `ip netns exec NAME` to put the
    /// browser in a network namespace.
    pub fn open_wrapped(
        wrapper: &[&str],
        script: &str,
        url: &str,
        camera: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Page {
        let mut command = match wrapper {
            [program, args @ ..] => {
                let mut command = Command::new(program);
                command.args(args).arg("node");
                command
            }
            [] => Command::new("node"),
        };
        command.arg(script).arg(url).envs(env.iter().copied());
        if let Some(camera) = camera {
            command.arg(camera);
        }
        let mut child = command
            .current_dir(super::node_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Page { child, lines }
    }

    /// Waits for a line matching `pred`; an uncaught page error fails the test.
    pub fn wait(
        &self,
        what: &str,
        within: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        let mut last = Value::Null;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    assert_ne!(v["event"], "pageerror", "page error: {v}");
                    if pred(&v) {
                        return v;
                    }
                    last = v;
                }
                Err(_) => break,
            }
        }
        panic!("page: no {what} within {within:?}; last line {last}");
    }

    /// Evaluates a JavaScript expression in the page and waits for its result (a promise
    /// is awaited); an error in it fails the test.
    pub fn eval(&mut self, expression: &str) -> Value {
        assert!(!expression.contains('\n'), "one line: {expression}");
        let stdin = self.child.stdin.as_mut().expect("the page is open");
        writeln!(stdin, "{expression}").unwrap();
        stdin.flush().unwrap();
        let answer = self.wait(expression, Duration::from_secs(20), |v| {
            (v["event"] == "evaluated" || v["event"] == "evaluate-error")
                && v["expression"] == expression
        });
        assert_eq!(answer["event"], "evaluated", "{answer}");
        answer["result"].clone()
    }

    /// Every line for `during`, for checks that something never happens.
    pub fn lines_for(&self, during: Duration) -> Vec<Value> {
        let deadline = Instant::now() + during;
        let mut lines = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) => lines.push(v),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the page driver ended"),
            }
        }
        lines
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser the tests drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    pub fn executable(self) -> &'static str {
        match self {
            Browser::Chromium => "/usr/bin/chromium",
            Browser::Firefox => "/usr/bin/firefox-esr",
        }
    }

    /// The node script that drives it, and the npm package that script needs.
    pub fn driver(self) -> (&'static str, &'static str) {
        match self {
            Browser::Chromium => ("browser-peer.mjs", "playwright-core"),
            Browser::Firefox => ("firefox-peer.mjs", "puppeteer-core"),
        }
    }
}
