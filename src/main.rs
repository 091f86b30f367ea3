//! The `packspaces` binary: parse arguments, set up logging and the panic hook, dispatch.

use std::process::ExitCode;

use clap::Parser;
use packspaces::audio::AudioConfig;
use packspaces::call::CallConfig;
use packspaces::cast::Recorder;
use packspaces::cli::{Cli, Command};
use packspaces::cli::{
    DemoArgs, JoinArgs, MonitorArgs, RecordArgs, SelfSignedArgs, ServeArgs, SpaceArgs,
    WORKSHOP_STUN,
};
use packspaces::ice::IceServer;
use packspaces::join::ScreenOptions;
use packspaces::media::picture::{CameraChoice, NO_CAMERA_SUPPORT};
use packspaces::monitor::{self, MonitorConfig};
use packspaces::net::Trust;
use packspaces::peerjs::client::{CLOUD_SERVER, PeerServerUrl};
use packspaces::server::{self, ServeOptions};
use packspaces::session::{CardSpec, SessionConfig};
use packspaces::space::SpaceUrl;
use packspaces::tls::certificate::{SelfSigned, ServerCertificate};
use packspaces::{logging, play, terminal};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_file.as_deref()) {
        eprintln!("packspaces: {e:#}");
        return ExitCode::from(2);
    }
    terminal::install_panic_hook();
    let log_file = cli.log_file.clone();
    let result = match cli.command {
        Command::Play(args) => play::run(&args),
        Command::Serve(args) => serve_options(args).and_then(|o| run_async(server::run(o))),
        Command::Join(args) if args.join.list_cameras => list_cameras(),
        Command::Bot(args) if args.join.list_cameras => list_cameras(),
        Command::Join(args) => session_config(&args.join, None, true).and_then(|config| {
            let title = format!("packspaces join {}", args.join.space.url);
            let screen = ScreenOptions {
                max_rate: args.screen.max_rate(),
                stats: args.stats,
                record: recorder(&args.record, title)?,
            };
            run_async(packspaces::join::run(config, screen, log_file))
        }),
        Command::Bot(args) => session_config(&args.join, Some(args.palette), false)
            .and_then(|config| run_async(packspaces::bot::run(config, args.say.clone()))),
        Command::Monitor(args) => run_monitor(&args, log_file),
        Command::Demo(args) => demo_config(&args).and_then(|config| {
            let screen = ScreenOptions {
                max_rate: args.screen.max_rate(),
                stats: args.stats,
                record: recorder(&args.record, "packspaces demo".into())?,
            };
            run_async(packspaces::demo::run(config, screen, log_file))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            terminal::restore();
            tracing::error!("{e:#}");
            eprintln!("packspaces: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--record FILE`: the file is created now, once the other arguments are known to be
/// good, so that a path that cannot be written is an error before anything starts.
fn recorder(args: &RecordArgs, title: String) -> anyhow::Result<Option<Recorder>> {
    let Some(path) = &args.record else {
        return Ok(None);
    };
    Ok(Some(Recorder::create(path, Some(title))?))
}

/// Runs a future on a multi-threaded tokio runtime (the commands that do network I/O), with
/// the runtime's task count logged if asked for (`logging::log_task_count`).
fn run_async(future: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let task_count = tokio::spawn(logging::log_task_count());
            let result = future.await;
            task_count.abort();
            result
        })
}

fn serve_options(args: ServeArgs) -> anyhow::Result<ServeOptions> {
    let mut options = ServeOptions::new(args.bind, args.port);
    options.tls = serve_certificate(&args)?.map(std::sync::Arc::new);
    if let Some(script) = args.peerjs_script {
        options.page.peerjs_script = script;
    }
    if let Some(script) = args.socketio_script {
        options.page.socketio_script = script;
    }
    options.page.ice_servers = args.turn.servers(&args.ice_servers)?;
    options.static_dir = args.static_dir;
    options.peer.concurrent_limit = args.max_peers as usize;
    options.redis = args.redis;
    Ok(options)
}

/// The certificate `serve` is told to use (`--tls-cert`/`--tls-key`), or the self-signed
/// one it keeps (`--tls self-signed`), or none (plain HTTP).
fn serve_certificate(args: &ServeArgs) -> anyhow::Result<Option<ServerCertificate>> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Ok(Some(ServerCertificate::load(cert, key)?));
    }
    let Some((certificate, what)) = self_signed(args.bind, &args.self_signed)? else {
        return Ok(None);
    };
    println!("packspaces serve: {what}");
    Ok(Some(certificate))
}

