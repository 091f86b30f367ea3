//! Self-tests of the over-SSH rig (tests/it/common/vterm.rs, link.rs, ssh.rs): the virtual
//! terminal answers queries and passes resizes on, the shaped link really has its rate,
//! delay and back-pressure, and `packspaces play` runs over a real SSH session through a
//! slow link.

use crate::common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::link::{Shape, ShapedLink};
use common::ssh::{SshServer, shell_words};
use common::vterm::VirtualTerminal;

const TIMEOUT: Duration = Duration::from_secs(20);

fn bash(script: &str) -> VirtualTerminal {
    VirtualTerminal::spawn(
        &["bash", "--norc", "--noprofile", "-c", script],
        80,
        24,
        &[],
    )
}

#[test]
fn virtual_terminal_answers_status_cursor_and_device_queries() {
    // Echo and line editing off first, so an answer that arrives before `read` is neither
    // echoed nor held back. The cursor query is written in two parts (a pause between them)
    // to come in two reads; each reply is printed without its ESC, so it is readable.
    let term = bash(
        r#"stty -echo -icanon
printf '\033[5n'; read -rs -t 10 -n 4 a
printf '\033[4;7H\033['; sleep 0.2; printf '6n'; read -rs -t 10 -d R b
printf '\033[c'; read -rs -t 10 -d c c
printf '\033[10;1Hdsr=%s cpr=%sR da=%sc\r\n' "${a:1}" "${b:1}" "${c:1}""#,
    );
    let want = "dsr=[0n cpr=[4;7R da=[?62;22c";
    let shown = term.wait_for(TIMEOUT, |s| s.contents().contains(want));
    assert!(shown.is_some(), "screen:\n{}", term.screen().contents());
    assert_eq!(term.queries_answered(), 3);
    let status = term.wait_exit(TIMEOUT).expect("bash did not exit");
    assert!(status.success(), "{status:?}");
}

#[test]
fn virtual_terminal_resize_reaches_the_program() {
    let term = bash(
        r#"trap 'echo "winch $(stty size)"' WINCH
echo ready
until read -rs -t 0.05 -n 1 key; do :; done"#,
    );
    assert!(
        term.wait_for(TIMEOUT, |s| s.contents().contains("ready"))
            .is_some()
    );
    term.resize(120, 40);
    let seen = term.wait_for(TIMEOUT, |s| s.contents().contains("winch 40 120"));
    assert!(seen.is_some(), "screen:\n{}", term.screen().contents());
    assert_eq!(term.screen().size(), (40, 120));
    term.send(b"q");
    assert!(term.wait_exit(TIMEOUT).is_some_and(|s| s.success()));
}

/// Reads until end of file, noting when each read returned and the running total, and
/// calling `halfway` once when the total reaches `half`.
fn read_timed(
    stream: &mut TcpStream,
    half: usize,
    mut halfway: impl FnMut(),
) -> Vec<(Instant, usize)> {
    let mut buf = [0u8; 64 * 1024];
    let mut reads = Vec::new();
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            return reads;
        }
        if total < half && total + n >= half {
            halfway();
        }
        total += n;
        reads.push((Instant::now(), total));
    }
}

/// Bits per second between the first read that reached `from` bytes and the last read.
fn rate_after(reads: &[(Instant, usize)], from: usize) -> f64 {
    let &(t0, b0) = reads.iter().find(|r| r.1 >= from).unwrap();
    let &(t1, b1) = reads.last().unwrap();
    (b1 - b0) as f64 * 8.0 / (t1 - t0).as_secs_f64()
}

