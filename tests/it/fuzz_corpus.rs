//! Every fuzz input we keep, replayed on stable through the library's fuzz entry points
//! (`packspaces::fuzzing`, the functions `fuzz/` runs under libFuzzer): the curated seeds
//! in `fuzz/seeds/<target>/` and every finding in `fuzz/regressions/<target>/`. Each input
//! runs on a thread of its own and must return within [`BOUND`]; a panic or a timeout fails
//! the test, naming the file. FUZZING.md says where the inputs came from.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use packspaces::call::VideoCodec;
use packspaces::fuzzing::{TARGETS, Target};
use rtc::rtp::packetizer::Packetizer as _;
use rtc::rtp::{Header, Packet};
use rtc::shared::marshal::Marshal as _;

/// The fuzzer allows an optimised build 1 s per input; an unoptimised test build is several
/// times slower.
const BOUND: Duration = Duration::from_secs(5);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files in `fuzz/<kind>/<target>/`, sorted; none if there is no such folder.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `entry` on `data` on a thread of its own: why it failed, if it did.
fn run_one(entry: Target, data: Vec<u8>, name: String) -> Result<(), String> {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            entry(&data);
            let _ = done.send(());
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    match finished.recv_timeout(BOUND) {
        Ok(()) => thread
            .join()
            .map_err(|_| "panicked after finishing".to_string()),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(match thread.join() {
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                format!("panicked: {message}")
            }
            Ok(()) => "ended without finishing".to_string(),
        }),
        // The thread cannot be stopped; the test fails and the process ends with it.
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("took longer than {BOUND:?}")),
    }
}

/// Replays every file of `fuzz/<kind>/`; returns how many ran, or the failures.
fn replay(kind: &str) -> usize {
    let mut failures = Vec::new();
    let mut count = 0;
    for &(target, entry) in TARGETS {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).unwrap();
            let started = Instant::now();
            let outcome = run_one(entry, data, format!("{target} {}", path.display()));
            count += 1;
            if let Err(why) = outcome {
                failures.push(format!(
                    "{target} on {} {why} (after {:?})",
                    path.display(),
                    started.elapsed()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    count
}

#[test]
fn the_seed_corpora_replay_cleanly() {
    assert!(
        replay("seeds") > 0,
        "no seeds under {}",
        fuzz_dir().display()
    );
}

#[test]
fn every_regression_replays_cleanly() {
    replay("regressions");
}

/// A folder named after no target would never be replayed: a typo must not hide findings.
#[test]
fn every_target_has_seeds_and_every_folder_a_target() {
    let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    for target in &names {
        assert!(
            !inputs("seeds", target).is_empty(),
            "no seeds in fuzz/seeds/{target}/"
        );
    }
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                names.contains(&name.as_str()),
                "fuzz/{kind}/{name} is not a fuzz target (targets: {names:?})"
            );
        }
    }
}

