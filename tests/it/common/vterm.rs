//! `VirtualTerminal`: the terminal emulator a person would use, for tests that drive a
//! program through a real pseudo-terminal (e.g. `ssh -tt … packspaces play …`) and look at
//! what its screen shows, when it showed it, and how many bytes it took.
//!
//! Like xterm, it answers the queries a program writes — DSR (`ESC[5n` → `ESC[0n`), cursor
//! position (`ESC[6n` → `ESC[{row};{col}R`) and primary device attributes (`ESC[c` →
//! `ESC[?62;22c`) — at the moment the parser reaches the query, in stream order: an answer
//! proves that every byte written before its query has been processed, which the code under
//! test relies on to measure the link.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, MasterPty, PtySize};

pub use portable_pty::ExitStatus;

/// How long the reader waits for a [`VirtualTerminal::wait_for`] caller to look at a chunk
/// before it parses the next one anyway: a stalled test thread must not stall the terminal.
const WAITER_GRACE: Duration = Duration::from_millis(200);

/// The pty writer, shared by key presses ([`VirtualTerminal::send`]) and query answers.
type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// A pseudo-terminal of COLS×ROWS running one command, emulated with `vt100`. Dropping it
/// kills the command's process group.
pub struct VirtualTerminal {
    shared: Arc<Shared>,
    writer: SharedWriter,
    // MasterPty is Send but not Sync; resizing goes through this lock.
    master: Mutex<Box<dyn MasterPty + Send>>,
    pid: Option<u32>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled on every parsed chunk, end of output, exit, and waiter progress.
    changed: Condvar,
}

struct State {
    parser: vt100::Parser<Answerer>,
    /// Bumped on every parsed chunk and resize: the screen may have changed.
    version: u64,
    /// When the last parsed chunk was read: the time the screen took its current state.
    last_chunk_at: Option<Instant>,
    bytes: u64,
    reads: Vec<(Instant, usize)>,
    /// Every byte read, when the test asked to keep them.
    output: Option<Vec<u8>>,
    /// The pty gave end of file or an error: no more output will come.
    eof: bool,
    exit: Option<ExitStatus>,
    /// Active `wait_for` calls: (id, the version that caller has evaluated its condition on).
    waiters: Vec<(u64, u64)>,
    next_waiter: u64,
}

/// vt100 hands us the CSI sequences it does not implement, at the point of the stream where
/// it parses them and with the screen as it is there: the place to answer queries.
struct Answerer {
    writer: SharedWriter,
    answered: u64,
}

impl vt100::Callbacks for Answerer {
    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        if i2.is_some() {
            return;
        }
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        let answer = match (i1, c, first, params.len()) {
            (None, 'n', 5, 1) => b"\x1b[0n".to_vec(),
            (None, 'n', 6, 1) => {
                let (row, col) = screen.cursor_position();
                format!("\x1b[{};{}R", row + 1, col + 1).into_bytes()
            }
            (None, 'c', 0, 0 | 1) => b"\x1b[?62;22c".to_vec(),
            _ => return,
        };
        // The child may have gone; an answer nobody reads is not an error.
        let mut w = lock(&self.writer);
        if w.write_all(&answer).and_then(|()| w.flush()).is_ok() {
            self.answered += 1;
        }
    }
}