#[test]
fn shaped_link_has_its_rate_delay_back_pressure_and_rate_changes() {
    const SIZE: usize = 500_000;
    const RATE: u64 = 2_000_000;
    let delay = Duration::from_millis(40);
    // The target says hello when it is connected, then answers a one-byte request with
    // SIZE bytes and closes. It counts what its writes got rid of: with a small send buffer
    // of its own, that shows how far the link lets a sender run ahead of the receiver.
    let target = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let target_addr = target.local_addr().unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&written);
    let server = std::thread::spawn(move || {
        let (mut s, _) = target.accept().unwrap();
        socket2::SockRef::from(&s)
            .set_send_buffer_size(16 * 1024)
            .unwrap();
        s.write_all(b"h").unwrap();
        let mut request = [0u8; 1];
        s.read_exact(&mut request).unwrap();
        for piece in vec![b'x'; SIZE].chunks(4096) {
            s.write_all(piece).unwrap();
            counter.fetch_add(piece.len(), Ordering::Relaxed);
        }
    });
    let shape = Shape {
        rate_bits_per_s: RATE,
        one_way_delay: delay,
        bottleneck_bytes: 8 * 1024,
    };
    let link = ShapedLink::start(target_addr, shape, shape);

    let connected = Instant::now();
    let mut client = TcpStream::connect(link.addr()).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut hello = [0u8; 1];
    client.read_exact(&mut hello).unwrap();
    // The connection reaches the target one way, its hello comes back the other.
    let hello_after = connected.elapsed();
    assert!(hello_after >= 2 * delay, "hello after {hello_after:?}");

    let asked = Instant::now();
    client.write_all(b"?").unwrap();
    // Halfway, the link gets twice as fast.
    let mut written_at_half = 0;
    let reads = read_timed(&mut client, SIZE / 2, || {
        written_at_half = written.load(Ordering::Relaxed);
        link.set_rate(2 * RATE, RATE);
    });
    server.join().unwrap();

    let first = reads[0].0 - asked;
    let total = reads.last().unwrap().1;
    assert_eq!(total, SIZE);
    assert_eq!(link.bytes_down(), 1 + SIZE as u64);
    assert_eq!(link.bytes_up(), 1);
    let slow = rate_after(&reads[..reads.partition_point(|r| r.1 < SIZE * 2 / 5)], 0);
    let fast = rate_after(&reads, SIZE * 7 / 10);
    let ahead = written_at_half.saturating_sub(SIZE / 2);
    eprintln!(
        "first byte after {first:?}, {slow:.0} bit/s, then {fast:.0} bit/s; \
         the sender was {ahead} bytes ahead halfway"
    );
    assert!(first >= 2 * delay, "the answer came after {first:?}");
    assert!(first < 2 * delay + Duration::from_millis(500), "{first:?}");
    let within = |got: f64, want: u64| (got / want as f64 - 1.0).abs() <= 0.2;
    assert!(within(slow, RATE), "{slow:.0} bit/s, want {RATE}");
    assert!(within(fast, 2 * RATE), "{fast:.0} bit/s, want {}", 2 * RATE);
    // Its buffers, the relay's, the 8 KiB queue and 40 ms on the wire, not the whole rest.
    assert!(ahead < 120_000, "the sender ran {ahead} bytes ahead");
}

/// Half-block cells showing some colour other than black: a picture, not a blank screen.
fn picture_cells(screen: &vt100::Screen) -> usize {
    common::coloured_cells(screen, true)
}

#[test]
fn play_over_ssh_through_a_slow_link() {
    let Some(sshd) = SshServer::start() else {
        return;
    };
    let link = ShapedLink::start(
        sshd.addr(),
        Shape::new(2_000_000, 40),
        Shape::new(2_000_000, 40),
    );
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample.ivf");
    // Over SSH the remote side knows only TERM; the command says what colours it has.
    let remote = format!(
        "exec env COLORTERM=truecolor {}",
        shell_words(&[
            env!("CARGO_BIN_EXE_packspaces"),
            "play",
            sample.to_str().unwrap(),
            "--loop",
        ])
    );
    let started = Instant::now();
    let term = VirtualTerminal::spawn(&sshd.client_argv(link.port(), &remote), 100, 30, &[]);
    let shown = term.wait_for(Duration::from_secs(60), |s| picture_cells(s) >= 500);
    assert!(
        shown.is_some(),
        "no picture; screen:\n{}\nsshd:\n{}",
        term.screen().contents(),
        sshd.log()
    );
    assert!(term.screen().alternate_screen());

    let quit = Instant::now();
    term.send(b"q");
    let status = term.wait_exit(Duration::from_secs(60));
    let exited = quit.elapsed();
    eprintln!(
        "picture after {:?}, {} bytes down, ssh exited {exited:?} after q",
        shown.unwrap() - started,
        link.bytes_down()
    );
    let status = status.expect("ssh did not exit within 60 s of q");
    assert!(status.success(), "{status:?}\nsshd:\n{}", sshd.log());
    // The program left the alternate screen on its way out, and the terminal saw it.
    assert!(term.wait_eof(TIMEOUT));
    assert!(!term.screen().alternate_screen());
}