/// Regenerates the seeds made from real traffic and from the test fixtures: run
/// `node tests/node/fuzz-capture.mjs DIR` first (with `PACKSPACES_BIN` for `serve`'s
/// packets), then this with `PACKSPACES_CAPTURE=DIR`. Writes `capture-*` and `fixture-*`
/// files only; hand-written seeds (`hand-*`) stay as they are.
#[test]
#[ignore = "regenerates fuzz/seeds from a capture (FUZZING.md)"]
fn make_seeds() {
    let capture = PathBuf::from(std::env::var("PACKSPACES_CAPTURE").unwrap());
    let read = |name: &str| -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(capture.join(name)).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    };
    let seeds = fuzz_dir().join("seeds");
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = seeds.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };

    // PeerJS: what npm `peer` sent each client (one of each kind), and what each peerjs
    // sent, as scripts for the server target (the browsers' ids become the two clients the
    // target connects first, alice and bob).
    let messages = read("peerjs.json").unwrap();
    let mut kinds_seen = std::collections::HashSet::new();
    let mut scripts: [(String, Vec<String>); 2] = Default::default();
    for m in messages.as_array().unwrap() {
        let (browser, peerjs, data) = (
            m["browser"].as_str().unwrap(),
            m["peerjs"].as_str().unwrap(),
            m["data"].as_str().unwrap(),
        );
        let parsed: serde_json::Value = serde_json::from_str(data).unwrap();
        let kind = parsed["type"]
            .as_str()
            .unwrap_or("none")
            .to_ascii_lowercase();
        let detail = parsed["payload"]["candidate"]["candidate"]
            .as_str()
            .map(|c| {
                if c.contains(" tcp ") || c.contains(" TCP ") {
                    "-tcp"
                } else {
                    "-udp"
                }
            })
            .unwrap_or("");
        let key = format!("{browser}-peerjs-{peerjs}-{kind}{detail}");
        if m["dir"] == "in" {
            if kinds_seen.insert(key.clone()) {
                write(
                    "peerjs_client",
                    &format!("capture-{key}.json"),
                    data.as_bytes(),
                );
            }
            if matches!(kind.as_str(), "offer" | "answer") {
                let sdp = parsed["payload"]["sdp"]["sdp"].as_str().unwrap();
                let from = if browser == "chromium" {
                    "firefox"
                } else {
                    "chromium"
                };
                write("sdp", &format!("capture-{from}-{kind}.sdp"), sdp.as_bytes());
            }
        } else {
            let client = usize::from(browser == "firefox");
            let line = data
                .replace("\"firefox-b\"", "\"bob\"")
                .replace("\"chromium-a\"", "\"alice\"");
            let (name, lines) = &mut scripts[client];
            *name = format!("capture-{browser}-peerjs-{peerjs}.txt");
            // Every kind to each peer once: a call sends a dozen candidates alike.
            if kinds_seen.insert(format!("out-{key}-{}", parsed["dst"])) {
                lines.push(format!("{client}{line}"));
            }
        }
    }
    for (name, mut lines) in scripts {
        // Housekeeping after the messages: the offer to an absent peer expires.
        lines.extend(std::iter::repeat_n("t".to_string(), 6));
        write("peerjs_server", &name, lines.join("\n").as_bytes());
    }

    // Socket.IO: every packet a server sent (the client target), and each session's
    // client packets as a script for `serve` (the first character says which client).
    for server in ["workshop", "serve"] {
        let Some(packets) = read(&format!("socketio-{server}.json")) else {
            continue;
        };
        let mut sent = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in packets.as_array().unwrap() {
            let data = p["data"].as_str().unwrap();
            if p["dir"] == "in" {
                // One of each kind of packet: its type, and an event's name.
                let digits: String = data.chars().take_while(char::is_ascii_digit).collect();
                let event = data.split('"').nth(1).filter(|_| digits == "42");
                let kind = format!("{digits}{}", event.unwrap_or_default());
                if seen.insert(kind) {
                    let n = seen.len();
                    write(
                        "space_client",
                        &format!("capture-{server}-{n:02}.txt"),
                        data.as_bytes(),
                    );
                }
            } else {
                sent.push(format!("{}{data}", p["who"]));
            }
        }
        write(
            "serve_events",
            &format!("capture-{server}-clients.txt"),
            sent.join("\n").as_bytes(),
        );
    }

    // What `serve` answered at /packspaces.json.
    if let Ok(data) = std::fs::read(capture.join("discover-serve.json")) {
        write("discover", "capture-serve.json", &data);
    }

    // Media: each browser's encoded frames, packetized as a call sends them, in IVF and
    // Annex B files as `play` reads them, and their offers.
    use base64::Engine as _;
    for (browser, codec) in [
        ("chromium", "h264"),
        ("chromium", "vp8"),
        ("firefox", "vp8"),
    ] {
        let Some(capture) = read(&format!("frames-{browser}-{codec}.json")) else {
            continue;
        };
        let frames: Vec<(u32, Vec<u8>)> = capture["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(f["data"].as_str().unwrap())
                    .unwrap();
                (f["timestamp"].as_u64().unwrap() as u32, data)
            })
            .collect();
        let offer = capture["offer"].as_str().unwrap();
        write(
            "sdp",
            &format!("capture-{browser}-{codec}-offer.sdp"),
            offer.as_bytes(),
        );
        let video = if codec == "h264" {
            VideoCodec::H264
        } else {
            VideoCodec::Vp8
        };
        let target = if codec == "h264" {
            "rtp_h264"
        } else {
            "rtp_vp8"
        };
        // The first frame alone (a keyframe), and the first few as a stream.
        write(
            target,
            &format!("capture-{browser}-keyframe.rtp"),
            &rtp_records(video, &frames[..1]),
        );
        write(
            target,
            &format!("capture-{browser}-stream.rtp"),
            &rtp_records(video, &frames[..6]),
        );
        if codec == "h264" {
            let stream: Vec<u8> = frames.iter().flat_map(|(_, f)| f.clone()).collect();
            write("annexb", &format!("capture-{browser}.h264"), &stream);
        } else {
            write(
                "ivf",
                &format!("capture-{browser}-vp8.ivf"),
                &ivf_file(&frames),
            );
        }
    }
    let mut audio = Vec::new();
    for (peer, browser) in ["chromium", "firefox"].iter().enumerate() {
        let Some(capture) = read(&format!("frames-{browser}-opus.json")) else {
            continue;
        };
        for (i, f) in capture["frames"]
            .as_array()
            .unwrap()
            .iter()
            .take(12)
            .enumerate()
        {
            let data = base64::engine::general_purpose::STANDARD
                .decode(f["data"].as_str().unwrap())
                .unwrap();
            let mut packet = Packet {
                header: Header {
                    version: 2,
                    payload_type: 111,
                    sequence_number: 4000 + i as u16,
                    timestamp: 960 * i as u32,
                    ssrc: 0x0a0d_0000 + peer as u32,
                    ..Header::default()
                },
                payload: Bytes::from(data),
            };
            // The audio level as browsers send it (id 1; 30 dBov: speech).
            packet
                .header
                .set_extension(1, Bytes::from_static(&[30]))
                .unwrap();
            let raw = packet.marshal().unwrap();
            audio.push(peer as u8);
            audio.push(1);
            audio.extend_from_slice(&(raw.len() as u16).to_be_bytes());
            audio.extend_from_slice(&raw);
        }
    }
    write("audio", "capture-chromium-firefox-opus.rtp", &audio);

    // The test fixtures (ffmpeg's libx264 and libvpx), and the start of the README sample.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (target, file) in [
        ("y4m", "quadrants.y4m"),
        ("ivf", "quadrants.ivf"),
        ("annexb", "quadrants.h264"),
    ] {
        let data = std::fs::read(fixtures.join(file)).unwrap();
        write(target, &format!("fixture-{file}"), &data);
    }
    let sample =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample.ivf")).unwrap();
    let mut reader = packspaces::media::ivf::IvfReader::new(std::io::Cursor::new(&sample)).unwrap();
    let mut frames = Vec::new();
    let mut buf = Vec::new();
    while frames.len() < 3 && reader.next_frame(&mut buf).unwrap() {
        frames.push((3000 * frames.len() as u32, buf.clone()));
    }
    write("ivf", "fixture-sample-3-frames.ivf", &ivf_file(&frames));
    write(
        "rtp_vp8",
        "fixture-sample-keyframe.rtp",
        &rtp_records(VideoCodec::Vp8, &frames[..1]),
    );
    let mut reader = packspaces::media::annexb::AnnexBReader::new(std::io::Cursor::new(
        std::fs::read(fixtures.join("quadrants.h264")).unwrap(),
    ));
    let mut units = Vec::new();
    while let Some(unit) = reader.next_access_unit().unwrap() {
        units.push((3000 * units.len() as u32, unit));
    }
    write(
        "rtp_h264",
        "fixture-quadrants.rtp",
        &rtp_records(VideoCodec::H264, &units[..4]),
    );
}

