//! `packspaces play` on real files: decoded fixtures show the right colours on a terminal
//! emulator, and bad files give a one-line error naming the file, never a panic.

use crate::common;

use std::path::Path;

use assert_cmd::Command;
use common::*;
use packspaces::play::{PlayOptions, play_file_to};
use packspaces::render::ColorMode;

fn options(mode: ColorMode, size: (u16, u16)) -> PlayOptions {
    PlayOptions {
        size: Some(size),
        color: mode,
        looping: false,
        fps: None,
        no_wait: true,
        threshold: 0,
        budget: 0.0,
        measure_error: true,
        max_rate: packspaces::output::MaxRate::Unlimited,
    }
}

#[test]
fn every_format_decodes_to_quadrants_on_screen() {
    for name in ["quadrants.y4m", "quadrants.ivf", "quadrants.h264"] {
        for mode in MODES {
            let (cols, rows) = (16u16, 6u16);
            let mut out = Vec::new();
            let stats =
                play_file_to(&fixture(name), &options(mode, (cols, rows)), &mut out).unwrap();
            assert!(stats.shown >= 3, "{name}: {stats}");
            assert_eq!(stats.corrupt, 0, "{name}: {stats}");
            let mut term = vt100::Parser::new(rows, cols, 0);
            term.process(&out);
            let screen = term.screen();
            // 64x48 fits 16x6 cells as 16x12 pixels: each quadrant is 8 cells x 3 rows.
            for (col, row, colour) in [(1, 1, RED), (14, 1, GREEN), (1, 4, BLUE), (14, 4, WHITE)] {
                let (upper, lower) = visible(screen.cell(row, col).unwrap()).unwrap();
                let ctx = format!("{name} {mode:?} cell ({col},{row})");
                assert_shows(mode, upper, colour, &ctx);
                assert_shows(mode, lower, colour, &ctx);
            }
        }
    }
}

fn play_cmd(file: &Path) -> assert_cmd::assert::Assert {
    Command::cargo_bin("packspaces")
        .unwrap()
        .args(["play", "--no-wait", "--size", "20x6", "--stats"])
        .arg(file)
        .assert()
}

/// Runs `play` on `bytes` and returns (success, last stderr line); checks it never panics.
fn play_bytes(bytes: &[u8]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.bin");
    std::fs::write(&path, bytes).unwrap();
    let output = play_cmd(&path).get_output().clone();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let last = stderr.lines().last().unwrap_or("").to_string();
    (output.status.success(), last, stderr)
}

fn assert_fails_with(bytes: &[u8], want: &str) {
    let (ok, last, stderr) = play_bytes(bytes);
    assert!(!ok, "expected failure, got success: {stderr}");
    assert!(
        last.starts_with("packspaces: cannot play ") && last.contains("clip.bin"),
        "{stderr}"
    );
    assert!(last.contains(want), "want {want:?} in {last:?}");
}

#[test]
fn bad_files_give_one_line_errors() {
    assert_fails_with(b"", "empty file");
    assert_fails_with(b"hello, world", "unrecognised format");
    assert_fails_with(b"YUV4MPEG2 W100000 H100000 F30:1\n", "exceeds the limit");
    assert_fails_with(b"YUV4MPEG2 W64 H48 C444\nFRAME\n", "C444");
    let y4m = std::fs::read(fixture("quadrants.y4m")).unwrap();
    assert_fails_with(&y4m[..y4m.len() - 100], "truncated: frame 3 has");
    let ivf = std::fs::read(fixture("quadrants.ivf")).unwrap();
    assert_fails_with(&ivf[..20], "IVF header is shorter than 32 bytes");
    assert_fails_with(&ivf[..ivf.len() - 5], "shorter than its");
    let mut huge = ivf.clone();
    huge[12..16].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert_fails_with(&huge, "exceeds the limit");
    let mut vp9 = ivf.clone();
    vp9[8..12].copy_from_slice(b"VP90");
    assert_fails_with(&vp9, "only VP8");
    let mut giant_frame = ivf[..32].to_vec();
    giant_frame.extend_from_slice(&u32::MAX.to_le_bytes());
    giant_frame.extend_from_slice(&[0; 8]);
    assert_fails_with(&giant_frame, "claims 4294967295 bytes");
}