/// Kills the process whose pid is in the file, if it is still running, when dropped.
struct Reaper(std::path::PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0)
            && let Ok(pid) = pid.trim().parse::<i32>()
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Waits (on a blocking thread, so the session's tasks keep running) for `condition` on the
/// screen; returns when it became true, if it did within `timeout`.
async fn screen_shows(
    term: &Arc<VirtualTerminal>,
    timeout: Duration,
    condition: impl FnMut(&vt100::Screen) -> bool + Send + 'static,
) -> Option<Instant> {
    let term = Arc::clone(term);
    tokio::task::spawn_blocking(move || term.wait_for(timeout, condition))
        .await
        .unwrap()
}

/// Waits until `bot` sees a participant called `name` in state `live` (or, with `false`,
/// no participant of that name at all), within `timeout`.
async fn bot_sees(
    bot: &packspaces::session::Session,
    name: &str,
    present: bool,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let done = {
            let state = bot.shared.state();
            let mut theirs = state.room.participants.iter().filter(|p| p.label() == name);
            if present {
                theirs.any(|p| p.state == packspaces::model::TileState::Live)
            } else {
                // Gone from the space, not merely unreachable.
                theirs.next().is_none()
            }
        };
        if done {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `packspaces join` as a person runs it over SSH: a 2 Mbit/s link with 40 ms each way,
/// two camera-like bots in the space. The screen follows the link by itself (SSH_CONNECTION
/// is set), the pictures arrive, the status bar shows what the output costs, `?` is
/// answered while video plays (the benchmark measures how fast; here generous bounds),
/// and when the SSH connection drops, the session leaves the space: the bots' view of it
/// goes away as if it had pressed `q`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_over_a_slow_ssh_link_answers_keys_and_a_dropped_link_leaves_the_space() {
    use packspaces::call::codecs::DEFAULT_PREFERENCE;
    use packspaces::media::testcard::{MOTIONS, PALETTES};
    use packspaces::session::{CardSpec, Session};

    let Some(sshd) = SshServer::start() else {
        return;
    };
    let server = packspaces::server::start(packspaces::server::ServeOptions::new(
        std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
        0,
    ))
    .await
    .unwrap();
    let base = server.url();
    let mut bots = Vec::new();
    for (i, name) in ["Ada", "Grace"].into_iter().enumerate() {
        let card = CardSpec {
            palette: PALETTES[i],
            motion: MOTIONS[i % MOTIONS.len()],
            ..CardSpec::default()
        };
        let config =
            common::loopback_session(&base, "CSC342", name, Some(card), &DEFAULT_PREFERENCE);
        bots.push(Session::start(config).await.unwrap());
    }
    let link = ShapedLink::start(
        sshd.addr(),
        Shape::new(2_000_000, 40),
        Shape::new(2_000_000, 40),
    );
    // The remote shell notes its pid (the session's, after exec) so that the test can
    // make sure no session outlives it, whatever happens.
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let _reaper = Reaper(pid_file.path().to_path_buf());
    let remote = format!(
        "echo $$ > {}; exec env COLORTERM=truecolor {}",
        shell_words(&[pid_file.path().to_str().unwrap()]),
        shell_words(&[
            env!("CARGO_BIN_EXE_packspaces"),
            "join",
            &format!("{base}CSC342"),
            "--peer-server",
            &format!("{base}peerjs"),
            "--ice-server",
            "none",
            "--udp-bind",
            "127.0.0.1",
            "--no-audio",
            "--name",
            "Remote",
        ])
    );
    let term = Arc::new(VirtualTerminal::spawn(
        &sshd.client_argv(link.port(), &remote),
        120,
        36,
        &[],
    ));

    // Both bots' pictures arrive through the link, and the bots see us live.
    let pictures = screen_shows(&term, Duration::from_secs(60), |s| {
        common::coloured_cells(s, false) >= 600 && s.contents().contains("Grace · live")
    })
    .await;
    assert!(
        pictures.is_some(),
        "no pictures; screen:\n{}\nsshd:\n{}",
        term.screen().contents(),
        sshd.log()
    );
    for bot in &bots {
        assert!(bot_sees(bot, "Remote", true, Duration::from_secs(30)).await);
    }
    // The output's figures, with the link being followed.
    let figures = screen_shows(&term, Duration::from_secs(10), |s| {
        s.contents().contains("fps · link")
    })
    .await;
    assert!(figures.is_some(), "screen:\n{}", term.screen().contents());

    // Keys are answered while the video plays. A client that does not follow the link
    // queues seconds of output ahead of every key (4.4 s per `?` before issue 10); a busy
    // machine delays one round now and then (1.7 s once in CI). So the fastest of three
    // rounds must be quick; every round must be answered within the wait.
    let mut fastest = Duration::MAX;
    for round in 0..3 {
        let pressed = Instant::now();
        term.send(b"?");
        let help = screen_shows(&term, Duration::from_secs(10), |s| {
            s.contents()
                .contains("save the selected video frame as PNG")
        })
        .await
        .unwrap_or_else(|| panic!("round {round}: no help:\n{}", term.screen().contents()));
        let answered = help - pressed;
        eprintln!("round {round}: `?` answered on screen after {answered:?}");
        fastest = fastest.min(answered);
        term.send(b"\x1b");
        let closed = screen_shows(&term, Duration::from_secs(10), |s| {
            !s.contents()
                .contains("save the selected video frame as PNG")
        })
        .await;
        assert!(closed.is_some(), "round {round}: the help stayed");
    }
    assert!(
        fastest < Duration::from_millis(1500),
        "`?` took at least {fastest:?} in every round: the output is queued ahead of the keys"
    );

    // The link drops: ssh is killed, sshd hangs up the session, and it leaves the space.
    let term = Arc::into_inner(term).expect("no other handle");
    drop(term);
    drop(link);
    for bot in &bots {
        assert!(
            bot_sees(bot, "Remote", false, Duration::from_secs(20)).await,
            "the bots still see the remote session after its SSH link dropped"
        );
    }
    for bot in bots {
        bot.leave().await;
    }
}