/// With `--tls self-signed`: the certificate for a server bound to `bind`, kept in
/// `--tls-dir` (default: the data directory), and a line that says whether it was made or
/// reused, and where.
fn self_signed(
    bind: std::net::IpAddr,
    args: &SelfSignedArgs,
) -> anyhow::Result<Option<(ServerCertificate, String)>> {
    if args.tls.is_none() {
        return Ok(None);
    }
    let dir = match &args.tls_dir {
        Some(dir) => dir.clone(),
        None => data_dir().ok_or_else(|| {
            anyhow::anyhow!("--tls self-signed: no home directory to keep it in; give --tls-dir")
        })?,
    };
    let names = packspaces::tls::certificate::names_for(bind, &args.tls_names);
    let (certificate, how) = ServerCertificate::self_signed(&dir, &names)?;
    let what = match how {
        SelfSigned::Made => "made a self-signed certificate",
        SelfSigned::Reused => "reusing the self-signed certificate",
    };
    Ok(Some((certificate, format!("{what} in {}", dir.display()))))
}

/// `$XDG_DATA_HOME/packspaces`, else `~/.local/share/packspaces`.
fn data_dir() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| std::path::PathBuf::from(h).join(".local/share"))
        })?;
    Some(base.join("packspaces"))
}

fn demo_config(args: &DemoArgs) -> anyhow::Result<packspaces::demo::DemoConfig> {
    let tls = self_signed(args.bind, &args.self_signed)?.map(|(certificate, what)| {
        eprintln!("packspaces demo: {what}");
        std::sync::Arc::new(certificate)
    });
    Ok(packspaces::demo::DemoConfig {
        tls,
        bots: usize::from(args.bots),
        space: args.space.clone(),
        listen: std::net::SocketAddr::new(args.bind, args.port),
        name: args.name.clone(),
        color: args.color.resolve(),
        camera: camera_choice(args.camera, CameraChoice::Off)?,
        audio: if args.no_audio {
            AudioConfig::OFF
        } else {
            AudioConfig::TERMINAL
        },
        ..Default::default()
    })
}

/// The camera to send: the one asked for, else `default` when this build has cameras.
/// Asking for a camera in a build without them is an error, not a silent test card.
fn camera_choice(
    asked: Option<CameraChoice>,
    default: CameraChoice,
) -> anyhow::Result<CameraChoice> {
    match asked {
        Some(CameraChoice::Off) => Ok(CameraChoice::Off),
        Some(_) if !cfg!(feature = "camera") => {
            anyhow::bail!("--camera: {NO_CAMERA_SUPPORT}; use --camera off or rebuild with it")
        }
        Some(choice) => Ok(choice),
        None if cfg!(feature = "camera") => Ok(default),
        None => Ok(CameraChoice::Off),
    }
}

/// `--list-cameras`: one `INDEX: NAME` line per camera, or "no cameras found".
fn list_cameras() -> anyhow::Result<()> {
    #[cfg(feature = "camera")]
    {
        let cameras = packspaces::media::camera::list()?;
        if cameras.is_empty() {
            println!("no cameras found");
        }
        for camera in cameras {
            println!("{}: {}", camera.index, camera.name);
        }
        Ok(())
    }
    #[cfg(not(feature = "camera"))]
    anyhow::bail!("--list-cameras: {NO_CAMERA_SUPPORT}")
}

/// Where a space is and how to reach its people: from the arguments, and from the server
/// itself when it is a packspaces server (`/packspaces.json`: its PeerJS server and ICE
/// servers), so that its page URL is all a terminal needs.
struct Resolved {
    space: SpaceUrl,
    peer_server: PeerServerUrl,
    /// ICE servers the server named (`None`: not a packspaces server, or not asked).
    ice_servers: Option<Vec<IceServer>>,
}

