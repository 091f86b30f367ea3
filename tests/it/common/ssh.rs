//! `SshServer`: a real OpenSSH server (Debian's `openssh-server`) started by a test on a
//! free loopback port, with its own config, host key and user key in a temporary folder,
//! and the `ssh` command line that logs into it — so tests run packspaces over a real SSH
//! session (through a `ShapedLink` in front of it, for a slow link).

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Where Debian installs the server (sshd re-executes itself, so the path is absolute).
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long sshd may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running sshd; killed on drop (its folder, keys included, is removed).
pub struct SshServer {
    child: Child,
    port: u16,
    user: String,
    key: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    // Dropped last: sshd is dead by then.
    _dir: tempfile::TempDir,
}

impl SshServer {
    /// Starts sshd, or returns None (printing "skipping: …") when OpenSSH is not installed
    /// — except under `CI=true`, where `.ci/run` installs it, so that panics.
    pub fn start() -> Option<SshServer> {
        if !ssh_tools_ready() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("packspaces-sshd")
            .tempdir()
            .unwrap();
        let host_key = dir.path().join("host_ed25519");
        let key = dir.path().join("id_ed25519");
        keygen(&host_key);
        keygen(&key);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized).unwrap();
        // sshd refuses to start without its privilege separation folder, which only the
        // system service's tmpfiles.d rule creates.
        if is_root() && !Path::new("/run/sshd").is_dir() {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let user = current_user();
        // A port from the kernel can be taken again before sshd binds it: try a few.
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(&config, sshd_config(port, &host_key, &authorized)).unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let (log, listening) = collect_log(child.stderr.take().unwrap());
            // sshd says so right after listen(): no need to probe the port.
            if listening.recv_timeout(START_TIMEOUT).is_ok() {
                return Some(SshServer {
                    child,
                    port,
                    user,
                    key,
                    log,
                    _dir: dir,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = log.lock().unwrap().join("\n");
        }
        panic!("sshd did not start listening:\n{last_log}");
    }

    /// sshd's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The user `ssh` logs in as (root when the tests run as root).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// `ssh` running `remote_command` (a shell command line, see [`shell_words`]) on this
    /// server, connecting to 127.0.0.1:`port` — this server's port, or a `ShapedLink`'s in
    /// front of it — with a pseudo-terminal forced (`-tt`), no user or system config, no
    /// escape character (keys are passed through as typed), COLORTERM sent along.
    pub fn client_argv(&self, port: u16, remote_command: &str) -> Vec<String> {
        let mut argv: Vec<String> = ["ssh", "-tt", "-F", "none", "-e", "none", "-i"]
            .map(String::from)
            .into();
        argv.push(self.key.display().to_string());
        argv.extend(["-p".to_string(), port.to_string()]);
        for option in [
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "GlobalKnownHostsFile=/dev/null",
            "LogLevel=ERROR",
            "SendEnv=COLORTERM",
            "IdentitiesOnly=yes",
            // Never a password prompt on the emulated screen: fail instead.
            "BatchMode=yes",
            "ConnectTimeout=15",
        ] {
            argv.extend(["-o".to_string(), option.to_string()]);
        }
        argv.push(format!("{}@127.0.0.1", self.user));
        argv.push(remote_command.to_string());
        argv
    }

    /// What sshd has logged so far (for failure messages).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `words` as one POSIX shell command line, each word single-quoted where needed.
pub fn shell_words<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| {
            let w = w.as_ref();
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                w.to_string()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ssh_tools_ready() -> bool {
    let runs = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let missing: Vec<&str> = [
        (!Path::new(SSHD).is_file()).then_some("sshd (openssh-server)"),
        (!runs("ssh", "-V")).then_some("ssh (openssh-client)"),
        (!runs("ssh-keygen", "-?")).then_some("ssh-keygen (openssh-client)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    super::tools_present(&missing)
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "packspaces-test",
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sshd_config(port: u16, host_key: &Path, authorized: &Path) -> String {
    // Only this file is read (no Include of the system's sshd_config.d). PAM is off so no
    // system login policy applies; StrictModes is off because the folder is a tempdir.
    format!(
        "Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AcceptEnv COLORTERM LANG LC_*
PrintMotd no
PrintLastLog no
UseDNS no
LogLevel INFO
",
        host_key = host_key.display(),
        authorized = authorized.display(),
    )
}

/// Keeps sshd's stderr (it must be drained or sshd blocks) and reports its
/// "Server listening on" line.
fn collect_log(stderr: std::process::ChildStderr) -> (Arc<Mutex<Vec<String>>>, mpsc::Receiver<()>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let l = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("Server listening on") {
                let _ = tx.send(());
            }
            l.lock().unwrap().push(line);
        }
    });
    (log, rx)
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Who `ssh` logs in as: root when we are root (the key lets it in), else ourselves.
fn current_user() -> String {
    if is_root() {
        return "root".into();
    }
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
