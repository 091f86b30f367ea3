//! Fuzz entry points: one function per parser that takes bytes from the network or a file,
//! each driving the code a call, a server or `play` runs on them. `fuzz/` runs them under
//! libFuzzer (`cargo +nightly fuzz run NAME`); `tests/it/fuzz_corpus.rs` replays the
//! committed seeds and every regression through them on stable. FUZZING.md says how they
//! were run and what they found.
//!
//! Inputs that are a sequence (messages, packets) are split with the simplest scheme that
//! lets a seed be written by hand: lines for text protocols, `[byte][u16 length][bytes]`
//! records for RTP. A panic here is a finding; so is an input that takes over a second or
//! blows up memory. Panics inside [`crate::contain::contain`] are the decoders' own,
//! already turned into errors.

use std::io::Cursor;
use std::time::{Duration, Instant};

use rtc::rtp::Packet;
use rtc::shared::marshal::Unmarshal;
use serde_json::Value;
use socketioxide::socket::Sid;
use tokio::sync::mpsc;

use crate::audio::AudioPacket;
use crate::audio::mixer::{FrameDecoder, Mixer};
use crate::call::assemble::FrameAssembler;
use crate::call::bitrate;
use crate::call::codecs::{self, DEFAULT_PREFERENCE, VideoCodec};
use crate::call::receive::{SpeechDetector, VideoDecoder};
use crate::media::annexb::AnnexBReader;
use crate::media::h264::H264Decoder;
use crate::media::ivf::IvfReader;
use crate::media::vp8::Vp8Decoder;
use crate::media::y4m::Y4mReader;
use crate::peerjs::client::{SignalEvent, parse_server_message};
use crate::peerjs::protocol::{
    Envelope, MessageType, is_valid_connection_id, is_valid_id, name_from_metadata,
};
use crate::render::frame::{I420Frame, MAX_DIMENSION};
use crate::server::chat::{self, Relayed, Sent};
use crate::server::peerserver::{Outgoing, PeerServerConfig, Realm, Relay};
use crate::server::spaces::{JoinArgs, Spaces, parse_join};
use crate::space::SpaceEvent;
use crate::space::packet::{Packet as SioPacket, parse_handshake, parse_packet, to_space_events};
use crate::space::protocol::{CHAT_MESSAGE, JOIN_SPACE, is_valid_space};

/// A fuzz target: any bytes in, a panic if something is wrong.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/NAME.rs` and the corpus folders name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("peerjs_client", peerjs_client),
    ("peerjs_server", peerjs_server),
    ("space_client", space_client),
    ("serve_events", serve_events),
    ("discover", discover),
    ("sdp", sdp),
    ("rtp_h264", rtp_h264),
    ("rtp_vp8", rtp_vp8),
    ("audio", audio),
    ("y4m", y4m),
    ("ivf", ivf),
    ("annexb", annexb),
    ("terminal_input", terminal_input),
];

/// Lines or records per input at most: enough for any state worth reaching, and a bound on
/// the time one input takes.
const MAX_STEPS: usize = 256;
/// Frames read from a file per input at most.
const MAX_FRAMES: usize = 32;

/// Reads fuzz input front to back; short reads at the end give what is left.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }

    /// A `[u16 big-endian length][bytes]` record.
    fn record(&mut self) -> Option<&'a [u8]> {
        let len = u16::from_be_bytes([self.byte()?, self.byte()?]);
        Some(self.take(usize::from(len)))
    }
}

/// One message from a PeerServer, as our client reads it: the whole input is one websocket
/// text. Candidates go on to the ICE candidate parser webrtc-rs uses on them.
pub fn peerjs_client(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Some(event)) = parse_server_message(text) else {
        return;
    };
    match event {
        SignalEvent::Offer {
            peer,
            connection_id,
            metadata,
            ..
        }
        | SignalEvent::Answer {
            peer,
            connection_id,
            metadata,
            ..
        } => {
            assert!(is_valid_id(&peer) && is_valid_connection_id(&connection_id));
            if let Some(name) = name_from_metadata(metadata.as_ref()) {
                let shown = crate::text::sanitize(&name, 40);
                assert!(is_clean(&shown));
            }
        }
        SignalEvent::Candidate {
            peer,
            connection_id,
            candidate,
        } => {
            assert!(is_valid_id(&peer) && is_valid_connection_id(&connection_id));
            let c = &candidate.candidate;
            let value = c.strip_prefix("candidate:").unwrap_or(c);
            let _ = rtc::ice::candidate::unmarshal_candidate(value);
        }
        SignalEvent::Leave { peer } | SignalEvent::Expire { peer } => {
            assert!(is_valid_id(&peer));
        }
        SignalEvent::Error(text) | SignalEvent::IdTaken(text) => {
            assert!(is_clean(&text));
        }
        SignalEvent::Open { .. } | SignalEvent::Disconnected { .. } => {}
    }
}