/// Locks, ignoring poison: a panicking test thread must not hide the terminal from Drop.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl VirtualTerminal {
    /// Runs `argv` in a new pseudo-terminal of `cols`×`rows`, in the current directory,
    /// with this process's environment minus `COLORTERM`, plus `TERM=xterm-256color`,
    /// plus `env` (which wins). The command is a session leader with the pty as its
    /// controlling terminal, so it gets SIGWINCH on [`resize`](Self::resize).
    pub fn spawn<S: AsRef<OsStr>>(
        argv: &[S],
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
    ) -> VirtualTerminal {
        Self::start(argv, cols, rows, env, false)
    }

    /// [`spawn`](Self::spawn), keeping every byte the program writes for
    /// [`output`](Self::output) (tests that compare the exact bytes, e.g. with a recording).
    pub fn spawn_keeping_output<S: AsRef<OsStr>>(
        argv: &[S],
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
    ) -> VirtualTerminal {
        Self::start(argv, cols, rows, env, true)
    }

    fn start<S: AsRef<OsStr>>(
        argv: &[S],
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
        keep_output: bool,
    ) -> VirtualTerminal {
        assert!(!argv.is_empty(), "VirtualTerminal::spawn: empty argv");
        let pair = portable_pty::native_pty_system()
            .openpty(size(cols, rows))
            .expect("openpty");
        let mut cmd = CommandBuilder::from_argv(argv.iter().map(|a| a.as_ref().into()).collect());
        // portable-pty would start in $HOME; tests expect their own directory.
        cmd.cwd(std::env::current_dir().expect("current dir"));
        // The test decides what colours the program is told about, not the developer's
        // terminal.
        cmd.env_remove("COLORTERM");
        cmd.env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = pair
            .slave
            .spawn_command(cmd)
            .unwrap_or_else(|e| panic!("spawning {:?}: {e:#}", argv[0].as_ref()));
        // Our copy of the slave must close, or the reader never sees end of file.
        drop(pair.slave);
        let pid = child.process_id();
        let reader = pair.master.try_clone_reader().expect("pty reader");
        let writer: SharedWriter =
            Arc::new(Mutex::new(pair.master.take_writer().expect("pty writer")));
        let answerer = Answerer {
            writer: Arc::clone(&writer),
            answered: 0,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                parser: vt100::Parser::new_with_callbacks(rows, cols, 0, answerer),
                version: 0,
                last_chunk_at: None,
                bytes: 0,
                reads: Vec::new(),
                output: keep_output.then(Vec::new),
                eof: false,
                exit: None,
                waiters: Vec::new(),
                next_waiter: 0,
            }),
            changed: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("vterm-read".into())
            .spawn(move || read_loop(reader, &s))
            .expect("reader thread");
        let s = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("vterm-exit".into())
            .spawn(move || {
                let status = child
                    .wait()
                    .unwrap_or_else(|e| ExitStatus::with_signal(&format!("wait failed: {e}")));
                lock(&s.state).exit = Some(status);
                s.changed.notify_all();
            })
            .expect("exit thread");
        VirtualTerminal {
            shared,
            writer,
            master: Mutex::new(pair.master),
            pid,
        }
    }

    /// Types `bytes` (keys, pastes) into the terminal. Like a real terminal's, this blocks
    /// while the program does not read and the pty's input buffer (about 4 KiB) is full.
    pub fn send(&self, bytes: &[u8]) {
        let mut w = lock(&self.writer);
        w.write_all(bytes).expect("writing to the pty");
        w.flush().expect("flushing the pty");
    }

    /// Resizes the emulated screen, then the pty (TIOCSWINSZ: the child gets SIGWINCH),
    /// as a terminal window does; output already on its way is parsed at the new size.
    pub fn resize(&self, cols: u16, rows: u16) {
        let mut state = lock(&self.shared.state);
        state.parser.screen_mut().set_size(rows, cols);
        state.version += 1;
        lock(&self.master)
            .resize(size(cols, rows))
            .expect("TIOCSWINSZ");
        drop(state);
        self.shared.changed.notify_all();
    }

    /// A copy of the screen as parsed so far.
    pub fn screen(&self) -> vt100::Screen {
        lock(&self.shared.state).parser.screen().clone()
    }

    /// Waits up to `timeout` for `condition` to hold on the screen, testing it after every
    /// parsed chunk of output and every resize (the reader waits for that before it parses
    /// the next chunk, so no state in between is missed). Returns when the output that made
    /// it true was read — or, if it already held, when the current screen's last chunk was
    /// read (now if nothing came yet) — or None on timeout or when output ended without it.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&vt100::Screen) -> bool,
    ) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        let id = state.next_waiter;
        state.next_waiter += 1;
        let version = state.version;
        state.waiters.push((id, version));
        let found = loop {
            if condition(state.parser.screen()) {
                break Some(state.last_chunk_at.unwrap_or_else(Instant::now));
            }
            let version = state.version;
            if let Some(w) = state.waiters.iter_mut().find(|w| w.0 == id) {
                w.1 = version;
            }
            // Lets the reader go on to the next chunk.
            self.shared.changed.notify_all();
            if state.eof {
                break None;
            }
            let now = Instant::now();
            if now >= deadline {
                break None;
            }
            state = self
                .shared
                .changed
                .wait_timeout_while(state, deadline - now, |s| s.version == version && !s.eof)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        state.waiters.retain(|w| w.0 != id);
        drop(state);
        self.shared.changed.notify_all();
        found
    }

    /// Every byte read from the pty so far (empty unless spawned with
    /// [`spawn_keeping_output`](Self::spawn_keeping_output)).
    pub fn output(&self) -> Vec<u8> {
        lock(&self.shared.state).output.clone().unwrap_or_default()
    }

    /// Output bytes read from the pty so far.
    pub fn bytes_received(&self) -> u64 {
        lock(&self.shared.state).bytes
    }

    /// Every read from the pty so far: when it returned and how many bytes it gave.
    pub fn read_log(&self) -> Vec<(Instant, usize)> {
        lock(&self.shared.state).reads.clone()
    }

    /// The command's process id (for reading its resources off /proc).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Queries (DSR, CPR, DA1) answered so far.
    pub fn queries_answered(&self) -> u64 {
        lock(&self.shared.state).parser.callbacks().answered
    }

    /// The command's exit status, waiting up to `timeout` for it.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let state = lock(&self.shared.state);
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, timeout, |s| s.exit.is_none())
            .unwrap_or_else(|e| e.into_inner());
        state.exit.clone()
    }

    /// Waits up to `timeout` for the pty's output to end (every holder of the terminal
    /// closed it); true if it did.
    pub fn wait_eof(&self, timeout: Duration) -> bool {
        let state = lock(&self.shared.state);
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, timeout, |s| !s.eof)
            .unwrap_or_else(|e| e.into_inner());
        state.eof
    }
}

