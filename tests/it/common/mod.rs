//! Shared helpers for the integration tests: a four-quadrant test picture, what each part
//! of it should look like in every colour mode, and reading colours back off a screen.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod link;
pub mod monitor_json;
pub mod page;
pub mod redis;
pub mod space_member;
pub mod ssh;
pub mod vterm;

use packspaces::render::{ColorMode, I420Frame, Rgb};

pub const RED: Rgb = Rgb::new(255, 0, 0);
pub const GREEN: Rgb = Rgb::new(0, 255, 0);
pub const BLUE: Rgb = Rgb::new(0, 0, 255);
pub const WHITE: Rgb = Rgb::new(255, 255, 255);

pub const MODES: [ColorMode; 3] = [
    ColorMode::TrueColor,
    ColorMode::Palette256,
    ColorMode::Ansi16,
];

/// Path of a committed fixture.
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Red top-left, green top-right, blue bottom-left, white bottom-right.
pub fn quadrant_colour(left: bool, top: bool) -> Rgb {
    match (left, top) {
        (true, true) => RED,
        (false, true) => GREEN,
        (true, false) => BLUE,
        (false, false) => WHITE,
    }
}

pub fn quadrants(width: u32, height: u32) -> I420Frame {
    let mut pixels = Vec::with_capacity((width * height) as usize);
    for y in 0..height {
        for x in 0..width {
            pixels.push(quadrant_colour(x < width / 2, y < height / 2));
        }
    }
    I420Frame::from_rgb(width, height, &pixels).unwrap()
}

/// Which half an output pixel shows, if the source area it averages lies in one half:
/// `Some(true)` for the first (left or top) half. `p` is the pixel's index along an axis
/// of `out` pixels covering `len` source pixels; exact integer arithmetic. (Frames here
/// have even half sizes, so the half-resolution chroma never straddles the boundary.)
pub fn side(p: u32, out: u32, len: u32) -> Option<bool> {
    let (p, out, len, half) = (
        u64::from(p),
        u64::from(out),
        u64::from(len),
        u64::from(len / 2),
    );
    if (p + 1) * len <= half * out {
        Some(true)
    } else if p * len >= half * out {
        Some(false)
    } else {
        None
    }
}

/// What a user sees of a colour in a mode: exact RGB within `tolerance` for truecolor,
/// the palette entry the terminal shows otherwise.
pub fn assert_shows(mode: ColorMode, seen: vt100::Color, want: Rgb, context: &str) {
    match (mode, seen) {
        (ColorMode::TrueColor, vt100::Color::Rgb(r, g, b)) => {
            let ok = r.abs_diff(want.r) <= 4 && g.abs_diff(want.g) <= 4 && b.abs_diff(want.b) <= 4;
            assert!(ok, "{context}: saw ({r},{g},{b}), want {want:?}");
        }
        (ColorMode::Palette256, vt100::Color::Idx(i)) => {
            assert_eq!(i, expected_index(mode, want), "{context}: want {want:?}");
        }
        (ColorMode::Ansi16, vt100::Color::Idx(i)) => {
            assert_eq!(i, expected_index(mode, want), "{context}: want {want:?}");
        }
        _ => panic!("{context}: saw {seen:?} in {mode:?}, want {want:?}"),
    }
}

/// The palette index a user expects for our four colours and black (xterm palette).
pub fn expected_index(mode: ColorMode, c: Rgb) -> u8 {
    match (mode, c) {
        (ColorMode::Palette256, RED) => 196,
        (ColorMode::Palette256, GREEN) => 46,
        (ColorMode::Palette256, BLUE) => 21,
        (ColorMode::Palette256, WHITE) => 231,
        (ColorMode::Ansi16, RED) => 9,
        (ColorMode::Ansi16, GREEN) => 10,
        (ColorMode::Ansi16, BLUE) => 4,
        (ColorMode::Ansi16, WHITE) => 15,
        (ColorMode::Palette256, Rgb::BLACK) => 16,
        (ColorMode::Ansi16, Rgb::BLACK) => 0,
        _ => panic!("no expectation for {c:?} in {mode:?}"),
    }
}