/// A connected PeerServer client: its connection, id and outbox.
type Client = (u64, String, mpsc::Receiver<Outgoing>);

/// A PeerServer [`Realm`] fed one line at a time; the first character says what happens:
///
/// - `0`-`9`: the rest is a websocket text from connected client N (modulo how many);
/// - `c KEY ID TOKEN`: a websocket connects with these query parameters;
/// - `d N` / `x N`: client N disconnects / its socket dies without a word;
/// - `r JSON`: a relay arrives from another instance of a cluster;
/// - `t`: a second passes and the housekeeping runs.
///
/// Everything the server writes must be a PeerJS message, and `OFFER`, `ANSWER`,
/// `CANDIDATE` and `LEAVE` a valid `src` (an `EXPIRE`'s is the absent peer's id as the
/// sender wrote it, as npm `peer` does).
pub fn peerjs_server(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Small limits, so that full outboxes and queues are reached.
    let config = PeerServerConfig {
        concurrent_limit: 8,
        max_queued_per_peer: 4,
        max_queues: 4,
        outbox: 8,
        ..PeerServerConfig::default()
    };
    let key = config.key.clone();
    let mut realm = Realm::new(config);
    let mut now = Instant::now();
    let mut clients: Vec<Client> = Vec::new();
    let mut next_conn = 0;
    let mut connect = |realm: &mut Realm,
                       clients: &mut Vec<Client>,
                       key: Option<&str>,
                       id: Option<&str>,
                       token: Option<&str>,
                       now: Instant| {
        next_conn += 1;
        let (tx, rx) = mpsc::channel(8);
        match realm.connect(next_conn, key, id, token, tx, now) {
            Ok(()) => {
                let id = id.unwrap_or_default().to_string();
                clients.retain(|(_, other, _)| *other != id);
                clients.push((next_conn, id, rx));
            }
            Err(refusal) => {
                let reply = Envelope::parse(&refusal.to_json());
                assert!(reply.is_some_and(|e| matches!(
                    e.known(),
                    Some(MessageType::Error | MessageType::IdTaken)
                )));
            }
        }
    };
    for id in ["alice", "bob"] {
        connect(
            &mut realm,
            &mut clients,
            Some(&key),
            Some(id),
            Some("token"),
            now,
        );
    }
    for line in text.lines().take(MAX_STEPS) {
        let mut chars = line.chars();
        let Some(op) = chars.next() else { continue };
        let rest = chars.as_str();
        let pick = |clients: &[Client]| {
            let n = rest.trim().parse::<usize>().unwrap_or(0);
            (!clients.is_empty()).then(|| n % clients.len())
        };
        match op {
            '0'..='9' if !clients.is_empty() => {
                let n = (op as usize - '0' as usize) % clients.len();
                let (conn, id) = (clients[n].0, clients[n].1.clone());
                realm.message(conn, &id, rest, now);
            }
            'c' => {
                let mut params = rest.trim_start().splitn(3, ' ');
                let (k, i, t) = (params.next(), params.next(), params.next());
                connect(&mut realm, &mut clients, k, i, t, now);
            }
            'd' => {
                if let Some(n) = pick(&clients) {
                    let (conn, id, _) = clients.remove(n);
                    realm.disconnect(conn, &id);
                }
            }
            'x' => {
                if let Some(n) = pick(&clients) {
                    clients.remove(n);
                }
            }
            'r' => {
                if let Some(relay) = Relay::from_json(rest) {
                    // What one instance writes, another reads back the same.
                    assert_eq!(Relay::from_json(&relay.to_json()), Some(relay.clone()));
                    realm.transmit_here(relay, now);
                }
            }
            't' => {
                now += Duration::from_secs(1);
                realm.tick(now);
            }
            _ => {}
        }
        for (_, _, rx) in &mut clients {
            while let Ok(out) = rx.try_recv() {
                let Outgoing::Text(text) = out else { continue };
                let Some(envelope) = Envelope::parse(&text) else {
                    panic!("the server wrote a message that is not PeerJS: {text:?}");
                };
                let kind = envelope.known();
                assert!(kind.is_some(), "the server wrote an unknown type: {text:?}");
                if matches!(
                    kind,
                    Some(
                        MessageType::Offer
                            | MessageType::Answer
                            | MessageType::Candidate
                            | MessageType::Leave
                    )
                ) {
                    assert!(
                        envelope.src.as_deref().is_some_and(is_valid_id),
                        "a relay without a valid src: {text:?}"
                    );
                }
            }
        }
    }
}

