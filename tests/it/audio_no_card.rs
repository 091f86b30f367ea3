//! `packspaces join` with sound (`--features audio`) on a machine without a sound card:
//! the status bar says so, the call still works, and ALSA's complaints go to the log file,
//! not onto the screen. Runs the real binary in a pseudo-terminal (util-linux `script`);
//! skipped where a sound card exists (`/dev/snd`: not something CI can install away), or
//! where `script` is missing, except under CI=true, where that fails.
#![cfg(feature = "audio")]

use crate::common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use packspaces::audio::{AudioConfig, AudioInput, AudioOutput};
use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::server::{ServeOptions, start};
use packspaces::session::Session;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_sound_card_join_says_so_and_alsa_stays_off_the_screen() {
    if std::path::Path::new("/dev/snd").exists() {
        eprintln!("skipped: this machine has a sound card");
        return;
    }
    // A missing tool skips here, and fails under CI=true (where .ci/run installs bsdutils).
    let script = Command::new("script").arg("--version").output().is_ok();
    let missing: &[&str] = if script {
        &[]
    } else {
        &["`script` (bsdutils), to give the binary a terminal"]
    };
    if !common::tools_present(missing) {
        return;
    }
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let base = server.url();
    let mut bot_config =
        common::loopback_session(&base, "CSC342", "Beeper", None, &DEFAULT_PREFERENCE);
    bot_config.audio = AudioConfig {
        send: AudioInput::Tone { hz: 440.0 },
        play: AudioOutput::Nothing,
    };
    let bot = Session::start(bot_config).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("join.log");
    let join = format!(
        "stty cols 120 rows 30; exec {} join {base}CSC342 --peer-server {base}peerjs \
         --ice-server none --udp-bind 127.0.0.1 --no-video --name Ears --log-file {}",
        env!("CARGO_BIN_EXE_packspaces"),
        log.display()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &join, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it join, hear the bot (whose call must go live) and draw, then quit with `q`.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bot
        .shared
        .state()
        .room
        .participants
        .iter()
        .any(|p| p.label() == "Ears" && p.state == packspaces::model::TileState::Live)
    {
        assert!(
            Instant::now() < deadline,
            "the terminal never joined the call"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"q").unwrap();
    stdin.flush().unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    drop(stdin);
    bot.leave().await;

    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "join failed: {screen}");
    // What the screen showed last, read through a terminal emulator: the output only
    // redraws cells that changed, so the notice need not be one run of bytes.
    let bytes = &out.stdout;
    let ui_end = bytes
        .windows(8)
        .rposition(|w| w == b"\x1b[?1049l")
        .unwrap_or(bytes.len());
    let mut terminal = vt100::Parser::new(30, 120, 0);
    terminal.process(&bytes[..ui_end]);
    let shown = terminal.screen().contents();
    // The speaker and the microphone fail on their own threads, in either order.
    assert!(
        shown.contains("sound: no sound output · no microphone")
            || shown.contains("sound: no microphone · no sound output"),
        "no sound notice on screen: {shown}"
    );
    assert!(
        screen.contains("Beeper"),
        "the call did not show: {screen:?}"
    );
    assert!(
        !screen.contains("ALSA"),
        "ALSA wrote on the screen: {screen:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).is_empty());
    // ALSA did complain, into the log file.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("no microphone"), "{logged}");
}