#[test]
fn a_missing_file_is_named_in_the_error() {
    let out = play_cmd(Path::new("/nonexistent/clip.ivf")).failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("cannot play /nonexistent/clip.ivf"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Offsets of each frame (its 12-byte header) in an IVF file.
fn ivf_frames(ivf: &[u8]) -> Vec<(usize, usize)> {
    let mut frames = Vec::new();
    let mut at = 32;
    while at + 12 <= ivf.len() {
        let size = u32::from_le_bytes(ivf[at..at + 4].try_into().unwrap()) as usize;
        frames.push((at, size));
        at += 12 + size;
    }
    frames
}

#[test]
fn a_corrupt_frame_in_the_middle_is_skipped_and_counted() {
    let ivf = std::fs::read(fixture("quadrants.ivf")).unwrap();
    let frames = ivf_frames(&ivf);
    assert_eq!(frames.len(), 8);
    // Frame 5 (a key frame every 4) becomes a key frame without its start code.
    let (at, size) = frames[4];
    let mut bad = ivf.clone();
    for b in &mut bad[at + 12..at + 12 + size] {
        *b = 0;
    }
    let (ok, _, stderr) = play_bytes(&bad);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("8 decoded") || stderr.contains("7 decoded"),
        "{stderr}"
    );
    assert!(stderr.contains("1 corrupt"), "{stderr}");
}

#[test]
fn bad_arguments_are_refused_by_the_cli() {
    let out = Command::cargo_bin("packspaces")
        .unwrap()
        .args(["play", "x.ivf", "--size", "0x0"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("between 1 and 4000"), "{stderr}");
    Command::cargo_bin("packspaces")
        .unwrap()
        .args(["play", "x.ivf", "--color", "12"])
        .assert()
        .failure();
    // A rate that is not one: a one-line error naming it, for every full-screen command.
    for args in [
        &["play", "x.ivf", "--max-rate", "fast"][..],
        &["join", "--max-rate", "2 mbits/hour"],
        &["demo", "--max-rate=-3k"],
        &["monitor", "--max-rate", "10"],
    ] {
        let out = Command::cargo_bin("packspaces")
            .unwrap()
            .args(args)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains("is not a rate")
                && first.contains(args[args.len() - 1].trim_start_matches("--max-rate=")),
            "{args:?}: {stderr}"
        );
    }
    let help = Command::cargo_bin("packspaces")
        .unwrap()
        .args(["play", "--help"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&help.get_output().stdout).to_string();
    for word in [
        "--size",
        "--color",
        "--loop",
        "--fps",
        "--stats",
        "--no-wait",
    ] {
        assert!(text.contains(word), "help lacks {word}");
    }
}

/// A terminal that takes `delay` to accept each write, like a slow SSH link.
struct SlowTerminal {
    delay: std::time::Duration,
    writes: usize,
}

impl std::io::Write for SlowTerminal {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(self.delay);
        self.writes += 1;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_reader_that_goes_away_ends_playback_quietly() {
    // `play --loop` would run forever; `head` reads a little and closes the pipe.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample.ivf");
    let script = format!(
        "{} play --loop --size 40x12 {} | head -c 2000 > /dev/null; echo \"status ${{PIPESTATUS[0]}}\"",
        env!("CARGO_BIN_EXE_packspaces"),
        sample.display()
    );
    let started = std::time::Instant::now();
    let out = std::process::Command::new("timeout")
        .args(["60", "bash", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("status 0"), "{stdout} {stderr}");
    assert!(stderr.is_empty(), "no message, no panic: {stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn a_slow_terminal_gets_the_newest_frames_and_nothing_queues() {
    // 40 frames at 100 fps into a terminal that needs 30 ms per write: about one frame
    // in three can be shown; the rest must be dropped, not queued.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fast.y4m");
    // Alternate two pictures so that every frame changes the screen.
    let frames = [quadrants(64, 48), quadrants(48, 64)];
    let mut file = b"YUV4MPEG2 W64 H48 F100:1 C420jpeg\n".to_vec();
    for i in 0..40 {
        let frame = &frames[i % 2];
        file.extend_from_slice(b"FRAME\n");
        file.extend_from_slice(frame.y());
        file.extend_from_slice(frame.u());
        file.extend_from_slice(frame.v());
    }
    std::fs::write(&path, file).unwrap();
    let mut options = options(ColorMode::TrueColor, (16, 6));
    options.no_wait = false;
    let term = SlowTerminal {
        delay: std::time::Duration::from_millis(30),
        writes: 0,
    };
    let mut source = packspaces::media::open_video(&path).unwrap();
    let mut stats = packspaces::play::PlayStats::default();
    packspaces::play::play(source.as_mut(), &options, Box::new(term), false, &mut stats).unwrap();
    assert_eq!(stats.decoded, 40);
    assert_eq!(stats.shown + stats.dropped, 40, "{stats}");
    assert!(
        stats.dropped >= 15,
        "late frames were shown anyway: {stats}"
    );
    assert!(stats.shown >= 2, "{stats}");
}