/// The (upper, lower) colours a screen cell shows, from its glyph and colours.
pub fn visible(cell: &vt100::Cell) -> Option<(vt100::Color, vt100::Color)> {
    let (fg, bg) = (cell.fgcolor(), cell.bgcolor());
    match cell.contents() {
        "▀" => Some((fg, bg)),
        "▄" => Some((bg, fg)),
        " " => Some((bg, bg)),
        "█" => Some((fg, fg)),
        _ => None,
    }
}

/// Cells showing some colour other than black: with `half_blocks_only`, only `▀`/`▄`
/// cells (a picture with detail), else also a picture's one-colour cells (spaces, full
/// blocks); the chrome's blank cells have the default colours and never count.
pub fn coloured_cells(screen: &vt100::Screen, half_blocks_only: bool) -> usize {
    let (rows, cols) = screen.size();
    let lit = |c: vt100::Color| match c {
        vt100::Color::Rgb(r, g, b) => u32::from(r) + u32::from(g) + u32::from(b) > 48,
        vt100::Color::Idx(i) => i != 0 && i != 16,
        vt100::Color::Default => false,
    };
    (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .filter_map(|(r, c)| screen.cell(r, c))
        .filter(|cell| !half_blocks_only || matches!(cell.contents(), "▀" | "▄"))
        .filter_map(visible)
        .filter(|&(upper, lower)| lit(upper) || lit(lower))
        .count()
}

/// The folder of the Node.js helpers and suites.
pub fn node_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Browsers and Node suites, one at a time across every suite of the test binary: the
/// machine has two cores, and two browsers at once starve the calls of the tests beside them.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for this test's turn with a browser (or a Node suite); the turn ends with the guard.
pub async fn browser_turn() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_BROWSER_AT_A_TIME.lock().await
}

/// The same turn for the tests that load the machine with a crowd of their own (thirty
/// in-process peers; the soak's bots and 200 members): beside each other or a browser they
/// starve both (seen in a CI run: 27 of 30 calls connected after 90 s, and the soak's
/// samples halved, while the two ran together).
pub async fn crowd_turn() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_BROWSER_AT_A_TIME.lock().await
}

/// [`browser_turn`] for tests outside an async runtime.
pub fn browser_turn_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_BROWSER_AT_A_TIME.blocking_lock()
}

/// True when Node.js, the npm `package` in tests/node and every file in `executables` are
/// there. Otherwise prints why and returns false (skip) — or panics under `CI=true`, where
/// `.ci/run` must have installed them.
pub fn node_tools_ready(package: &str, executables: &[&str]) -> bool {
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing: Vec<String> = [
        (!node).then(|| "node".to_string()),
        (!node_dir().join("node_modules").join(package).is_dir())
            .then(|| format!("tests/node/node_modules/{package} (npm ci in tests/node)")),
    ]
    .into_iter()
    .flatten()
    .chain(
        executables
            .iter()
            .filter(|e| !std::path::Path::new(e).exists())
            .map(|e| e.to_string()),
    )
    .collect();
    tools_present(&missing)
}

/// True when nothing is `missing`; otherwise prints what is and returns false (the test
/// skips) — or panics under `CI=true`, where `.ci/run` must have installed it all.
pub fn tools_present<S: AsRef<str>>(missing: &[S]) -> bool {
    if missing.is_empty() {
        return true;
    }
    let names: Vec<&str> = missing.iter().map(AsRef::as_ref).collect();
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "missing under CI: {}",
        names.join(", ")
    );
    eprintln!("skipping: missing {}", names.join(", "));
    false
}

/// `packspaces serve` on a free loopback port whose page loads `peerjs` (a package folder
/// in tests/node/node_modules, e.g. `peerjs-1.3.1`) and socket.io from node_modules.
pub async fn serve_with_page_libraries(peerjs: &str) -> packspaces::server::RunningServer {
    serve_with_page_libraries_over(peerjs, None).await
}

/// [`serve_with_page_libraries`], over HTTPS with `certificate` when there is one.
pub async fn serve_with_page_libraries_over(
    peerjs: &str,
    certificate: Option<std::sync::Arc<packspaces::tls::certificate::ServerCertificate>>,
) -> packspaces::server::RunningServer {
    let mut options = page_libraries_options(peerjs);
    options.tls = certificate;
    packspaces::server::start(options).await.unwrap()
}

