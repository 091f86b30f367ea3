//! Benchmark helper: joins a space headless (sending our test card) and prints how long it
//! took from start to the first decoded remote frame, then the CPU it spends per second
//! while receiving. Used by bench/join.mjs; prints `first_frame_ms N` and `cpu_percent P`.
//!
//! Usage: first_frame SPACE_URL PEER_SERVER_URL [SECONDS [novideo]]

use std::sync::Arc;
use std::time::{Duration, Instant};

use packspaces::call::CallConfig;
use packspaces::call::codecs::DEFAULT_PREFERENCE;
use packspaces::peerjs::client::PeerServerUrl;
use packspaces::render::ColorMode;
use packspaces::session::{CardSpec, Session, SessionConfig};
use packspaces::space::SpaceUrl;

/// User plus system CPU time of this process, from /proc (Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the parenthesised command name: the state (field 3), …, utime (14), stime (15).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((field(14) + field(15)) * 10) // 100 clock ticks per second on Linux
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(space), Some(peer_server)) = (args.first(), args.get(1)) else {
        return Err("usage: first_frame SPACE_URL PEER_SERVER_URL [SECONDS]".into());
    };
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    // Without sending, the CPU measured is what receiving costs.
    let send = args.get(3).map(String::as_str) != Some("novideo");
    let session = Session::start(SessionConfig {
        space: SpaceUrl::parse(space)?,
        peer_server: PeerServerUrl::parse(peer_server, None)?,
        name: Some("bench".into()),
        call: CallConfig {
            udp_addr: "127.0.0.1:0".into(),
            ice_servers: Vec::new(),
            name: Some("bench".into()),
            video_codecs: DEFAULT_PREFERENCE.to_vec(),
        },
        card: send.then(CardSpec::default),
        self_view: false,
        watched: true,
        color: ColorMode::TrueColor,
        audio: packspaces::audio::AudioConfig::OFF,
    })
    .await?;
    let newest = || {
        session
            .shared
            .state()
            .room
            .participants
            .iter()
            .find_map(|p| p.frame.clone())
    };
    let first = loop {
        if let Some(frame) = newest() {
            break frame;
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err("no remote frame within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    println!("first_frame_ms {}", start.elapsed().as_millis());
    println!("size {}x{}", first.width(), first.height());
    if seconds > 0 {
        let (cpu0, t0) = (cpu_time(), Instant::now());
        let mut last = first;
        let mut frames = 0u32;
        while t0.elapsed() < Duration::from_secs(seconds) {
            if let Some(frame) = newest()
                && !Arc::ptr_eq(&frame, &last)
            {
                frames += 1;
                last = frame;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let cpu = (cpu_time() - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0;
        println!("cpu_percent {cpu:.1}");
        println!(
            "frames_per_second {:.1}",
            f64::from(frames) / t0.elapsed().as_secs_f64()
        );
        println!("last_size {}x{}", last.width(), last.height());
    }
    session.leave().await;
    Ok(())
}
