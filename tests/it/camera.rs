//! Asking for a camera that is not there: the session still starts, sends its test card
//! (another terminal sees the card's colours) and says why in the status bar; the CLI
//! lists cameras or says there are none, and a build without the `camera` feature says so.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::media::picture::CameraChoice;
use packspaces::media::testcard::PALETTES;
use packspaces::server::{ServeOptions, start};
use packspaces::session::{CardSpec, Session};
use packspaces::ui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn packspaces() -> Command {
    Command::new(env!("CARGO_BIN_EXE_packspaces"))
}

/// The first camera index this machine does not have (0 on a machine without cameras).
fn missing_camera() -> u32 {
    (0..)
        .find(|i| !std::path::Path::new(&format!("/dev/video{i}")).exists())
        .unwrap()
}

fn has_cameras() -> bool {
    std::fs::read_dir("/dev").is_ok_and(|dir| {
        dir.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("video"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_camera_sends_the_test_card_and_says_so() {
    let server = start(ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .await
        .unwrap();
    let base = server.url();
    let index = missing_camera();
    let card = CardSpec {
        palette: PALETTES[0],
        camera: CameraChoice::Index(index),
        ..CardSpec::default()
    };
    let sender = common::loopback_session(&base, "CAM", "Cam", Some(card), &DEFAULT_PREFERENCE);
    let sender = Session::start(sender).await.unwrap();
    let viewer = common::loopback_session(&base, "CAM", "Viewer", None, &DEFAULT_PREFERENCE);
    let viewer = Session::start(viewer).await.unwrap();

    // The notice is there from the start: opening failed before the session began.
    let notice = sender.shared.state().notice.clone().unwrap_or_default();
    if cfg!(feature = "camera") {
        assert!(
            notice.starts_with(&format!("camera {index}: ")),
            "{notice:?}"
        );
    } else {
        assert!(notice.contains("feature `camera`"), "{notice:?}");
    }
    assert!(notice.ends_with("sending the test card"), "{notice:?}");
    let state = sender.shared.state().clone();
    let mut terminal = Terminal::new(TestBackend::new(160, 30)).unwrap();
    terminal
        .draw(|f| view::render_with_video(f, &state))
        .unwrap();
    let bottom: String = (0..160)
        .map(|x| terminal.backend().buffer()[(x, 29)].symbol().to_string())
        .collect();
    assert!(bottom.contains("sending the test card"), "{bottom:?}");

    // The viewer sees the card in its colours.
    common::assert_first_frame_is_card(&viewer, &PALETTES[0]).await;
    sender.leave().await;
    viewer.leave().await;
}

#[test]
fn list_cameras_prints_them_or_says_there_are_none() {
    let out = packspaces()
        .args(["join", "--list-cameras"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(feature = "camera") {
        assert!(out.status.success(), "{stderr}");
        if !has_cameras() {
            assert_eq!(stdout, "no cameras found\n");
        }
        assert!(stderr.is_empty(), "{stderr}");
    } else {
        assert!(!out.status.success());
        assert!(stdout.is_empty());
        assert!(
            stderr.contains("no camera support (cargo feature `camera`)"),
            "{stderr}"
        );
    }
}

#[test]
fn bad_camera_arguments_are_refused_clearly() {
    let out = packspaces()
        .args(["join", "--camera", "front"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--list-cameras"));
    let out = packspaces()
        .args(["join", "--camera", "0", "--no-video"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-video"));
    if !cfg!(feature = "camera") {
        // Asked for a camera this build cannot have: an error before joining anything.
        let out = packspaces()
            .args(["join", "--camera", "0", "http://127.0.0.1:9/"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("rebuild"));
    }
}