/// Options for a `serve` on a free loopback port whose page loads `peerjs` and socket.io
/// from node_modules.
pub fn page_libraries_options(peerjs: &str) -> packspaces::server::ServeOptions {
    use std::net::{IpAddr, Ipv4Addr};
    let mut options = packspaces::server::ServeOptions::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    options.static_dir = Some(node_dir().join("node_modules"));
    options.page.peerjs_script = format!("/static/{peerjs}/dist/peerjs.min.js");
    options.page.socketio_script = "/static/socket.io-client/dist/socket.io.min.js".into();
    options
}

/// `config` trusting `trust` for both its servers (`--ca` or `--pin`).
pub fn trusting(
    mut config: packspaces::session::SessionConfig,
    trust: &packspaces::net::Trust,
) -> packspaces::session::SessionConfig {
    config.space.endpoint = config.space.endpoint.with_trust(trust.clone());
    config.peer_server.endpoint = config.peer_server.endpoint.with_trust(trust.clone());
    config
}

/// A server script from tests/node that prints `listening on URL` first; stopped on drop.
pub struct NodeServer {
    child: std::process::Child,
    pub url: String,
    /// What it wrote on stderr so far (the workshop backend logs each `join-space` there).
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl NodeServer {
    pub fn start(script: &str) -> NodeServer {
        Self::start_with_env(script, &[])
    }

    /// Starts `script` with extra environment variables (its header says which it reads).
    pub fn start_with_env(script: &str, env: &[(&str, &str)]) -> NodeServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new("node")
            .arg(script)
            .envs(env.iter().copied())
            .current_dir(node_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = std::io::BufReader::new(child.stderr.take().unwrap());
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let mut kept = kept.lock().unwrap();
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{script} printed {line:?}"))
            .to_string();
        NodeServer { child, url, stderr }
    }

    /// Whether it wrote the line `line` on stderr yet.
    pub fn logged(&self, line: &str) -> bool {
        self.stderr.lock().unwrap().lines().any(|l| l == line)
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A session for tests: `name` joins `space` on the server at `base` (a `packspaces serve`
/// URL ending in `/`), UDP on loopback only, no ICE servers, sending `card` if given.
pub fn loopback_session(
    base: &str,
    space: &str,
    name: &str,
    card: Option<packspaces::session::CardSpec>,
    codecs: &[packspaces::call::VideoCodec],
) -> packspaces::session::SessionConfig {
    let space_url = format!("{base}{space}");
    let peer_server = format!("{base}peerjs");
    loopback_session_at(&space_url, &peer_server, name, card, codecs)
}

/// [`loopback_session`] on any backend: the space at `space_url`, the PeerServer at
/// `peer_server` (e.g. the workshop backend and npm `peer`).
pub fn loopback_session_at(
    space_url: &str,
    peer_server: &str,
    name: &str,
    card: Option<packspaces::session::CardSpec>,
    codecs: &[packspaces::call::VideoCodec],
) -> packspaces::session::SessionConfig {
    packspaces::session::SessionConfig {
        space: packspaces::space::SpaceUrl::parse(space_url).unwrap(),
        peer_server: packspaces::peerjs::client::PeerServerUrl::parse(peer_server, None).unwrap(),
        name: Some(name.to_string()),
        call: packspaces::call::CallConfig {
            udp_addr: "127.0.0.1:0".into(),
            ice_servers: Vec::new(),
            name: Some(name.to_string()),
            video_codecs: codecs.to_vec(),
        },
        card,
        self_view: false,
        watched: true,
        color: packspaces::render::ColorMode::TrueColor,
        audio: packspaces::audio::AudioConfig::OFF,
    }
}

/// Waits for the first picture `viewer` gets and checks it is a test card in `palette`.
pub async fn assert_first_frame_is_card(
    viewer: &packspaces::session::Session,
    palette: &packspaces::media::testcard::Palette,
) {
    let frame = first_frame(viewer).await;
    let (p, bg) = (card_background(&frame), palette.background);
    assert!(near(p, bg), "{p:?} vs {bg:?}");
}

/// The colour where a test card shows its background (left of the middle, away from its
/// name, clock and square) in a received frame.
pub fn card_background(frame: &I420Frame) -> Rgb {
    frame.pixel(frame.width() / 20, frame.height() * 3 / 10)
}

/// True when `got` is within 24 of `want` in every channel (the encoders' error).
pub fn near(got: Rgb, want: Rgb) -> bool {
    got.r.abs_diff(want.r) < 24 && got.g.abs_diff(want.g) < 24 && got.b.abs_diff(want.b) < 24
}

/// The first frame `viewer` receives from anyone, within 30 s.
pub async fn first_frame(viewer: &packspaces::session::Session) -> std::sync::Arc<I420Frame> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let frame = viewer
            .shared
            .state()
            .room
            .participants
            .iter()
            .find_map(|p| p.frame.clone());
        if let Some(f) = frame {
            return f;
        }
        if std::time::Instant::now() >= deadline {
            // What the viewer knows, to tell a call that never connected from one without
            // pictures.
            let state = viewer.shared.state();
            let tiles: Vec<String> = state
                .room
                .participants
                .iter()
                .map(|p| format!("{} {:?}", p.label(), p.state))
                .collect();
            panic!(
                "no picture arrived within 30 s; tiles {tiles:?}, links {:?} / {:?}, notice {:?}",
                state.room.space_link, state.room.peer_link, state.notice
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `packspaces serve --port 0 ARGS…` as its own process; returns it and the URL it
/// printed. Its stdout is drained (a closed pipe would end it at its next line).
pub fn serve_process(args: &[&str]) -> (std::process::Child, String) {
    serve_process_with_env(args, &[])
}

/// [`serve_process`] with these environment variables set for it.
pub fn serve_process_with_env(
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_packspaces"))
        .args(["serve", "--port", "0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("packspaces serve: listening on ")
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    (child, url)
}

/// A y4m camera file of four coloured quadrants ([`quadrants`]; Chromium loops it).
pub fn quadrant_camera(dir: &std::path::Path) -> std::path::PathBuf {
    let frame = quadrants(640, 480);
    let mut data = b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n".to_vec();
    for _ in 0..30 {
        data.extend_from_slice(b"FRAME\n");
        data.extend_from_slice(frame.y());
        data.extend_from_slice(frame.u());
        data.extend_from_slice(frame.v());
    }
    let path = dir.join("camera.y4m");
    std::fs::write(&path, data).unwrap();
    path
}

/// A microphone of known sound for Chromium (`FAKE_MICROPHONE` of browser-peer.mjs, which
/// loops it): one second of a 660 Hz sine at -10 dBFS peak, 48 kHz mono 16-bit WAV. A whole
/// number of cycles, so the loop has no seam; it never pauses (Chromium's own fake
/// microphone beeps, with silence between the beeps).
pub fn tone_microphone(dir: &std::path::Path) -> std::path::PathBuf {
    const RATE: u32 = 48_000;
    let samples: Vec<i16> = (0..RATE)
        .map(|i| {
            let phase = 2.0 * std::f64::consts::PI * 660.0 * f64::from(i) / f64::from(RATE);
            (phase.sin() * 0.316 * f64::from(i16::MAX)) as i16
        })
        .collect();
    let bytes = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + bytes as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + bytes).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    // PCM, one channel, the rate, bytes per second, bytes per frame, bits per sample.
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&bytes.to_le_bytes());
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    let path = dir.join("microphone.wav");
    std::fs::write(&path, wav).unwrap();
    path
}

/// Whether `serve` has handled `peer`'s `join-space` (it is a member of some space).
pub fn serve_has(server: &packspaces::server::RunningServer, peer: &str) -> bool {
    let spaces = server.spaces.lock().unwrap();
    spaces.all().iter().any(|(_, p)| p.peer_id == peer)
}

/// Waits until `serve` has `peer` as a member, failing after `within`.
pub async fn until_member(
    server: &packspaces::server::RunningServer,
    peer: &str,
    within: std::time::Duration,
) {
    let deadline = std::time::Instant::now() + within;
    while !serve_has(server, peer) {
        assert!(
            std::time::Instant::now() < deadline,
            "{peer} never joined the space"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
