//! Command-line interface: clap derive types whose doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ice::{IceError, IceServer};
use crate::media::picture::CameraChoice;
use crate::output::MaxRate;
use crate::render::ColorMode;

/// A terminal client for PackSpaces classroom video spaces.
///
/// Video is drawn with half-block characters (▀): every terminal cell shows two pixels.
#[derive(Debug, Parser)]
#[command(name = "packspaces", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Append logs to this file (the screen belongs to the video). Level: PACKSPACES_LOG.
    #[arg(long, global = true, value_name = "PATH", env = "PACKSPACES_LOG_FILE")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Play a video file in the terminal (y4m, IVF with VP8, or H.264 Annex B), or a
    /// recording made with `join --record` or `demo --record` (asciicast v2, .cast).
    ///
    /// Keys: q, Esc or Ctrl-C quit.
    Play(PlayArgs),

    /// Run a classroom backend: Socket.IO spaces, a PeerJS server and the browser page,
    /// all on one port, with no internet needed.
    ///
    /// Browsers open http://HOST:PORT/SPACE; terminals run the printed `packspaces join`
    /// line. Stop with Ctrl-C.
    Serve(ServeArgs),

    /// Join a space: see everyone's video in the terminal, and be seen by them.
    ///
    /// Everyone already in the space calls you; you call everyone who joins later (the
    /// workshop's flow). Keys: Tab/arrows select, Enter zooms, c chat (Enter sends, Esc
    /// closes), s saves a frame, v video on/off, m microphone, d sound, x mutes the selected
    /// one, +/- its volume, ? help, q leaves.
    /// Over SSH the screen follows the link's speed (see --max-rate); a dropped link or
    /// SIGHUP/SIGTERM leaves the space cleanly.
    Join(JoinCommand),

    /// A class demo in one command, no network needed: a local server, a few bots with
    /// their own test cards, and you in the same space.
    ///
    /// The status bar shows the address browsers on this machine can open to join. Keys:
    /// Tab/arrows select, Enter or f zooms, Esc back to the grid, c chat, v/m/d video,
    /// microphone, sound, ? help, q quits.
    Demo(DemoArgs),

    /// Run a headless participant that sends a test card in its own colours (for demos and
    /// tests). Prints who comes and goes and the chat; --say says a line; stop with Ctrl-C.
    Bot(BotArgs),

    /// Watch a space without taking part: who is there (name or peer id, when they joined,
    /// whether they called us) and a timeline of joins, leaves and chat with counts.
    ///
    /// Signaling only: it sends no media and asks for none, so browsers show no video for
    /// it. Members call every newcomer, which is how it learns who was there first (with
    /// their names, when their call or the space server gives one); it declines each call.
    /// Keys: q quits. With --json, one JSON line per join, leave or chat line goes to stdout
    /// instead of the screen.
    Monitor(MonitorArgs),
}

/// How a full-screen command writes the terminal (`join`, `demo`, `monitor`, `play`).
#[derive(Debug, Clone, Args)]
pub struct ScreenArgs {
    /// Most the screen may send per second, e.g. 2mbit, 300k, 1.5M (bits) or 64kB (bytes);
    /// `auto` measures how fast the terminal really takes output (it answers status
    /// requests) and never lets a queue build; `none` sends as fast as it can [default:
    /// auto over SSH (SSH_CONNECTION set), else none].
    #[arg(long, value_name = "RATE")]
    pub max_rate: Option<MaxRate>,
}

