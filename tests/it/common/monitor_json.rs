//! `packspaces monitor --json` (the built binary) as a script would run it: its JSON lines
//! to wait for, its peer id, and a stop as Ctrl-C would.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `packspaces monitor --json` as a script would run it.
pub struct Monitor {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// Its peer id, from its stderr.
    pub id: String,
}

impl Monitor {
    /// Without `peer_server`, the monitor asks the server where its PeerJS server is.
    pub fn start(space_url: &str, peer_server: Option<&str>) -> Monitor {
        let mut command = Command::new(env!("CARGO_BIN_EXE_packspaces"));
        command.args(["monitor", "--json", space_url]);
        if let Some(peer_server) = peer_server {
            command.args(["--peer-server", peer_server]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // stdout holds JSON lines only: anything else fails the test.
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                let _ = tx.send(v);
            }
        });
        let (id_tx, id_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("monitor: {line}");
                if let Some(id) = line
                    .split_once("(as ")
                    .and_then(|(_, rest)| rest.strip_suffix(')'))
                {
                    let _ = id_tx.send(id.to_string());
                }
            }
        });
        let id = id_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the monitor joined the space within 20 s");
        Monitor { child, lines, id }
    }

    /// The next JSON line.
    pub fn next(&self, what: &str) -> Value {
        let within = Duration::from_secs(20);
        let line = tokio::task::block_in_place(|| self.lines.recv_timeout(within))
            .unwrap_or_else(|_| panic!("monitor: no line for {what} within {within:?}"));
        assert!(line.is_object(), "monitor printed a non-JSON line: {line}");
        line
    }

    /// Stops it as Ctrl-C would (SIGTERM), and waits for it to exit.
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the monitor did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