/// Frames packetized as a call sends them (webrtc-rs's payloaders, 1200-byte packets), as
/// records for the RTP targets: `[ms/4 since the last packet][u16 length][packet]`.
fn rtp_records(codec: VideoCodec, frames: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut packetizer = rtc::rtp::packetizer::new_packetizer(
        std::time::Instant::now(),
        1200,
        96,
        0x1234_5678,
        codec.rtp_codec().payloader().unwrap(),
        Box::new(rtc::rtp::sequence::new_fixed_sequencer(1000)),
        90_000,
    );
    let mut out = Vec::new();
    for (timestamp, frame) in frames {
        let packets = packetizer
            .packetize(std::time::Instant::now(), &Bytes::from(frame.clone()), 3000)
            .unwrap();
        for (i, mut packet) in packets.into_iter().enumerate() {
            packet.header.timestamp = *timestamp;
            let raw = packet.marshal().unwrap();
            // A frame every 32 ms, its packets together.
            out.push(if i == 0 { 8 } else { 0 });
            out.extend_from_slice(&(raw.len() as u16).to_be_bytes());
            out.extend_from_slice(&raw);
        }
    }
    out
}

/// VP8 frames in an IVF file (the size from the first key frame's header).
fn ivf_file(frames: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let first = &frames[0].1;
    let (w, h) = (
        u16::from_le_bytes([first[6], first[7]]) & 0x3fff,
        u16::from_le_bytes([first[8], first[9]]) & 0x3fff,
    );
    let mut file = b"DKIF".to_vec();
    file.extend_from_slice(&0u16.to_le_bytes());
    file.extend_from_slice(&32u16.to_le_bytes());
    file.extend_from_slice(b"VP80");
    file.extend_from_slice(&w.to_le_bytes());
    file.extend_from_slice(&h.to_le_bytes());
    file.extend_from_slice(&30u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    file.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    file.extend_from_slice(&[0; 4]);
    for (i, (_, frame)) in frames.iter().enumerate() {
        file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        file.extend_from_slice(&(i as u64).to_le_bytes());
        file.extend_from_slice(frame);
    }
    file
}