/// The space and PeerJS server URLs, checked; `--peer-server` overrides what the server says,
/// and without either the PeerJS cloud is used, as the workshop page does.
fn space_urls(args: &SpaceArgs) -> anyhow::Result<Resolved> {
    let trust = Trust::from_options(args.ca.as_deref(), args.pin.as_deref())?;
    let mut space = SpaceUrl::parse(&args.url)?;
    space.endpoint = space.endpoint.with_trust(trust.clone());
    let (peer_url, key, ice_servers) = match &args.peer_server {
        Some(url) => (url.clone(), args.peer_key.clone(), None),
        None => {
            let origin = space.endpoint.clone();
            let about = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(packspaces::discover::discover(&origin))?;
            match about {
                Some(about) => (
                    origin.url(false, &about.peerjs.path),
                    about.peerjs.key,
                    Some(about.ice_servers),
                ),
                None => (CLOUD_SERVER.to_string(), args.peer_key.clone(), None),
            }
        }
    };
    let mut peer_server = PeerServerUrl::parse(&peer_url, Some(&key))?;
    peer_server.endpoint = peer_server.endpoint.with_trust(trust);
    Ok(Resolved {
        space,
        peer_server,
        ice_servers,
    })
}

fn run_monitor(args: &MonitorArgs, log_file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let Resolved {
        space, peer_server, ..
    } = space_urls(&args.space)?;
    let config = MonitorConfig { space, peer_server };
    if args.json {
        run_async(monitor::json::run(config))
    } else {
        let screen = ScreenOptions {
            max_rate: args.screen.max_rate(),
            ..ScreenOptions::default()
        };
        run_async(monitor::tui::run(config, screen, log_file))
    }
}

/// Turns `join`/`bot` arguments into a session configuration, checking the URLs.
fn session_config(
    args: &JoinArgs,
    palette: Option<u8>,
    self_view: bool,
) -> anyhow::Result<SessionConfig> {
    // Every argument is checked before anything touches the network.
    // Bots send their test card unless told otherwise; people their camera.
    let default_camera = match palette {
        Some(_) => CameraChoice::Off,
        None => CameraChoice::First,
    };
    let camera = camera_choice(args.camera, default_camera)?;
    if let Some(path) = &args.video {
        // A bad file is a clear error now, not a test card later.
        packspaces::media::clip::Clip::open(path)
            .map_err(|e| anyhow::anyhow!("--video: cannot play {}: {e}", path.display()))?;
    }
    let given_ice = match args.ice_servers.as_slice() {
        [] => None,
        [none] if none == "none" => Some(Vec::new()),
        list => Some(args.turn.servers(list)?),
    };
    let Resolved {
        space,
        peer_server,
        ice_servers: named,
    } = space_urls(&args.space)?;
    // Those given, else a packspaces server's own (none: enough on one network), else the
    // workshop's.
    let ice_servers = given_ice
        .or(named)
        .unwrap_or_else(|| vec![IceServer::stun(WORKSHOP_STUN)]);
    let card = (!args.no_video).then(|| CardSpec {
        palette: packspaces::media::testcard::PALETTES
            [usize::from(palette.unwrap_or(2)) % packspaces::media::testcard::PALETTES.len()],
        camera,
        clip: args.video.clone(),
        ..CardSpec::default()
    });
    Ok(SessionConfig {
        space,
        peer_server,
        name: args.name.clone(),
        call: CallConfig {
            udp_addr: std::net::SocketAddr::new(args.udp_bind, 0).to_string(),
            ice_servers,
            name: args.name.clone(),
            video_codecs: args.codec.preference(),
        },
        card,
        self_view,
        // A bot shows nothing.
        watched: palette.is_none(),
        color: args.color.resolve(),
        audio: match (args.no_audio, palette) {
            (true, _) => AudioConfig::OFF,
            (false, None) => AudioConfig::TERMINAL,
            (false, Some(p)) => AudioConfig::bot(usize::from(p)),
        },
    })
}