impl Drop for VirtualTerminal {
    fn drop(&mut self) {
        use rustix::process::{Pid, Signal, kill_process, kill_process_group};
        let exited = lock(&self.shared.state).exit.is_some();
        if let Some(pid) = self
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .and_then(Pid::from_raw)
        {
            // The child leads its own session and process group (portable-pty's setsid):
            // the group takes along whatever it started, even after the child has exited
            // (a pid is not reused while it names a live group).
            let _ = kill_process_group(pid, Signal::KILL);
            if !exited {
                // Not reaped yet (the exit thread records the exit right after reaping), so
                // the pid is still the child's.
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        // Reaped promptly after SIGKILL; bounded in case something is very wrong.
        let _ = self.wait_exit(Duration::from_secs(5));
    }
}

fn size(cols: u16, rows: u16) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

fn read_loop(mut reader: Box<dyn Read + Send>, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // portable-pty turns EIO (every slave closed) into end of file.
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let at = Instant::now();
        let mut state = lock(&shared.state);
        state.parser.process(&buf[..n]);
        state.version += 1;
        state.last_chunk_at = Some(at);
        state.bytes += n as u64;
        state.reads.push((at, n));
        if let Some(output) = &mut state.output {
            output.extend_from_slice(&buf[..n]);
        }
        shared.changed.notify_all();
        // Every `wait_for` sees this screen before the next chunk changes it.
        let version = state.version;
        let _ = shared
            .changed
            .wait_timeout_while(state, WAITER_GRACE, |s| {
                s.waiters.iter().any(|&(_, seen)| seen < version)
            })
            .unwrap_or_else(|e| e.into_inner());
    }
    lock(&shared.state).eof = true;
    shared.changed.notify_all();
}
