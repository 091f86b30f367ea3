//! `packspaces demo`: a class demo in one command, with no network. In one process: the
//! embedded server (`serve`) on a free local port, a few bots with distinct test cards
//! (colour, motion, name), and the `join` screen, whose status bar shows the address that
//! browsers on this machine can open to join the same space.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::audio::AudioConfig;
use crate::call::{CallConfig, VideoCodec};
use crate::media::picture::CameraChoice;
use crate::media::testcard::{MOTIONS, PALETTES};
use crate::peerjs::client::PeerServerUrl;
use crate::render::ColorMode;
use crate::server::{self, PEER_PATH, RunningServer, ServeOptions};
use crate::session::{CardSpec, Session, SessionConfig};
use crate::space::SpaceUrl;
use crate::tls::certificate::ServerCertificate;
use crate::tls::trust::Trust;

/// The bots' names, in order (cycled, with a number, past the end).
pub const BOT_NAMES: [&str; 6] = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"];

/// Most bots a demo runs: each one encodes and decodes video on this machine.
pub const MAX_BOTS: usize = 8;

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub bots: usize,
    pub space: String,
    /// The server's address; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Local address for every participant's call UDP.
    pub udp_bind: IpAddr,
    /// Our name on our tile.
    pub name: String,
    pub color: ColorMode,
    pub video_codecs: Vec<VideoCodec>,
    /// What we send: a camera, or (`Off`) our test card.
    pub camera: CameraChoice,
    /// Our own sound (the bots always speak and never listen).
    pub audio: AudioConfig,
    /// HTTPS with this certificate (browsers on other machines get a camera only over
    /// HTTPS); our own sessions pin it.
    pub tls: Option<Arc<ServerCertificate>>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            bots: 3,
            space: "demo".to_string(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            udp_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            name: "Presenter".to_string(),
            color: ColorMode::TrueColor,
            video_codecs: crate::call::codecs::DEFAULT_PREFERENCE.to_vec(),
            camera: CameraChoice::Off,
            audio: AudioConfig::TERMINAL,
            tls: None,
        }
    }
}

/// A running demo: the server, the bots and our own session.
pub struct Demo {
    pub server: RunningServer,
    pub bots: Vec<Session>,
    pub session: Session,
    /// Where browsers join, e.g. `http://127.0.0.1:41234/demo`.
    pub browser_url: String,
}

impl Demo {
    /// Starts the server, then the bots one by one, then our session (which every bot
    /// then calls, as the workshop's flow has it).
    pub async fn start(config: &DemoConfig) -> anyhow::Result<Demo> {
        anyhow::ensure!(
            crate::space::protocol::is_valid_space(&config.space),
            "{:?} is not a space name: use 1-64 letters, digits, '-' or '_'",
            config.space
        );
        let bots = config.bots.min(MAX_BOTS);
        let mut options = ServeOptions::new(config.listen.ip(), config.listen.port());
        options.tls = config.tls.clone();
        let server = server::start(options)
            .await
            .context("cannot start the demo's server")?;
        // Our sessions trust exactly the demo's own certificate.
        let trust = match &config.tls {
            Some(certificate) => Trust::pinned(&certificate.fingerprint())?,
            None => Trust::web(),
        };
        let base = format!("{}://{}/", server.scheme(), reachable(server.addr));
        let browser_url = format!("{base}{}", config.space);
        let join = |name: &str,
                    card: Option<CardSpec>,
                    self_view: bool,
                    audio: AudioConfig|
         -> anyhow::Result<_> {
            let mut space = SpaceUrl::parse(&browser_url)?;
            space.endpoint = space.endpoint.with_trust(trust.clone());
            let mut peer_server =
                PeerServerUrl::parse(&format!("{}{PEER_PATH}", base.trim_end_matches('/')), None)?;
            peer_server.endpoint = peer_server.endpoint.with_trust(trust.clone());
            Ok(SessionConfig {
                space,
                peer_server,
                name: Some(name.to_string()),
                call: CallConfig {
                    udp_addr: SocketAddr::new(config.udp_bind, 0).to_string(),
                    // One machine: host candidates are all it takes, and no internet.
                    ice_servers: Vec::new(),
                    name: Some(name.to_string()),
                    video_codecs: config.video_codecs.clone(),
                },
                card,
                self_view,
                // The demo's bots show nothing; the terminal's session does.
                watched: self_view,
                color: config.color,
                audio,
            })
        };
        let mut started = Vec::with_capacity(bots);
        for i in 0..bots {
            let card = CardSpec {
                palette: PALETTES[i % PALETTES.len()],
                motion: MOTIONS[i % MOTIONS.len()],
                ..CardSpec::default()
            };
            let name = bot_name(i);
            let bot = Session::start(join(&name, Some(card), false, AudioConfig::bot(i))?)
                .await
                .with_context(|| format!("bot {name} could not join"))?;
            started.push(bot);
        }
        // Our own card in the first colour no bot has, so the self view stands apart.
        let ours = CardSpec {
            palette: PALETTES[bots % PALETTES.len()],
            camera: config.camera,
            ..CardSpec::default()
        };
        let session = Session::start(join(&config.name, Some(ours), true, config.audio)?)
            .await
            .context("cannot join the demo's space")?;
        session.shared.update(|s| s.set_invite(&browser_url));
        Ok(Demo {
            server,
            bots: started,
            session,
            browser_url,
        })
    }

    /// Leaves and stops everything.
    pub async fn stop(self) {
        self.session.leave().await;
        for bot in self.bots {
            bot.leave().await;
        }
        self.server.stop().await;
    }
}

/// The name of bot `i`: Ada, Grace, …, then Ada 2, Grace 2, ….
pub fn bot_name(i: usize) -> String {
    let name = BOT_NAMES[i % BOT_NAMES.len()];
    match i / BOT_NAMES.len() {
        0 => name.to_string(),
        round => format!("{name} {}", round + 1),
    }
}

/// The address to dial for a server listening on `addr`: a wildcard address means this
/// machine, so use its loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// Runs the demo with its screen until the user quits.
pub async fn run(
    config: DemoConfig,
    screen: crate::join::ScreenOptions,
    log_sink: Option<PathBuf>,
) -> anyhow::Result<()> {
    eprintln!(
        "packspaces demo: starting a server and {} bots…",
        config.bots.min(MAX_BOTS)
    );
    if let Some(certificate) = &config.tls {
        // Before the screen takes over: what other terminals need to trust this server.
        eprintln!(
            "packspaces demo: HTTPS; other terminals add --pin {} to `packspaces join`",
            certificate.fingerprint()
        );
    }
    // C libraries (OpenH264, ALSA) print to stderr, ALSA as soon as devices open.
    let quiet = crate::terminal::quiet_stderr(log_sink.as_deref());
    let demo = Demo::start(&config).await?;
    let result = crate::join::run_ui(&demo.session, &screen).await;
    drop(quiet);
    demo.stop().await;
    crate::join::print_summary(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_names_are_distinct_past_the_list() {
        let names: Vec<String> = (0..8).map(bot_name).collect();
        assert_eq!(names[0], "Ada");
        assert_eq!(names[6], "Ada 2");
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), 8);
    }

    #[test]
    fn wildcard_listen_addresses_are_dialled_on_loopback() {
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        assert_eq!(reachable(any).to_string(), "127.0.0.1:3000");
        let v6: SocketAddr = "[::]:3000".parse().unwrap();
        assert_eq!(reachable(v6).to_string(), "[::1]:3000");
    }
}