impl ScreenArgs {
    /// The cap asked for, or the default for where we run.
    pub fn max_rate(&self) -> MaxRate {
        self.max_rate.unwrap_or_else(|| {
            MaxRate::default_for(std::env::var("SSH_CONNECTION").ok().as_deref())
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct JoinCommand {
    #[command(flatten)]
    pub join: JoinArgs,

    #[command(flatten)]
    pub screen: ScreenArgs,

    /// When leaving, print what the screen output cost: kbit/s, video frames per second,
    /// video bytes per picture cell.
    #[arg(long)]
    pub stats: bool,

    #[command(flatten)]
    pub record: RecordArgs,
}

/// `--record` (`join`, `demo`).
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Record the screen to FILE (replaced if it exists) as an asciicast v2 recording:
    /// every byte the terminal receives, with its time. Play it with `packspaces play
    /// FILE` (or asciinema). If the file cannot be written (a full disk), recording stops
    /// with a notice and the session goes on.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// The workshop page's STUN server, the default for `--ice-server`.
pub const WORKSHOP_STUN: &str = "stun:stun.l.google.com:19302";

/// Where a space is: its classroom backend and PeerJS server (`join`, `bot`, `monitor`).
#[derive(Debug, Clone, Args)]
pub struct SpaceArgs {
    /// The classroom backend; its path picks the space, e.g. http://localhost:3000/CSC342
    /// (no path: the workshop's single space).
    #[arg(default_value = "http://localhost:3000/")]
    pub url: String,

    /// The PeerJS server [default: the one a packspaces server names at /packspaces.json,
    /// else the public PeerJS cloud, as the workshop page uses].
    #[arg(long, value_name = "URL")]
    pub peer_server: Option<String>,

    /// The PeerJS API key.
    #[arg(long, value_name = "KEY", default_value = "peerjs")]
    pub peer_key: String,

    /// For https:// servers: also trust certificates this PEM file vouches for (a CA, or
    /// the server's own certificate).
    #[arg(long, value_name = "FILE", conflicts_with = "pin")]
    pub ca: Option<PathBuf>,

    /// For https:// servers: trust exactly the certificate with this SHA-256 fingerprint,
    /// whatever its name or issuer (what `serve --tls self-signed` prints).
    #[arg(long, value_name = "SHA256")]
    pub pin: Option<String>,
}

/// The credentials of the TURN servers among `--ice-server` (`join`, `bot`, `serve`).
#[derive(Debug, Clone, Args)]
pub struct TurnArgs {
    /// The username for the TURN servers among --ice-server.
    #[arg(long, value_name = "NAME")]
    pub ice_username: Option<String>,

    /// The credential (password) for the TURN servers among --ice-server; also read from
    /// PACKSPACES_ICE_CREDENTIAL, which keeps it out of the process list.
    #[arg(
        long,
        value_name = "SECRET",
        env = "PACKSPACES_ICE_CREDENTIAL",
        hide_env_values = true
    )]
    pub ice_credential: Option<String>,
}

impl TurnArgs {
    /// The servers `urls` name, each TURN one with these credentials, checked.
    pub fn servers(&self, urls: &[String]) -> Result<Vec<IceServer>, IceError> {
        crate::ice::from_args(
            urls,
            self.ice_username.as_deref(),
            self.ice_credential.as_deref(),
        )
    }
}

/// A self-signed certificate for HTTPS (`serve`, `demo`).
#[derive(Debug, Clone, Args)]
pub struct SelfSignedArgs {
    /// `--tls self-signed`: serve HTTPS with a certificate made for this machine (kept in
    /// --tls-dir and reused on restart); prints its fingerprint for `join --pin`. Browsers
    /// on other machines get their camera only over HTTPS.
    #[arg(long, value_name = "self-signed", value_parser = ["self-signed"])]
    pub tls: Option<String>,

    /// Another name or address the self-signed certificate covers, repeatable (e.g. this
    /// machine's classroom address); localhost, the loopback addresses, the --bind address
    /// and the host name always are.
    #[arg(long = "tls-name", value_name = "NAME", requires = "tls")]
    pub tls_names: Vec<String>,

    /// Where the self-signed certificate is kept [default: $XDG_DATA_HOME/packspaces, or
    /// ~/.local/share/packspaces].
    #[arg(long, value_name = "DIR", requires = "tls")]
    pub tls_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct JoinArgs {
    #[command(flatten)]
    pub space: SpaceArgs,

    /// STUN/TURN server for calls, repeatable; `none` for none [default: the ones a
    /// packspaces server names (none unless it was given some), else the workshop's
    /// stun:stun.l.google.com:19302]. A TURN server (turn:HOST:PORT?transport=udp) needs
    /// --ice-username and --ice-credential.
    #[arg(long = "ice-server", value_name = "URL")]
    pub ice_servers: Vec<String>,

    #[command(flatten)]
    pub turn: TurnArgs,

    /// Your name, shown on your tile in the browsers.
    #[arg(long)]
    pub name: Option<String>,

    /// Colours to use.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Send no video (others see an empty tile).
    #[arg(long)]
    pub no_video: bool,

    /// The camera to send: an index from --list-cameras, `auto` (the first that opens) or
    /// `off` (the test card) [default: auto for join, off for bot; needs the `camera`
    /// feature]. Without a working camera you send the test card and the status bar says why.
    #[arg(long, value_name = "INDEX", conflicts_with = "no_video")]
    pub camera: Option<CameraChoice>,

    /// Send this video file instead of a camera or the test card, in a loop: y4m, IVF
    /// (VP8) or H.264 Annex B, at its own size and frame rate (for demos and benchmarks).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["no_video", "camera"])]
    pub video: Option<PathBuf>,

    /// Print the cameras (index and name) and exit.
    #[arg(long)]
    pub list_cameras: bool,

    /// No sound: play nothing and send no microphone (a bot: no voice). Builds without
    /// the `audio` feature have no sound anyway.
    #[arg(long)]
    pub no_audio: bool,

    /// Local address for the calls' UDP; 127.0.0.1 keeps calls on this machine.
    #[arg(long, value_name = "ADDRESS", default_value = "0.0.0.0")]
    pub udp_bind: std::net::IpAddr,

    /// Video codec to use: auto takes H.264 when the other side has it (much cheaper to
    /// decode), else VP8.
    #[arg(long, value_enum, default_value_t = CodecChoice::Auto)]
    pub codec: CodecChoice,
}

/// `--codec` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CodecChoice {
    Auto,
    H264,
    Vp8,
}

impl CodecChoice {
    pub fn preference(self) -> Vec<crate::call::VideoCodec> {
        use crate::call::VideoCodec;
        match self {
            CodecChoice::Auto => crate::call::codecs::DEFAULT_PREFERENCE.to_vec(),
            CodecChoice::H264 => vec![VideoCodec::H264],
            CodecChoice::Vp8 => vec![VideoCodec::Vp8],
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct BotArgs {
    #[command(flatten)]
    pub join: JoinArgs,

    /// Which of the built-in colour schemes its test card uses (0-5).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..6))]
    pub palette: u8,

    /// Say TEXT in the space's chat once, when in (`packspaces serve` spaces; at most 500
    /// characters).
    #[arg(long, value_name = "TEXT", value_parser = chat_text)]
    pub say: Option<String>,
}

/// A chat line from the command line: not empty, not too long.
fn chat_text(text: &str) -> Result<String, String> {
    let max = crate::space::protocol::MAX_CHAT_CHARS;
    if text.trim().is_empty() {
        Err("an empty chat line".into())
    } else if text.chars().count() > max {
        Err(format!("chat lines are at most {max} characters"))
    } else {
        Ok(text.to_string())
    }
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How many bots join (0-8).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=8))]
    pub bots: u8,

    /// The space's name (its URL path).
    #[arg(long, default_value = "demo")]
    pub space: String,

    /// Port for the demo's server [default: a free one].
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub port: u16,

    /// Address for the demo's server; 0.0.0.0 lets other machines' browsers in (they need
    /// this machine's address in the URL).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub bind: std::net::IpAddr,

    #[command(flatten)]
    pub self_signed: SelfSignedArgs,

    /// Your name, on your tile.
    #[arg(long, default_value = "Presenter")]
    pub name: String,

    /// Send this camera (an index from `join --list-cameras`, or `auto`) instead of your
    /// test card (needs the `camera` feature).
    #[arg(long, value_name = "INDEX")]
    pub camera: Option<CameraChoice>,

    /// No sound for you: play nothing and send no microphone (the bots still speak).
    #[arg(long)]
    pub no_audio: bool,

    /// Colours to use.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(flatten)]
    pub screen: ScreenArgs,

    /// When leaving, print what the screen output cost (kbit/s, video frames per second).
    #[arg(long)]
    pub stats: bool,

    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub space: SpaceArgs,

    #[command(flatten)]
    pub screen: ScreenArgs,

    /// No screen: write one JSON line per join, leave or chat line to stdout, e.g.
    /// {"event":"join","peer":"…","name":"Ada","time":"2025-11-27T11:30:05.123Z","count":2,"already":false}
    /// (name is null when unknown; already: they were there before us). Stop with Ctrl-C.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,

    /// Address to listen on; 0.0.0.0 lets other machines in the classroom connect.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub bind: std::net::IpAddr,

    /// Where the page loads peerjs from [default: the bundled peerjs 1.3.1, as in the
    /// workshop, served at /vendor/].
    #[arg(long, value_name = "URL")]
    pub peerjs_script: Option<String>,

    /// Where the page loads the socket.io client from [default: the bundled 4.8.4].
    #[arg(long, value_name = "URL")]
    pub socketio_script: Option<String>,

    /// Serve the files of this directory under /static/ (e.g. an npm node_modules, to try
    /// another peerjs with --peerjs-script /static/peerjs/dist/peerjs.min.js).
    #[arg(long, value_name = "DIR")]
    pub static_dir: Option<PathBuf>,

    /// STUN/TURN server for every call in its spaces (handed to the pages and, through
    /// /packspaces.json, to terminals), repeatable [default: none, enough on one network].
    /// A TURN server (turn:HOST:PORT?transport=udp) needs --ice-username and
    /// --ice-credential.
    #[arg(long = "ice-server", value_name = "URL")]
    pub ice_servers: Vec<String>,

    #[command(flatten)]
    pub turn: TurnArgs,

    /// Serve HTTPS with this PEM certificate (a chain, the server's first); needs
    /// --tls-key. Browsers on other machines allow cameras only over HTTPS.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    #[command(flatten)]
    pub self_signed: SelfSignedArgs,

    /// Share spaces and PeerJS ids with the other `serve` instances using this Redis
    /// (e.g. redis://10.0.0.5:6379), so that a load balancer can spread a class over
    /// several machines; without it everything stays in this process.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// PeerJS clients connected at once, at most; beyond it newcomers are refused with
    /// "Server has reached its concurrent user limit" (npm `peer`'s default is also 5000).
    /// Each member holds two sockets: raise the open-file limit (`ulimit -n`) to match.
    #[arg(long, default_value_t = 5000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_peers: u32,
}

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The video file: .y4m (raw 4:2:0), .ivf (VP8) or .h264 (Annex B byte stream); or a
    /// recording: .cast (asciicast v2, as `--record` writes), whose bytes are played to the
    /// terminal at their times. A recording's last line cut short (a killed recorder) is
    /// played up to there, with a warning.
    pub file: PathBuf,

    /// For a recording: play it this many times as fast, e.g. 2, or 0.5 for half speed
    /// [default: 1]. (A video's pace is --fps.)
    #[arg(long, value_name = "X", value_parser = parse_speed)]
    pub speed: Option<f64>,

    /// Size in cells as COLSxROWS, e.g. 80x24 [default: fit the terminal, or 80x24 when
    /// the output is not a terminal].
    #[arg(long, value_name = "COLSxROWS", value_parser = parse_size)]
    pub size: Option<(u16, u16)>,

    /// Colours to use.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Start again at the end of the file, until you quit.
    #[arg(long = "loop")]
    pub looping: bool,

    /// Frames per second [default: from the file, or 30].
    #[arg(long, value_parser = parse_fps)]
    pub fps: Option<f64>,

    /// Print statistics when done: frames shown and dropped, render time, bytes per cell.
    #[arg(long)]
    pub stats: bool,

    /// Show every frame as fast as possible, ignoring the frame rate (for benchmarks).
    #[arg(long)]
    pub no_wait: bool,

    /// Colour change (squared perceptual distance) below which a cell is not redrawn;
    /// 0 redraws every change. Truecolor only.
    #[arg(long, default_value_t = crate::render::ansi::DEFAULT_THRESHOLD, value_name = "N")]
    pub threshold: u32,

    /// At most this many video bytes per picture cell per frame, on average (one frame
    /// may use up to twice that when earlier ones left theirs unspent): in frames with
    /// much motion, the cells that changed most are redrawn first and the rest follow in
    /// later frames. 0 = no limit.
    #[arg(long, default_value_t = crate::output::DEFAULT_BYTES_PER_CELL, value_name = "BYTES")]
    pub budget: f32,

    #[command(flatten)]
    pub screen: ScreenArgs,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// From COLORTERM and TERM.
    Auto,
    /// 24-bit colour.
    #[value(alias = "24bit")]
    Truecolor,
    /// The xterm 256-colour palette.
    #[value(name = "256")]
    Palette256,
    /// The 16 ANSI colours.
    #[value(name = "16")]
    Ansi16,
}

impl ColorChoice {
    pub fn resolve(self) -> ColorMode {
        match self {
            ColorChoice::Auto => ColorMode::from_env(),
            ColorChoice::Truecolor => ColorMode::TrueColor,
            ColorChoice::Palette256 => ColorMode::Palette256,
            ColorChoice::Ansi16 => ColorMode::Ansi16,
        }
    }
}

/// Parses `COLSxROWS`, each from 1 to 4000.
pub fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{s:?} is not a size like 80x24");
    let (c, r) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (c, r): (u16, u16) = (
        c.trim().parse().map_err(|_| bad())?,
        r.trim().parse().map_err(|_| bad())?,
    );
    if c == 0 || r == 0 || c > 4000 || r > 4000 {
        return Err(format!(
            "{s:?}: columns and rows must be between 1 and 4000"
        ));
    }
    Ok((c, r))
}

/// Parses a playback speed between 0.01 and 1000.
pub fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.01..=1000.0).contains(&v) {
        return Err(format!("{s}: speed must be between 0.01 and 1000"));
    }
    Ok(v)
}

/// Parses a frame rate between 0.1 and 1000.
pub fn parse_fps(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.1..=1000.0).contains(&v) {
        return Err(format!("{s}: frame rate must be between 0.1 and 1000"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_and_rates_are_validated() {
        assert_eq!(parse_size("80x24"), Ok((80, 24)));
        assert_eq!(parse_size("160X48"), Ok((160, 48)));
        assert!(parse_size("0x10").is_err());
        assert!(parse_size("80").is_err());
        assert!(parse_size("99999x2").is_err());
        assert_eq!(parse_fps("29.97"), Ok(29.97));
        assert!(parse_fps("0").is_err());
        assert!(parse_fps("NaN").is_err());
        assert_eq!(parse_speed("50"), Ok(50.0));
        assert_eq!(parse_speed("0.5"), Ok(0.5));
        assert!(parse_speed("0").is_err());
        assert!(parse_speed("inf").is_err());
        assert!(parse_speed("NaN").is_err());
    }
}