/// Whether `text` is safe to show: sanitizing it again changes nothing.
fn is_clean(text: &str) -> bool {
    crate::text::sanitize(text, usize::MAX) == text
}

/// One Engine.IO text packet from a space's server, as our Socket.IO client reads it.
pub fn space_client(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_handshake(text);
    let SioPacket::Event(name, args) = parse_packet(text) else {
        return;
    };
    for event in to_space_events(&name, &args) {
        match event {
            SpaceEvent::UserConnected(peer) | SpaceEvent::UserDisconnected(peer) => {
                assert!(is_valid_id(&peer));
            }
            SpaceEvent::Members(peers) => assert!(peers.iter().all(|p| is_valid_id(p))),
            SpaceEvent::Refused(text) => assert!(is_clean(&text)),
            _ => {}
        }
    }
}

/// Socket.IO packets from clients of `serve`'s spaces, one a line: the first character
/// picks the socket (`0`-`2`), the rest is its Engine.IO text packet, e.g.
/// `042["join-space","CSC342","p1",{"name":"Ada"}]`; nothing after it: the socket is gone.
/// Events go through what the handlers do with them (socketioxide's own packet parser is
/// not ours): `join-space` arguments and the bookkeeping of who is where, `chat-message`
/// checked, and what would be relayed.
pub fn serve_events(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sockets = [Sid::new(), Sid::new(), Sid::new()];
    let mut spaces = Spaces::default();
    let mut now = Instant::now();
    for line in text.lines().take(MAX_STEPS) {
        let mut chars = line.chars();
        let Some(sid) = chars.next().and_then(|c| c.to_digit(10)) else {
            continue;
        };
        let sid = sockets[sid as usize % sockets.len()];
        now += Duration::from_millis(100);
        let packet = chars.as_str();
        if packet.is_empty() {
            spaces.forget(sid);
            continue;
        }
        // An event, with or without an ack id, in the default namespace.
        let Some(json) = packet
            .strip_prefix("42")
            .map(|p| p.trim_start_matches(|c: char| c.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(Value::Array(mut args)) = serde_json::from_str::<Value>(json) else {
            continue;
        };
        let Some(Value::String(event)) = (!args.is_empty()).then(|| args.remove(0)) else {
            continue;
        };
        match event.as_str() {
            JOIN_SPACE => {
                let Ok(JoinArgs(args)) = serde_json::from_value(Value::Array(args)) else {
                    continue;
                };
                let Ok(request) = parse_join(&args) else {
                    continue;
                };
                assert!(is_valid_id(&request.peer));
                assert!(request.space.is_empty() || is_valid_space(&request.space));
                assert!(request.name.as_deref().is_none_or(is_clean));
                let name = request.name.as_deref();
                if let Ok(joined) = spaces.join(sid, &request.space, &request.peer, name, now) {
                    assert!(joined.others.iter().all(|(peer, _)| is_valid_id(peer)));
                }
            }
            CHAT_MESSAGE => {
                let sent = args.into_iter().next().map(serde_json::from_value::<Sent>);
                let Ok((_, member)) = spaces.chat(sid, now) else {
                    continue;
                };
                let Some(Ok(Sent { text })) = sent else {
                    continue;
                };
                if chat::check(&text).is_ok() {
                    let relayed = Relayed {
                        from: member.peer_id,
                        name: member.name,
                        text,
                        time: chat::now_rfc3339(),
                    };
                    assert!(serde_json::to_string(&relayed).is_ok());
                }
            }
            _ => {}
        }
    }
}

/// The `/packspaces.json` a client reads before it connects (the whole input). A document
/// we accept reads back the same after `serve` writes it.
pub fn discover(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(info)) = crate::discover::ServerInfo::parse(text) {
        let written = serde_json::to_string(&info).unwrap_or_default();
        assert_eq!(crate::discover::ServerInfo::parse(&written), Ok(Some(info)));
    }
}

/// What the terminal sends us (keys, and its answers to our status requests: over SSH,
/// bytes from the network), in reads whose sizes the input's first byte sets.
pub fn terminal_input(data: &[u8]) {
    let Some((&sizes, mut bytes)) = data.split_first() else {
        return;
    };
    let mut decoder = crate::terminal::input::InputDecoder::new();
    let mut inputs = Vec::new();
    let mut read = 0;
    while !bytes.is_empty() {
        // Reads of 1 to 16 bytes, in a pattern the first byte picks.
        let size = usize::from(sizes.rotate_left(read) & 0x0f) + 1;
        let (chunk, rest) = bytes.split_at(size.min(bytes.len()));
        decoder.feed(chunk, &mut inputs);
        bytes = rest;
        read = (read + 1) % 8;
    }
}

/// A remote SDP, as a call reads it: the codec we pick, the audio-level extension id, the
/// first mid, our bandwidth lines in a description, and webrtc-rs's own parser.
pub fn sdp(data: &[u8]) {
    let Ok(sdp) = std::str::from_utf8(data) else {
        return;
    };
    let _ = codecs::choose_for_offer(sdp, &DEFAULT_PREFERENCE);
    let _ = codecs::choose_for_offer(sdp, &[VideoCodec::Vp8]);
    if let Some(id) = codecs::audio_level_id(sdp) {
        assert!((1..=14).contains(&id));
    }
    let _ = codecs::first_mid(sdp);
    let _ = bitrate::with_ceiling(sdp, 250_000);
    let _ = rtc::peer_connection::sdp::RTCSessionDescription::offer(sdp.to_string());
}

/// RTP packets of an H.264 stream: see [`rtp_h264`].
pub fn rtp_h264(data: &[u8]) {
    rtp(VideoCodec::H264, data);
}

/// RTP packets of a VP8 stream, as a call receives them: records of `[ms/4 since the last
/// packet][u16 length][the packet as it came off SRTP]`, parsed by webrtc-rs, assembled
/// into frames and, from the first keyframe on, decoded.
pub fn rtp_vp8(data: &[u8]) {
    rtp(VideoCodec::Vp8, data);
}

fn rtp(codec: VideoCodec, data: &[u8]) {
    let mut input = Input(data);
    let mut assembler = FrameAssembler::new(codec);
    let mut decoder = VideoDecoder::new(codec);
    let mut now = Instant::now();
    let mut at_keyframe = false;
    for _ in 0..MAX_STEPS {
        let Some(step) = input.byte() else { break };
        let Some(raw) = input.record() else { break };
        now += Duration::from_millis(u64::from(step) * 4);
        let Ok(packet) = Packet::unmarshal(&mut &raw[..]) else {
            continue;
        };
        for frame in assembler.push(packet, now) {
            // As `receive_track`: decoding starts, and restarts after a loss, at a keyframe.
            let Ok(frame) = frame else {
                at_keyframe = false;
                continue;
            };
            at_keyframe |= codec.is_keyframe(&frame);
            if at_keyframe && let Ok(Some(picture)) = decoder.decode(&frame) {
                check_picture(&picture);
            }
        }
    }
}

fn check_picture(picture: &I420Frame) {
    assert!((1..=MAX_DIMENSION).contains(&picture.width()));
    assert!((1..=MAX_DIMENSION).contains(&picture.height()));
}

/// RTP packets of several peers' audio into the speaking indicator, the jitter buffers and
/// the mixer: records of `[peer][pulls][u16 length][RTP packet]`; after each packet the
/// playback clock pulls `pulls % 8` frames. Opus with the `audio` feature; without it a
/// stand-in decoder (bytes as samples), so that the jitter buffer and mixer are replayed
/// by a default build too. The mix must stay within ±1.
pub fn audio(data: &[u8]) {
    const PEERS: [&str; 3] = ["ada", "grace", "alan"];
    let mut input = Input(data);
    let mut mixer = Mixer::new(Box::new(new_audio_decoder));
    let mut speech = SpeechDetector::default();
    let mut frame = vec![0.0; crate::audio::FRAME_SAMPLES];
    let mut now = Instant::now();
    for _ in 0..MAX_STEPS {
        let (Some(peer), Some(pulls)) = (input.byte(), input.byte()) else {
            break;
        };
        let Some(raw) = input.record() else { break };
        let name = PEERS[usize::from(peer) % PEERS.len()];
        match peer >> 6 {
            1 => mixer.set_muted(name, peer & 1 == 1),
            2 => mixer.set_gain(name, f32::from(peer & 0x1f) / 8.0),
            3 => mixer.remove(name),
            _ => {}
        }
        if let Ok(packet) = Packet::unmarshal(&mut &raw[..]) {
            // The audio-level extension, as `receive_audio` reads it (id 1 as browsers
            // number it).
            let dbov = packet
                .header
                .get_extension(1)
                .and_then(|e| e.first().map(|b| b & 0x7f))
                .unwrap_or(127);
            let _ = speech.level(dbov, now);
            mixer.push(
                name,
                AudioPacket {
                    ssrc: packet.header.ssrc,
                    sequence: packet.header.sequence_number,
                    timestamp: packet.header.timestamp,
                    payload: packet.payload,
                },
            );
        }
        for _ in 0..pulls % 8 {
            now += crate::audio::FRAME;
            mixer.mix(&mut frame);
            assert!(
                frame.iter().all(|s| s.abs() <= 1.0),
                "the mix left ±1 (or is NaN)"
            );
        }
        for name in PEERS {
            let level = mixer.level(name);
            assert!(level.is_finite() && level >= 0.0, "level {level}");
        }
    }
}

#[cfg(feature = "audio")]
fn new_audio_decoder() -> Result<Box<dyn FrameDecoder>, String> {
    crate::audio::codec::OpusDecoder::new().map(|d| Box::new(d) as Box<dyn FrameDecoder>)
}

#[cfg(not(feature = "audio"))]
fn new_audio_decoder() -> Result<Box<dyn FrameDecoder>, String> {
    Ok(Box::new(BytesAsSamples))
}

/// Without Opus: each byte a sample (signed, full scale), a loss concealed with silence.
#[cfg(not(feature = "audio"))]
struct BytesAsSamples;

#[cfg(not(feature = "audio"))]
impl FrameDecoder for BytesAsSamples {
    fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<(), String> {
        if packet.is_empty() {
            return Err("an empty packet".into());
        }
        out.extend(packet.iter().map(|&b| f32::from(b as i8) / 128.0));
        Ok(())
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<f32>) {
        out.resize(out.len() + samples, 0.0);
    }
}

/// A y4m file, as `play` reads it: up to [`MAX_FRAMES`] frames, then once more from the
/// start.
pub fn y4m(data: &[u8]) {
    let Ok(mut reader) = Y4mReader::new(Cursor::new(data)) else {
        return;
    };
    let size = (reader.header().width, reader.header().height);
    for _ in 0..MAX_FRAMES {
        match reader.next_frame() {
            Ok(Some(frame)) => assert_eq!((frame.width(), frame.height()), size),
            Ok(None) | Err(_) => break,
        }
    }
    if reader.rewind().is_ok() {
        let _ = reader.next_frame();
    }
}

/// An IVF file, as `play` reads it: VP8 only, each frame decoded.
pub fn ivf(data: &[u8]) {
    let Ok(mut reader) = IvfReader::new(Cursor::new(data)) else {
        return;
    };
    if &reader.header().fourcc != b"VP80" {
        return;
    }
    let Ok(mut decoder) = Vp8Decoder::new() else {
        return;
    };
    let mut buf = Vec::new();
    for _ in 0..MAX_FRAMES {
        if !matches!(reader.next_frame(&mut buf), Ok(true)) {
            break;
        }
        if let Ok(Some(picture)) = decoder.decode(&buf) {
            check_picture(&picture);
        }
    }
    if reader.rewind().is_ok() {
        let _ = reader.next_frame(&mut buf);
    }
}

/// An H.264 Annex B file, as `play` reads it: access units decoded, then the decoder
/// flushed.
pub fn annexb(data: &[u8]) {
    let mut reader = AnnexBReader::new(Cursor::new(data));
    let Ok(mut decoder) = H264Decoder::new() else {
        return;
    };
    for _ in 0..MAX_FRAMES {
        let Ok(Some(unit)) = reader.next_access_unit() else {
            break;
        };
        assert!(crate::media::annexb::has_start_code(&unit));
        if let Ok(Some(picture)) = decoder.decode(&unit) {
            check_picture(&picture);
        }
    }
    for picture in decoder.flush() {
        check_picture(&picture);
    }
    if reader.rewind().is_ok() {
        let _ = reader.next_access_unit();
    }
}
